"""Running a call with a deadline, in a thread the caller may abandon.

Python cannot stop a thread: a call that misses its deadline keeps running in its daemon
thread. So that a hanging dependency cannot make a process start threads without end, the
abandoned threads still running are capped per owner (a tenant, or the catalog's own loading
work): beyond ``max_abandoned()`` of one owner, that owner's new calls with a deadline are
refused (Overloaded) until some of them end, and every other owner keeps its own allowance.
A process-wide cap (``max_abandoned_total()``) bounds the sum, for a catalog with many
misbehaving tenants at once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Final, TypeVar

T = TypeVar("T")

#: Abandoned threads one owner may have at once, unless $CATALOG_MAX_ABANDONED says otherwise.
DEFAULT_MAX_ABANDONED: Final = 64
#: Abandoned threads the whole process may have, unless $CATALOG_MAX_ABANDONED_TOTAL says.
DEFAULT_MAX_ABANDONED_TOTAL: Final = 1024
#: The owner of work that is no tenant's (imports, start-ups, health checks of a catalog).
CATALOG: Final = ""


class _Counts:
    """Abandoned threads still running in this process, per owner."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_owner: dict[str, int] = {}
        self.total = 0

    def add(self, owner: str, step: int) -> None:
        """Under ``lock``."""
        left = self.by_owner.get(owner, 0) + step
        if left:
            self.by_owner[owner] = left
        else:
            self.by_owner.pop(owner, None)
        self.total += step


_abandoned = _Counts()


class Late(TimeoutError):
    """The call did not finish in time; it may still be running in its abandoned thread."""


class Overloaded(RuntimeError):
    """Too many calls abandoned at their deadline are still running: no new one is started."""

    def __init__(self, message: str, owner: str) -> None:
        super().__init__(message)
        #: whose allowance is used up (``CATALOG``: the catalog's own, or the process's)
        self.owner = owner


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def max_abandoned() -> int:
    """Abandoned threads allowed to one owner."""
    return _env_int("CATALOG_MAX_ABANDONED", DEFAULT_MAX_ABANDONED)


def max_abandoned_total() -> int:
    """Abandoned threads allowed to the whole process."""
    return _env_int("CATALOG_MAX_ABANDONED_TOTAL", DEFAULT_MAX_ABANDONED_TOTAL)


def abandoned(owner: str | None = None) -> int:
    """How many abandoned threads are still running: ``owner``'s, or the process's (None)."""
    counts = _abandoned
    return counts.total if owner is None else counts.by_owner.get(owner, 0)


def abandoned_by_owner() -> dict[str, int]:
    """Owner -> abandoned threads still running (only owners that have some)."""
    with _abandoned.lock:
        return dict(_abandoned.by_owner)


def _refusal(owner: str) -> Overloaded | None:
    counts = _abandoned
    limit = max_abandoned()
    mine = counts.by_owner.get(owner, 0)
    if mine >= limit:
        whose = f"tenant {owner!r}" if owner else "the catalog's loading work"
        return Overloaded(
            f"{mine} calls of {whose} abandoned at their deadline are still running (the limit "
            f"is {limit} per tenant, $CATALOG_MAX_ABANDONED): no new one is started until some "
            "end",
            owner,
        )
    total = max_abandoned_total()
    if counts.total >= total:
        return Overloaded(
            f"{counts.total} calls abandoned at their deadline are still running in this "
            f"process (the limit is {total}, $CATALOG_MAX_ABANDONED_TOTAL): no new one is "
            "started until some end",
            CATALOG,
        )
    return None


def admit(owner: str) -> None:
    """Raise Overloaded while ``owner`` (or the process) has too many abandoned threads: for
    a pool of its own that abandons its workers (see ``abandon``) under the same caps."""
    refused = _refusal(owner)
    if refused is not None:
        raise refused


def abandon(owner: str) -> Callable[[], None]:
    """Count one more thread abandoned by ``owner``; call what is returned when it ends."""
    counts = _abandoned
    with counts.lock:
        counts.add(owner, 1)
    ended = threading.Lock()

    def end() -> None:
        if ended.acquire(blocking=False):  # once, however often it is called
            with counts.lock:
                counts.add(owner, -1)

    return end


def call_with_deadline(
    func: Callable[[], T], seconds: float, name: str, *, owner: str = CATALOG
) -> T:
    """``func()``'s result or exception, or Late after ``seconds``.

    Python cannot stop a thread, so a late call keeps running in a daemon thread (named
    ``name``) until it ends on its own, counted against ``owner`` (a tenant's id, or
    ``CATALOG``); it never keeps the process alive. Raises Overloaded, without starting
    anything, while ``owner`` (or the process) has too many such threads still running.
    """
    counts = _abandoned
    admit(owner)
    outcome: list[tuple[bool, object]] = []
    state = {"left": False}

    def target() -> None:
        try:
            outcome.append((True, func()))
        except BaseException as exc:  # handed to the caller, who decides
            outcome.append((False, exc))
        finally:
            with counts.lock:
                if state["left"]:
                    counts.add(owner, -1)
                state["left"] = False

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(seconds)
    with counts.lock:
        if not outcome:
            state["left"] = True
            counts.add(owner, 1)
    if not outcome:
        raise Late(f"did not finish within {seconds:g} s")
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]
