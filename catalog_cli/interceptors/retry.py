"""Retry: run a failed call again, a bounded number of times, with exponential backoff.

Only exceptions named in ``on`` are retried, matched against the raised exception's classes
(its MRO) by class name ("ConnectionError") or dotted path ("builtins.OSError",
"mypkg.errors.Transient"); so "OSError" covers ConnectionError too. A PluginCallError
matches by its cause as well (the timeout interceptor's process isolation wraps plugin
errors in one). Argument errors (InvalidArgumentsError) are never retried, even if listed or
covered by a listed base class such as "TypeError": the same arguments fail the same way
every time. Only ``Exception`` subclasses are retried (never KeyboardInterrupt or
SystemExit).

The delay before retry ``n`` (1 for the first) is ``backoff * multiplier ** (n - 1)``, capped
at ``max_backoff``; with ``jitter`` ("full jitter") it is a random share of that, between 0
and the computed delay, so that many callers failing at once do not retry in lockstep.

Every attempt runs the interceptors inside this one again: with the timeout interceptor
inside (its default order), each attempt gets its own deadline, and a timed-out attempt
(CallTimeoutError is a TimeoutError) is retried by the default ``on``.

Per tenant, its state counts for each (interface, version) the retries made, the calls
that succeeded after a retry and the calls that gave up; :func:`counters` reads them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import AsyncGenerator, Generator, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from catalog_cli import PluginMeta, hookimpl
from catalog_cli.config import Option, Options, at_least
from catalog_cli.errors import InvalidArgumentsError

from ._match import exception_names, matches

if TYPE_CHECKING:
    from catalog_cli import Call, InterceptorContext

#: The name in catalog.toml; the key of this interceptor's state.
NAME: Final = "retry"

ORDER: Final = 600

#: Monkeypatched by tests: nothing here really sleeps or draws at random in them.
_sleep = time.sleep
_random = random.random

PLUGIN = PluginMeta(
    description="Runs a failed call again, with exponential backoff and jitter, "
    "for the exception types listed in `on`",
    settings=Options(
        Option(
            "attempts",
            "int",
            3,
            "attempts in all, the first one included (1: never retry)",
            at_least(1),
        ),
        Option(
            "on",
            "strings",
            ("ConnectionError", "TimeoutError"),
            "exception types to retry, by class name or dotted path (subclasses too); "
            "InvalidArgumentsError never is",
            exception_names,
        ),
        Option("backoff", "float", 0.1, "seconds before the first retry", at_least(0)),
        Option("max_backoff", "float", 5.0, "the longest delay, in seconds", at_least(0)),
        Option("multiplier", "float", 2.0, "each delay is this times the one before", at_least(1)),
        Option("jitter", "bool", True, "wait a random time between 0 and the delay"),
    ),
)


def delays(settings: Mapping[str, Any]) -> Generator[float, None, None]:
    """The computed delays before retries 1, 2, ... (before jitter), endlessly.

    Grown step by step and capped at each step, so a large ``attempts`` cannot overflow.
    """
    cap = float(settings["max_backoff"])
    delay = min(float(settings["backoff"]), cap)
    while True:
        yield delay
        delay = min(delay * float(settings["multiplier"]), cap)


def _retryable(exc: Exception, on: Iterable[str]) -> bool:
    return not isinstance(exc, InvalidArgumentsError) and matches(exc, on)


def _count(ctx: InterceptorContext, call: Call, what: str) -> None:
    state = ctx.state
    lock = state.get("lock") or state.setdefault("lock", threading.Lock())
    with lock:
        counts = state.setdefault("counts", {}).setdefault(
            (call.interface, call.version), {"retries": 0, "recovered": 0, "gave_up": 0}
        )
        counts[what] += 1


def counters(
    states: Mapping[str, Mapping[str, Any]], tenant: str
) -> dict[tuple[str, int], dict[str, int]]:
    """(interface, version) -> {"retries", "recovered", "gave_up"} for ``tenant``, from the
    retry interceptor's states (``catalog.interceptor_states("retry")``)."""
    state = states.get(tenant)
    if not state or "lock" not in state:
        return {}
    with state["lock"]:
        return {key: dict(counts) for key, counts in state.get("counts", {}).items()}


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    try:
        return (yield)
    except Exception as exc:
        error: Exception = exc
    attempt = 1
    ladder = delays(ctx.settings)
    # Raised outside the except blocks, so the error keeps its own context, not ours.
    while (delay := _before_retry(ctx, call, error, attempt, ladder)) is not None:
        _sleep(delay)
        attempt += 1
        try:
            result = call.again(ctx)
        except Exception as exc:
            error = exc
            continue
        _count(ctx, call, "recovered")
        return result
    _give_up(ctx, call, error, attempt)
    raise error


@hookimpl(wrapper=True, specname="catalog_call")
async def catalog_call_async(ctx: InterceptorContext, call: Call) -> AsyncGenerator[Any, Any]:
    """The same on the async path: waits without holding the event loop."""
    try:
        yield
        return  # the result stands
    except Exception as exc:
        error: Exception = exc
    attempt = 1
    ladder = delays(ctx.settings)
    while (delay := _before_retry(ctx, call, error, attempt, ladder)) is not None:
        await _asleep(delay)
        attempt += 1
        try:
            result = await call.again(ctx)
        except Exception as exc:
            error = exc
            continue
        _count(ctx, call, "recovered")
        yield result
        return
    _give_up(ctx, call, error, attempt)
    raise error


def _before_retry(
    ctx: InterceptorContext, call: Call, error: Exception, attempt: int, ladder: Iterator[float]
) -> float | None:
    """The delay before the next attempt, logged and counted; None when there is none."""
    settings = ctx.settings
    attempts: int = settings["attempts"]
    if not (_retryable(error, settings["on"]) and attempt < attempts):
        return None
    delay = next(ladder)
    if settings["jitter"]:
        delay *= _random()
    ctx.log.info(
        "retrying %s v%s for tenant %r (call %s): attempt %d of %d in %.3f s after %s: %s",
        call.interface,
        call.version,
        call.tenant,
        call.call_id,
        attempt + 1,
        attempts,
        delay,
        type(error).__name__,
        error,
    )
    _count(ctx, call, "retries")
    return delay


def _give_up(ctx: InterceptorContext, call: Call, error: Exception, attempt: int) -> None:
    if attempt > 1:
        _count(ctx, call, "gave_up")
        ctx.log.warning(
            "%s v%s for tenant %r (call %s) failed after %d attempts: %s: %s",
            call.interface,
            call.version,
            call.tenant,
            call.call_id,
            attempt,
            type(error).__name__,
            error,
        )


async def _asleep(seconds: float) -> None:
    """``asyncio.sleep``, through ``_sleep`` when a test replaced it (nothing really waits)."""
    if _sleep is not time.sleep:
        _sleep(seconds)
        return
    import asyncio

    await asyncio.sleep(seconds)
