"""Telling a real interrupt (Ctrl-C) from a ``KeyboardInterrupt`` that plugin code raises.

The catalog contains everything a plugin raises, ``BaseException`` subclasses included, as that
plugin's failure for its tenant. A real Ctrl-C must still stop the program, so the handler of
SIGINT is replaced (when it is Python's default and this is the main thread) by one that
raises :class:`Interrupted`, a ``KeyboardInterrupt`` like any other, that the catalog lets
through.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class Interrupted(KeyboardInterrupt):
    """The user pressed Ctrl-C (the process got SIGINT)."""


def _handler(signum: int, frame: FrameType | None) -> Any:
    raise Interrupted


def install(*, force: bool = False) -> None:
    """Note real interrupts from now on (a no-op outside the main thread, or when the program
    has a SIGINT handler of its own, unless ``force``: the command line owns its Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        current = signal.getsignal(signal.SIGINT)
        if current is signal.default_int_handler or (force and current is not _handler):
            signal.signal(signal.SIGINT, _handler)
    except (ValueError, OSError):  # no signals here (an embedded interpreter, say)
        pass


def is_real(exc: BaseException) -> bool:
    """Whether ``exc`` is an interrupt the user asked for, which must not be contained."""
    return isinstance(exc, Interrupted)
