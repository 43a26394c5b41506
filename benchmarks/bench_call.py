"""What a call costs through the catalog, against the same work without it.

Three sides do the same business logic (the example catalog's) and must return the same
values, checked before timing:

- ``plain pluggy`` (the anchor): one PluginManager per tenant, the built-in and customer
  plugins as objects holding their settings as attributes, plugin points through ``pm.hook``
  (``benchmarks/plain_pluggy.py``, no catalog code);
- ``plain python``: the same logic as functions calling functions, no framework
  (``benchmarks/plain_python.py``);
- the catalog: ``Catalog.run`` (looks the call up, checks the arguments, runs it) and a
  ``Method`` made once (``catalog.method(...)``, then called);
- the catalog with its entry point called through pluggy: the same two on a second catalog
  whose calls were prepared with the entry point's hook caller itself (``entry_through_pluggy``
  below), as for a tenant whose plugins wrap the entry point, not with a direct call of its one
  implementation (see ``catalog_cli/runtime/_direct.py``): what the catalog's own work costs
  over plain pluggy.

Each round times every side back to back (in a rotating order); a ratio is the median of
the per-round ratios, as a machine's speed drifts between rounds far more than within one.

    python -m benchmarks.bench_call [--rounds 61] [--calls 2000] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks import plain_pluggy, plain_python
from catalog_cli import Catalog

REPO = Path(__file__).resolve().parent.parent

#: (label, tenant, interface, version, arguments, the plain-python function)
CASES: list[tuple[str, str, str, int, dict[str, Any], Callable[..., Any]]] = [
    (
        "price_quote v1, c2 (a plugin point, a wrapper)",
        "c2",
        "price_quote",
        1,
        {"unit_price": 9.99, "quantity": 12, "country": "DE"},
        plain_python.price_quote_c2,
    ),
    (
        "interface_a v2, c1 (two plugin points answered)",
        "c1",
        "interface_a",
        2,
        {"name": "Ada", "language": "en", "vip": True},
        plain_python.interface_a_v2_c1,
    ),
    (
        "price_quote v1, c3 (no plugins)",
        "c3",
        "price_quote",
        1,
        {"unit_price": 9.99, "quantity": 12, "country": "DE"},
        plain_python.price_quote_c3,
    ),
    (
        "interface_a v1, c3 (no plugins; served by v2's code)",
        "c3",
        "interface_a",
        1,
        {"name": "Ada"},
        plain_python.interface_a_v1_c3,
    ),
]


@contextlib.contextmanager
def entry_through_pluggy() -> Iterator[None]:
    """Calls prepared meanwhile call their entry point through its pluggy hook caller (and a
    served version's step the newer version's)."""
    from catalog_cli.runtime import _served, _tenant

    name = "direct_entry"  # what a tenant's build and a served step prepare their calls with
    modules = (_tenant, _served)
    direct = [getattr(module, name) for module in modules]
    for module in modules:
        setattr(module, name, lambda pm, caller, names: caller)
    try:
        yield
    finally:
        for module, function in zip(modules, direct, strict=True):
            setattr(module, name, function)


def per_call(func: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


def paired(sides: dict[str, Callable[[], Any]], rounds: int, calls: int) -> dict[str, list[float]]:
    """Seconds per call of each side, per round (sides run back to back, order rotating)."""
    names = list(sides)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(per_call(sides[name], calls))
    return times


def ratio(times: dict[str, list[float]], side: str, anchor: str) -> float:
    return statistics.median(a / b for a, b in zip(times[side], times[anchor], strict=True))


def _sides(
    catalog: Catalog,
    through_pluggy: Catalog,
    hook: Any,
    full: dict[str, Any],
    plain: Callable[..., Any],
    tenant: str,
    interface: str,
    version: int,
    arguments: dict[str, Any],
) -> dict[str, Callable[[], Any]]:
    """The six ways of making the same call."""
    method = catalog.method(interface, customer=tenant, version=version)
    run = catalog.run
    with entry_through_pluggy():  # the call is prepared now, for the Method and for run
        slow_method = through_pluggy.method(interface, customer=tenant, version=version)
        slow_method(**arguments)  # a served step prepares its call of the newer version now
    slow_run = through_pluggy.run

    def python() -> Any:
        return plain(**full)

    def pluggy() -> Any:
        return hook(**full)

    def ours() -> Any:
        return run(interface, customer=tenant, version=version, **arguments)

    def prepared() -> Any:
        return method(**arguments)

    def ours_through_pluggy() -> Any:
        return slow_run(interface, customer=tenant, version=version, **arguments)

    def prepared_through_pluggy() -> Any:
        return slow_method(**arguments)

    return {
        "plain python": python,
        "plain pluggy": pluggy,
        "Catalog.run": ours,
        "Method": prepared,
        "Catalog.run, entry through pluggy": ours_through_pluggy,
        "Method, entry through pluggy": prepared_through_pluggy,
    }


def measure(rounds: int, calls: int) -> list[dict[str, Any]]:
    catalog = Catalog(REPO / "catalog.toml")
    through_pluggy = Catalog(REPO / "catalog.toml")
    anchors = plain_pluggy.managers()
    rows = []
    for label, tenant, interface, version, arguments, plain in CASES:
        hook = getattr(anchors[tenant].hook, f"{interface}_v{version}")
        # Every case gives every argument, so the anchors need no defaults filled in (and no
        # catalog code to fill them).
        full = dict(arguments)
        sides = _sides(
            catalog, through_pluggy, hook, full, plain, tenant, interface, version, arguments
        )
        results = {name: side() for name, side in sides.items()}
        assert len({repr(v) for v in results.values()}) == 1, f"{label}: {results}"
        times = paired(sides, rounds, calls)
        rows.append(
            {
                "case": label,
                "us": {name: round(statistics.median(t) * 1e6, 3) for name, t in times.items()},
                "run_vs_pluggy": round(ratio(times, "Catalog.run", "plain pluggy"), 3),
                "method_vs_pluggy": round(ratio(times, "Method", "plain pluggy"), 3),
                "run_through_pluggy_vs_pluggy": round(
                    ratio(times, "Catalog.run, entry through pluggy", "plain pluggy"), 3
                ),
                "method_through_pluggy_vs_pluggy": round(
                    ratio(times, "Method, entry through pluggy", "plain pluggy"), 3
                ),
                "pluggy_vs_python": round(ratio(times, "plain pluggy", "plain python"), 3),
                "run_vs_python": round(ratio(times, "Catalog.run", "plain python"), 3),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=61)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    rows = measure(options.rounds, options.calls)
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"Catalog calls against plain pluggy and plain Python ({options.rounds} rounds x "
        f"{options.calls} calls; times are medians, ratios medians of per-round ratios)"
    )
    for row in rows:
        us = row["us"]
        print(f"  {row['case']}")
        print("    " + ", ".join(f"{name} {value:.2f} us" for name, value in us.items()))
        print(
            f"    Catalog.run / plain pluggy {row['run_vs_pluggy']:.3f}   "
            f"Method / plain pluggy {row['method_vs_pluggy']:.3f}   "
            f"(plain pluggy / plain python {row['pluggy_vs_python']:.3f})"
        )
        print(
            f"    entry through pluggy: Catalog.run / plain pluggy "
            f"{row['run_through_pluggy_vs_pluggy']:.3f}   Method / plain pluggy "
            f"{row['method_through_pluggy_vs_pluggy']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
