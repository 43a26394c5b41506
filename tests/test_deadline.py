"""Calls with a deadline: abandoned threads are capped, so a hanging dependency cannot make a
process start threads without end."""

from __future__ import annotations

import threading

import pytest

from catalog_cli import _deadline
from catalog_cli._deadline import Late, Overloaded, call_with_deadline
from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import OverloadedError
from tests.conftest import MakeCatalog


def _settle(owner: str | None) -> int:
    """Wait for calls abandoned by earlier tests to end; the count left."""
    pause = threading.Event()
    for _ in range(1000):
        if _deadline.abandoned(owner) == 0:
            break
        pause.wait(0.01)
    return _deadline.abandoned(owner)


def test_abandoned_threads_are_capped_per_owner_and_counted_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALOG_MAX_ABANDONED", "2")
    release = threading.Event()
    before = _settle("noisy")
    try:
        for _ in range(2):
            with pytest.raises(Late):
                call_with_deadline(lambda: release.wait(10), 0.01, "hangs", owner="noisy")
        assert _deadline.abandoned("noisy") == before + 2
        assert _deadline.abandoned_by_owner()["noisy"] == before + 2
        with pytest.raises(Overloaded, match=r"tenant 'noisy'.*the limit is 2") as refused:
            call_with_deadline(lambda: 1, 1, "refused", owner="noisy")
        assert refused.value.owner == "noisy"
        # Another tenant, and the catalog's own loading work, keep their whole allowance.
        assert call_with_deadline(lambda: 5, 1, "neighbour", owner="quiet") == 5
        assert call_with_deadline(lambda: 6, 1, "import") == 6
    finally:
        release.set()
    pause = threading.Event()
    for _ in range(200):  # the abandoned threads end now; the count follows
        if _deadline.abandoned("noisy") == before:
            break
        pause.wait(0.01)
    assert _deadline.abandoned("noisy") == before
    assert call_with_deadline(lambda: 7, 1, "fine again", owner="noisy") == 7


def test_the_process_wide_cap_bounds_the_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_MAX_ABANDONED_TOTAL", "1")
    release = threading.Event()
    _settle(None)
    try:
        with pytest.raises(Late):
            call_with_deadline(lambda: release.wait(10), 0.01, "hangs", owner="a")
        with pytest.raises(Overloaded, match="CATALOG_MAX_ABANDONED_TOTAL"):
            call_with_deadline(lambda: 1, 1, "refused", owner="b")
    finally:
        release.set()
    assert _settle(None) == 0


def test_a_call_refused_for_overload_is_a_refusal(
    make_catalog: MakeCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = make_catalog("[tenants.t]\n")
    monkeypatch.setattr(_deadline._abandoned, "total", 10**6)
    with pytest.raises(OverloadedError) as refused:
        catalog.execute("interface_a", customer="t", timeout=1)
    assert exit_code(refused.value) == 12 and refused.value.tenant == "t"
    assert "$CATALOG_MAX_ABANDONED" in str(refused.value)
