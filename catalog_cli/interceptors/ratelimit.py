"""The ``rate_limit`` interceptor: a token bucket per tenant (or per tenant and interface).

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second; each call takes one.
A call that finds the bucket empty is refused before anything runs, with RateLimitedError
(exit code 12) whose ``retry_after`` is the number of seconds until a token is there::

    [interceptors.rate_limit]
    settings = { rate = 10, burst = 20 }
    [tenants.c1.interceptors.rate_limit]
    rate = 2                        # c1 gets less

Tenants never share a bucket. With ``per_interface = true`` each interface of a tenant has
its own bucket; otherwise all the interfaces in the interceptor's scope share the tenant's one.
A refused call takes no token. Retries and other interceptors inside this one do not take
tokens either: the limit counts calls into the catalog. Buckets are kept across reloads; a
bucket starts full.

Buckets live in the process, unless ``shared = true``: then they are rows of a small SQLite
file in the folder ``$CATALOG_SHARED_DIR`` names (``catalog serve --workers N`` gives its
workers one), so a tenant's rate is its rate across every process that shares the folder, at
the cost of a file transaction per call (tens of microseconds). Without that folder, a shared
bucket is the process's own, as there is nobody to share it with.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from catalog_cli import PluginMeta, hookimpl
from catalog_cli.config import Option, Options, at_least, positive
from catalog_cli.errors import RateLimitedError

if TYPE_CHECKING:
    from catalog_cli import Call, InterceptorContext

PLUGIN = PluginMeta(
    description="Refuses a tenant's calls beyond `rate` a second (bursts of up to `burst`) "
    "with RateLimitedError and the seconds to wait",
    settings=Options(
        Option(
            "rate",
            "float",
            10.0,
            "calls a second, on average: tokens added to the bucket per second",
            positive,
        ),
        Option(
            "burst", "int", 10, "most tokens a bucket holds: calls allowed at once", at_least(1)
        ),
        Option(
            "per_interface",
            "bool",
            False,
            "a bucket per interface of the tenant, instead of one for all of them",
        ),
        Option(
            "shared",
            "bool",
            False,
            "buckets shared by every process using the folder $CATALOG_SHARED_DIR (the "
            "workers of catalog serve), instead of one per process",
        ),
    ),
)

ORDER: Final = 300

NAME: Final = "rate_limit"

#: The clock (tests replace it).
_now = time.monotonic
#: The clock of shared buckets: several processes must read the same one.
_wall = time.time
#: The folder of state that processes share (``catalog serve`` sets it for its workers).
SHARED_DIR_ENV: Final = "CATALOG_SHARED_DIR"


class _Buckets:
    """One tenant's buckets: interface (or "" for all) -> [tokens, when last counted]."""

    __slots__ = ("lock", "tokens")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, list[float]] = {}

    def take(self, which: str, rate: float, burst: int) -> float | None:
        """Take a token: None if there was one, else the seconds until there is."""
        with self.lock:
            now = _now()
            bucket = self.tokens.get(which)
            if bucket is None:
                bucket = self.tokens[which] = [float(burst), now]
            tokens, last = bucket
            # min(): a reload may have lowered the burst; max(): never count time backwards
            tokens = min(float(burst), tokens + max(0.0, now - last) * rate)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return None
            bucket[0] = tokens
            return (1.0 - tokens) / rate


class _SharedBuckets:
    """Buckets in a SQLite file that several processes share (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.lock = threading.Lock()
        self.connection = sqlite3.connect(
            path, timeout=5, isolation_level=None, check_same_thread=False
        )
        self.connection.execute("PRAGMA journal_mode = WAL")
        # A bucket's tokens are worth no disk sync: a crash loses a fraction of a second of them.
        self.connection.execute("PRAGMA synchronous = OFF")
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS buckets (tenant TEXT NOT NULL, which TEXT NOT NULL, "
            "tokens REAL NOT NULL, last REAL NOT NULL, PRIMARY KEY (tenant, which))"
        )

    def take(self, tenant: str, which: str, rate: float, burst: int) -> float | None:
        """As ``_Buckets.take``, in one transaction that every sharing process sees."""
        with self.lock:
            conn = self.connection
            conn.execute("BEGIN IMMEDIATE")
            try:
                now = _wall()
                row = conn.execute(
                    "SELECT tokens, last FROM buckets WHERE tenant = ? AND which = ?",
                    (tenant, which),
                ).fetchone()
                tokens, last = (float(burst), now) if row is None else row
                tokens = min(float(burst), tokens + max(0.0, now - last) * rate)
                wait = None if tokens >= 1.0 else (1.0 - tokens) / rate
                if wait is None:
                    tokens -= 1.0
                conn.execute(
                    "INSERT INTO buckets (tenant, which, tokens, last) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (tenant, which) DO UPDATE SET tokens = excluded.tokens, "
                    "last = excluded.last",
                    (tenant, which, tokens, now),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return wait


#: The shared buckets of this process, per file (every tenant's rows are its own).
_SHARED: dict[Path, _SharedBuckets] = {}
_SHARED_LOCK = threading.Lock()


def _shared_buckets() -> _SharedBuckets | None:
    folder = os.environ.get(SHARED_DIR_ENV)
    if not folder:
        return None
    path = Path(folder) / "rate_limit.sqlite3"
    with _SHARED_LOCK:
        found = _SHARED.get(path)
        if found is None:
            found = _SHARED[path] = _SharedBuckets(path)
        return found


def _seconds(wait: float) -> str:
    # rounded up: a caller that waits this long finds a token
    return f"{math.ceil(wait * 1000) / 1000:g}"


def _buckets(state: dict[str, Any]) -> _Buckets:
    found = state.get("buckets")
    if found is None:
        # setdefault is atomic: threads racing here all get the same buckets
        found = state.setdefault("buckets", _Buckets())
    return found  # type: ignore[no-any-return]


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    settings = ctx.settings
    rate: float = settings["rate"]
    burst: int = settings["burst"]
    per_interface: bool = settings["per_interface"]
    which = call.interface if per_interface else ""
    shared = _shared_buckets() if settings["shared"] else None
    if shared is not None:
        wait = shared.take(call.tenant, which, rate, burst)
    else:
        wait = _buckets(ctx.state).take(which, rate, burst)
    if wait is not None:
        on = f" on interface {call.interface!r}" if per_interface else ""
        raise RateLimitedError(
            f"tenant {call.tenant!r} is over its rate limit{on} of {rate:g} calls/s "
            f"(bursts of {burst}); {call.interface} v{call.version} refused (call "
            f"{call.call_id}), retry in {_seconds(wait)} s",
            interceptor=NAME,
            tenant=call.tenant,
            interface=call.interface,
            version=call.version,
            retry_after=wait,
        )
    return (yield)
