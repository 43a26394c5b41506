"""Start-up of ``catalog plugins list`` with 0 and with 100 installed plugin distributions.

Every start reads the entry points of the installed distributions; the scan is cached on disk
(catalog_cli/_entrypoints.py). This script measures, in one run and in throw-away virtualenvs:

    (a) 0 plugin distributions, cache warm
    (b) 100 plugin distributions, no cache (CATALOG_NO_CACHE=1: every start scans)
    (c) 100 plugin distributions, cache warm (CATALOG_CACHE_DIR, warmed by one run)

for ``plugins list`` and ``plugins list --json``, and ``plugins list --available --json`` (which
lists every installed plugin from its metadata, without importing it) with 0 and 100 warm. Runs
alternate between the cases so machine noise hits all of them alike; the figures are medians of
this one run, and the ratios compare each case with (a) of the same command. The working
directory is the repository, so the shipped catalog.toml is used: it selects none of the 100
plugins, they are only discovered.

The virtualenvs are made with ``venv`` (no pip, so it takes a fraction of a second), and a .pth
file in their site-packages lists two folders:

- the site-packages of the interpreter running this script (``sys.prefix``): the catalog's
  dependencies and task-catalog's own dist-info, scanned on every start as in a real install.
  ``--system-site-packages`` would instead expose the base interpreter's global site-packages
  (whatever happens to be installed there, and not this project's environment), and
  ``pip install`` of the project into each virtualenv takes seconds and needs the build backend;
- the repository root, because the editable install's own .pth in that site-packages is not
  read: Python reads .pth files only in site directories, not in folders a .pth file adds.

The virtualenvs run the same interpreter version as this script, so those packages fit them.
Each virtualenv gets a ``catalog`` script like the one pip writes. The 100 plugins are real
installed distributions: a module ``bench_plugin_NNN.py`` implementing ``interface_a`` v1's
signature hook, and a ``bench_plugin_NNN-1.0.dist-info`` folder with METADATA, entry_points.txt
(group ``catalog.plugins``, name ``bench.pNNN``), INSTALLER and RECORD: what pip leaves on disk.
The folder name uses the normalized project name (underscores) as pip does: importlib.metadata
takes a distribution's name from the text before the first ``-`` of its folder and keeps one
distribution per name, so ``bench-plugin-NNN-1.0.dist-info`` folders would all count as the one
distribution "bench".

Checks (the exit code is 1 if one fails): ``--available --json`` lists the 100 ``bench.*``
plugins as "not selected" with their distribution and version; plain ``plugins list`` lists
none of them; none was imported (no bytecode written for them); the warm cache was written once
and reused by every timed run; CATALOG_NO_CACHE wrote no cache; and, last, two of the plugins
work when a tenant selects them. All temporary folders are removed.

    python benchmarks/bench_entrypoints.py [--runs 11] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parent.parent
PLUGINS = 100
GROUP = "catalog.plugins"

#: What pip writes as the console script (entry point ``catalog_cli.cli:main``).
CATALOG_SCRIPT = """\
#!{python}
import sys
from catalog_cli.cli import main
if __name__ == "__main__":
    sys.exit(main())
"""

PLUGIN_MODULE = '''\
"""Benchmark plugin {n}: signs interface_a v1 messages."""

from __future__ import annotations

from catalog_cli import Context, hookimpl


@hookimpl
def interface_a_v1_signature(ctx: Context, name: str) -> str:
    return "-- bench plugin {n}"
'''

PLUGIN_METADATA = """\
Metadata-Version: 2.1
Name: bench-plugin-{n}
Version: 1.0
Summary: Benchmark plugin {n} for task-catalog
"""

SANITY_CATALOG = """\
[catalog]
description = "bench_entrypoints: two of the generated plugins, selected"

