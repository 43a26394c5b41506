"""How the catalog scales with the number of tenants.

For each size N, a catalog of N tenants is written to a temporary folder (the example's
``hookspecs/``, ``builtin_plugins/`` and ``plugins/`` copied next to it; the tenants cycle
through the example's three shapes: c1-like with customer_1's plugins and settings, c2-like
with customer_2.* and a version pin, c3-like with no plugins), and measured:

- the catalog file's size;
- ``catalog run interface_a -C <the last tenant>``, wall time of the command in a subprocess:
  cold (no cache: ``CATALOG_NO_CACHE=1``, the whole file is parsed) and warm (the on-disk
  cache of the parsed file in place); the ratio to the 10-tenant catalog is the median of the
  per-round ratios (each round runs every size back to back);
- building every tenant's runtime in one process (``Catalog.plugin_manager`` for each
  tenant, which plans, builds and starts it), in microseconds per tenant and in memory kept
  (tracemalloc, after a garbage collection), side by side with the anchor: the same tenants
  built with plain pluggy (``benchmarks/plain_pluggy.py``, no catalog code: one PluginManager
  per tenant, the hookspecs added, the built-in and the tenant's plugins registered as objects
  holding their settings), the tenants' settings read from the same file with ``tomllib``.
  Each side runs in a fresh process per round; the ratio is the median of per-round ratios.
  The resident memory (RSS) grown by load and build together is measured in every round too
  (from before the load: the allocator reuses for the build what a side freed while loading,
  the anchor's parse of the file most); above ``LARGE`` tenants there is one round, and
  tracemalloc only up to ``--traced-max`` tenants (10 000 by default: beyond, its pass takes
  many minutes);
- ``catalog check --json`` with ``--jobs 1`` (in one process) and with its default (a worker
  per CPU for thousands of tenants), and the default with its tables into a pipe, wall time,
  warm;
- ``catalog check --json`` on a catalog where every tenant also names an unknown plugin
  (every tenant fails closed and is reported), wall time, warm and cold.

    python -m benchmarks.bench_scale [--sizes 10,1000,10000] [--runs 5] [--rounds 3]
        [--check-runs 3] [--jobs N] [--traced-max N] [--json]

The default sizes take a few minutes; 100 000 tenants (``--sizes 10,100000``) some more.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FOLDERS = ("hookspecs", "builtin_plugins", "plugins")
DEFAULT_SIZES = (10, 1000, 10_000)
#: above this many tenants, building and checking are measured once, without tracemalloc
LARGE = 10_000
#: An unknown plugin every tenant of the broken catalog names (one letter off a real one).
UNKNOWN_PLUGIN = "customer_1.interface_b"


# -- catalogs ------------------------------------------------------------------------------


def tenant_id(index: int) -> str:
    return f"t{index:06d}"


def _tenant(index: int, *, broken: bool) -> str:
    tenant = tenant_id(index)
    extra = f', "{UNKNOWN_PLUGIN}"' if broken else ""
    shape = index % 3
    if shape == 0:  # like c1: customer_1's plugins, settings of its own
        return f"""
[tenants.{tenant}]
description = "Retailer {index} (c1-like)"
plugins = ["customer_1.interface_a", "customer_1.price_quote"{extra}]

[tenants.{tenant}.settings."customer_1.interface_a"]
team = "The team of retailer {index}"
greeting = "Hi"

[tenants.{tenant}.settings."customer_1.price_quote"]
loyalty_rate = 0.05
bulk_from = 10
"""
    if shape == 1:  # like c2: every customer_2 plugin, a version pin, a built-in's setting
        return f"""
[tenants.{tenant}]
description = "Wholesaler {index} (c2-like)"
plugins = ["customer_2.*"{extra}]
versions = {{ interface_a = 2 }}

[tenants.{tenant}.settings."customer_2.interface_a"]
legal_notice = "Wholesaler {index} B.V., Chamber of Commerce {10_000_000 + index}."

[tenants.{tenant}.settings."customer_2.price_quote"]
domestic = ["NL"]
handling_fee = 2.5

[tenants.{tenant}.settings."builtin_plugins.price_quote"]
currency = "EUR"
"""
    plugins = f"\nplugins = [{extra[2:]}]" if broken else ""
    return f"""
