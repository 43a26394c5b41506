"""Cost of ``Catalog.run`` against calling the same hooks through raw pluggy.

Both sides use the same PluginManager (the tenant's: same hookspecs, same built-in and customer
plugins) and the same arguments; the raw side calls the entry-point hook directly, as a pluggy
user would, with a context built once. Rounds alternate between the two sides so machine noise
hits both alike; the figure is the ratio of the medians measured in this one run.

    python benchmarks/bench_call.py [--rounds 15] [--calls 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalog_cli import Catalog

REPO = Path(__file__).resolve().parent.parent

#: (label, customer, interface, version, arguments)
CASES: list[tuple[str, str, str, int, dict[str, Any]]] = [
    ("interface_a v2, c1", "c1", "interface_a", 2, {"name": "Ada", "language": "en", "vip": True}),
    ("interface_a v1, c3 (no plugins)", "c3", "interface_a", 1, {"name": "Ada"}),
    (
        "price_quote v1, c2",
        "c2",
        "price_quote",
        1,
        {"unit_price": 9.99, "quantity": 12, "country": "DE"},
    ),
]


def _per_call(func: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


def measure(catalog: Catalog, rounds: int, calls: int) -> list[dict[str, Any]]:
    rows = []
    for label, customer, interface, version, arguments in CASES:
        pm = catalog.plugin_manager(customer)
        declared = catalog.interface(interface).version(version)
        hook = getattr(pm.hook, declared.hook)
        ctx = catalog.new_context(interface, customer=customer, version=version)
        # The raw side gets every argument (pluggy needs them all); ours may rely on defaults.
        full = declared.bind(arguments)

        def raw(hook: Any = hook, ctx: Any = ctx, full: dict[str, Any] = full) -> Any:
            return hook(ctx=ctx, **full)

        def ours(
            interface: str = interface,
            customer: str = customer,
            version: int = version,
            arguments: dict[str, Any] = arguments,
        ) -> Any:
            return catalog.run(interface, customer=customer, version=version, **arguments)

        assert raw() == ours(), f"{label}: the two sides disagree"
        raw_times, our_times = [], []
        for _ in range(rounds):
            raw_times.append(_per_call(raw, calls))
            our_times.append(_per_call(ours, calls))
        raw_median, our_median = statistics.median(raw_times), statistics.median(our_times)
        rows.append(
            {
                "case": label,
                "raw_pluggy_us": round(raw_median * 1e6, 3),
                "catalog_run_us": round(our_median * 1e6, 3),
                "ratio": round(our_median / raw_median, 3),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    rows = measure(Catalog(REPO / "catalog.toml"), options.rounds, options.calls)
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"Catalog.run vs raw pluggy ({options.rounds} rounds x {options.calls} calls, medians)")
    for row in rows:
        print(
            f"  {row['case']:<34} raw {row['raw_pluggy_us']:7.2f} us   "
            f"run {row['catalog_run_us']:7.2f} us   ratio {row['ratio']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
