"""The circuit breaker: when it opens, fails fast, lets a trial through and closes again."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import (
    CallRefusedError,
    CircuitOpenError,
    ConfigError,
    InvalidArgumentsError,
    PluginCallError,
)
from catalog_cli.interceptors import breaker
from tests.conftest import MakeCatalog, WriteCatalog
from tests.interceptors.conftest import Clock

PROBE = "breaker_test_probe"

#: Notes each call; waits at the next queued gate, if any; raises what BROKEN holds for the
#: (tenant, interface, version) at that moment.
FLAKY = f"""
import {PROBE} as PROBE
from catalog_cli import hookimpl


def _work(ctx):
    where = (ctx.tenant, ctx.interface, ctx.version)
    PROBE.CALLS.append(where)
    gate = PROBE.GATES.pop(0) if PROBE.GATES else None
    if gate is not None:
        gate.entered.set()
        assert gate.release.wait(10), "the test never released the gate"
    failure = PROBE.BROKEN.get(where)
    if failure is not None:
        raise failure


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    _work(ctx)
    return 0.1


@hookimpl
def interface_a_v1_signature(ctx, name):
    _work(ctx)
    return "-- flaky v1"


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    _work(ctx)
    return "-- flaky v2"
"""

QUOTE = ("price_quote", 1)


class Gate:
    """Holds a call inside the plugin until the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = ModuleType(PROBE)
    module.CALLS = []  # type: ignore[attr-defined]
    module.BROKEN = {}  # type: ignore[attr-defined]
    module.GATES = []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PROBE, module)
    return module


@pytest.fixture
def clock(fake_clock: Callable[[ModuleType], Clock]) -> Clock:
    return fake_clock(breaker)


TOML = """
[catalog]
plugin_dirs = ["plugins"]
[interceptors.circuit_breaker]
settings = {{ {settings} }}
{extra}
[tenants.a]
plugins = ["flaky"]
[tenants.b]
plugins = ["flaky"]
"""


def _catalog(
    make_catalog: MakeCatalog, settings: str = "failures = 3, reset_seconds = 10", extra: str = ""
) -> Catalog:
    return make_catalog(TOML.format(settings=settings, extra=extra), {"plugins/flaky.py": FLAKY})


def _quote(catalog: Catalog, tenant: str = "a", quantity: int = 2) -> Any:
    return catalog.run("price_quote", customer=tenant, unit_price=10.0, quantity=quantity)


def _fail(catalog: Catalog, times: int, tenant: str = "a", interface: str = "") -> None:
    """Make ``times`` calls that fail in the plugin (price_quote, or interface_a v1)."""
    for _ in range(times):
        with pytest.raises(PluginCallError):
            if interface:
                catalog.run(interface, customer=tenant, version=1)
            else:
                _quote(catalog, tenant)


def _states(catalog: Catalog, tenant: str = "a") -> dict[tuple[str, int], str]:
    return breaker.states(catalog.interceptor_states("circuit_breaker"), tenant)


def _break(probe: ModuleType, tenant: str = "a", where: tuple[str, int] = QUOTE) -> None:
    key = (tenant, *where)
    probe.BROKEN[key] = ConnectionError("the discount service is down")


def _open(catalog: Catalog, probe: ModuleType, tenant: str = "a") -> None:
    _break(probe, tenant)
    _fail(catalog, 3, tenant)
    assert _states(catalog, tenant) == {QUOTE: "open"}


