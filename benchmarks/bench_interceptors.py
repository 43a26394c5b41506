"""What the logging and metrics interceptors cost, against the same two wrappers in plain pluggy.

The catalog side: ``Catalog.run`` on the example catalog with ``[interceptors.logging]`` and
``[interceptors.metrics]`` switched on. The anchor: the example's business logic in plain
pluggy (``benchmarks/plain_pluggy.py``) with two new-style wrappers on the entry hook, written
here the way one would without the catalog, doing the same work per call: the logging one
times the call and logs one record with the same fields on ``catalog.calls``; the metrics one
counts calls and errors and fills a latency histogram under a lock, per interface, version
and version source. No catalog code runs on the anchor side.

A third side runs the same catalog with its calls prepared to call the entry point through its
pluggy hook caller, as the catalog did before it called an entry point's one implementation
itself (``catalog_cli/runtime/_direct.py``), and still does for a tenant that wraps it.

Logging is measured twice: with ``catalog.calls`` silenced (the record is never built) and
writing every record to a handler that drops it. Each round times the sides back to back;
ratios are medians of per-round ratios.

    python -m benchmarks.bench_interceptors [--rounds 41] [--calls 2000] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pluggy

from benchmarks import plain_pluggy
from benchmarks.bench_call import entry_through_pluggy, paired, ratio
from catalog_cli import Catalog

REPO = Path(__file__).resolve().parent.parent

#: (label, tenant, interface, version, arguments)
CASES: list[tuple[str, str, str, int, dict[str, Any]]] = [
    ("interface_a v2, c1", "c1", "interface_a", 2, {"name": "Ada", "language": "en", "vip": True}),
    (
        "price_quote v1, c2",
        "c2",
        "price_quote",
        1,
        {"unit_price": 9.99, "quantity": 12, "country": "DE"},
    ),
]

#: The default buckets of the metrics interceptor, in seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_logger = logging.getLogger("catalog.calls")
_serial = iter(range(1, 10**12))


class Logging:
    """One record per call, with the call's facts, as the logging interceptor writes it."""

    def __init__(self, tenant: str, interface: str, version: int) -> None:
        self.facts = (tenant, interface, version)

    @plain_pluggy.impl(wrapper=True)
    def wrapped(self) -> Generator[None, Any, Any]:
        call_id = f"anchor-{next(_serial):06x}"
        started = time.perf_counter()
        try:
            result = yield
        except Exception as exc:
            self._log(logging.WARNING, call_id, started, exc)
            raise
        self._log(logging.INFO, call_id, started, None)
        return result

    def _log(self, level: int, call_id: str, started: float, error: Exception | None) -> None:
        if not _logger.isEnabledFor(level):
            return
        tenant, interface, version = self.facts
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        fields = {
            "tenant": tenant,
            "interface": interface,
            "version": version,
            "version_source": "tenant",
            "call_id": call_id,
            "duration_ms": duration_ms,
            "outcome": "ok" if error is None else "error",
            "error_type": type(error).__name__ if error is not None else None,
            "error_message": str(error) if error is not None else None,
            "arguments": None,
        }
        _logger.log(
            level,
            "%s v%s (%s) for tenant %r %s in %.3f ms [call %s]",
            interface,
            version,
            "tenant",
            tenant,
            "ok" if error is None else "failed",
            duration_ms,
            call_id,
            extra=fields,
        )


class Metrics:
    """Calls, errors and a latency histogram per interface, version and version source."""

    def __init__(self, interface: str, version: int) -> None:
        self.key = (interface, version, "tenant")
        self.lock = threading.Lock()
        self.series: dict[tuple[str, int, str], list[Any]] = {}

    @plain_pluggy.impl(wrapper=True)
    def wrapped(self) -> Generator[None, Any, Any]:
        started = time.perf_counter()
        try:
            result = yield
        except Exception:
            self._observe(time.perf_counter() - started, True)
            raise
        self._observe(time.perf_counter() - started, False)
        return result

    def _observe(self, seconds: float, failed: bool) -> None:
        with self.lock:
            counts = self.series.get(self.key)
            if counts is None:
                counts = self.series[self.key] = [0, 0, [0] * (len(BUCKETS) + 1), 0.0]
            counts[0] += 1
            counts[1] += failed
            counts[2][bisect_left(BUCKETS, seconds)] += 1
            counts[3] += seconds


