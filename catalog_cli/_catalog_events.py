"""Catalog events: what happened to the catalog itself (not to one call), told to subscribers.

An event has a kind, a time, the tenant it is about (None: the whole catalog) and details as
plain data. Whoever notices something (the registry building a tenant, a circuit breaker, a job
worker, a reload) calls :meth:`EventBus.emit`, which only puts the event on a queue: delivery
runs on a thread of the bus's own, so a subscriber that is slow or raises never slows or fails
the thing that happened. A subscriber that raises is logged (logger ``catalog.events``) and
skipped; the others still get the event.

Two kinds of subscriber: operators, with :meth:`EventBus.subscribe` (every event), and the
plugins of a tenant, through the ``catalog_event`` hook (that tenant's events only), delivered
by the ``to_tenant`` function the catalog gives the bus.
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple, get_args

from . import _interrupts

EventKind = Literal[
    "plugin_loaded",
    "plugin_failed",
    "tenant_failed",
    "reloaded",
    "reload_refused",
    "breaker_opened",
    "breaker_closed",
    "job_dead",
    "canary_rolled_back",
    "plugin_changed",
]
#: Every kind of catalog event (the docs list the same).
KINDS: Final[tuple[str, ...]] = get_args(EventKind)

#: Events waiting for delivery at most; beyond it new ones are dropped (and that is logged):
#: a subscriber that hangs must not make the catalog hold events without bound.
CAPACITY: Final = 10_000
#: Seconds the delivery thread waits for another event before it ends (a new one starts it).
_IDLE_SECONDS: Final = 2.0

#: token -> bus, for what may hold a token but never the bus itself (see ``emit_to``)
_BUSES: weakref.WeakValueDictionary[int, EventBus] = weakref.WeakValueDictionary()
_tokens = itertools.count(1)


def _log() -> Any:
    import logging  # not at import: light commands never load the logging package

    return logging.getLogger("catalog.events")


class CatalogEvent(NamedTuple):
    """Something that happened to the catalog: a tenant failed closed, a breaker opened, ..."""

    kind: str
    #: seconds since the epoch, when it happened
    time: float
    #: the tenant it is about; None for the whole catalog (a reload)
    tenant: str | None
    #: what else there is to know, as JSON data (read-only)
    details: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "time": self.time,
            "tenant": self.tenant,
            "details": dict(self.details),
        }


Subscriber = Callable[[CatalogEvent], object]


class EventBus:
    """The events of one catalog and who is told about them (see the module docstring)."""

    def __init__(
        self,
        *,
        to_tenant: Callable[[CatalogEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
        capacity: int = CAPACITY,
    ) -> None:
        self._to_tenant = to_tenant
        self._clock = clock
        self._capacity = capacity
        self._subscribers: list[Subscriber] = []
        self._queue: collections.deque[CatalogEvent] = collections.deque()
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        #: events taken from the queue and not yet delivered to everyone
        self._busy = 0
        self._dropped = 0
        #: names this bus for ``emit_to`` (an interceptor's context holds it, not the bus)
        self.token = next(_tokens)
        _BUSES[self.token] = self

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event from now on; returns what unsubscribes."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def emit(
        self, kind: str, tenant: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        """Queue an event for delivery; never raises and never waits for a subscriber."""
        try:
            event = CatalogEvent(kind, self._clock(), tenant, MappingProxyType(dict(details or {})))
            with self._lock:
                if len(self._queue) >= self._capacity:
                    self._dropped += 1
                    if self._dropped == 1 or self._dropped % 1000 == 0:
                        _log().warning(
                            "%d catalog event(s) dropped: %d wait for delivery (a subscriber "
                            "is slow or hangs)",
                            self._dropped,
                            len(self._queue),
                        )
                    return
                self._queue.append(event)
                self._ready.notify()
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._deliver_all, name="catalog-events", daemon=True
                    )
                    self._thread.start()
        except Exception:
            # Telling others about an event is never worth failing what happened.
            _log().exception("catalog event %r for tenant %r not queued", kind, tenant)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event emitted so far was delivered; whether it was within
        ``timeout`` seconds (for tests, and for a program about to exit)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(min(left, 0.05))
        return True

    def _deliver_all(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._ready.wait(_IDLE_SECONDS)
                if not self._queue:
                    self._thread = None
                    self._ready.notify_all()
                    return
                event = self._queue.popleft()
                self._busy += 1
                subscribers = list(self._subscribers)
            try:
                self._deliver(event, subscribers)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._ready.notify_all()

    def _deliver(self, event: CatalogEvent, subscribers: list[Subscriber]) -> None:
        for subscriber in subscribers:
            call_safely(subscriber, event, getattr(subscriber, "__qualname__", repr(subscriber)))
        if event.tenant is not None and self._to_tenant is not None:
            call_safely(self._to_tenant, event, "the tenant's plugins")


def emit_to(
    token: int, kind: str, tenant: str | None, details: Mapping[str, Any] | None = None
) -> None:
    """``emit`` on the bus named by ``token``, if it is still there. What plugin code can
    reach (an interceptor's context) holds the token: the bus would lead to its catalog, and
    from there to every tenant."""
    bus = _BUSES.get(token)
    if bus is not None:
        bus.emit(kind, tenant, details)


def call_safely(function: Callable[[CatalogEvent], object], event: CatalogEvent, who: str) -> None:
    """Run one subscriber on ``event``; what it raises is logged and goes no further."""
    try:
        function(event)
    except BaseException as exc:
        if _interrupts.is_real(exc):
            raise
        _log().warning(
            "event subscriber %s raised on %s event (tenant %r): %s: %s",
            who,
            event.kind,
            event.tenant,
            type(exc).__name__,
            exc,
        )
