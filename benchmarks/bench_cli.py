"""Wall time of light ``catalog`` commands against the floor of the stack we chose.

The floor is a minimal Typer app that prints a small rich table, run by the same interpreter.
Each round runs every command once, back to back; times are medians over the rounds, and each
ratio is the median of the per-round ratios to the floor, which cancels slow drifts of a noisy
machine.

    python benchmarks/bench_cli.py [--runs 15] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
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


def _catalog_command() -> list[str]:
    script = Path(sys.executable).parent / "catalog"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from catalog_cli.cli import main; main()"]


def _time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        command,
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "100"},
    )
    return time.perf_counter() - start


FLOOR = "floor: minimal typer + rich table"


def measure(runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as folder:
        floor_script = Path(folder) / "floor_app.py"
        floor_script.write_text(FLOOR_APP)
        catalog = _catalog_command()
        commands = {
            FLOOR: [sys.executable, str(floor_script)],
            "catalog --help": [*catalog, "--help"],
            "catalog plugins list": [*catalog, "plugins", "list"],
            "catalog plugins list --json": [*catalog, "plugins", "list", "--json"],
        }
        for command in commands.values():  # warm the file cache and bytecode
            _time(command)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                times[name].append(_time(command))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    times = measure(options.runs)
    # Each round runs every command once, back to back: the ratio is the median of the
    # per-round ratios, which cancels the machine's slow drifts.
    rows: list[dict[str, Any]] = [
        {
            "command": name,
            "median_s": round(statistics.median(values), 4),
            "ratio_to_floor": round(
                statistics.median(v / f for v, f in zip(values, times[FLOOR], strict=True)), 3
            ),
        }
        for name, values in times.items()
    ]
    if options.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"CLI wall time, median of {options.runs} rounds (ratio: median of per-round ratios)")
    for row in rows:
        print(
            f"  {row['command']:<36} {row['median_s'] * 1000:7.1f} ms   "
            f"ratio {row['ratio_to_floor']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