def test_opens_after_consecutive_failures_and_a_success_resets_the_count(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    assert _states(catalog) == {}
    _break(probe)
    _fail(catalog, 2)
    probe.BROKEN.clear()
    assert _quote(catalog)["discount"] == 2.0
    _break(probe)
    _fail(catalog, 2)
    assert _states(catalog) == {QUOTE: "closed"}  # 2 + 2 failures, never 3 in a row
    _fail(catalog, 1)
    assert _states(catalog) == {QUOTE: "open"}


def test_while_open_calls_fail_fast_without_running_the_plugin(
    make_catalog: MakeCatalog,
    probe: ModuleType,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = _catalog(make_catalog)
    with caplog.at_level(logging.WARNING, logger="catalog.interceptors.circuit_breaker"):
        _open(catalog, probe)
    assert any("circuit opened" in r.getMessage() for r in caplog.records)
    probe.BROKEN.clear()  # even a method that would work now is not called
    calls = len(probe.CALLS)
    clock.now += 4

    with pytest.raises(CircuitOpenError) as caught:
        _quote(catalog)

    error = caught.value
    assert len(probe.CALLS) == calls
    assert isinstance(error, CallRefusedError)
    assert exit_code(error) == 12
    assert (error.tenant, error.interface, error.version) == ("a", "price_quote", 1)
    assert error.interceptor == "circuit_breaker"
    assert error.retry_after == pytest.approx(6.0)
    message = str(error)
    assert "'a'" in message
    assert "price_quote v1" in message
    assert "3 consecutive failures" in message
    assert "half-opens in 6.0 s" in message
    assert "ConnectionError: the discount service is down" in message


def test_half_open_lets_exactly_one_trial_through_and_its_success_closes(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    _open(catalog, probe)
    probe.BROKEN.clear()
    clock.now += 10
    assert _states(catalog) == {QUOTE: "half-open"}
    calls = len(probe.CALLS)
    gate = Gate()
    probe.GATES.append(gate)
    results: list[Any] = []
    trial = threading.Thread(target=lambda: results.append(_quote(catalog)))
    trial.start()
    try:
        assert gate.entered.wait(10)
        with pytest.raises(CircuitOpenError, match="trial call is in flight") as caught:
            _quote(catalog)
        assert caught.value.retry_after is None
        assert len(probe.CALLS) == calls + 1  # the trial only
    finally:
        gate.release.set()
        trial.join()

    assert results == [_quote_result()]
    assert _states(catalog) == {QUOTE: "closed"}
    assert _quote(catalog)["discount"] == 2.0


def _quote_result() -> dict[str, Any]:
    return {"subtotal": 20.0, "discount": 2.0, "tax_rate": 0.21, "total": 21.78, "currency": "EUR"}


def test_a_failed_trial_opens_the_circuit_again_for_another_cool_down(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    _open(catalog, probe)
    clock.now += 10
    _fail(catalog, 1)  # the trial
    assert _states(catalog) == {QUOTE: "open"}
    calls = len(probe.CALLS)
    with pytest.raises(CircuitOpenError, match="4 consecutive failures") as caught:
        _quote(catalog)
    assert caught.value.retry_after == pytest.approx(10.0)
    assert len(probe.CALLS) == calls

    clock.now += 9.5
    with pytest.raises(CircuitOpenError):
        _quote(catalog)
    clock.now += 0.5
    probe.BROKEN.clear()
    _quote(catalog)
    assert _states(catalog) == {QUOTE: "closed"}
    # Closed again with a fresh count: it takes three new failures to open it.
    _break(probe)
    _fail(catalog, 2)
    assert _states(catalog) == {QUOTE: "closed"}


def test_an_excluded_error_on_the_trial_leaves_the_circuit_half_open_for_the_next_call(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    _open(catalog, probe)
    clock.now += 10
    with pytest.raises(InvalidArgumentsError):
        _quote(catalog, quantity=0)
    assert _states(catalog) == {QUOTE: "half-open"}
    probe.BROKEN.clear()
    _quote(catalog)  # this one is the trial, not refused
    assert _states(catalog) == {QUOTE: "closed"}


def test_outcomes_of_calls_from_before_the_circuit_changed_do_not_count(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog, "failures = 2, reset_seconds = 10")
    slow = Gate()
    probe.GATES.append(slow)
    outcome: list[BaseException] = []

    def slow_call() -> None:
        try:
            _quote(catalog)
        except PluginCallError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=slow_call)
    thread.start()
    try:
        assert slow.entered.wait(10)
        _break(probe)
        _fail(catalog, 2)  # opens it
        clock.now += 10
        probe.BROKEN.clear()
        _quote(catalog)  # the trial closes it
        _break(probe)
    finally:
        slow.release.set()  # the slow call, from before it opened, now fails
        thread.join()
    assert len(outcome) == 1

    _fail(catalog, 1)
    assert _states(catalog) == {QUOTE: "closed"}  # one failure since it closed, not two


def test_circuits_are_per_interface_version(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    _break(probe, where=("interface_a", 1))
    _fail(catalog, 3, interface="interface_a")
    with pytest.raises(CircuitOpenError):
        catalog.run("interface_a", customer="a", version=1)

    assert "-- flaky v2" in catalog.run("interface_a", customer="a", version=2)
    assert _quote(catalog)["discount"] == 2.0
    assert _states(catalog) == {
        ("interface_a", 1): "open",
        ("interface_a", 2): "closed",
        QUOTE: "closed",
    }


def test_one_tenants_open_circuit_leaves_another_tenant_alone(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    _open(catalog, probe, "a")
    calls = len(probe.CALLS)

    assert _quote(catalog, "b")["discount"] == 2.0
    assert len(probe.CALLS) == calls + 1
    assert _states(catalog, "b") == {QUOTE: "closed"}
    with pytest.raises(CircuitOpenError):
        _quote(catalog, "a")


def test_tenants_count_their_failures_apart(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    _break(probe, "a")
    _break(probe, "b")
    _fail(catalog, 2, "a")
    _fail(catalog, 2, "b")
    assert _states(catalog, "a") == _states(catalog, "b") == {QUOTE: "closed"}


def test_argument_errors_do_not_count_nor_reset_the_count(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    for _ in range(5):
        with pytest.raises(InvalidArgumentsError):
            _quote(catalog, quantity=0)
    assert _states(catalog) == {QUOTE: "closed"}
    _break(probe)
    _fail(catalog, 2)
    with pytest.raises(InvalidArgumentsError):
        _quote(catalog, quantity=0)
    _fail(catalog, 1)
    assert _states(catalog) == {QUOTE: "open"}


def test_exclude_names_types_by_name_or_dotted_path_and_can_be_emptied(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(
        make_catalog,
        'failures = 1, exclude = ["LookupError", "builtins.ZeroDivisionError"]',
        "[tenants.b.interceptors.circuit_breaker]\nexclude = []",
    )
    key = ("a", *QUOTE)
    probe.BROKEN[key] = KeyError("subclass of LookupError")
    _fail(catalog, 2)
    probe.BROKEN[key] = ZeroDivisionError("division by zero")
    _fail(catalog, 2)
    assert _states(catalog) == {QUOTE: "closed"}

    with pytest.raises(InvalidArgumentsError):
        _quote(catalog, "b", quantity=0)
    assert _states(catalog, "b") == {QUOTE: "open"}


@pytest.mark.parametrize(
    ("setting", "key", "why"),
    [
        ("failures = 0", "failures", "at least 1"),
        ("failures = 1.5", "failures", "an integer"),
        ("reset_seconds = 0", "reset_seconds", "above 0"),
        ("reset_seconds = -5", "reset_seconds", "above 0"),
        ('reset_seconds = "30s"', "reset_seconds", "a number"),
        ("exclude = [1]", "exclude", "array of strings"),
        ('exclude = "InvalidArgumentsError"', "exclude", "array of strings"),
        ('exclude = ["no such-name"]', "exclude", "not a class name or dotted path"),
        ("threshold = 3", "threshold", "unknown setting"),
    ],
)
def test_bad_settings_fail_the_tenant_closed_naming_the_key(
    make_catalog: MakeCatalog, probe: ModuleType, setting: str, key: str, why: str
) -> None:
    catalog = _catalog(make_catalog, setting)
    with pytest.raises(ConfigError) as caught:
        _quote(catalog)
    message = str(caught.value)
    assert f"interceptors.circuit_breaker.settings.{key}" in message
    assert why in message
    assert "'a'" in message
    assert probe.CALLS == []


def test_a_bad_tenant_override_fails_that_tenant_alone(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog, extra="[tenants.a.interceptors.circuit_breaker]\nfailures = 0")
    with pytest.raises(ConfigError, match=r"tenants\.a\.interceptors\.circuit_breaker\.failures"):
        _quote(catalog, "a")
    assert _quote(catalog, "b")["discount"] == 2.0


def test_circuits_are_kept_across_reloads_and_a_failed_trial_reopens_at_any_threshold(
    make_catalog: MakeCatalog, write_catalog: WriteCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    _open(catalog, probe)
    write_catalog(TOML.format(settings="failures = 10, reset_seconds = 10", extra=""))
    catalog.reload()
    with pytest.raises(CircuitOpenError):
        _quote(catalog)
    clock.now += 10
    _fail(catalog, 1)  # the trial: 4 failures, under the new threshold, yet it opens again
    assert _states(catalog) == {QUOTE: "open"}


class Interrupted(BaseException):
    """Not an outcome of the method (like KeyboardInterrupt)."""


def test_an_interrupted_trial_frees_the_trial_slot(
    make_catalog: MakeCatalog, probe: ModuleType, clock: Clock
) -> None:
    catalog = _catalog(make_catalog)
    _open(catalog, probe)
    clock.now += 10
    key = ("a", *QUOTE)
    probe.BROKEN[key] = Interrupted()
    with pytest.raises(PluginCallError) as failed:  # contained: the plugin's own failure
        _quote(catalog)
    assert isinstance(failed.value.cause, Interrupted)
    assert _states(catalog) == {QUOTE: "half-open"}
    probe.BROKEN.clear()
    _quote(catalog)  # the next trial
    assert _states(catalog) == {QUOTE: "closed"}
