"""A call as data: what background jobs store and batch workers receive, and what comes back.

A request names the tenant, the interface, an optional version and JSON arguments; it is
resolved against the catalog where it runs, so it travels between processes and machines as
plain JSON. Its answer records the result or the error, never raises.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import CatalogError, InvalidArgumentsError

if TYPE_CHECKING:
    from ._catalog import Catalog

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class CallRequest(NamedTuple):
    """One call, as data."""

    tenant: str
    interface: str
    version: int | None = None
    arguments: Mapping[str, Any] = _EMPTY

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "interface": self.interface,
            "version": self.version,
            "arguments": dict(self.arguments),
        }

    @classmethod
    def from_dict(cls, data: Any) -> CallRequest:
        """A request from decoded JSON; raises InvalidArgumentsError naming what is wrong."""
        if not isinstance(data, Mapping):
            raise InvalidArgumentsError("?", 0, {"request": "expected a JSON object"})
        problems: dict[str, str] = {}
        unknown = sorted(set(data) - set(cls._fields))
        for name in unknown:
            problems[name] = f"unknown field (fields: {', '.join(cls._fields)})"
        tenant, interface = data.get("tenant"), data.get("interface")
        version, arguments = data.get("version"), data.get("arguments", {})
        if not isinstance(tenant, str) or not tenant:
            problems["tenant"] = "expected a tenant id"
        if not isinstance(interface, str) or not interface:
            problems["interface"] = "expected an interface name"
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1
        ):
            problems["version"] = "expected a version number (an integer >= 1) or null"
        if not isinstance(arguments, Mapping):
            problems["arguments"] = "expected a JSON object of arguments"
        if problems:
            name = interface if isinstance(interface, str) else "?"
            raise InvalidArgumentsError(name, version if isinstance(version, int) else 0, problems)
        return cls(str(tenant), str(interface), version, dict(arguments))


class CallAnswer(NamedTuple):
    """What became of a request: its result, or its error as data."""

    ok: bool
    result: Any = None
    #: for a failure: {"type", "message", "exit_code"}
    error: Mapping[str, Any] | None = None
    #: the version that ran and which rule chose it (None when the call failed before)
    version: int | None = None
    version_source: str | None = None
    call_id: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "result": self.result,
            "error": dict(self.error) if self.error is not None else None,
            "version": self.version,
            "version_source": self.version_source,
            "call_id": self.call_id,
            "seconds": self.seconds,
        }


def error_data(exc: BaseException) -> dict[str, Any]:
    """An error as data: its type, message and the exit code the CLI would use."""
    code = exc.exit_code if isinstance(exc, CatalogError) else 1
    return {"type": type(exc).__name__, "message": str(exc), "exit_code": code}


def answer(catalog: Catalog, request: CallRequest, timeout: float | None = None) -> CallAnswer:
    """Run ``request`` on ``catalog``; every error of the catalog becomes part of the answer.

    The version is chosen first, so a call that fails after that still says which version it
    ran (or tried to) and why: ``version`` and ``version_source`` are both set then, and both
    None when the call failed before a version was chosen (an unknown tenant, interface or
    version). The call id links a failure to the log.
    """
    started = time.perf_counter()
    try:
        choice = catalog.resolve_version(
            request.interface,
            customer=request.tenant,
            version=request.version,
            arguments=request.arguments,
        )
    except CatalogError as exc:
        return CallAnswer(False, error=error_data(exc), seconds=time.perf_counter() - started)
    try:
        # The choice is passed on: a canary decided by chance is not decided twice.
        outcome = catalog.execute(
            request.interface,
            customer=request.tenant,
            version=request.version,
            arguments=dict(request.arguments),
            timeout=timeout,
            choice=choice,
        )
    except CatalogError as exc:
        return CallAnswer(
            False,
            error=error_data(exc),
            version=choice.version,
            version_source=choice.source,
            call_id=getattr(exc, "call_id", None),
            seconds=time.perf_counter() - started,
        )
    return CallAnswer(
        True,
        outcome.result,
        None,
        outcome.version,
        outcome.version_source,
        outcome.call_id,
        outcome.seconds,
    )