[tenants.{tenant}]
description = "Company {index} (c3-like: the catalog's own behaviour)"{plugins}
"""


def catalog_text(tenants: int, *, broken: bool = False) -> str:
    head = """\
[catalog]
description = "Scale benchmark catalog"
plugin_dirs = ["plugins"]

[catalog.versions]
interface_a = 1
"""
    return head + "".join(_tenant(i, broken=broken) for i in range(tenants))


def write_catalogs(folder: Path, tenants: int) -> tuple[Path, Path]:
    """The folder of a catalog of ``tenants`` tenants, and its broken twin's file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in FOLDERS:
        shutil.copytree(
            REPO / name,
            folder / name,
            ignore=shutil.ignore_patterns("__pycache__"),
            dirs_exist_ok=True,
        )
    good = folder / "catalog.toml"
    good.write_text(catalog_text(tenants), encoding="utf-8")
    broken = folder / "broken.toml"
    broken.write_text(catalog_text(tenants, broken=True), encoding="utf-8")
    return good, broken


# -- commands ------------------------------------------------------------------------------


def _catalog_command() -> list[str]:
    script = Path(sys.executable).parent / "catalog"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "catalog_cli"]


def _timed(command: Sequence[str], env: Mapping[str, str], expect: tuple[int, ...]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        command,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in expect:
        raise RuntimeError(
            f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-2000:]}"
        )
    return elapsed


def _median_ratio(values: Sequence[float], base: Sequence[float]) -> float:
    return statistics.median(v / b for v, b in zip(values, base, strict=True))


# -- building every tenant, in a child process ---------------------------------------------


def _anchor_classes() -> dict[str, list[type[Any]]]:
    from benchmarks import plain_pluggy as plain

    return {
        "customer_1.interface_a": [plain.Customer1Greetings],
        "customer_1.price_quote": [plain.Customer1Quotes],
        "customer_2.*": [plain.Customer2Greetings, plain.Customer2Quotes],
    }


_ANCHOR_SETTINGS = {
    "Customer1Greetings": "customer_1.interface_a",
    "Customer1Quotes": "customer_1.price_quote",
    "Customer2Greetings": "customer_2.interface_a",
    "Customer2Quotes": "customer_2.price_quote",
}


def build_anchor(path: Path, loaded: Callable[[], None]) -> tuple[Any, Any]:
    """Load the file, then build every tenant with plain pluggy; (loaded, built)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    from benchmarks import plain_pluggy as plain

    with open(path, "rb") as handle:
        document = tomllib.load(handle)
    tenants = document["tenants"]
    loaded()
    classes = _anchor_classes()
    managers = {}
    for tenant, table in tenants.items():
        settings = table.get("settings", {})
        plugins = [
            (kind, settings.get(_ANCHOR_SETTINGS[kind.__name__], {}))
            for name in table.get("plugins", [])
            for kind in classes[name]
        ]
        managers[tenant] = plain.manager(plugins, settings.get("builtin_plugins.price_quote"))
    return document, managers


def build_catalog(path: Path, loaded: Callable[[], None]) -> tuple[Any, Any]:
    """Load the catalog, then build (plan, register, start) every tenant; (loaded, built)."""
    from catalog_cli import Catalog

    catalog = Catalog(path)
    loaded()
    managers = {tenant: catalog.plugin_manager(tenant) for tenant in catalog.tenant_ids()}
    return catalog, managers


def _traced() -> int:
    """Memory traced by tracemalloc now (after a collection), or 0 when it is not tracing."""
    import tracemalloc

    if not tracemalloc.is_tracing():
        return 0
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def _resident() -> int:
    """This process's resident memory now (after a collection), in bytes."""
    gc.collect()
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        import resource  # not on Windows: the figure is then missing

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _child(side: str, path: Path, memory: bool) -> dict[str, Any]:
    """Build every tenant of ``path`` on one side; the time and memory of load and build.

    The resident memory (RSS) grown by load and build is measured in every run; with
    ``memory``, what tracemalloc counts too (several times slower)."""
    import tracemalloc

    marks: dict[str, float] = {}

    def loaded() -> None:
        marks["loaded"] = time.perf_counter()
        marks["traced"] = _traced()
        gc.collect()
        marks["building"] = time.perf_counter()  # the collections above are no one's time

    # The code of each side is imported first: what is measured is what the tenants cost.
    parser = "tomllib" if sys.version_info >= (3, 11) else "tomli"
    importlib.import_module("catalog_cli.execution._catalog" if side == "catalog" else parser)
    importlib.import_module("benchmarks.plain_pluggy")
    if memory:
        tracemalloc.start()
    start_traced = _traced()
    start_resident = _resident()
    began = time.perf_counter()
    builder = build_catalog if side == "catalog" else build_anchor
    kept = builder(path, loaded)
    ended = time.perf_counter()
    result: dict[str, Any] = {
        "tenants": len(kept[1]),
        "load_s": marks["loaded"] - began,
        "build_s": ended - marks["building"],
        # from before the load: a side's load frees memory its build then reuses (the
        # anchor's parse of the file, most), so the build's own growth would mislead
        "rss": _resident() - start_resident,
    }
    if memory:
        current = _traced()
        peak = tracemalloc.get_traced_memory()[1]
        result["load_bytes"] = marks["traced"] - start_traced
        result["build_bytes"] = current - marks["traced"]
        result["peak_bytes"] = peak - start_traced
        tracemalloc.stop()
    del kept
    return result


