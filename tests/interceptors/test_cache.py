"""The cache interceptor: hits, expiry, keys, LRU eviction, tenant isolation, reloads, threads."""

from __future__ import annotations

import itertools
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from enum import Enum
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog_cli import Catalog
from catalog_cli.errors import ConfigError, PluginCallError
from catalog_cli.interceptors import cache
from tests.conftest import MakeCatalog, WriteCatalog
from tests.interceptors.conftest import Clock


@pytest.fixture
def clock(fake_clock: Callable[[ModuleType], Clock]) -> Clock:
    return fake_clock(cache)


# -- price_quote with a plugin point implementation that counts its runs ----------------------

TOML = """
[catalog]
plugin_dirs = ["plugins"]
[interceptors.cache]
{scope}
settings = {{ {settings} }}
[tenants.a]
plugins = ["counting"]
[tenants.b]
plugins = ["counting"]
{extra}
"""

COUNTING = """
from catalog_cli import hookimpl

#: the tenant of each run of this plugin (list.append is atomic: threads call it)
CALLS = []


def _count(tenant):
    CALLS.append(tenant)
    return CALLS.count(tenant)


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    _count(ctx.tenant)
    return 0.0


@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    return f"for {ctx.tenant}, run {_count(ctx.tenant)}"
"""

Make = Callable[..., Catalog]


@pytest.fixture
def make(make_catalog: MakeCatalog) -> Make:
    def build(
        settings: str = "",
        scope: str = 'include = { interfaces = ["price_quote"] }',
        extra: str = "",
    ) -> Catalog:
        toml = TOML.format(settings=settings, scope=scope, extra=extra)
        return make_catalog(toml, {"plugins/counting.py": COUNTING})

    return build


def plugin(catalog: Catalog, tenant: str, name: str) -> Any:
    """The module of a tenant's plugin, as the tenant's manager has it now."""
    module = catalog.plugin_manager(tenant).get_plugin(name)
    assert module is not None
    return module


def runs(catalog: Catalog, tenant: str = "a") -> int:
    """How many times the tenant's methods ran the counting plugin."""
    calls: list[str] = plugin(catalog, tenant, "counting").CALLS
    return calls.count(tenant)


def quote(catalog: Catalog, tenant: str = "a", **arguments: Any) -> dict[str, Any]:
    result: dict[str, Any] = catalog.run(
        "price_quote", customer=tenant, **{"unit_price": 10.0, "quantity": 2, **arguments}
    )
    return result


def test_a_hit_returns_the_same_value_without_running_the_plugin(make: Make, clock: Clock) -> None:
    catalog = make()
    first = quote(catalog)
    assert runs(catalog) == 1
    assert quote(catalog) == first
    assert quote(catalog) == first
    assert runs(catalog) == 1


def test_an_entry_expires_after_ttl(make: Make, clock: Clock) -> None:
    catalog = make(settings="ttl = 10")
    quote(catalog)
    clock.now += 9.999
    quote(catalog)
    assert runs(catalog) == 1
    clock.now += 0.001
    quote(catalog)
    assert runs(catalog) == 2
    # the fresh result is kept for another ttl
    clock.now += 9.999
    quote(catalog)
    assert runs(catalog) == 2


def test_different_arguments_are_different_entries(make: Make, clock: Clock) -> None:
    catalog = make()
    calls: list[dict[str, Any]] = [
        {},
        {"quantity": 3},
        {"unit_price": 10.5},
        {"country": "DE"},
    ]
    results = [quote(catalog, **arguments) for arguments in calls]
    assert runs(catalog) == 4
    assert [r["subtotal"] for r in results] == [20.0, 30.0, 21.0, 20.0]
    assert [quote(catalog, **arguments) for arguments in calls] == results
    assert runs(catalog) == 4


def test_a_default_written_out_is_the_same_call(make: Make, clock: Clock) -> None:
    # The key is the arguments with defaults filled in (country defaults to NL).
    catalog = make()
    quote(catalog)
    quote(catalog, country="NL")
    assert runs(catalog) == 1


def test_the_least_recently_used_entry_is_evicted_at_max_entries(make: Make, clock: Clock) -> None:
    catalog = make(settings="max_entries = 2")
    quote(catalog, quantity=1)
    quote(catalog, quantity=2)
    quote(catalog, quantity=3)  # evicts 1
    assert runs(catalog) == 3
    quote(catalog, quantity=2)  # a hit: 2 is now the most recently used
    assert runs(catalog) == 3
    quote(catalog, quantity=1)  # a miss; evicts 3, not 2 (it was used after 3)
    assert runs(catalog) == 4
    quote(catalog, quantity=2)
    assert runs(catalog) == 4
    quote(catalog, quantity=3)
    assert runs(catalog) == 5


