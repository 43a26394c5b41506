"""The retry interceptor: which errors it retries, how long it waits, what it counts."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import ConfigError, InvalidArgumentsError, PluginCallError
from catalog_cli.interceptors import retry
from tests.conftest import MakeCatalog

PROBE = "retry_test_probe"

#: Fails with the exceptions queued in PROBE.FAILURES, in order, then gives a 10 % discount.
FLAKY = f"""
import {PROBE} as PROBE
from catalog_cli import hookimpl


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    PROBE.CALLS.append(ctx.tenant)
    if PROBE.ONCE_PER_CALL:
        with PROBE.LOCK:
            first = ctx.call_id not in PROBE.FAILED_IDS
            PROBE.FAILED_IDS.add(ctx.call_id)
        if first:
            raise ConnectionError("first attempt of " + ctx.call_id)
    if PROBE.FAILURES:
        raise PROBE.FAILURES.pop(0)
    return 0.1
"""

#: A user interceptor that notes every time the chain passes through it.
COUNTER = f"""
import {PROBE} as PROBE
from catalog_cli import hookimpl


@hookimpl(wrapper=True)
def catalog_call(ctx, call):
    PROBE.SEEN.append(__name__)
    return (yield)
"""


class Transient(Exception):
    """An exception type named by its dotted path in ``on``."""


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = ModuleType(PROBE)
    module.CALLS = []  # type: ignore[attr-defined]
    module.FAILURES = []  # type: ignore[attr-defined]
    module.SEEN = []  # type: ignore[attr-defined]
    module.ONCE_PER_CALL = False  # type: ignore[attr-defined]
    module.FAILED_IDS = set()  # type: ignore[attr-defined]
    module.LOCK = threading.Lock()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PROBE, module)
    return module


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The delays the interceptor slept, without sleeping; random draws are 0.25."""
    slept: list[float] = []
    monkeypatch.setattr(retry, "_sleep", slept.append)
    monkeypatch.setattr(retry, "_random", lambda: 0.25)
    yield slept


def _catalog(make_catalog: MakeCatalog, settings: str = "", extra: str = "") -> Catalog:
    toml = f"""
    [catalog]
    plugin_dirs = ["plugins"]
    [interceptors.retry]
    settings = {{ {settings} }}
    {extra}
    [tenants.t]
    plugins = ["flaky"]
    [tenants.u]
    plugins = ["flaky"]
    """
    return make_catalog(toml, {"plugins/flaky.py": FLAKY, "plugins/counter.py": COUNTER})


def _quote(catalog: Catalog, tenant: str = "t", quantity: int = 2) -> Any:
    return catalog.run("price_quote", customer=tenant, unit_price=10.0, quantity=quantity)


def _counters(catalog: Catalog, tenant: str = "t") -> dict[tuple[str, int], dict[str, int]]:
    return retry.counters(catalog.interceptor_states("retry"), tenant)


def test_two_failures_then_success_is_three_attempts_on_the_exponential_ladder(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog, "jitter = false")
    probe.FAILURES.extend([ConnectionError("down"), ConnectionError("still down")])

    result = _quote(catalog)

    assert result["discount"] == 2.0  # the third attempt's answer
    assert probe.CALLS == ["t", "t", "t"]
    assert sleeps == [0.1, 0.2]
    assert _counters(catalog) == {("price_quote", 1): {"retries": 2, "recovered": 1, "gave_up": 0}}
    assert _counters(catalog, "u") == {}


