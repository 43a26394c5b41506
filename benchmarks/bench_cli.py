"""Start-up of light ``catalog`` commands against the floor of the stack we chose.

The floor is a minimal Typer app that prints a small rich table, run by the same interpreter:
no CLI built on Typer and rich that prints a table can start faster. Every command runs from
the repository's root, so ``catalog`` uses the example catalog there (``./catalog.toml``), with
its output into a pipe (as in scripts). The target (the issue): ``catalog plugins list`` at
most 1.3 times the floor, ``catalog --help`` below that.

``catalog plugins list`` keeps its rows for the next run (``catalog_cli/cli/_listing_cache.py``):
the warm-up run keeps them, as on a machine where it ran before with nothing changed since,
and the row "(made afresh)" removes them before each of its runs (outside the time measured),
as after any change to the catalog, its plugins or the environment.

Each round runs the floor and every command once, back to back, in an order that rotates from
round to round. A time is the median over the rounds; a ratio is the median of the per-round
ratios (the command's time over the floor's time in the same round), since a machine's speed
drifts between rounds far more than within one.

    python -m benchmarks.bench_cli [--runs 21] [--json]
    python benchmarks/bench_cli.py [--runs 21] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

FLOOR_APP = """
import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer()


@app.command()
def main() -> None:
    table = Table("plugin", "status")
    table.add_row("example", "loaded")
    Console().print(table)


app()
"""

FLOOR = "floor"
AFRESH = "catalog plugins list (made afresh)"

#: name -> (catalog's arguments, what the figure compares)
COMMANDS: dict[str, tuple[list[str], str]] = {
    "catalog --help": (["--help"], "the root help: Typer and our command tree, no catalog"),
    "catalog --version": (["--version"], "an eager option: exits before any command runs"),
    "catalog plugins list": (
        ["plugins", "list"],
        "the rows kept by the run before, checked against the files: a rich table (target <= 1.3)",
    ),
    "catalog plugins list --json": (
        ["plugins", "list", "--json"],
        "the same listing as JSON: no rich at all",
    ),
    AFRESH: (
        ["plugins", "list"],
        "no rows kept: reads the example catalog, loads its registry and plugins, keeps the rows",
    ),
    "catalog tenants list": (
        ["tenants", "list"],
        "reads the example catalog, plans its tenants, prints a rich table",
    ),
}


def _catalog_command() -> list[str]:
    script = Path(sys.executable).parent / "catalog"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from catalog_cli.cli import main; main()"]


def _environment(cache: Path) -> dict[str, str]:
    # The catalog's own cache (entry points, large catalogs) in a folder of this run: filled by
    # the warm-up run, as on a machine where catalog has run before, and not pruned meanwhile
    # by other processes' caches.
    env = {**os.environ, "COLUMNS": "100", "CATALOG_CACHE_DIR": str(cache)}
    env.pop("CATALOG_NO_CACHE", None)
    # Bytecode is written (by the warm-up run) and then used, as after `pip install`: else a
    # source file edited since its .pyc was written would be compiled again at every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _time(command: list[str], env: dict[str, str], forget: Path | None = None) -> float:
    if forget is not None:
        shutil.rmtree(forget, ignore_errors=True)  # the kept listings: made afresh
    start = time.perf_counter()
    subprocess.run(
        command,
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    return time.perf_counter() - start


def measure(runs: int) -> dict[str, list[float]]:
    """Wall times of the floor and each command, ``runs`` rounds."""
    with tempfile.TemporaryDirectory() as folder:
        floor_script = Path(folder) / "floor_app.py"
        floor_script.write_text(FLOOR_APP, encoding="utf-8")
        cache = Path(folder) / "cache"
        env = _environment(cache)
        catalog = _catalog_command()
        commands = {FLOOR: [sys.executable, str(floor_script)]}
        commands.update({name: [*catalog, *args] for name, (args, _) in COMMANDS.items()})
        forget = {AFRESH: cache / "listings"}
        for name, command in commands.items():  # warm the file cache, bytecode, the caches
            _time(command, env, forget.get(name))
        times: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for round_ in range(runs):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(_time(commands[name], env, forget.get(name)))
    return times


def summarize(times: dict[str, list[float]]) -> list[dict[str, Any]]:
    floor = times[FLOOR]
    return [
        {
            "command": name,
            "compares": "python floor_app.py: typer + rich, one small table"
            if name == FLOOR
            else COMMANDS[name][1],
            "median_ms": round(statistics.median(values) * 1000, 1),
            "ratio_to_floor": round(
                statistics.median(v / f for v, f in zip(values, floor, strict=True)), 3
            ),
        }
        for name, values in times.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="rounds (default: 21)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args(argv)
    rows = summarize(measure(options.runs))
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(
        f"Wall time of each command from start to exit, median of {options.runs} rounds, run "
        f"from {REPO.name}/ (the example catalog), output into a pipe.\n"
        "ratio: median over the rounds of (command time / floor time in the same round); "
        "floor: a minimal Typer app printing a small rich table, same interpreter."
    )
    for row in rows:
        print(
            f"  {row['command']:<36} {row['median_ms']:7.1f} ms   "
            f"ratio {row['ratio_to_floor']:.2f}   {row['compares']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