def test_tenants_never_get_each_others_results(make: Make, clock: Clock) -> None:
    # Same plugins, same arguments: each tenant's first call runs the plugin for that tenant.
    catalog = make(scope='include = { interfaces = ["interface_a"] }')
    assert catalog.run("interface_a", customer="a", name="Ada").endswith("for a, run 1")
    assert catalog.run("interface_a", customer="b", name="Ada").endswith("for b, run 1")
    assert catalog.run("interface_a", customer="a", name="Ada").endswith("for a, run 1")
    assert catalog.run("interface_a", customer="b", name="Ada").endswith("for b, run 1")
    assert (runs(catalog, "a"), runs(catalog, "b")) == (1, 1)


def test_errors_are_never_cached(make_catalog: MakeCatalog, clock: Clock) -> None:
    flaky = """
    from catalog_cli import hookimpl
    CALLS = []
    @hookimpl
    def price_quote_v1_discounts(ctx, subtotal, quantity):
        CALLS.append(quantity)
        if len(CALLS) == 1:
            raise ConnectionError("the discount service is down")
        return 0.1
    """
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.cache]
        include = { interfaces = ["price_quote"] }
        [tenants.a]
        plugins = ["flaky"]
        """,
        {"plugins/flaky.py": flaky},
    )
    with pytest.raises(PluginCallError, match="the discount service is down"):
        quote(catalog)
    assert quote(catalog)["discount"] == 2.0
    assert quote(catalog)["discount"] == 2.0
    assert plugin(catalog, "a", "flaky").CALLS == [2, 2]


DISCOUNT = """
from catalog_cli import hookimpl
@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    return {rate}
"""


class Discounts:
    """A catalog whose tenant ``a`` gives a discount its plugin file says, cached."""

    def __init__(self, write_catalog: WriteCatalog, rate: float) -> None:
        self.path = write_catalog(
            """
            [catalog]
            plugin_dirs = ["plugins"]
            [interceptors.cache]
            include = { interfaces = ["price_quote"] }
            [tenants.a]
            plugins = ["discount"]
            """,
            {"plugins/discount.py": DISCOUNT.format(rate=rate)},
        )
        self.catalog = Catalog(self.path)

    def change(self, rate: float) -> None:
        """Change the plugin's code (it is read again on the next reload)."""
        source = DISCOUNT.format(rate=rate)
        (self.path.parent / "plugins" / "discount.py").write_text(source, encoding="utf-8")


def test_a_reload_never_serves_results_of_old_plugin_code(
    write_catalog: WriteCatalog, clock: Clock
) -> None:
    discounts = Discounts(write_catalog, 0.1)
    catalog = discounts.catalog
    assert quote(catalog)["discount"] == 2.0
    discounts.change(0.25)
    assert quote(catalog)["discount"] == 2.0  # no reload yet: still cached
    catalog.reload()
    assert quote(catalog)["discount"] == 5.0


def test_a_method_made_before_a_reload_keeps_its_results_apart(
    write_catalog: WriteCatalog, clock: Clock
) -> None:
    # A Method runs the plugins of its own generation; what it stores after a reload must
    # never be served to callers of the new one.
    discounts = Discounts(write_catalog, 0.1)
    catalog = discounts.catalog
    old = catalog.method("price_quote", customer="a")
    discounts.change(0.25)
    catalog.reload()
    assert quote(catalog, quantity=1)["discount"] == 2.5
    assert old(unit_price=10.0, quantity=2)["discount"] == 2.0
    assert quote(catalog, quantity=2)["discount"] == 5.0
    assert old(unit_price=10.0, quantity=2)["discount"] == 2.0


def test_a_reload_starts_the_cache_afresh(make: Make, clock: Clock) -> None:
    # Settings and plugins may have changed with any reload: nothing cached before it is used.
    catalog = make()
    quote(catalog)
    catalog.reload()
    quote(catalog)
    quote(catalog)
    assert runs(catalog) == 1  # the reload imported the plugin anew: this counts from 0


