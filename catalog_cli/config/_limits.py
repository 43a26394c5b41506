"""The limits ``[limits]`` sets for one tenant's calls of one interface, the most specific
setting winning: a tenant's for the interface, the tenant's, the catalog's for the interface,
the catalog's. Read where calls run (the call path, and a shadow canary's calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ._config import CatalogConfig


class CallLimits(NamedTuple):
    """The limits of one tenant's calls of one interface."""

    #: calls of the tenant that may run at once (0: no limit)
    concurrent_calls: int
    #: seconds a call may run
    call_timeout: float


def limits_of(config: CatalogConfig, tenant: str, interface: str) -> CallLimits:
    """The limits ``config`` sets for ``tenant``'s calls of ``interface``."""
    catalog = config.limits
    try:
        own = config.tenants[tenant].limits
    except KeyError:  # an unknown tenant: its call fails anyway, under the catalog's limits
        own = None
    timeout = None
    concurrent = None
    if own is not None:
        timeout = own.interfaces.get(interface, own.call_timeout)
        concurrent = own.concurrent_calls
    if timeout is None:
        timeout = catalog.interfaces.get(interface, catalog.call_timeout)
    if concurrent is None:
        concurrent = catalog.concurrent_calls
    assert timeout is not None and concurrent is not None  # the catalog's are always set
    return CallLimits(concurrent, timeout)
