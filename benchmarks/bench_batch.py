"""Throughput of a batch: serial in this process vs a local process pool vs a Dask LocalCluster,
each against the same batch written without the catalog.

Every side answers the same calls of one simple method (price_quote v1 for c1, whose two
plugins run), in input order, and every answer is checked against the first side's. The
anchors contain no catalog code: a loop over the hook of c1's plain-pluggy manager
(``benchmarks/plain_pluggy.py``), and a ``concurrent.futures.ProcessPoolExecutor`` whose
workers build that manager once and answer chunks of the inputs. The catalog's sides:
``map_calls`` serially, on its process pool and on a Dask cluster, and a loop of
``Catalog.execute``. Pools and the cluster are started and warmed up (each worker has loaded
what it needs) before any clock runs: start-up is reported apart, as it is paid once per batch,
not per call. Each round runs the sides back to back; figures are medians over rounds, ratios
medians of per-round ratios to the anchor named on each row.

    python -m benchmarks.bench_batch [--calls 100000] [--rounds 3] [--workers N] [--json]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks import plain_pluggy
from catalog_cli import Catalog
from catalog_cli.execution._batch import ProcessPool, dask_executor, map_calls
from catalog_cli.execution._requests import CallAnswer

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "catalog.toml"
INTERFACE, CUSTOMER = "price_quote", "c1"
LOOP, SERIAL = "loop of Catalog.execute", "serial map_calls"
PLAIN_LOOP, PLAIN_POOL = "plain pluggy loop", "plain pluggy process pool"
#: the argument the catalog fills in from the declaration's default; plain pluggy has none
DEFAULTS = {"country": "NL"}

#: a plain-pool worker's hook: c1's price_quote v1 in plain pluggy
_plain_hook: Any = None


def _plain_worker() -> None:
    global _plain_hook  # noqa: PLW0603 - one manager per worker process, built once
    _plain_hook = plain_pluggy.managers()[CUSTOMER].hook.price_quote_v1


def _plain_chunk(chunk: list[dict[str, Any]]) -> list[Any]:
    return [_plain_hook(**DEFAULTS, **arguments) for arguments in chunk]


def inputs(calls: int) -> list[dict[str, Any]]:
    return [{"unit_price": 1.0 + i % 97, "quantity": 1 + i % 25} for i in range(calls)]


def sides(
    stack: ExitStack, catalog: Catalog, data: list[dict[str, Any]], workers: int
) -> Iterator[tuple[str, float, Callable[[], list[Any]]]]:
    """(label, start-up seconds, run) for each side; the executors live as long as ``stack``."""

    plain = plain_pluggy.managers()[CUSTOMER].hook.price_quote_v1

    def plain_loop() -> list[Any]:
        return [plain(**DEFAULTS, **arguments) for arguments in data]

    def plain_pool(executor: Any) -> Callable[[], list[Any]]:
        size = max(1, len(data) // (workers * 8))
        chunks = [data[i : i + size] for i in range(0, len(data), size)]

        def run() -> list[Any]:
            return [result for part in executor.map(_plain_chunk, chunks) for result in part]

        return run

    def loop() -> list[Any]:
        run = catalog.execute
        return [run(INTERFACE, customer=CUSTOMER, arguments=a).result for a in data]

    def batch(executor: Any, local: Catalog | None = None) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            answers = map_calls(
                CATALOG, INTERFACE, data, customer=CUSTOMER, executor=executor, catalog=local
            )
            failed = [a.error for a in answers if not a.ok]
            assert not failed, failed[:3]
            return [a.result for a in answers]

        return run

    def warm(executor: Any) -> None:
        # Enough small chunks that every worker is busy at once, so each has started, loaded
        # the catalog and built the tenant.
        sample = data[: workers * 400]
        answers = map_calls(
            CATALOG, INTERFACE, sample, customer=CUSTOMER, executor=executor, chunk_size=20
        )
        assert all(isinstance(a, CallAnswer) and a.ok for a in answers)

    catalog.execute(INTERFACE, customer=CUSTOMER, arguments=data[0])  # build the tenant
    yield PLAIN_LOOP, 0.0, plain_loop
    yield LOOP, 0.0, loop
    yield SERIAL, 0.0, batch(None, catalog)
    started = time.perf_counter()
    plain_executor = stack.enter_context(
        concurrent.futures.ProcessPoolExecutor(workers, initializer=_plain_worker)
    )
    list(plain_executor.map(_plain_chunk, [data[:20]] * (workers * 20)))  # every worker up
    yield PLAIN_POOL, time.perf_counter() - started, plain_pool(plain_executor)
    started = time.perf_counter()
    pool = stack.enter_context(ProcessPool(workers, preload=CATALOG))
    warm(pool)
    yield f"process pool ({workers})", time.perf_counter() - started, batch(pool)
    try:
        import distributed  # noqa: F401
    except ImportError:
        print(
            "dask not installed (pip install 'task-catalog[dask]'): no Dask side", file=sys.stderr
        )
        return
    started = time.perf_counter()
    # As `catalog run --dask local` starts it: every worker has loaded the catalog.
    executor = stack.enter_context(dask_executor("local", CATALOG, workers=workers))
    warm(executor)
    yield f"Dask LocalCluster ({workers})", time.perf_counter() - started, batch(executor)


def measure(calls: int, rounds: int, workers: int) -> list[dict[str, Any]]:
    data = inputs(calls)
    with ExitStack() as stack:
        catalog = stack.enter_context(Catalog(CATALOG))
        found = list(sides(stack, catalog, data, workers))
        times: dict[str, list[float]] = {label: [] for label, _setup, _run in found}
        ratios: dict[str, list[float]] = {label: [] for label in times}
        expected: list[Any] | None = None
        for _round in range(rounds):
            took: dict[str, float] = {}
            for label, _setup, run in found:
                started = time.perf_counter()
                results = run()
                took[label] = time.perf_counter() - started
                if expected is None:
                    expected = results
                assert results == expected, f"{label}: the answers differ"
            for label, seconds in took.items():
                times[label].append(seconds)
                ratios[label].append(seconds / took[_anchor(label)])
    return summarize(found, times, ratios, calls, _anchor)


def summarize(
    found: list[tuple[str, float, Callable[[], Any]]],
    times: dict[str, list[float]],
    ratios: dict[str, list[float]],
    calls: int,
    anchor: Callable[[str], str],
) -> list[dict[str, Any]]:
    """A row per side: medians over the rounds of its time and of its ratios to its anchor
    (also used by ``bench_replay``)."""
    return [
        {
            "side": label,
            "seconds": statistics.median(times[label]),
            "calls_per_second": calls / statistics.median(times[label]),
            "anchor": anchor(label),
            "time_vs_anchor": statistics.median(ratios[label]),
            "startup_seconds": setup,
        }
        for label, setup, _run in found
    ]


def _anchor(label: str) -> str:
    """What a side is compared with: the plain pool for pools and clusters, else the loop."""
    return PLAIN_LOOP if label in (PLAIN_LOOP, LOOP, SERIAL) else PLAIN_POOL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    rows = measure(options.calls, options.rounds, options.workers)
    if options.json:
        print(json.dumps({"calls": options.calls, "workers": options.workers, "rows": rows}))
        return
    print(
        f"{options.calls} calls of {INTERFACE} for {CUSTOMER}, {options.workers} workers, "
        f"{os.cpu_count()} CPUs, median of {options.rounds} rounds"
    )
    print(
        f"{'side':<28} {'seconds':>8} {'calls/s':>10} {'start-up s':>10}  "
        "time / anchor's (in the same round)"
    )
    for row in rows:
        print(
            f"{row['side']:<28} {row['seconds']:>8.2f} {row['calls_per_second']:>10,.0f} "
            f"{row['startup_seconds']:>10.2f}  {row['time_vs_anchor']:.2f} x {row['anchor']}"
        )


if __name__ == "__main__":
    main()