def test_callers_never_share_a_result(make: Make, clock: Clock) -> None:
    catalog = make()
    first = quote(catalog)
    expected = dict(first)
    first["total"] = -1.0  # the caller that ran the method changes its result
    second = quote(catalog)
    assert second == expected
    second["currency"] = "XXX"  # and a caller served from the cache changes its own
    second.clear()
    third = quote(catalog)
    assert third == expected
    assert third is not second
    assert runs(catalog) == 1


def test_the_scope_decides_which_interfaces_and_tenants_are_cached(
    make: Make, clock: Clock
) -> None:
    catalog = make(
        scope='include = { interfaces = ["price_quote"] }\nexclude = { tenants = ["b"] }'
    )
    quote(catalog)
    quote(catalog)
    assert runs(catalog, "a") == 1
    assert catalog.run("interface_a", customer="a", name="Ada").endswith("run 2")
    assert catalog.run("interface_a", customer="a", name="Ada").endswith("run 3")
    quote(catalog, "b")
    quote(catalog, "b")
    assert runs(catalog, "b") == 2


def test_settings_per_tenant(make: Make, clock: Clock) -> None:
    catalog = make(settings="ttl = 60", extra="[tenants.a.interceptors.cache]\nttl = 5")
    quote(catalog, "a")
    quote(catalog, "b")
    clock.now += 5
    quote(catalog, "a")
    quote(catalog, "b")
    assert (runs(catalog, "a"), runs(catalog, "b")) == (2, 1)


@pytest.mark.parametrize(
    ("setting", "key", "message"),
    [
        ("ttl = 0", "ttl", "must be above 0, got 0"),
        ("ttl = -5", "ttl", "must be above 0, got -5"),
        ("ttl = inf", "ttl", "expected a number, got inf"),
        ('ttl = "1m"', "ttl", "expected a number, got '1m'"),
        ("max_entries = 0", "max_entries", "must be at least 1, got 0"),
        ("max_entries = 2.5", "max_entries", "expected an integer, got 2.5"),
        ("errors = true", "errors", "unknown setting (allowed: ttl, max_entries)"),
    ],
)
def test_bad_settings_fail_closed_naming_the_key(
    make: Make, setting: str, key: str, message: str
) -> None:
    catalog = make(settings=setting)
    for tenant in ("a", "b"):
        with pytest.raises(ConfigError) as info:
            quote(catalog, tenant)
        assert info.value.key == f"interceptors.cache.settings.{key}"
        assert f"interceptors.cache.settings.{key}: {message}" in str(info.value)
        assert f"tenant {tenant!r} is unusable" in str(info.value)


def test_a_bad_tenant_override_fails_only_that_tenant(make: Make, clock: Clock) -> None:
    catalog = make(extra="[tenants.a.interceptors.cache]\nmax_entries = 0")
    with pytest.raises(ConfigError) as info:
        quote(catalog, "a")
    assert info.value.key == "tenants.a.interceptors.cache.max_entries"
    assert "must be at least 1" in str(info.value)
    quote(catalog, "b")
    quote(catalog, "b")
    assert runs(catalog, "b") == 1


@pytest.fixture
def switching() -> Iterator[None]:
    """Threads switch as often as they can: they meet wherever nothing keeps them apart."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def test_concurrent_callers_each_get_the_right_result_of_their_own(
    make: Make, monkeypatch: pytest.MonkeyPatch, switching: None
) -> None:
    # Few entries for many keys, and a clock that ticks at every reading: threads hit, miss,
    # expire and evict entries at once.
    monkeypatch.setattr(cache, "_now", itertools.count(0.0, 0.001).__next__)
    catalog = make(settings="max_entries = 3, ttl = 0.05")
    barrier = threading.Barrier(8)
    results: list[tuple[int, dict[str, Any]]] = []
    errors: list[BaseException] = []

    def caller(offset: int) -> None:
        barrier.wait()
        try:
            for i in range(250):
                quantity = 1 + (i + offset) % 5
                results.append((quantity, quote(catalog, quantity=quantity)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 2000
    assert all(result["subtotal"] == 10.0 * quantity for quantity, result in results)
    # every caller got an object of its own (all are alive, so their ids differ)
    assert len({id(result) for _, result in results}) == 2000
    assert runs(catalog) < 2000  # some were hits


# -- an interface whose argument may be anything: the key compares values and types ----------

SPECS = """
from typing import Any
from catalog_cli import Context, entrypoint

@entrypoint
def cache_echo_v1(ctx: Context, value: Any) -> Any:
    \"\"\"The value, the tenant that asked, and how many times the method ran.\"\"\"
