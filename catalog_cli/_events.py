"""Call events for observer plugins: they see each call start and end, and cannot change it.

A plugin observes by implementing ``catalog_call_event(event)``. For a tenant with at least one
observer, the catalog registers a wrapper of its own around every entry point, outermost, that
reports the events; tenants without observers pay nothing.
"""

from __future__ import annotations

import time
import types
from collections.abc import Generator, Iterable
from typing import Any, Literal, NamedTuple

import pluggy

from ._markers import hookimpl, hookspec

#: The name the events wrapper is registered under in a tenant's manager.
PLUGIN_NAME = "catalog.events"

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


@hookspec
def catalog_call_event(event: CallEvent) -> None:
    """Observe a call starting, succeeding or failing; what it returns or raises is ignored."""


def _notify(pm: pluggy.PluginManager, event: CallEvent) -> None:
    # Each observer on its own: one that raises must neither stop the others nor the call.
    for impl in pm.hook.catalog_call_event.get_hookimpls():
        try:
            impl.function(**{name: event for name in impl.argnames})
        except Exception as exc:
            import logging

            logging.getLogger("catalog.events").warning(
                "observer %r raised on %s event of call %s: %r",
                impl.plugin_name,
                event.kind,
                event.call_id,
                exc,
            )


def _observe(pm: pluggy.PluginManager) -> Any:
    @hookimpl(wrapper=True, tryfirst=True)
    def observe(ctx: Any) -> Generator[None, Any, Any]:
        facts = (ctx.tenant, ctx.interface, ctx.version, ctx.call_id)
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

    return observe


def register_observers(pm: pluggy.PluginManager, entry_hooks: Iterable[str]) -> bool:
    """Wrap every entry point of ``pm`` with event reporting if any plugin observes calls."""
    if not pm.hook.catalog_call_event.get_hookimpls():
        return False
    wrapper = types.SimpleNamespace(**{hook: _observe(pm) for hook in entry_hooks})
    pm.register(wrapper, name=PLUGIN_NAME)
    return True
