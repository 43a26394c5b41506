"""The ``metrics`` interceptor: counts, errors and latency histograms per tenant and version."""

from __future__ import annotations

import json
import math
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import CatalogError, ConfigError, PluginCallError
from catalog_cli.interceptors import metrics
from catalog_cli.interceptors.metrics import Series, collect, prometheus_text
from tests.conftest import MakeCatalog, WriteCatalog

# A tenant plugin that fails on purpose: quantity 13 divides by zero.
BOOM = """
from catalog_cli import hookimpl


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    if quantity == 13:
        return 1 / 0
    return None
"""

CANARY = """
[tenants.c]
versions = { interface_a = 1 }
[tenants.c.canary.interface_a]
version = 2
share = 0.5
key = "name"
"""


def toml(section: str = "", extra: str = "") -> str:
    return (
        '[catalog]\nplugin_dirs = ["plugins"]\n'
        f"[interceptors.metrics]\n{textwrap.dedent(section)}\n"
        '[tenants.t]\nplugins = ["boom"]\n'
        "[tenants.u]\n"
        f"{textwrap.dedent(extra)}"
    )


@pytest.fixture
def measured(make_catalog: MakeCatalog) -> Callable[..., Catalog]:
    """A catalog with the metrics interceptor (``section``: more of [interceptors.metrics])
    and tenants ``t`` (with the failing plugin) and ``u``; ``extra`` is appended."""

    def make(section: str = "", extra: str = "") -> Catalog:
        return make_catalog(toml(section, extra), {"plugins/boom.py": BOOM})

    return make


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Durations the calls take, in order: each call reads the clock at 0.0, then at its own."""
    durations: list[float] = []

    def readings() -> Iterator[float]:
        for duration in durations:
            yield 0.0
            yield duration

    ticks = readings()
    monkeypatch.setattr(metrics, "_now", lambda: next(ticks))
    yield durations
    assert next(ticks, None) is None, "not every duration was used"


def quote(catalog: Catalog, tenant: str, quantity: int = 1) -> None:
    catalog.run("price_quote", customer=tenant, unit_price=1.0, quantity=quantity)


def failing_quote(catalog: Catalog, tenant: str = "t") -> None:
    with pytest.raises(PluginCallError):
        quote(catalog, tenant, 13)


def only(catalog: Catalog) -> Series:
    (series,) = collect(catalog.interceptor_states("metrics"))
    return series


# -- counting ------------------------------------------------------------------------------


def test_calls_and_errors_are_counted(measured: Callable[..., Catalog]) -> None:
    catalog = measured()
    for _ in range(4):
        quote(catalog, "t")
    for _ in range(3):
        failing_quote(catalog)

    series = only(catalog)
    assert series[:6] == ("t", "price_quote", 1, "latest", 7, 3)
    assert series.buckets[-1] == (math.inf, 7)


def test_histogram_buckets_are_cumulative_and_sum_the_durations(
    measured: Callable[..., Catalog], clock: list[float]
) -> None:
    catalog = measured("settings = { buckets = [0.25, 0.5, 1] }")
    clock.extend([0.125, 0.5, 0.25, 0.75, 2.0])
    for _ in range(4):
        quote(catalog, "t")
    failing_quote(catalog)  # failed calls are timed too

    series = only(catalog)
    # a bound holds the calls that took at most that long
    assert series.buckets == ((0.25, 2), (0.5, 3), (1.0, 4), (math.inf, 5))
    assert series.sum_seconds == 3.625
    assert (series.calls, series.errors) == (5, 1)


def test_default_buckets_are_a_latency_ladder(
    measured: Callable[..., Catalog], clock: list[float]
) -> None:
    catalog = measured()
    clock.extend([0.0001, 0.003, 30.0])
    for _ in range(3):
        quote(catalog, "u")
    buckets = dict(only(catalog).buckets)
    assert list(buckets) == [*metrics.DEFAULT_BUCKETS, math.inf]
    assert (buckets[0.0005], buckets[0.0025], buckets[0.005], buckets[10.0]) == (1, 1, 2, 2)
    assert buckets[math.inf] == 3


def test_each_version_and_source_is_a_series(measured: Callable[..., Catalog]) -> None:
    catalog = measured()
    quote(catalog, "u")
    catalog.run("interface_a", customer="u", name="Ada")  # the latest: v2
    catalog.run("interface_a", customer="u", version=2, name="Ada")
    catalog.run("interface_a", customer="u", version=1, name="Ada")
    catalog.run("interface_a", customer="u", version=1, name="Bo")

    assert [
        (s.interface, s.version, s.version_source, s.calls)
        for s in collect(catalog.interceptor_states("metrics"))
    ] == [
        ("interface_a", 1, "requested", 2),
        ("interface_a", 2, "latest", 1),
        ("interface_a", 2, "requested", 1),
        ("price_quote", 1, "latest", 1),
    ]


def test_tenants_never_share_series(measured: Callable[..., Catalog]) -> None:
    catalog = measured()
    for _ in range(3):
        quote(catalog, "t")
    failing_quote(catalog, "t")
    quote(catalog, "u")

    found = {s.tenant: s for s in collect(catalog.interceptor_states("metrics"))}
    assert (found["t"].calls, found["t"].errors) == (4, 1)
    assert (found["u"].calls, found["u"].errors) == (1, 0)
    states = catalog.interceptor_states("metrics")
    assert states["t"] is not states["u"]


def test_canary_calls_carry_their_version_source(measured: Callable[..., Catalog]) -> None:
    catalog = measured(extra=CANARY)
    for index in range(60):
        catalog.run("interface_a", customer="c", name=f"user{index}")

    found = {
        (s.version, s.version_source): s.calls
        for s in collect(catalog.interceptor_states("metrics"))
    }
    assert set(found) == {(1, "tenant"), (2, "canary")}
    assert sum(found.values()) == 60


def test_scope_leaves_out_tenants_and_interfaces(measured: Callable[..., Catalog]) -> None:
    catalog = measured('include = { interfaces = ["price_quote"] }\nexclude = { tenants = ["u"] }')
    for tenant in ("t", "u"):
        quote(catalog, tenant)
        catalog.run("interface_a", customer=tenant, name="Ada")
    series = only(catalog)
    assert (series.tenant, series.interface, series.calls) == ("t", "price_quote", 1)


@pytest.fixture
def busy_switching() -> Iterator[None]:
    # Threads switch every microsecond instead of every 5 ms, so that an update made of
    # several steps without the lock is interrupted halfway often enough to lose counts.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("busy_switching")
def test_concurrent_calls_give_exact_totals(measured: Callable[..., Catalog]) -> None:
    catalog = measured()
    rounds = 150
    start = threading.Barrier(8)
    problems: list[BaseException] = []

    def work(index: int) -> None:
        tenant = "t" if index % 2 else "u"
        start.wait()
        try:
            for n in range(rounds):
                if tenant == "t" and n % 5 == 0:
                    try:
                        quote(catalog, tenant, 13)
                    except PluginCallError:
                        continue
                    raise AssertionError("quantity 13 must fail")
                quote(catalog, tenant)
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert problems == []
    found = {s.tenant: s for s in collect(catalog.interceptor_states("metrics"))}
    assert (found["t"].calls, found["t"].errors) == (4 * rounds, 4 * rounds // 5)
    assert (found["u"].calls, found["u"].errors) == (4 * rounds, 0)
    assert found["t"].buckets[-1][1] == found["u"].buckets[-1][1] == 4 * rounds


def test_collect_reads_only_this_interceptors_state() -> None:
    other = {"count": 3}
    assert collect({"t": other, "u": {}}) == []


def test_series_survive_a_reload_and_new_buckets_restart_the_histogram(
    write_catalog: WriteCatalog, clock: list[float]
) -> None:
    clock.extend([0.5, 0.5, 0.5])
    path = write_catalog(toml("settings = { buckets = [1] }"), {"plugins/boom.py": BOOM})
    catalog = Catalog(path)
    quote(catalog, "t")
    failing_quote(catalog)
    write_catalog(toml("settings = { buckets = [0.25, 2] }"), {"plugins/boom.py": BOOM})
    catalog.reload()
    quote(catalog, "t")

    series = only(catalog)
    # counters go on over a reload; old counts cannot be put in new buckets
    assert (series.calls, series.errors) == (3, 1)
    assert series.buckets == ((0.25, 0), (2.0, 1), (math.inf, 1))
    assert series.sum_seconds == 0.5


def test_a_tenant_sets_its_own_buckets(measured: Callable[..., Catalog]) -> None:
    catalog = measured(extra="[tenants.u.interceptors.metrics]\nbuckets = [1, 5]\n")
    quote(catalog, "t")
    quote(catalog, "u")
    found = {
        s.tenant: [b for b, _ in s.buckets] for s in collect(catalog.interceptor_states("metrics"))
    }
    assert found == {
        "t": [*metrics.DEFAULT_BUCKETS, math.inf],
        "u": [1.0, 5.0, math.inf],
    }


def test_series_to_dict_is_json(measured: Callable[..., Catalog], clock: list[float]) -> None:
    catalog = measured("settings = { buckets = [0.5] }")
    clock.append(0.25)
    quote(catalog, "u")
    data = only(catalog).to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == {
        "tenant": "u",
        "interface": "price_quote",
        "version": 1,
        "version_source": "latest",
        "calls": 1,
        "errors": 0,
        "buckets": [{"le": 0.5, "count": 1}, {"le": "+Inf", "count": 1}],
        "sum_seconds": 0.25,
    }


# -- bad settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "extra", "key", "why"),
    [
        ("settings = { buckets = [] }", "", "interceptors.metrics.settings.buckets", "at least"),
        ("settings = { buckets = [0, 1] }", "", "interceptors.metrics.settings.buckets", "above 0"),
        (
            "settings = { buckets = [-1, 1] }",
            "",
            "interceptors.metrics.settings.buckets",
            "above 0",
        ),
        (
            "settings = { buckets = [1, 0.5] }",
            "",
            "interceptors.metrics.settings.buckets",
            "increasing",
        ),
        (
            "settings = { buckets = [0.1, 0.1] }",
            "",
            "interceptors.metrics.settings.buckets",
            "increasing",
        ),
        (
            'settings = { buckets = "fast" }',
            "",
            "interceptors.metrics.settings.buckets",
            "array of numbers",
        ),
        (
            "",
            "[tenants.t.interceptors.metrics]\nbuckets = [2, 1]\n",
            "tenants.t.interceptors.metrics.buckets",
            "increasing",
        ),
    ],
)
def test_bad_buckets_make_the_tenant_fail_closed(
    measured: Callable[..., Catalog], section: str, extra: str, key: str, why: str
) -> None:
    catalog = measured(section, extra)
    with pytest.raises(ConfigError) as info:
        quote(catalog, "t")
    assert info.value.tenant == "t"
    assert info.value.key == key
    assert key in str(info.value)
    assert why in str(info.value)
    assert collect(catalog.interceptor_states("metrics")) == []


def test_default_buckets_pass_their_own_check() -> None:
    assert metrics._increasing(metrics.DEFAULT_BUCKETS) is None
    assert metrics.ORDER == 200


# -- Prometheus ----------------------------------------------------------------------------


def families(text: str) -> dict[str, Any]:
    from prometheus_client.parser import text_string_to_metric_families

    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}


def test_prometheus_text_has_counters_and_a_histogram(
    measured: Callable[..., Catalog], clock: list[float]
) -> None:
    catalog = measured("settings = { buckets = [0.25, 1] }", extra=CANARY)
    clock.extend([0.125, 0.5, 2.0])
    quote(catalog, "t")
    quote(catalog, "t")
    failing_quote(catalog)

    text = prometheus_text(collect(catalog.interceptor_states("metrics")))
    found = families(text)
    assert set(found) == {"catalog_calls", "catalog_call_errors", "catalog_call_duration_seconds"}
    assert found["catalog_calls"].type == "counter"
    assert found["catalog_call_duration_seconds"].type == "histogram"
    labels = (
        ("interface", "price_quote"),
        ("tenant", "t"),
        ("version", "1"),
        ("version_source", "latest"),
    )
    assert samples(found["catalog_calls"]) == {("catalog_calls_total", labels): 3.0}
    assert samples(found["catalog_call_errors"]) == {("catalog_call_errors_total", labels): 1.0}
    histogram = samples(found["catalog_call_duration_seconds"])
    name = "catalog_call_duration_seconds"
    assert histogram == {
        (f"{name}_bucket", tuple(sorted((*labels, ("le", "0.25"))))): 1.0,
        (f"{name}_bucket", tuple(sorted((*labels, ("le", "1.0"))))): 2.0,
        (f"{name}_bucket", tuple(sorted((*labels, ("le", "+Inf"))))): 3.0,
        (f"{name}_count", labels): 3.0,
        (f"{name}_sum", labels): 2.625,
    }


def test_prometheus_text_labels_canary_calls(measured: Callable[..., Catalog]) -> None:
    catalog = measured(extra=CANARY)
    for index in range(40):
        catalog.run("interface_a", customer="c", name=f"user{index}")
    found = families(prometheus_text(collect(catalog.interceptor_states("metrics"))))
    sources = {
        (s.labels["version"], s.labels["version_source"]): s.value
        for s in found["catalog_calls"].samples
    }
    assert set(sources) == {("1", "tenant"), ("2", "canary")}
    assert sum(sources.values()) == 40


def test_prometheus_text_uses_a_registry_of_its_own(measured: Callable[..., Catalog]) -> None:
    import prometheus_client

    catalog = measured()
    quote(catalog, "u")
    first = prometheus_text(collect(catalog.interceptor_states("metrics")))
    # the same series exported again: a shared registry would refuse them as duplicates
    assert prometheus_text(collect(catalog.interceptor_states("metrics"))) == first
    assert "catalog_calls" not in prometheus_client.generate_latest().decode()


def test_prometheus_text_of_nothing_has_no_samples() -> None:
    found = families(prometheus_text([]))
    assert all(family.samples == [] for family in found.values())


def test_prometheus_text_without_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(CatalogError, match=r"pip install 'task-catalog\[prometheus\]'"):
        prometheus_text([])


def test_importing_the_module_does_not_import_prometheus_client() -> None:
    import subprocess

    code = "import sys, catalog_cli.interceptors.metrics; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_catalog_metrics_reads_the_counters(make_catalog) -> None:  # type: ignore[no-untyped-def]
    catalog = make_catalog(
        """
        [interceptors.metrics]
        [tenants.a]
        [tenants.b]
        """
    )
    for _ in range(3):
        catalog.run("interface_a", customer="a")
    catalog.run("interface_a", customer="b")
    found = {(s.tenant, s.interface, s.version): s.calls for s in catalog.metrics()}
    assert found == {("a", "interface_a", 2): 3, ("b", "interface_a", 2): 1}
