"""Canaries at run time: counting a live canary's calls, and running a shadow canary's
candidate besides the live version.

A shadow call runs the candidate version with the caller's arguments on a small pool of
threads of its own, after the live call has answered: the caller never waits for it, never
sees its answer, and is never refused because of it. The pool is bounded (threads, jobs
waiting, and shadow calls per tenant): with no room, a shadow call is skipped and counted as
such. Each shadow call has its tenant's deadline for the interface and, past it, is abandoned
against that tenant's allowance (see ``_deadline``), never anything shared. It runs the
tenant's plugins only: no interceptor and no call observer sees it.

Its answer is compared with the live answer (JSON-like equality, numbers within the canary's
``tolerance``); the outcome is counted in the catalog's ``Rollouts``, a mismatch or a failure
is logged on ``catalog.shadow``, and a rollback rule judges them.
"""

from __future__ import annotations

import copy
import math
import os
import queue
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from .. import _deadline
from .._redact import REDACTED, SECRET_NAMES, folded, redact
from ..config._limits import limits_of
from ..errors import (
    CallTimeoutError,
    CatalogError,
    PluginCallError,
    ResultValidationError,
)
from ..registry import VersionChoice
from ._context import SHADOW, call_id_of, next_serial
from ._trace import Trace, TraceNode, summarize

if TYPE_CHECKING:
    import logging

    from ..config import Canary
    from ..registry._rollout import Outcome, Rollback
    from ._runtimes import Runtimes


def _log() -> logging.Logger:
    # Imported when there is something to say: light commands never load logging.
    import logging

    return logging.getLogger("catalog.shadow")


#: Threads of the process's shadow pool, unless $CATALOG_SHADOW_THREADS says otherwise.
DEFAULT_THREADS: Final = 4
#: Differences a log record shows (the count says how many more there were).
SHOWN_DIFFERENCES: Final = 3
#: Characters of a value a difference shows.
VALUE_LENGTH: Final = 60

# -- comparing answers ------------------------------------------------------------------------

_MISSING: Final = object()


def _numbers(a: Any, b: Any) -> bool:
    return (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    )


def _same_number(a: float, b: float, tolerance: float) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True  # the same answer, though NaN is not equal to itself
    if a == b:
        return True
    return tolerance > 0 and math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def differences(
    live: Any, candidate: Any, tolerance: float = 0.0, limit: int = 100
) -> list[tuple[str, Any, Any]]:
    """Where two answers differ, as (path, live value, candidate value), at most ``limit``.

    Answers compare as JSON values: mappings by their keys, lists and tuples alike item by
    item, ``True`` is not ``1``, ``1`` is ``1.0``, numbers match within ``tolerance``
    (absolutely or relatively, as ``math.isclose``), NaN matches NaN; other objects by ``==``.
    A missing key or item shows as the text ``(missing)``."""
    found: list[tuple[str, Any, Any]] = []
    # A stack, not recursion: an answer may nest deeper than Python's recursion limit.
    stack: list[tuple[str, Any, Any]] = [("$", live, candidate)]
    while stack and len(found) < limit:
        path, a, b = stack.pop()
        if a is b:
            continue
        if _numbers(a, b):
            if not _same_number(a, b, tolerance):
                found.append((path, a, b))
        elif isinstance(a, Mapping) and isinstance(b, Mapping):
            keys = list(a) + [key for key in b if key not in a]
            for key in reversed(keys):
                stack.append((f"{path}.{key}", a.get(key, _MISSING), b.get(key, _MISSING)))
        elif isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            for index in reversed(range(max(len(a), len(b)))):
                stack.append(
                    (
                        f"{path}[{index}]",
                        a[index] if index < len(a) else _MISSING,
                        b[index] if index < len(b) else _MISSING,
                    )
                )
        elif a is _MISSING or b is _MISSING or (type(a) is not type(b) and _plain(a, b)):
            found.append((path, a, b))
        else:
            try:
                same = bool(a == b)
            except Exception:  # an object whose == raises: not the same answer
                same = False
            if not same:
                found.append((path, a, b))
    return found