def test_delays_grow_by_the_multiplier_and_stop_at_max_backoff(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(
        make_catalog, "attempts = 6, backoff = 0.5, multiplier = 3, max_backoff = 4, jitter = false"
    )
    probe.FAILURES.extend(ConnectionError(str(n)) for n in range(5))

    _quote(catalog)

    assert sleeps == [0.5, 1.5, 4.0, 4.0, 4.0]
    assert len(probe.CALLS) == 6


def test_a_first_delay_above_max_backoff_is_capped_too(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog, "backoff = 9, max_backoff = 2, jitter = false")
    probe.FAILURES.extend([ConnectionError("a"), ConnectionError("b")])
    _quote(catalog)
    assert sleeps == [2.0, 2.0]


def test_many_attempts_do_not_overflow_the_ladder() -> None:
    settings = {"backoff": 1.0, "max_backoff": 5.0, "multiplier": 10.0}
    ladder = retry.delays(settings)
    assert [next(ladder) for _ in range(2000)][-3:] == [5.0, 5.0, 5.0]


def test_full_jitter_waits_a_random_share_of_each_delay(
    make_catalog: MakeCatalog,
    probe: ModuleType,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws = iter([0.0, 0.5, 0.999])
    monkeypatch.setattr(retry, "_random", lambda: next(draws))
    catalog = _catalog(make_catalog, "attempts = 4, backoff = 1, multiplier = 2")
    probe.FAILURES.extend(ConnectionError(str(n)) for n in range(3))

    _quote(catalog)

    ladder = [1.0, 2.0, 4.0]
    assert sleeps == pytest.approx([0.0, 1.0, 3.996])
    assert all(0 <= s <= d for s, d in zip(sleeps, ladder, strict=True))


def test_jitter_is_on_by_default(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog)
    probe.FAILURES.extend([TimeoutError("slow"), ConnectionError("down")])
    _quote(catalog)
    assert sleeps == pytest.approx([0.025, 0.05])  # 0.25 of 0.1 and of 0.2


def test_each_retry_is_logged_with_attempt_delay_and_error(
    make_catalog: MakeCatalog,
    probe: ModuleType,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = _catalog(make_catalog, "jitter = false")
    probe.FAILURES.extend([ConnectionError("down"), ConnectionError("still down")])
    with caplog.at_level(logging.INFO, logger="catalog.interceptors.retry"):
        _quote(catalog)
    retries = [
        r.getMessage()
        for r in caplog.records
        if r.name == "catalog.interceptors.retry" and r.levelno == logging.INFO
    ]
    assert len(retries) == 2
    assert "attempt 2 of 3 in 0.100 s after ConnectionError: down" in retries[0]
    assert "attempt 3 of 3 in 0.200 s after ConnectionError: still down" in retries[1]
    assert "'t'" in retries[0]
    assert "price_quote v1" in retries[0]


@pytest.mark.parametrize(
    ("on", "raised"),
    [
        ('"OSError"', ConnectionResetError("reset")),  # a subclass of a listed class
        ('"builtins.ConnectionError"', ConnectionError("down")),
        (f'"{Transient.__module__}.{Transient.__qualname__}"', Transient("blip")),
        ('"Transient"', Transient("blip")),
    ],
)
def test_listed_types_match_by_name_or_dotted_path_along_the_mro(
    make_catalog: MakeCatalog,
    probe: ModuleType,
    sleeps: list[float],
    on: str,
    raised: Exception,
) -> None:
    catalog = _catalog(make_catalog, f"on = [{on}]")
    probe.FAILURES.append(raised)
    assert _quote(catalog)["discount"] == 2.0
    assert len(probe.CALLS) == 2


#: Inside retry, wraps what plugins raise in PluginCallError, as the timeout interceptor's
#: process isolation does.
WRAPPER = """
from catalog_cli import hookimpl
from catalog_cli.errors import CatalogError, PluginCallError


@hookimpl(wrapper=True)
def catalog_call(ctx, call):
    try:
        return (yield)
    except CatalogError:
        raise
    except Exception as exc:
        raise PluginCallError(
            plugin="flaky",
            tenant=call.tenant,
            interface=call.interface,
            version=call.version,
            call_id=call.call_id,
            cause=exc,
        ) from exc
"""


@pytest.mark.parametrize(("on", "retried"), [('"ConnectionError"', True), ('"KeyError"', False)])
def test_a_plugin_call_error_matches_by_its_cause(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float], on: str, retried: bool
) -> None:
    toml = f"""
    [catalog]
    plugin_dirs = ["plugins"]
    [interceptors.retry]
    settings = {{ on = [{on}] }}
    [interceptors.wrapper]
    order = 650
    [tenants.t]
    plugins = ["flaky"]
    """
    catalog = make_catalog(toml, {"plugins/flaky.py": FLAKY, "plugins/wrapper.py": WRAPPER})
    probe.FAILURES.append(ConnectionError("down"))
    if retried:
        assert _quote(catalog)["discount"] == 2.0
    else:
        with pytest.raises(PluginCallError):
            _quote(catalog)
    assert len(probe.CALLS) == (2 if retried else 1)


@pytest.mark.parametrize(
    ("on", "raised"),
    [
        ('"ConnectionError", "TimeoutError"', ValueError("bad input")),
        ('"ConnectionError"', TimeoutError("slow")),
        ('"ConnectionError"', OSError("disk")),  # a base class of a listed one is not listed
        ('"other.module.Transient"', Transient("blip")),  # same name, other module
    ],
)
def test_an_exception_not_listed_is_not_retried(
    make_catalog: MakeCatalog,
    probe: ModuleType,
    sleeps: list[float],
    on: str,
    raised: Exception,
) -> None:
    catalog = _catalog(make_catalog, f"on = [{on}]")
    probe.FAILURES.extend([raised, ConnectionError("never reached")])

    with pytest.raises(PluginCallError) as caught:
        _quote(catalog)

    assert caught.value.plugin == "flaky"
    assert caught.value.cause is raised
    assert probe.CALLS == ["t"]
    assert sleeps == []
    assert _counters(catalog) == {}


def test_argument_errors_are_never_retried_even_when_listed(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    # The inner counter sees each attempt: it proves there was only one.
    catalog = _catalog(
        make_catalog,
        'on = ["InvalidArgumentsError", "TypeError", "Exception"], attempts = 5',
        "[interceptors.counter]\norder = 650",
    )
    with pytest.raises(InvalidArgumentsError, match="quantity"):
        _quote(catalog, quantity=0)
    assert len(probe.SEEN) == 1
    assert sleeps == []
    assert _counters(catalog) == {}


def test_exhausted_attempts_raise_the_last_error(
    make_catalog: MakeCatalog,
    probe: ModuleType,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalog = _catalog(make_catalog, "jitter = false")
    errors = [ConnectionError("one"), ConnectionError("two"), ConnectionError("three")]
    probe.FAILURES.extend([*errors, ConnectionError("a fourth attempt")])

    with (
        caplog.at_level(logging.WARNING, logger="catalog.interceptors.retry"),
        pytest.raises(PluginCallError) as caught,
    ):
        _quote(catalog)

    assert caught.value.cause is errors[2]
    assert caught.value.plugin == "flaky"
    assert len(probe.CALLS) == 3
    assert sleeps == [0.1, 0.2]
    assert _counters(catalog) == {("price_quote", 1): {"retries": 2, "recovered": 0, "gave_up": 1}}
    assert any("failed after 3 attempts" in r.getMessage() for r in caplog.records)


def test_a_later_unlisted_error_ends_the_retries(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog, "attempts = 5, jitter = false")
    later = KeyError("no such thing")
    probe.FAILURES.extend([ConnectionError("down"), later, ConnectionError("not reached")])
    with pytest.raises(PluginCallError) as caught:
        _quote(catalog)
    assert caught.value.cause is later
    assert len(probe.CALLS) == 2
    assert _counters(catalog)[("price_quote", 1)]["gave_up"] == 1


def test_one_attempt_means_no_retry(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog, "attempts = 1")
    probe.FAILURES.append(ConnectionError("down"))
    with pytest.raises(PluginCallError):
        _quote(catalog)
    assert len(probe.CALLS) == 1
    assert sleeps == []


def test_interceptors_inside_see_every_attempt_those_outside_one(
    make_catalog: MakeCatalog,
    probe: ModuleType,
    sleeps: list[float],
) -> None:
    toml = """
    [catalog]
    plugin_dirs = ["plugins"]
    [interceptors.retry]
    settings = { jitter = false }
    [interceptors.inner]
    order = 650
    [interceptors.outer]
    order = 550
    [tenants.t]
    plugins = ["flaky"]
    """
    catalog = make_catalog(
        toml,
        {
            "plugins/flaky.py": FLAKY,
            "plugins/inner.py": COUNTER,
            "plugins/outer.py": COUNTER,
        },
    )
    probe.FAILURES.extend([ConnectionError("down"), ConnectionError("still down")])

    _quote(catalog)

    inner = [name for name in probe.SEEN if name.endswith("inner")]
    outer = [name for name in probe.SEEN if name.endswith("outer")]
    assert (len(inner), len(outer)) == (3, 1)


def test_counters_are_per_tenant(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog)
    probe.FAILURES.append(ConnectionError("down"))
    _quote(catalog, "t")
    _quote(catalog, "u")
    _quote(catalog, "u")
    assert _counters(catalog, "t") == {
        ("price_quote", 1): {"retries": 1, "recovered": 1, "gave_up": 0}
    }
    assert _counters(catalog, "u") == {}


def test_counters_add_up_under_concurrent_calls(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog)
    # every call fails once, then succeeds
    probe.ONCE_PER_CALL = True  # type: ignore[attr-defined]
    threads, calls = 8, 25
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work() -> None:
        start.wait()
        try:
            for _ in range(calls):
                _quote(catalog)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert errors == []
    total = threads * calls
    assert len(probe.CALLS) == 2 * total
    assert _counters(catalog) == {
        ("price_quote", 1): {"retries": total, "recovered": total, "gave_up": 0}
    }


def test_tenants_out_of_scope_are_not_retried(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog, extra='exclude = { tenants = ["t"] }')
    probe.FAILURES.append(ConnectionError("down"))
    with pytest.raises(PluginCallError):
        _quote(catalog, "t")
    probe.FAILURES.append(ConnectionError("down"))
    assert _quote(catalog, "u")["discount"] == 2.0


def test_tenant_settings_override_the_shared_ones(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog, "attempts = 2", "[tenants.u.interceptors.retry]\nattempts = 4")
    probe.FAILURES.extend(ConnectionError(str(n)) for n in range(3))
    assert _quote(catalog, "u")["discount"] == 2.0
    probe.FAILURES.extend(ConnectionError(str(n)) for n in range(3))
    with pytest.raises(PluginCallError):
        _quote(catalog, "t")


@pytest.mark.parametrize(
    ("setting", "key", "why"),
    [
        ("attempts = 0", "attempts", "at least 1"),
        ("attempts = 2.5", "attempts", "an integer"),
        ("multiplier = 0.5", "multiplier", "at least 1"),
        ("backoff = -1", "backoff", "at least 0"),
        ("max_backoff = -0.1", "max_backoff", "at least 0"),
        ("on = [1]", "on", "array of strings"),
        ("on = []", "on", "at least one exception type"),
        ('on = ["Connection Error"]', "on", "not a class name or dotted path"),
        ('jitter = "yes"', "jitter", "a boolean"),
        ("retries = 3", "retries", "unknown setting"),
    ],
)
def test_bad_settings_fail_the_tenant_closed_naming_the_key(
    make_catalog: MakeCatalog, probe: ModuleType, setting: str, key: str, why: str
) -> None:
    catalog = _catalog(make_catalog, setting)
    with pytest.raises(ConfigError) as caught:
        _quote(catalog)
    message = str(caught.value)
    assert f"interceptors.retry.settings.{key}" in message
    assert why in message
    assert "'t'" in message
    assert probe.CALLS == []


def test_a_bad_tenant_override_fails_that_tenant_alone(
    make_catalog: MakeCatalog, probe: ModuleType, sleeps: list[float]
) -> None:
    catalog = _catalog(make_catalog, extra="[tenants.t.interceptors.retry]\nattempts = 0")
    with pytest.raises(ConfigError, match=r"tenants\.t\.interceptors\.retry\.attempts"):
        _quote(catalog, "t")
    assert _quote(catalog, "u")["discount"] == 2.0