"""

IMPL = """
import threading
from catalog_cli import hookimpl

CALLS = []

@hookimpl
def cache_echo_v1(ctx, value):
    CALLS.append((ctx.tenant, value))
    if isinstance(value, str) and value == "uncopyable":
        return {"lock": threading.Lock()}
    return {"value": value, "tenant": ctx.tenant, "run": len(CALLS)}
"""


class Echo:
    """Calls cache_echo for a tenant (a, b or c, each with the built-in only)."""

    def __init__(self, catalog: Catalog, impl: str) -> None:
        self.catalog = catalog
        self.impl = impl

    def __call__(self, value: Any, tenant: str = "a") -> Any:
        return self.catalog.run("cache_echo", customer=tenant, value=value)

    def runs(self) -> int:
        return len(sys.modules[self.impl].CALLS)


@pytest.fixture
def echo(write_catalog: WriteCatalog, new_module: Callable[..., str]) -> Echo:
    specs = new_module("cache_echo_specs", SPECS)
    impl = new_module("cache_echo_impl", IMPL)
    path = write_catalog(
        f"""
        [catalog]
        hookspecs = ["{specs}"]
        builtins = ["{impl}"]
        [interceptors.cache]
        include = {{ interfaces = ["cache_echo"] }}
        [tenants.a]
        [tenants.b]
        [tenants.c]
        """
    )
    return Echo(Catalog(path), impl)


class Colour(Enum):
    RED = 1
    CRIMSON = 1.0  # an alias of RED: the same member


class Signal(Enum):
    RED = 1


def test_arguments_match_by_value_and_type(echo: Echo, clock: Clock) -> None:
    values: list[Any] = [
        1,
        1.0,
        True,
        "1",
        b"1",
        None,
        0.0,
        -0.0,
        [1, 2],
        (1, 2),
        {1, 2},
        frozenset({1, 2}),
        {"k": 1},
        {1: "k"},
        {"1": "k"},
        Colour.RED,
        Signal.RED,
    ]
    first = [echo(v) for v in values]
    assert echo.runs() == len(values)
    assert [r["run"] for r in first] == list(range(1, len(values) + 1))
    for value, result in zip(values, first, strict=True):
        again = echo(value)
        assert again == result
        assert type(again["value"]) is type(value)
    assert echo.runs() == len(values)


def test_equal_values_are_one_entry(echo: Echo, clock: Clock) -> None:
    echo({"a": [1, {"x": None}], "b": 2})
    echo({"b": 2, "a": [1, {"x": None}]})
    echo(float("nan"))
    echo(float("nan"))
    echo(Colour.CRIMSON)
    echo(Colour.RED)
    assert echo.runs() == 3


def test_an_argument_the_cache_cannot_compare_is_run_every_time(
    echo: Echo, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    with caplog.at_level(logging.DEBUG, logger="catalog.interceptors.cache"):
        echo([1, Point(1)])
        echo([1, Point(1)])
    assert echo.runs() == 2
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.DEBUG]
    assert "not caching cache_echo v1 for tenant 'a'" in caplog.records[0].getMessage()
    assert "Point" in caplog.records[0].getMessage()


def test_a_result_that_cannot_be_copied_is_not_cached(
    echo: Echo, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="catalog.interceptors.cache"):
        first = echo("uncopyable")
        second = echo("uncopyable")
    assert first["lock"] is not second["lock"]
    assert echo.runs() == 2
    assert "result not copyable" in caplog.records[0].getMessage()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)


def test_a_tenant_is_never_given_another_tenants_result(echo: Echo, clock: Clock) -> None:
    @settings(max_examples=60, deadline=None)
    @given(value=JSON, tenants=st.lists(st.sampled_from("abc"), min_size=2, max_size=6))
    def check(value: Any, tenants: list[str]) -> None:
        first: dict[str, int] = {}
        for tenant in tenants:
            result = echo(value, tenant)
            assert result["tenant"] == tenant
            assert result["value"] == value
            # the tenant's own earlier result, if any, is what it gets again
            assert first.setdefault(tenant, result["run"]) == result["run"]

    check()


def test_the_cache_is_opt_in_per_interface(make: Make) -> None:
    catalog = make(scope="")
    with pytest.raises(ConfigError) as caught:
        quote(catalog)
    assert "interceptors.cache.include: cache is opt-in per interface" in str(caught.value)
