"""The hooks every catalog has besides its interfaces: lifecycle, call events and interceptors.

Plugins implement them like any other hook. The ``ctx`` of an interceptor hook is the
interceptor's own context (its settings, state and log for the tenant), bound to it when the
tenant is built: callers never pass it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ._markers import hookspec

if TYPE_CHECKING:
    from .._catalog_events import CatalogEvent
    from ..runtime import Call, CallEvent, InterceptorContext, PointCall


@hookspec
def catalog_startup(tenant: str, settings: Mapping[str, Any]) -> None:
    """Prepare the plugin for a tenant (open clients, warm caches); raise to fail it."""


@hookspec
def catalog_shutdown(tenant: str, settings: Mapping[str, Any]) -> None:
    """Release what startup took for the tenant."""


@hookspec
def catalog_health(tenant: str, settings: Mapping[str, Any]) -> Any:
    """Return a Health (or "healthy", "degraded", "unhealthy", or a bool) for the tenant."""


@hookspec
def catalog_call_event(event: CallEvent) -> None:
    """Observe a call starting, succeeding or failing; what it returns or raises is ignored."""


@hookspec
def catalog_event(event: CatalogEvent) -> None:
    """Observe an event of the tenant (a breaker opened, a job dead); what it returns is ignored."""


@hookspec(firstresult=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Any:
    """Wrap one method call: implement with ``@hookimpl(wrapper=True)`` and ``yield`` once."""


@hookspec(firstresult=True)
def catalog_point_call(ctx: InterceptorContext, call: Call, point: PointCall) -> Any:
    """Wrap one plugin's implementation at a plugin point (``wrapper=True``, ``yield`` once)."""


#: Lifecycle hook -> the short name listings use.
LIFECYCLE: Final = {
    "catalog_startup": "startup",
    "catalog_shutdown": "shutdown",
    "catalog_health": "health",
}
#: The parameters of the lifecycle hooks.
LIFECYCLE_ARGNAMES: Final = ("tenant", "settings")

#: The hook call-event observers implement.
EVENTS: Final = "catalog_call_event"
#: The hook catalog-event observers implement.
CATALOG_EVENTS: Final = "catalog_event"

#: Hooks only interceptors may implement.
INTERCEPTOR_HOOKS: Final = ("catalog_call", "catalog_point_call")

#: Every hook of this module, in the order listings show them.
ALL: Final = (
    catalog_startup,
    catalog_shutdown,
    catalog_health,
    catalog_call_event,
    catalog_event,
    catalog_call,
    catalog_point_call,
)
