"""Connections of ``catalog serve``: how many, from whom, and how long a client may take.

uvicorn bounds how long an idle keep-alive connection stays open, but not how long a client
may take to send its request: a client that opens connections and sends its headers a byte at
a time holds a file descriptor each, for ever, until the process has none left and nobody is
served. So ``catalog serve`` runs uvicorn with a protocol of its own (whichever uvicorn would
pick, with these checks added through the asyncio protocol methods only):

- a connection beyond ``max_connections`` in all, or beyond ``max_client_connections`` from
  one client address, is closed as soon as it is accepted;
- a connection that has not sent a whole request head within ``header_timeout`` seconds of
  opening (or of its last answer) is closed.

A request's body is read within ``body_timeout`` seconds per chunk, or answered 408 (see
``_guard``). Behind a reverse proxy every connection comes from the proxy's address: set
``max_client_connections`` to 0 there, and let the proxy bound each client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Final, NamedTuple

log = logging.getLogger("catalog.serve")


class ConnectionLimits(NamedTuple):
    """The bounds of one server process's connections."""

    #: open connections at once (each is a file descriptor)
    max_connections: int = 1000
    #: open connections at once from one client address (0: no such limit)
    max_client_connections: int = 64
    #: seconds to send a whole request head, from opening or from the last answer
    header_timeout: float = 10.0
    #: seconds between two chunks of a request body
    body_timeout: float = 30.0
    #: seconds an idle keep-alive connection stays open (uvicorn's ``timeout_keep_alive``)
    keep_alive: float = 5.0


#: How ``catalog serve`` passes its limits to worker processes it starts.
LIMITS_ENV: Final = "CATALOG_CONNECTION_LIMITS"


def to_env(limits: ConnectionLimits) -> str:
    return ",".join(str(value) for value in limits)


def from_env() -> ConnectionLimits | None:
    text = os.environ.get(LIMITS_ENV)
    if not text:
        return None
    fields = ConnectionLimits._fields
    parts = text.split(",")
    if len(parts) != len(fields):
        return None
    kinds = ConnectionLimits._field_defaults
    try:
        return ConnectionLimits(
            *(type(kinds[name])(part) for name, part in zip(fields, parts, strict=True))
        )
    except ValueError:
        return None


def raise_file_limit(wanted: int) -> int:
    """Raise this process's soft limit of open files towards ``wanted`` (within the hard
    limit); the soft limit now. Many systems start processes with 1 024."""
    try:
        import resource
    except ImportError:  # not on this platform: nothing to raise
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return wanted if soft == resource.RLIM_INFINITY else soft


#: File descriptors kept for everything but client connections (the catalog's files, the
#: job store, logs, the listening socket, plugins' own).
RESERVED_FILES: Final = 128


class Tracker:
    """The open connections of this process, and whether each is inside a request."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open = 0
        self.by_client: dict[str, int] = {}
        #: (client host, port) -> the connection's protocol, while one is open
        self.by_peer: dict[tuple[str, int], Any] = {}
        self._last_refusal_log = 0.0

    def refused(self, host: str) -> str | None:
        """Why a new connection from ``host`` is refused, or None."""
        limits = self.limits
        if self.open >= limits.max_connections:
            return f"{self.open} connections are open, the limit (--max-connections)"
        per_client = limits.max_client_connections
        if per_client and self.by_client.get(host, 0) >= per_client:
            return (
                f"{per_client} connections from {host} are open, the limit per client "
                "(--max-client-connections)"
            )
        return None

    def log_refusal(self, reason: str) -> None:
        # Once a second at most: a flood of refusals must not become a flood of log lines.
        now = time.monotonic()
        if now - self._last_refusal_log >= 1.0:
            self._last_refusal_log = now
            log.warning("connection refused: %s", reason)

    def request_started(self, peer: Any) -> None:
        protocol = self.by_peer.get(_peer(peer))
        if protocol is not None:
            protocol.catalog_in_request(True)

    def request_ended(self, peer: Any) -> None:
        protocol = self.by_peer.get(_peer(peer))
        if protocol is not None:
            protocol.catalog_in_request(False)


def _peer(value: Any) -> tuple[str, int]:
    if isinstance(value, (tuple, list)) and len(value) >= 2:
        return str(value[0]), int(value[1])
    return ("", 0)


#: The tracker of this process, when it serves through ``protocol_class`` (else None: the app
#: runs under another server, or a test client, which bounds its own connections).
TRACKER: Tracker | None = None


def protocol_class(base: type[asyncio.Protocol], limits: ConnectionLimits) -> type[Any]:
    """``base`` (uvicorn's HTTP protocol) with the checks of the module docstring."""
    global TRACKER  # noqa: PLW0603 - one per process, set once by the server that runs it
    tracker = TRACKER = Tracker(limits)

    class Bounded(base):  # type: ignore[valid-type,misc]
        """uvicorn's protocol, whose connections are bounded (see ``_connections``)."""

        catalog_peer: tuple[str, int] | None = None
        catalog_timer: asyncio.TimerHandle | None = None
        catalog_counted = False

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            peer = _peer(transport.get_extra_info("peername"))
            reason = tracker.refused(peer[0])
            if reason is not None:
                tracker.log_refusal(reason)
                transport.close()
                return
            self.catalog_counted = True
            self.catalog_peer = peer
            tracker.open += 1
            tracker.by_client[peer[0]] = tracker.by_client.get(peer[0], 0) + 1
            tracker.by_peer[peer] = self
            self.catalog_transport = transport
            self.catalog_in_request(False)

        def catalog_in_request(self, inside: bool) -> None:
            """Within a request, the app's own timeouts hold; between requests, the client
            has ``header_timeout`` seconds to send the next request head."""
            timer = self.catalog_timer
            if timer is not None:
                timer.cancel()
                self.catalog_timer = None
            if not inside:
                loop = asyncio.get_running_loop()
                self.catalog_timer = loop.call_later(limits.header_timeout, self.catalog_expire)

        def catalog_expire(self) -> None:
            self.catalog_timer = None
            transport = self.catalog_transport
            if not transport.is_closing():
                log.info(
                    "connection from %s closed: no whole request within %g s",
                    self.catalog_peer[0] if self.catalog_peer else "?",
                    limits.header_timeout,
                )
                transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if self.catalog_counted:
                self.catalog_counted = False
                timer = self.catalog_timer
                if timer is not None:
                    timer.cancel()
                peer = self.catalog_peer
                assert peer is not None
                tracker.open -= 1
                left = tracker.by_client.get(peer[0], 1) - 1
                if left:
                    tracker.by_client[peer[0]] = left
                else:
                    tracker.by_client.pop(peer[0], None)
                if tracker.by_peer.get(peer) is self:
                    del tracker.by_peer[peer]
            super().connection_lost(exc)

    Bounded.__name__ = Bounded.__qualname__ = f"Bounded{base.__name__}"
    return Bounded


#: The import string ``catalog serve`` gives uvicorn as its HTTP protocol (worker processes
#: import it afresh, so it is made from the environment, not handed over as an object).
PROTOCOL: Final = "catalog_cli.http._connections:BoundedProtocol"


def __getattr__(name: str) -> Any:
    if name != "BoundedProtocol":
        raise AttributeError(name)
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    made = protocol_class(AutoHTTPProtocol, from_env() or ConnectionLimits())
    globals()[name] = made
    return made
