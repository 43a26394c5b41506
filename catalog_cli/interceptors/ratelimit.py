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
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator
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
    ),
)

ORDER: Final = 300

NAME: Final = "rate_limit"

#: The clock (tests replace it).
_now = time.monotonic


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
    wait = _buckets(ctx.state).take(call.interface if per_interface else "", rate, burst)
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
