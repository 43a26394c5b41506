"""``[limits]``: how many calls of one tenant run at once, and how long a call may run.

A shared resource (a server's threads, the process's allowance of abandoned threads) must not
be one tenant's to use up. Each tenant gets its own allowance of concurrent calls (its
bulkhead): beyond it, its next call is refused at once with ConcurrencyLimitError, while other
tenants are untouched. And each call gets a deadline, so a hanging plugin costs bounded time.

The most specific setting wins: a tenant's for the interface
(``[tenants.<id>.limits.interfaces.<name>]``), the tenant's (``[tenants.<id>.limits]``), the
catalog's for the interface (``[limits.interfaces.<name>]``), the catalog's (``[limits]``).
"""

from __future__ import annotations

import threading
from typing import final

from ..config._limits import CallLimits, limits_of
from ..errors import ConcurrencyLimitError

__all__ = ["Bulkheads", "CallLimits", "limits_of"]


@final
class Bulkheads:
    """The calls of each tenant running now, each tenant refused beyond its own limit."""

    __slots__ = ("_lock", "_running")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}

    def enter(self, tenant: str, limit: int, interface: str, version: int) -> None:
        """Count a call of ``tenant`` in, or raise ConcurrencyLimitError if it already has
        ``limit`` calls running (0: no limit). Pair with :meth:`leave`."""
        with self._lock:
            running = self._running.get(tenant, 0)
            if limit and running >= limit:
                raise ConcurrencyLimitError(
                    tenant=tenant, interface=interface, version=version, limit=limit
                )
            self._running[tenant] = running + 1

    def leave(self, tenant: str) -> None:
        with self._lock:
            running = self._running.get(tenant, 0) - 1
            if running > 0:
                self._running[tenant] = running
            else:
                self._running.pop(tenant, None)

    def running(self) -> dict[str, int]:
        """Tenant -> its calls running now (only tenants that have some)."""
        with self._lock:
            return dict(self._running)
