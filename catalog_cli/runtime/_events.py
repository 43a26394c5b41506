"""Call events for observer plugins: they see each call start and end, and cannot change it.

A plugin observes by implementing ``catalog_call_event(event)``. For a tenant with at least one
observer, the catalog registers a wrapper of its own on ``catalog_call``, outside every
interceptor, that reports the events: an observer sees each call once as its caller does (a
refusal, a cache hit, a timeout), whatever the interceptors do inside. Tenants without
observers pay nothing.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any, Final, Literal, NamedTuple

import pluggy

from .. import _interrupts
from ..declarations import hookimpl

#: The name the events wrapper is registered under in a tenant's manager.
PLUGIN_NAME: Final = "catalog.events"

EventKind = Literal["started", "succeeded", "failed"]


class CallEvent(NamedTuple):
    """What an observer is told about a call."""

    kind: EventKind
    tenant: str
    interface: str
    version: int
    call_id: str
    #: seconds since the call started (0 for "started")
    seconds: float = 0.0
    #: for "failed": the exception, as "Type: message"
    error: str | None = None


def _notify(pm: pluggy.PluginManager, event: CallEvent) -> None:
    # Each observer on its own: one that raises must neither stop the others nor the call.
    for impl in pm.hook.catalog_call_event.get_hookimpls():
        try:
            impl.function(**{name: event for name in impl.argnames})
        except BaseException as exc:
            if _interrupts.is_real(exc):
                raise
            import logging

            logging.getLogger("catalog.events").warning(
                "observer %r raised on %s event of call %s: %r",
                impl.plugin_name,
                event.kind,
                event.call_id,
                exc,
            )


def _observe(pm: pluggy.PluginManager) -> Any:
    @hookimpl(wrapper=True, tryfirst=True)  # tryfirst: outside every interceptor
    def catalog_call(call: Any) -> Generator[None, Any, Any]:
        facts = (call.tenant, call.interface, call.version, call.call_id)
        started = time.perf_counter()
        _notify(pm, CallEvent("started", *facts))
        try:
            result = yield
        except BaseException as exc:
            seconds = time.perf_counter() - started
            _notify(pm, CallEvent("failed", *facts, seconds, f"{type(exc).__name__}: {exc}"))
            raise
        _notify(pm, CallEvent("succeeded", *facts, time.perf_counter() - started))
        return result

    return catalog_call


def register_observers(pm: pluggy.PluginManager) -> None:
    """Report the calls of ``pm``'s tenant to its observers (whenever they are registered)."""
    pm.register(_Observer(_observe(pm)), name=PLUGIN_NAME)


class _Observer:
    """The events wrapper as a plugin object (hashable, as pluggy's subset callers need)."""

    def __init__(self, wrapper: Any) -> None:
        self.catalog_call = wrapper