def _measure_side(side: str, path: Path, env: Mapping[str, str], memory: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.bench_scale", "--child", side, str(path)]
    if memory:
        command.append("--memory")
    done = subprocess.run(
        command,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
    )
    found: dict[str, Any] = json.loads(done.stdout)
    return found


# -- the measurements ----------------------------------------------------------------------


class _Setup:
    """The catalogs of every size, the command, and the environments of a warm and cold run."""

    def __init__(self, root: Path, sizes: Sequence[int]) -> None:
        self.cli = _catalog_command()
        self.warm = {"CATALOG_CACHE_DIR": str(root / "cache")}
        self.cold = {"CATALOG_NO_CACHE": "1"}
        self.files: dict[int, tuple[Path, Path]] = {}
        for size in sizes:
            self.files[size] = write_catalogs(root / f"n{size}", size)
            _progress(f"wrote {size:,} tenants ({self.files[size][0].stat().st_size:,} bytes)")

    def command(self, size: int, *args: str, broken: bool = False) -> list[str]:
        return [*self.cli, "-c", str(self.files[size][1 if broken else 0]), *args]

    def run(self, size: int) -> list[str]:
        """``catalog run`` for the last tenant (no command reads further into the file)."""
        return self.command(size, "run", "interface_a", "-C", tenant_id(size - 1))


def _measure_run(setup: _Setup, rows: dict[int, dict[str, Any]], runs: int) -> None:
    """``catalog run`` for one tenant, warm and cold: every size back to back in each round."""
    sizes = sorted(rows)
    warm: dict[int, list[float]] = {size: [] for size in sizes}
    cold: dict[int, list[float]] = {size: [] for size in sizes}
    for index in range(runs):
        for size in sizes:
            warm[size].append(_timed(setup.run(size), setup.warm, (0,)))
            cold[size].append(_timed(setup.run(size), setup.cold, (0,)))
        _progress(f"catalog run: round {index + 1} of {runs}")
    base = sizes[0]
    for size in sizes:
        row = rows[size]
        row["file_bytes"] = setup.files[size][0].stat().st_size
        row["run_warm_s"] = statistics.median(warm[size])
        row["run_cold_s"] = statistics.median(cold[size])
        row["run_warm_ratio"] = _median_ratio(warm[size], warm[base])
        row["run_cold_ratio"] = _median_ratio(cold[size], cold[base])


def _measure_build(
    setup: _Setup, row: dict[str, Any], size: int, rounds: int, traced: bool
) -> None:
    """Building every tenant: each side in a fresh process per round, in alternating order;
    with ``traced``, once more each with tracemalloc."""
    good = setup.files[size][0]
    timings: dict[str, list[float]] = {"catalog": [], "anchor": []}
    loads: dict[str, list[float]] = {"catalog": [], "anchor": []}
    resident: dict[str, list[float]] = {"catalog": [], "anchor": []}
    for index in range(rounds):
        order = ("catalog", "anchor") if index % 2 == 0 else ("anchor", "catalog")
        for side in order:
            found = _measure_side(side, good, setup.warm, memory=False)
            timings[side].append(found["build_s"] / size)
            loads[side].append(found["load_s"])
            resident[side].append(found["rss"] / size)
    row["build_us"] = statistics.median(timings["catalog"]) * 1e6
    row["anchor_build_us"] = statistics.median(timings["anchor"]) * 1e6
    row["build_ratio"] = _median_ratio(timings["catalog"], timings["anchor"])
    row["load_s"] = statistics.median(loads["catalog"])
    row["anchor_load_s"] = statistics.median(loads["anchor"])
    row["rss"] = statistics.median(resident["catalog"])
    row["anchor_rss"] = statistics.median(resident["anchor"])
    row["rss_ratio"] = _median_ratio(resident["catalog"], resident["anchor"])
    if traced:
        memory = {side: _measure_side(side, good, setup.warm, memory=True) for side in timings}
        row["build_bytes"] = memory["catalog"]["build_bytes"] / size
        row["anchor_build_bytes"] = memory["anchor"]["build_bytes"] / size
        row["memory_ratio"] = memory["catalog"]["build_bytes"] / max(
            memory["anchor"]["build_bytes"], 1
        )
        row["load_bytes"] = memory["catalog"]["load_bytes"]
        row["anchor_load_bytes"] = memory["anchor"]["load_bytes"]
        row["peak_bytes"] = memory["catalog"]["peak_bytes"]
        row["anchor_peak_bytes"] = memory["anchor"]["peak_bytes"]
    _progress(f"built {size:,} tenants: {rounds} round(s) per side")


def _measure_check(
    setup: _Setup, row: dict[str, Any], size: int, runs: int, jobs: int | None
) -> None:
    """``catalog check`` (in one process, and with its default or ``jobs`` workers), and the
    check of the catalog whose every tenant names an unknown plugin."""
    parallel = ["--jobs", str(jobs)] if jobs else []
    times: dict[str, list[float]] = {}
    for _ in range(runs):
        for key, command, env, code in (
            ("check_jobs1_s", setup.command(size, "check", "--json", "--jobs", "1"), "warm", 0),
            ("check_s", setup.command(size, "check", "--json", *parallel), "warm", 0),
            ("check_text_s", setup.command(size, "check", *parallel), "warm", 0),
            (
                "broken_s",
                setup.command(size, "check", "--json", *parallel, broken=True),
                "warm",
                10,
            ),
            (
                "broken_cold_s",
                setup.command(size, "check", "--json", *parallel, broken=True),
                "cold",
                10,
            ),
        ):
            environment = setup.warm if env == "warm" else setup.cold
            times.setdefault(key, []).append(_timed(command, environment, (code,)))
    for key, values in times.items():
        row[key] = statistics.median(values)
    _progress(f"checked {size:,} tenants")


def measure(
    sizes: Sequence[int],
    runs: int,
    rounds: int,
    jobs: int | None,
    check_runs: int,
    traced_max: int = LARGE,
) -> dict[str, Any]:
    rows: dict[int, dict[str, Any]] = {size: {"tenants": size} for size in sizes}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as temporary:
        setup = _Setup(Path(temporary), sizes)
        # Fill the caches (and the system's file cache), and see that every command works.
        for size in sizes:
            _timed(setup.run(size), setup.warm, (0,))
            _timed(setup.command(size, "check", "--json", broken=True), setup.warm, (10,))
        _measure_run(setup, rows, runs)
        # Beyond LARGE tenants a round takes minutes: one round; tracemalloc up to traced_max.
        for size in sizes:
            rounds_here = 1 if size > LARGE else rounds
            _measure_build(setup, rows[size], size, rounds_here, size <= traced_max)
        for size in sizes:
            _measure_check(setup, rows[size], size, 1 if size > LARGE else check_runs, jobs)
    return {"cpus": os.cpu_count(), "rows": [rows[size] for size in sizes]}


def _progress(text: str) -> None:
    sys.stderr.write(f"[bench_scale] {text}\n")
    sys.stderr.flush()


# -- the report ----------------------------------------------------------------------------

#: (key, heading, format, what it compares)
COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("file_bytes", "file", "{:,.0f} B", "catalog.toml's size"),
    ("run_warm_s", "run warm", "{:.3f} s", "`catalog run` for the last tenant, the cache in place"),
    ("run_warm_ratio", "run warm x", "{:.2f}x", "run warm / run warm at the smallest size"),
    ("run_cold_s", "run cold", "{:.3f} s", "`catalog run`, CATALOG_NO_CACHE=1: the file parsed"),
    ("run_cold_ratio", "run cold x", "{:.2f}x", "run cold / run cold at the smallest size"),
    ("load_s", "load", "{:.3f} s", "Catalog(path) in one process, no tenant built yet"),
    ("build_us", "build/tenant", "{:.0f} us", "building every tenant: plan, register, start"),
    ("anchor_build_us", "anchor/tenant", "{:.0f} us", "plain pluggy: a manager per tenant"),
    ("build_ratio", "build x anchor", "{:.2f}x", "build time per tenant / the anchor's"),
    ("build_bytes", "memory/tenant", "{:,.0f} B", "memory kept per built tenant (tracemalloc)"),
    ("anchor_build_bytes", "anchor mem/t", "{:,.0f} B", "the anchor's memory per tenant"),
    ("memory_ratio", "memory x anchor", "{:.2f}x", "memory kept by the build / the anchor's"),
    ("rss", "RSS/tenant", "{:,.0f} B", "resident memory grown by load and build, per tenant"),
    ("anchor_rss", "anchor RSS/t", "{:,.0f} B", "the anchor's (its tomllib document too)"),
    ("rss_ratio", "RSS x anchor", "{:.2f}x", "resident memory grown / the anchor's"),
    ("check_jobs1_s", "check -j1", "{:.2f} s", "`catalog check --json --jobs 1`, warm"),
    ("check_s", "check", "{:.2f} s", "`catalog check --json`, default jobs, warm"),
    ("check_text_s", "check text", "{:.2f} s", "`catalog check` (tables into a pipe), warm"),
    ("broken_s", "broken", "{:.2f} s", "check --json, every tenant names an unknown plugin"),
    ("broken_cold_s", "broken cold", "{:.2f} s", "the same, CATALOG_NO_CACHE=1"),
)
#: (key, what it is, format): figures listed below the table
EXTRA: tuple[tuple[str, str, str], ...] = (
    ("load_bytes", "catalog: memory of the load (before any tenant)", "{:,.0f} B"),
    ("anchor_load_bytes", "anchor: memory of the tomllib document", "{:,.0f} B"),
    ("peak_bytes", "catalog: peak memory, load and build", "{:,.0f} B"),
    ("anchor_peak_bytes", "anchor: peak memory, load and build", "{:,.0f} B"),
    ("anchor_load_s", "anchor: tomllib.load of the file", "{:.3f} s"),
)


