"""Shared by the interceptor tests: a clock that moves only when told."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest


class Clock:
    """Stands in for an interceptor's ``_now``: time passes only by ``clock.now += seconds``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModuleType], Clock]:
    """``fake_clock(module)`` replaces ``module._now`` with a Clock and returns it."""

    def install(module: ModuleType) -> Clock:
        clock = Clock()
        monkeypatch.setattr(module, "_now", clock)
        return clock

    return install
