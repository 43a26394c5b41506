"""Running a call with a deadline, in a thread the caller may abandon."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Late(TimeoutError):
    """The call did not finish in time; it may still be running in its abandoned thread."""


def call_with_deadline(func: Callable[[], T], seconds: float, name: str) -> T:
    """``func()``'s result or exception, or Late after ``seconds``.

    Python cannot stop a thread, so a late call keeps running in a daemon thread (named
    ``name``) until it ends on its own; it never keeps the process alive.
    """
    outcome: list[tuple[bool, object]] = []

    def target() -> None:
        try:
            outcome.append((True, func()))
        except BaseException as exc:  # handed to the caller, who decides
            outcome.append((False, exc))

    worker = threading.Thread(target=target, name=name, daemon=True)
    worker.start()
    worker.join(seconds)
    if not outcome:
        raise Late(f"did not finish within {seconds:g} s")
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]