def report(results: Mapping[str, Any]) -> str:
    rows = results["rows"]
    lines = [f"Scale benchmark, {results['cpus']} CPUs (medians; ratios: medians of pairs)", ""]
    width = max(len(heading) for _key, heading, _fmt, _what in COLUMNS) + 2
    lines.append("tenants".ljust(width) + "".join(f"{row['tenants']:>15,}" for row in rows))
    for key, heading, fmt, _what in COLUMNS:
        cells = [fmt.format(row[key]) if key in row else "-" for row in rows]
        lines.append(heading.ljust(width) + "".join(f"{cell:>15}" for cell in cells))
    lines += ["", "What each figure compares:"]
    lines += [f"  {heading.ljust(width)}{what}" for _key, heading, _fmt, what in COLUMNS]
    lines += ["", "Also measured:"]
    for key, what, fmt in EXTRA:
        listed = ", ".join(
            f"{row['tenants']:,}: {fmt.format(row[key])}" for row in rows if key in row
        )
        lines.append(f"  {what}: {listed}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--runs", type=int, default=5, help="rounds of the CLI commands")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of building every tenant")
    parser.add_argument("--check-runs", type=int, default=3, help="rounds of catalog check")
    parser.add_argument("--jobs", type=int, default=None, help="catalog check --jobs")
    parser.add_argument(
        "--traced-max",
        type=int,
        default=LARGE,
        help="measure memory with tracemalloc up to this many tenants (slow beyond)",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.child:
        side, path = options.child
        print(json.dumps(_child(side, Path(path), options.memory)))
        return 0
    sizes = sorted({int(s) for s in options.sizes.split(",") if s.strip()})
    results = measure(
        sizes, options.runs, options.rounds, options.jobs, options.check_runs, options.traced_max
    )
    if options.json:
        print(json.dumps(results, indent=2))
    else:
        print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
