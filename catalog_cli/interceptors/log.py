"""The ``logging`` interceptor: one structured record per method call.

Records go to the standard ``logging`` logger ``catalog.calls`` (:data:`LOGGER`), with a
readable message and these attributes on the record (``extra``), for structured handlers:

``tenant``, ``interface``, ``version``, ``version_source`` (``canary`` marks canary calls),
``call_id``, ``duration_ms``, ``outcome`` (``"ok"`` or ``"error"``), ``error_type`` (the class
name of what the call raised, e.g. ``ZeroDivisionError``; None when ok), ``error_message``
(None when ok) and ``arguments`` (None unless the ``arguments`` setting asks for them;
values of argument names matching ``redact`` are ``"***"``, in nested dicts too: a name
matches when it contains one of them, ignoring case, with ``-`` and ``_`` alike).

Every exception counts as an error, argument errors the method raises and refusals of
interceptors inside this one included; it is logged and re-raised unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any, Final

from catalog_cli import PluginMeta, hookimpl
from catalog_cli.config import Option, Options, one_of
from catalog_cli.runtime import SECRET_NAMES, redact
from catalog_cli.runtime import folded as _folded

if TYPE_CHECKING:
    from catalog_cli import Call, InterceptorContext

#: The logger every call record goes to.
LOGGER: Final = "catalog.calls"

#: What a redacted value is replaced by.

_LEVELS: Final = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}

PLUGIN = PluginMeta(
    description="Logs one structured record per call to the logger 'catalog.calls'",
    settings=Options(
        Option(
            "level",
            "str",
            "INFO",
            "level of the records of calls that succeed",
            one_of("DEBUG", "INFO", "WARNING"),
        ),
        Option(
            "error_level",
            "str",
            "WARNING",
            "level of the records of calls that fail",
            one_of("DEBUG", "INFO", "WARNING", "ERROR"),
        ),
        Option("arguments", "bool", False, "include the call's arguments in the record"),
        Option(
            "redact",
            "strings",
            SECRET_NAMES,
            "argument names (case-insensitive substrings) whose values are logged as ***",
        ),
    ),
)

ORDER: Final = 100

#: The clock durations are read from (tests replace it).
_now = time.perf_counter

_logger = logging.getLogger(LOGGER)


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    settings = ctx.settings
    started = _now()
    try:
        result = yield
    except (Exception, SystemExit) as exc:
        _record(call, settings, _now() - started, exc)
        raise
    _record(call, settings, _now() - started, None)
    return result


def _record(
    call: Call, settings: Mapping[str, Any], seconds: float, error: BaseException | None
) -> None:
    level = _LEVELS[settings["error_level" if error is not None else "level"]]
    # Checked first so that a silenced logger costs a call no more than this.
    if not _logger.isEnabledFor(level):
        return
    try:
        fields, message, args = _build(call, settings, seconds, error)
    except Exception:
        # A record that cannot be built (an argument whose repr fails, say) must not change
        # the call's outcome, nor replace the exception the call raised.
        _logger.warning("could not build the record of call %s", call.call_id, exc_info=True)
        return
    _logger.log(level, message, *args, extra=fields)


def _build(
    call: Call, settings: Mapping[str, Any], seconds: float, error: BaseException | None
) -> tuple[dict[str, Any], str, tuple[Any, ...]]:
    duration_ms = round(seconds * 1000, 3)
    arguments = None
    if settings["arguments"]:
        patterns = tuple(_folded(p) for p in settings["redact"])
        arguments = redact(call.arguments, patterns)
    fields = {
        "tenant": call.tenant,
        "interface": call.interface,
        "version": call.version,
        "version_source": call.version_source,
        "call_id": call.call_id,
        "duration_ms": duration_ms,
        "outcome": "ok" if error is None else "error",
        "error_type": type(error).__name__ if error is not None else None,
        "error_message": str(error) if error is not None else None,
        "arguments": arguments,
    }
    message = "%s v%s (%s) for tenant %r %s in %.3f ms [call %s]"
    args: tuple[Any, ...] = (
        call.interface,
        call.version,
        call.version_source,
        call.tenant,
        "ok" if error is None else "failed",
        duration_ms,
        call.call_id,
    )
    if error is not None:
        message += ": %s: %s"
        args += (fields["error_type"], fields["error_message"])
    if arguments is not None:
        # Formatted now, inside the guard: a handler formatting later could not be guarded.
        message += " arguments: %s"
        args += (repr(arguments),)
    return fields, message, args
