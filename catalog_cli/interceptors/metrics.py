"""The ``metrics`` interceptor: call counts, error counts and latency histograms.

One series per (tenant, interface, version, version_source), kept in the interceptor's state
for the tenant, so tenants never share one and series outlive reloads. ``errors`` counts the
calls that raised anything: a plugin's exception, an argument error the method raises, or
the refusal of an interceptor inside this one (rate limit, circuit breaker). Every call, failed
or not, is observed in the histogram.

Read them with :func:`collect` (``Catalog.metrics()``), and as Prometheus text with
:func:`prometheus_text` (the ``prometheus`` extra).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from bisect import bisect_left
from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from catalog_cli import PluginMeta, hookimpl
from catalog_cli.config import Option, Options
from catalog_cli.errors import CatalogError

if TYPE_CHECKING:
    from catalog_cli import Call, InterceptorContext

#: Upper bounds (seconds) of the latency histogram's buckets, unless ``buckets`` says otherwise.
DEFAULT_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

#: The labels of every exported metric.
LABELS: Final = ("tenant", "interface", "version", "version_source")

#: The key of this interceptor's store in its per-tenant state.
_STATE_KEY: Final = "metrics"


def _increasing(bounds: Any) -> str | None:
    if not bounds:
        return "must list at least one bound"
    if bounds[0] <= 0:
        return "must be above 0"
    if any(low >= high for low, high in itertools.pairwise(bounds)):
        return "must be strictly increasing"
    return None


PLUGIN = PluginMeta(
    description="Counts calls and errors and times them, per tenant, interface and version",
    settings=Options(
        Option(
            "buckets",
            "numbers",
            DEFAULT_BUCKETS,
            "upper bounds in seconds of the latency histogram's buckets, increasing",
            _increasing,
        ),
    ),
)

#: The name in catalog.toml ([interceptors.metrics]).
NAME: Final = "metrics"

ORDER: Final = 200

#: The clock latencies are read from (tests replace it).
_now = time.perf_counter


class Series(NamedTuple):
    """What one (tenant, interface, version, version_source) has seen."""

    tenant: str
    interface: str
    version: int
    version_source: str
    calls: int
    errors: int
    #: (upper bound in seconds, calls that took at most that long), ending with (inf, count)
    buckets: tuple[tuple[float, int], ...]
    sum_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "interface": self.interface,
            "version": self.version,
            "version_source": self.version_source,
            "calls": self.calls,
            "errors": self.errors,
            # JSON has no infinity: the last bound is written as Prometheus writes it
            "buckets": [
                {"le": bound if math.isfinite(bound) else "+Inf", "count": count}
                for bound, count in self.buckets
            ],
            "sum_seconds": self.sum_seconds,
        }


class _Counts:
    __slots__ = ("bounds", "calls", "counts", "errors", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.calls = 0
        self.errors = 0
        self._histogram(bounds)

    def _histogram(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        #: per bucket, not cumulative; the last one is +Inf
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0


class _Store:
    """One tenant's series; every change and every read holds ``lock``."""

    __slots__ = ("lock", "series")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.series: dict[tuple[str, int, str], _Counts] = {}

    def observe(
        self, key: tuple[str, int, str], bounds: tuple[float, ...], seconds: float, failed: bool
    ) -> None:
        with self.lock:
            counts = self.series.get(key)
            if counts is None:
                counts = self.series[key] = _Counts(bounds)
            elif counts.bounds is not bounds and counts.bounds != bounds:
                # The buckets changed (a reload): old counts cannot be re-binned, so the
                # histogram starts again; the call and error counters go on.
                counts._histogram(bounds)
            counts.calls += 1
            counts.errors += failed
            counts.counts[bisect_left(bounds, seconds)] += 1
            counts.sum += seconds

    def snapshot(self, tenant: str) -> list[Series]:
        with self.lock:
            found = []
            for (interface, version, source), counts in self.series.items():
                running = 0
                buckets = []
                for bound, count in zip((*counts.bounds, math.inf), counts.counts, strict=True):
                    running += count
                    buckets.append((bound, running))
                found.append(
                    Series(
                        tenant,
                        interface,
                        version,
                        source,
                        counts.calls,
                        counts.errors,
                        tuple(buckets),
                        counts.sum,
                    )
                )
            return found


def _store(state: dict[str, Any]) -> _Store:
    found = state.get(_STATE_KEY)
    if found is None:
        # setdefault is atomic: two first calls at once still end up with one store.
        found = state.setdefault(_STATE_KEY, _Store())
    store: _Store = found
    return store


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    store = _store(ctx.state)
    bounds = ctx.settings["buckets"]
    key = (call.interface, call.version, call.version_source)
    started = _now()
    try:
        result = yield
    except (Exception, SystemExit):
        store.observe(key, bounds, _now() - started, True)
        raise
    store.observe(key, bounds, _now() - started, False)
    return result


def collect(states: Mapping[str, Mapping[str, Any]]) -> list[Series]:
    """Every series in the metrics interceptor's states (tenant -> state, as
    ``catalog.interceptor_states("metrics")`` gives them), sorted by tenant, interface, version
    and version source."""
    found: list[Series] = []
    # list() first: tenants built meanwhile add states while this reads.
    for tenant, state in list(states.items()):
        store = state.get(_STATE_KEY)
        if isinstance(store, _Store):
            found.extend(store.snapshot(tenant))
    return sorted(found, key=lambda s: (s.tenant, s.interface, s.version, s.version_source))


def prometheus_text(series: Iterable[Series]) -> str:
    """The series in the Prometheus text format: ``catalog_calls_total``,
    ``catalog_call_errors_total`` and the ``catalog_call_duration_seconds`` histogram."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
        from prometheus_client.registry import Collector
    except ImportError:
        raise CatalogError(
            "the Prometheus export needs prometheus_client: pip install 'task-catalog[prometheus]'"
        ) from None

    rows = list(series)

    class _Collector(Collector):
        def collect(self) -> Iterable[Metric]:
            calls = CounterMetricFamily("catalog_calls", "Method calls", labels=LABELS)
            errors = CounterMetricFamily(
                "catalog_call_errors", "Method calls that raised", labels=LABELS
            )
            durations = HistogramMetricFamily(
                "catalog_call_duration_seconds", "Duration of method calls", labels=LABELS
            )
            for row in rows:
                labels = [row.tenant, row.interface, str(row.version), row.version_source]
                calls.add_metric(labels, row.calls)
                errors.add_metric(labels, row.errors)
                durations.add_metric(
                    labels,
                    [(_le(bound), count) for bound, count in row.buckets],
                    row.sum_seconds,
                )
            return [calls, errors, durations]

    # A registry of its own: the process-wide one would keep these series, and other
    # catalogs' series, between exports.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    text: str = generate_latest(registry).decode()
    return text


def _le(bound: float) -> str:
    return repr(float(bound)) if math.isfinite(bound) else "+Inf"
