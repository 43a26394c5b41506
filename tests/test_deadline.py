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


def test_abandoned_threads_are_capped_and_counted_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_MAX_ABANDONED", "2")
    release = threading.Event()
    pause = threading.Event()
    for _ in range(1000):  # calls abandoned by earlier tests end first: the cap is global
        if _deadline.abandoned() == 0:
            break
        pause.wait(0.01)
    before = _deadline.abandoned()
    try:
        for _ in range(2):
            with pytest.raises(Late):
                call_with_deadline(lambda: release.wait(10), 0.01, "hangs")
        assert _deadline.abandoned() == before + 2
        with pytest.raises(Overloaded, match="the limit is 2"):
            call_with_deadline(lambda: 1, 1, "refused")
    finally:
        release.set()
    deadline = threading.Event()
    for _ in range(200):  # the abandoned threads end now; the count follows
        if _deadline.abandoned() == before:
            break
        deadline.wait(0.01)
    assert _deadline.abandoned() == before
    assert call_with_deadline(lambda: 7, 1, "fine again") == 7


def test_a_call_refused_for_overload_is_a_refusal(
    make_catalog: MakeCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = make_catalog("[tenants.t]\n")
    monkeypatch.setattr(_deadline._abandoned, "value", 10**6)
    with pytest.raises(OverloadedError) as refused:
        catalog.execute("interface_a", customer="t", timeout=1)
    assert exit_code(refused.value) == 12 and refused.value.tenant == "t"
    assert "$CATALOG_MAX_ABANDONED" in str(refused.value)