def anchor_hook(tenant: str, interface: str, version: int) -> Any:
    """The tenant's entry hook in plain pluggy, with the two wrappers on it."""
    pm: pluggy.PluginManager = plain_pluggy.manager(
        plain_pluggy.TENANTS[tenant], plain_pluggy.BUILTIN_SETTINGS.get(tenant)
    )
    hook = f"{interface}_v{version}"
    # Registered last, called first: logging outermost, as its order (100 < 200) says.
    for wrapper in (Metrics(interface, version), Logging(tenant, interface, version)):
        pm.register(_on(wrapper, hook))
    return getattr(pm.hook, hook)


def _on(wrapper: Any, hook: str) -> Any:
    """``wrapper``'s ``wrapped`` hook implementation, under the name of ``hook``."""
    holder = type(type(wrapper).__name__, (), {})()
    setattr(holder, hook, wrapper.wrapped)
    return holder


def _catalog(folder: Path) -> Catalog:
    """The example catalog with the two interceptors on (plugins and code from the repo)."""
    text = (REPO / "catalog.toml").read_text(encoding="utf-8")
    for name in ("plugins", "hookspecs", "builtin_plugins"):
        (folder / name).symlink_to(REPO / name)
    path = folder / "catalog.toml"
    path.write_text(text + "\n[interceptors.logging]\n[interceptors.metrics]\n", encoding="utf-8")
    return Catalog(path)


def measure(rounds: int, calls: int) -> list[dict[str, Any]]:
    rows = []
    sink = logging.NullHandler()
    with tempfile.TemporaryDirectory() as folder:
        catalog = _catalog(Path(folder))
        through_pluggy = Catalog(Path(folder) / "catalog.toml")
        for label, tenant, interface, version, arguments in CASES:
            hook = anchor_hook(tenant, interface, version)
            full = catalog.interface(interface).version(version).bind(dict(arguments))
            run = catalog.run

            def ours(
                i: str = interface,
                t: str = tenant,
                v: int = version,
                a: dict[str, Any] = arguments,
                run: Callable[..., Any] = run,
            ) -> Any:
                return run(i, customer=t, version=v, **a)

            def anchor(hook: Any = hook, full: dict[str, Any] = full) -> Any:
                return hook(**full)

            with entry_through_pluggy():  # the call is prepared now
                through_pluggy.method(interface, customer=tenant, version=version)

            def ours_through_pluggy(
                i: str = interface,
                t: str = tenant,
                v: int = version,
                a: dict[str, Any] = arguments,
                run: Callable[..., Any] = through_pluggy.run,
            ) -> Any:
                return run(i, customer=t, version=v, **a)

            assert ours() == anchor() == ours_through_pluggy(), label
            for mode in ("logging silenced", "records written"):
                logger = logging.getLogger("catalog.calls")
                logger.propagate = False
                logger.handlers[:] = [] if mode == "logging silenced" else [sink]
                logger.setLevel(logging.CRITICAL if mode == "logging silenced" else logging.INFO)
                sides: dict[str, Callable[[], Any]] = {
                    "plain pluggy": anchor,
                    "Catalog.run": ours,
                    "through pluggy": ours_through_pluggy,
                }
                times = paired(sides, rounds, calls)
                rows.append(
                    {
                        "case": f"{label}, {mode}",
                        "plain_pluggy_us": round(statistics.median(times["plain pluggy"]) * 1e6, 3),
                        "catalog_run_us": round(statistics.median(times["Catalog.run"]) * 1e6, 3),
                        "ratio": round(ratio(times, "Catalog.run", "plain pluggy"), 3),
                        "entry_through_pluggy_us": round(
                            statistics.median(times["through pluggy"]) * 1e6, 3
                        ),
                        "entry_through_pluggy_ratio": round(
                            ratio(times, "through pluggy", "plain pluggy"), 3
                        ),
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    rows = measure(options.rounds, options.calls)
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        "Catalog.run with the logging and metrics interceptors against plain pluggy with two "
        f"equivalent wrappers ({options.rounds} rounds x {options.calls} calls)"
    )
    for row in rows:
        print(
            f"  {row['case']}: plain pluggy {row['plain_pluggy_us']:.2f} us, Catalog.run "
            f"{row['catalog_run_us']:.2f} us, ratio {row['ratio']:.3f}; entry through "
            f"pluggy {row['entry_through_pluggy_us']:.2f} us, ratio "
            f"{row['entry_through_pluggy_ratio']:.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