[tenants.bench]
plugins = ["bench.p000", "bench.p099"]
"""

#: Variables that would change what the catalog does or which code runs.
_DROPPED_ENV = (
    "CATALOG_FILE",
    "CATALOG_DEBUG",
    "CATALOG_CACHE_DIR",
    "CATALOG_NO_CACHE",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONDONTWRITEBYTECODE",
)


class Env(NamedTuple):
    """A throw-away virtualenv that can run ``catalog``."""

    root: Path
    python: Path
    site_packages: Path
    catalog: list[str]


class Case(NamedTuple):
    command: str
    label: str
    argv: list[str]
    env: dict[str, str]


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env["COLUMNS"] = "100"
    return env


def _host_site_packages() -> list[str]:
    paths = sysconfig.get_paths()
    return list(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def make_env(root: Path) -> Env:
    venv.create(root, with_pip=False, symlinks=os.name != "nt")
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    where = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
        env=_base_env(),
    )
    site_packages = Path(where.stdout.strip())
    lines = [*_host_site_packages(), str(REPO)]
    (site_packages / "_bench_catalog_host.pth").write_text("\n".join(lines) + "\n")
    script = python.parent / "catalog"
    script.write_text(CATALOG_SCRIPT.format(python=python))
    script.chmod(0o755)
    return Env(root, python, site_packages, [str(python), str(script)])


def _record_line(site_packages: Path, path: Path) -> str:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    return f"{path.relative_to(site_packages).as_posix()},sha256={digest},{len(data)}"


def install_plugins(site_packages: Path, count: int) -> None:
    """``count`` plugin distributions, laid out as pip installs them."""
    for i in range(count):
        n = f"{i:03d}"
        module = site_packages / f"bench_plugin_{n}.py"
        module.write_text(PLUGIN_MODULE.format(n=n))
        info = site_packages / f"bench_plugin_{n}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(PLUGIN_METADATA.format(n=n))
        (info / "entry_points.txt").write_text(f"[{GROUP}]\nbench.p{n} = bench_plugin_{n}\n")
        (info / "INSTALLER").write_text("pip\n")
        written = [module, info / "METADATA", info / "entry_points.txt", info / "INSTALLER"]
        record = [_record_line(site_packages, p) for p in written]
        record.append(f"{info.name}/RECORD,,")
        (info / "RECORD").write_text("\n".join(record) + "\n")


def _run(argv: list[str], env: dict[str, str], cwd: Path = REPO) -> str:
    done = subprocess.run(argv, check=False, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {done.returncode}:\n{done.stderr.strip()}"
        )
    return done.stdout


def _time(case: Case) -> float:
    start = time.perf_counter()
    subprocess.run(
        case.argv,
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=case.env,
    )
    return time.perf_counter() - start


def _caches(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("entry-points-*.json")}


def _bench_pyc(site_packages: Path) -> list[str]:
    return sorted(p.name for p in (site_packages / "__pycache__").glob("bench_plugin_*.pyc"))


def _check_available(output: str, count: int) -> Check:
    listed = [p for p in json.loads(output) if str(p.get("name", "")).startswith("bench.")]
    wrong = [
        p["name"]
        for p in listed
        if p.get("status") != "not selected"
        or p.get("kind") != "package"
        or p.get("distribution") != f"bench-plugin-{p['name'][len('bench.p') :]}"
        or p.get("version") != "1.0"
    ]
    ok = len(listed) == count and not wrong
    detail = f"{len(listed)} bench.* entries"
    if wrong:
        detail += f"; wrong status, kind, distribution or version: {', '.join(wrong[:5])}"
    return Check(f"--available --json lists {count} bench.* plugins, not selected", ok, detail)


def measure(runs: int, count: int = PLUGINS) -> tuple[list[dict[str, Any]], list[Check]]:
    with tempfile.TemporaryDirectory(prefix="bench-entrypoints-") as folder:
        tmp = Path(folder)
        empty = make_env(tmp / "venv-0")
        full = make_env(tmp / "venv-100")
        install_plugins(full.site_packages, count)
        base = _base_env()
        warm_0 = {**base, "CATALOG_CACHE_DIR": str(tmp / "cache-0")}
        warm_100 = {**base, "CATALOG_CACHE_DIR": str(tmp / "cache-100")}
        # CATALOG_NO_CACHE must win: a cache written to this folder would be a bug.
        cold_100 = {**base, "CATALOG_NO_CACHE": "1", "CATALOG_CACHE_DIR": str(tmp / "cache-no")}
        _run([*empty.catalog, "--help"], warm_0)  # catalog runs in the throw-away virtualenv

        cases: list[Case] = []
        for args in (["plugins", "list"], ["plugins", "list", "--json"]):
            command = " ".join(args)
            cases += [
                Case(command, "(a) 0 dists, cache warm", [*empty.catalog, *args], warm_0),
                Case(command, "(b) 100 dists, no cache", [*full.catalog, *args], cold_100),
                Case(command, "(c) 100 dists, cache warm", [*full.catalog, *args], warm_100),
            ]
        available = ["plugins", "list", "--available", "--json"]
        command = " ".join(available)
        cases += [
            Case(command, "(a) 0 dists, cache warm", [*empty.catalog, *available], warm_0),
            Case(command, "(c) 100 dists, cache warm", [*full.catalog, *available], warm_100),
        ]

        for case in cases:  # warm the caches, the file cache and bytecode
            _time(case)
        written = {name: _caches(tmp / name) for name in ("cache-0", "cache-100")}
        samples: list[tuple[Case, list[float]]] = [(case, []) for case in cases]
        for _ in range(runs):
            for case, values in samples:
                values.append(_time(case))

        checks = [
            _check_available(_run([*full.catalog, *available], warm_100), count),
        ]
        plain = json.loads(_run([*full.catalog, "plugins", "list", "--json"], warm_100))
        shown = [p["name"] for p in plain if str(p.get("name", "")).startswith("bench.")]
        checks.append(
            Check(
                "plugins list --json lists no unselected bench.* plugin",
                not shown,
                f"{len(shown)} listed",
            )
        )
        imported = _bench_pyc(full.site_packages)
        checks.append(
            Check(
                "no bench.* plugin was imported (no bytecode written)",
                not imported,
                ", ".join(imported[:5]) or "none",
            )
        )
        for name in ("cache-0", "cache-100"):
            after = _caches(tmp / name)
            checks.append(
                Check(
                    f"{name}: written once by the warm-up, reused by every timed run",
                    len(written[name]) == 1 and after == written[name],
                    f"{len(written[name])} file(s) after warm-up, {len(after)} after the runs"
                    + ("" if after == written[name] else ", rewritten"),
                )
            )
        left = list((tmp / "cache-no").glob("*")) if (tmp / "cache-no").exists() else []
        checks.append(Check("CATALOG_NO_CACHE=1 wrote no cache", not left, f"{len(left)} file(s)"))

        sanity = tmp / "sanity"
        sanity.mkdir()
        (sanity / "catalog.toml").write_text(SANITY_CATALOG)
        for name in ("hookspecs", "builtin_plugins"):  # the example's interfaces
            shutil.copytree(
                REPO / name, sanity / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        run = [*full.catalog, "run", "interface_a", "--customer", "bench", "--version", "1"]
        try:
            output = _run([*run, "--arg", "name=Ada"], cold_100, cwd=sanity)
            ok = "-- bench plugin 000" in output and "-- bench plugin 099" in output
            detail = " / ".join(line for line in output.splitlines() if line.strip())
        except RuntimeError as exc:
            ok, detail = False, str(exc).splitlines()[-1][:300]
        checks.append(Check("bench.p000 and bench.p099 run when a tenant selects them", ok, detail))

    medians = [(case, statistics.median(values)) for case, values in samples]
    baselines = {case.command: value for case, value in medians if case.label.startswith("(a)")}
    rows = [
        {
            "command": f"catalog {case.command}",
            "case": case.label,
            "median_s": round(value, 4),
            "ratio_to_a": round(value / baselines[case.command], 3),
        }
        for case, value in medians
    ]
    return rows, checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    rows, checks = measure(options.runs)
    ok = all(check.ok for check in checks)
    if options.json:
        report = {
            "runs": options.runs,
            "plugin_distributions": PLUGINS,
            "results": rows,
            "checks": [check._asdict() for check in checks],
            "ok": ok,
        }
        print(json.dumps(report, indent=2))
        return 0 if ok else 1
    print(f"Start-up with {PLUGINS} plugin distributions, median of {options.runs} runs")
    command = None
    for row in rows:
        if row["command"] != command:
            command = row["command"]
            print(f"  {command}")
        print(
            f"    {row['case']:<28} {row['median_s'] * 1000:7.1f} ms   "
            f"ratio {row['ratio_to_a']:.2f}"
        )
    print("Checks")
    for check in checks:
        print(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