def _plain(a: Any, b: Any) -> bool:
    """Whether both are JSON values of different kinds (a string and a number, say)."""
    plain = (str, int, float, bool, type(None), list, tuple, dict)
    return isinstance(a, plain) and isinstance(b, plain)


def _secret(path: str) -> bool:
    return any(p in folded(part) for part in path.split(".")[1:] for p in SECRET_NAMES)


def describe(found: list[tuple[str, Any, Any]], count: int | None = None) -> str:
    """Differences for people: ``$.total: 38.8 != 38.9``, values cut short, secrets hidden."""

    def shown(path: str, value: Any) -> str:
        if value is _MISSING:
            return "(missing)"
        if _secret(path):
            return REDACTED
        text = repr(value)
        return text if len(text) <= VALUE_LENGTH else text[: VALUE_LENGTH - 3] + "..."

    parts = [
        f"{path}: {shown(path, a)} != {shown(path, b)}" for path, a, b in found[:SHOWN_DIFFERENCES]
    ]
    more = (count if count is not None else len(found)) - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


# -- the pool ---------------------------------------------------------------------------------


class ShadowPool:
    """A few daemon threads running shadow calls, with bounded room: ``waiting`` jobs queued at
    most, and ``per_tenant`` shadow calls of one tenant not yet ended (queued, running, or
    abandoned at their deadline and still running)."""

    def __init__(self, threads: int, waiting: int, per_tenant: int) -> None:
        self.threads = threads
        self.per_tenant = per_tenant
        self._jobs: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=waiting)
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self._started = 0

    def submit(self, tenant: str, job: Callable[[Callable[[], None]], None]) -> str | None:
        """Queue ``job(release)`` for ``tenant``; ``release()`` must be called once its shadow
        call has ended. Returns None, or why there was no room (the job is then dropped)."""
        ended = threading.Lock()

        def release() -> None:
            if ended.acquire(blocking=False):  # once, however often it is called
                with self._lock:
                    left = self._open.get(tenant, 0) - 1
                    if left > 0:
                        self._open[tenant] = left
                    else:
                        self._open.pop(tenant, None)

        with self._lock:
            running = self._open.get(tenant, 0)
            if running >= self.per_tenant:
                return f"its tenant has {running} shadow calls running (the most it may have)"
            try:
                self._jobs.put_nowait(lambda: job(release))
            except queue.Full:
                return f"the shadow pool is full ({self._jobs.maxsize} calls waiting)"
            self._open[tenant] = running + 1
            while self._started < self.threads:
                self._started += 1
                name = f"catalog-shadow-{self._started}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
        return None

    def open(self, tenant: str) -> int:
        """``tenant``'s shadow calls not yet ended."""
        with self._lock:
            return self._open.get(tenant, 0)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                job()
            except BaseException:  # a bug of ours: the thread must outlive it
                _log().exception("a shadow call could not be handled")


#: The process's pool, made when first needed (a list, so that a fork can empty it).
_pools: list[ShadowPool] = []
_pool_lock = threading.Lock()


