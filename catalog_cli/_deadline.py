"""Running a call with a deadline, in a thread the caller may abandon.

Python cannot stop a thread: a call that misses its deadline keeps running in its daemon
thread. So that a hanging dependency cannot make a process start threads without end, the
number of abandoned threads still running is capped: beyond ``max_abandoned()``, new calls
with a deadline are refused (Overloaded) until some of them end.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Abandoned threads allowed at once, unless $CATALOG_MAX_ABANDONED says otherwise.
DEFAULT_MAX_ABANDONED = 64


class _Count:
    """Abandoned threads still running in this process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value = 0


_abandoned = _Count()


class Late(TimeoutError):
    """The call did not finish in time; it may still be running in its abandoned thread."""


class Overloaded(RuntimeError):
    """Too many calls abandoned at their deadline are still running: no new one is started."""


def max_abandoned() -> int:
    try:
        return max(1, int(os.environ.get("CATALOG_MAX_ABANDONED", DEFAULT_MAX_ABANDONED)))
    except ValueError:
        return DEFAULT_MAX_ABANDONED


def abandoned() -> int:
    """How many abandoned threads are still running in this process."""
    return _abandoned.value


def call_with_deadline(func: Callable[[], T], seconds: float, name: str) -> T:
    """``func()``'s result or exception, or Late after ``seconds``.

    Python cannot stop a thread, so a late call keeps running in a daemon thread (named
    ``name``) until it ends on its own; it never keeps the process alive. Raises Overloaded,
    without starting anything, while too many such threads are still running.
    """
    count = _abandoned
    limit = max_abandoned()
    if count.value >= limit:
        raise Overloaded(
            f"{count.value} calls abandoned at their deadline are still running (the limit is "
            f"{limit}, $CATALOG_MAX_ABANDONED): no new call is started until some end"
        )
    outcome: list[tuple[bool, object]] = []
    state = {"left": False}

    def target() -> None:
        try:
            outcome.append((True, func()))
        except BaseException as exc:  # handed to the caller, who decides
            outcome.append((False, exc))
        finally:
            with count.lock:
                if state["left"]:
                    count.value -= 1
                state["left"] = False

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(seconds)
    with count.lock:
        if not outcome:
            state["left"] = True
            count.value += 1
    if not outcome:
        raise Late(f"did not finish within {seconds:g} s")
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]
