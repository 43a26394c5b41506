"""Cost of ``Catalog.run`` (and of a prepared ``Catalog.method``) against raw pluggy.

Both sides use the same PluginManager (the tenant's: same hookspecs, same built-in and customer
plugins) and the same arguments; the raw side calls the entry-point hook directly, as a pluggy
user would. Two raw baselines: one context built once and reused (the strictest), and a new
context per call (what a caller needs for per-call ids). Each round times the sides back to
back, and the reported ratio is the median of the per-round ratios: on a noisy machine, speed
drifts between rounds far more than within one, and pairing cancels the drift.

    python benchmarks/bench_call.py [--rounds 101] [--calls 2000] [--json]
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

from catalog_cli import Catalog, Context

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

        def raw_fresh(
            hook: Any = hook, scope: Any = ctx._scope, full: dict[str, Any] = full
        ) -> Any:
            return hook(ctx=Context(scope), **full)

        def ours(
            interface: str = interface,
            customer: str = customer,
            version: int = version,
            arguments: dict[str, Any] = arguments,
        ) -> Any:
            return catalog.run(interface, customer=customer, version=version, **arguments)

        method = catalog.method(interface, customer=customer, version=version)

        def prepared(method: Any = method, arguments: dict[str, Any] = arguments) -> Any:
            return method(**arguments)

        assert raw() == raw_fresh() == ours() == prepared(), f"{label}: the sides disagree"
        times: dict[str, list[float]] = {"raw": [], "raw_fresh": [], "run": [], "method": []}
        for _ in range(rounds):
            times["raw"].append(_per_call(raw, calls))
            times["raw_fresh"].append(_per_call(raw_fresh, calls))
            times["run"].append(_per_call(ours, calls))
            times["method"].append(_per_call(prepared, calls))
        med = {side: statistics.median(values) for side, values in times.items()}
        ratio = statistics.median(r / b for r, b in zip(times["run"], times["raw"], strict=True))
        ratio_method = statistics.median(
            r / b for r, b in zip(times["method"], times["raw"], strict=True)
        )
        ratio_new_ctx = statistics.median(
            r / b for r, b in zip(times["run"], times["raw_fresh"], strict=True)
        )
        rows.append(
            {
                "case": label,
                "raw_pluggy_us": round(med["raw"] * 1e6, 3),
                "raw_pluggy_new_ctx_us": round(med["raw_fresh"] * 1e6, 3),
                "catalog_run_us": round(med["run"] * 1e6, 3),
                "ratio": round(ratio, 3),
                "ratio_new_ctx": round(ratio_new_ctx, 3),
                "catalog_method_us": round(med["method"] * 1e6, 3),
                "ratio_method": round(ratio_method, 3),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=101)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    rows = measure(Catalog(REPO / "catalog.toml"), options.rounds, options.calls)
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"Catalog.run vs raw pluggy ({options.rounds} rounds x {options.calls} calls; "
        "times are medians, ratios medians of per-round ratios)"
    )
    for row in rows:
        print(
            f"  {row['case']}\n"
            f"    raw pluggy {row['raw_pluggy_us']:6.2f} us"
            f" (with a new ctx per call {row['raw_pluggy_new_ctx_us']:6.2f} us)\n"
            f"    Catalog.run {row['catalog_run_us']:6.2f} us  ratio {row['ratio']:.3f}"
            f" (vs new ctx {row['ratio_new_ctx']:.3f})\n"
            f"    Catalog.method(...)() {row['catalog_method_us']:6.2f} us"
            f"  ratio {row['ratio_method']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