def pool() -> ShadowPool:
    """The process's shadow pool ($CATALOG_SHADOW_THREADS threads; half of them, at least
    one, for one tenant; 16 jobs waiting per thread)."""
    if not _pools:
        with _pool_lock:
            if not _pools:
                try:
                    threads = max(1, int(os.environ.get("CATALOG_SHADOW_THREADS", DEFAULT_THREADS)))
                except ValueError:
                    threads = DEFAULT_THREADS
                _pools.append(ShadowPool(threads, 16 * threads, max(1, threads // 2)))
    return _pools[0]


def _forget_pool() -> None:
    # A child of fork() has none of its parent's threads: it makes a pool of its own.
    _pools.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


# -- live canaries ----------------------------------------------------------------------------


def counts_against(exc: BaseException) -> bool:
    """Whether a live canary call's error is the candidate's: its plugins failed, its answer
    was wrong, or it ran out of time. A refusal (limits, rate, circuit) or arguments the caller
    got wrong would have happened to any version."""
    if isinstance(exc, (PluginCallError, ResultValidationError, CallTimeoutError)):
        return True
    return not isinstance(exc, CatalogError)


def observe_live(
    runtimes: Runtimes,
    tenant: str,
    choice: VersionChoice,
    error: BaseException | None,
    call_id: str | None,
) -> None:
    """Count a live canary call (``error``: what it raised, if it did) and judge its window."""
    if error is not None and not counts_against(error):
        return
    canary = runtimes.registry.tenant_config(tenant).canaries.get(choice.interface)
    if canary is None or canary.version != choice.version:
        return
    outcome: Outcome = "ok" if error is None else "error"
    rollouts = runtimes.registry.rollouts
    tripped = rollouts.observe(tenant, choice.interface, canary, outcome, call_id or "-")
    if tripped is not None:
        _tell_observers(runtimes, tenant, tripped)


def run_live(runtimes: Runtimes, tenant: str, choice: VersionChoice, run: Callable[[], Any]) -> Any:
    """``run()``, a live canary's call, counted."""
    try:
        result = run()
    except BaseException as exc:
        observe_live(runtimes, tenant, choice, exc, getattr(exc, "call_id", None))
        raise
    observe_live(runtimes, tenant, choice, None, None)
    return result


def _tell_observers(runtimes: Runtimes, tenant: str, rollback: Rollback) -> None:
    """The catalog event of a rollback: to the catalog's subscribers and the tenant's plugins."""
    if runtimes.events is None:
        return
    details = rollback.to_dict()
    del details["tenant"]
    runtimes.events.emit("canary_rolled_back", tenant, details)


# -- shadow canaries --------------------------------------------------------------------------


class ShadowCall:
    """A shadow canary's candidate run for one call, decided before the live call runs (with
    a copy of the arguments it was given, which the live call's plugins may change)."""

    __slots__ = ("arguments", "canary", "choice", "live", "runtimes", "tenant")

    def __init__(
        self,
        runtimes: Runtimes,
        tenant: str,
        live: VersionChoice,
        canary: Canary,
        arguments: dict[str, Any],
    ) -> None:
        self.runtimes = runtimes
        self.tenant = tenant
        self.live = live
        self.canary = canary
        self.choice = VersionChoice(live.interface, canary.version, "shadow")
        self.arguments = arguments

    def submit(self, result: Any, serial: int | str) -> str:
        """Start the candidate, to be compared with the live call's ``result`` (the answer of
        call ``serial``); returns what became of it: ``started``, or why it was skipped."""
        call_id = call_id_of(serial)
        try:
            answer = copy.deepcopy(result)  # the caller may change its answer meanwhile
        except Exception as exc:
            why = f"the live answer cannot be copied ({type(exc).__name__})"
            return self._skipped(why, call_id)
        full = pool().submit(self.tenant, lambda release: self._run(answer, serial, release))
        if full is not None:
            return self._skipped(full, call_id)
        return "started"

    def _skipped(self, why: str, call_id: str) -> str:
        self._count("skipped", call_id)
        _log().debug(
            "shadow call of %s v%s for tenant %r skipped: %s [call %s]",
            self.choice.interface,
            self.choice.version,
            self.tenant,
            why,
            call_id,
        )
        return f"skipped: {why}"

    def _run(self, answer: Any, serial: int | str, release: Callable[[], None]) -> None:
        """On a pool thread: run the candidate within its deadline, compare, count, log."""
        call_id = call_id_of(serial)
        registry = self.runtimes.registry
        choice = self.choice
        timeout = limits_of(registry.config, self.tenant, choice.interface).call_timeout

        def candidate() -> Any:
            try:
                SHADOW.set(True)  # its own thread: set for this run only
                runtime = self.runtimes.get(self.tenant)
                prepared = runtime.prepared(choice)
                return prepared.invoke(prepared.declared.bind(dict(self.arguments)), serial)
            finally:
                release()

        try:
            value = _deadline.call_with_deadline(
                candidate, timeout, f"catalog-shadow-{call_id}", owner=self.tenant
            )
        except _deadline.Overloaded as busy:
            release()  # it never started
            self._skipped(str(busy), call_id)
            return
        except _deadline.Late:
            self._failed("timed_out", f"did not finish within {timeout:g} s", call_id)
            return
        except BaseException as exc:  # everything the candidate raises is its own failure
            self._failed("failed", f"{type(exc).__name__}: {exc}", call_id)
            return
        found = differences(answer, value, self.canary.tolerance)
        if not found:
            self._count("matched", call_id)
            return
        self._count("mismatched", call_id)
        _log().warning(
            "shadow call of %s v%s for tenant %r answered otherwise than v%s [call %s]: %s; "
            "arguments: %s",
            choice.interface,
            choice.version,
            self.tenant,
            self.live.version,
            call_id,
            describe(found),
            summarize(redact(self.arguments)),
            extra=self._facts(call_id, "mismatched"),
        )

    def _failed(self, outcome: Outcome, why: str, call_id: str) -> None:
        self._count(outcome, call_id)
        _log().warning(
            "shadow call of %s v%s for tenant %r %s [call %s]: %s; arguments: %s",
            self.choice.interface,
            self.choice.version,
            self.tenant,
            "timed out" if outcome == "timed_out" else "failed",
            call_id,
            why,
            summarize(redact(self.arguments)),
            extra=self._facts(call_id, outcome),
        )

    def _facts(self, call_id: str, outcome: str) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "interface": self.choice.interface,
            "version": self.choice.version,
            "live_version": self.live.version,
            "call_id": call_id,
            "outcome": outcome,
        }

    def _count(self, outcome: Outcome, call_id: str) -> None:
        rollouts = self.runtimes.registry.rollouts
        interface = self.choice.interface
        tripped = rollouts.observe(self.tenant, interface, self.canary, outcome, call_id)
        if tripped is not None:
            _tell_observers(self.runtimes, self.tenant, tripped)


def shadow_of(
    runtimes: Runtimes, tenant: str, live: VersionChoice, arguments: Mapping[str, Any]
) -> ShadowCall | None:
    """The shadow call a shadow canary of ``tenant`` makes besides this one, if it takes it
    (nothing for a tenant without a canary of the interface, at the cost of a look-up)."""
    registry = runtimes.registry
    canary = registry.tenant_config(tenant).canaries.get(live.interface)
    if canary is None or canary.mode != "shadow":
        return None
    if registry.shadowed(live, tenant, arguments) is None:
        return None
    try:
        copied = copy.deepcopy(dict(arguments))
    except Exception:  # arguments are data; a caller in this process may pass anything
        return None
    return ShadowCall(runtimes, tenant, live, canary, copied)


def run_shadowed(prepared_call: Any, shadow: ShadowCall, arguments: Mapping[str, Any]) -> Any:
    """The live call with ``arguments`` (its prepared call), then its shadow started."""
    serial = next_serial()
    result = prepared_call.invoke(prepared_call.declared.bind(dict(arguments)), serial)
    shadow.submit(result, serial)
    return result


def note(trace: Trace, shadow: ShadowCall, status: str) -> None:
    """Mark in a traced call's tree that its shadow call was started (or skipped)."""
    choice = shadow.choice
    node = TraceNode(
        "shadow",
        f"{choice.interface} v{choice.version}",
        None,
        {"version": choice.version, "outcome": status},
    )
    node.ended = node.started
    trace.root.children.append(node)
