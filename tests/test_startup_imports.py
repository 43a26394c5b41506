"""Light commands must not import what they do not need (startup time is a feature).

Each command runs in a fresh interpreter that records ``sys.modules`` at exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_example

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "catalog.toml"

# Runs the console-script entry point with the given argv, then dumps the imported modules.
PROBE = """\
import atexit, json, sys

out, args = sys.argv[1], sys.argv[2:]


def _dump():
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(sorted(sys.modules), handle)


atexit.register(_dump)
sys.argv = ["catalog", *args]
from catalog_cli.cli import main

main()
"""

ENGINE = (
    "pluggy",
    "hookspecs",
    "builtin_plugins",
    "catalog_cli.execution._catalog",
    "tomllib",
    "tomli",
)
TEST_TOOLS = ("hypothesis", "pytest", "_pytest", "tests")


def imported(tmp_path: Path, *args: str) -> tuple[int, set[str], str]:
    """(exit code, imported module names, stderr) of ``catalog *args`` in a fresh interpreter."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if k not in ("CATALOG_FILE", "CATALOG_DEBUG")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.is_file(), f"the probe wrote no module list; stderr:\n{done.stderr}"
    modules = set(json.loads(out.read_text(encoding="utf-8")))
    assert "catalog_cli.cli._app" in modules  # the probe really ran the CLI
    return done.returncode, modules, done.stderr


def loaded(modules: set[str], *packages: str) -> list[str]:
    """The modules in ``modules`` that are ``packages`` or inside them."""
    return sorted(m for m in modules for p in packages if m == p or m.startswith(p + "."))


def test_help_imports_no_engine(tmp_path: Path) -> None:
    code, modules, stderr = imported(tmp_path, "--help")
    assert code == 0, stderr
    assert loaded(modules, *ENGINE) == []
    # Entry-point scanning (importlib.metadata) lives in _sources: not even imported.
    assert "catalog_cli.registry._sources" not in modules
    assert "catalog_cli._state" not in modules
    assert loaded(modules, *TEST_TOOLS) == []


@pytest.mark.parametrize("command", [("run", "-h"), ("tenants", "--help"), ("check", "--help")])
def test_subcommand_help_imports_no_engine(tmp_path: Path, command: tuple[str, ...]) -> None:
    code, modules, stderr = imported(tmp_path, *command)
    assert code == 0, stderr
    assert loaded(modules, *ENGINE) == []
    assert "catalog_cli.registry._sources" not in modules


@pytest.mark.parametrize(
    "command",
    [
        ("plugins", "list", "--json"),
        ("interfaces", "list", "--json"),
        ("tenants", "list", "--json"),
        ("run", "interface_a", "-C", "c1", "--json"),
    ],
)
def test_json_commands_do_not_import_rich(tmp_path: Path, command: tuple[str, ...]) -> None:
    code, modules, stderr = imported(tmp_path, "--catalog", str(SHIPPED), *command)
    assert code == 0, stderr
    assert loaded(modules, "rich") == []
    # They did load the catalog: the check above is not vacuous.
    assert "catalog_cli.execution._catalog" in modules


def test_json_error_does_not_import_rich(tmp_path: Path) -> None:
    code, modules, _stderr = imported(
        tmp_path, "--catalog", str(SHIPPED), "tenants", "show", "nope", "--json"
    )
    assert code == 4
    assert loaded(modules, "rich") == []


@pytest.mark.parametrize(
    "command",
    [
        ("--help",),
        ("run", "interface_a", "--version", "2", "-C", "c1"),
        ("run", "interface_a", "-C", "nope"),
        ("interfaces", "show", "interface_a"),
        ("plugins", "list", "--available"),
        ("tenants", "show", "c2"),
        ("check",),
        ("check", "--json"),
    ],
)
def test_no_command_imports_test_tools(tmp_path: Path, command: tuple[str, ...]) -> None:
    code, modules, stderr = imported(tmp_path, "--catalog", str(SHIPPED), *command)
    assert code in (0, 4), stderr
    assert loaded(modules, *TEST_TOOLS) == []


@pytest.mark.parametrize(
    "command",
    [
        ("plugins", "list", "--json"),
        # v2: v1 is deprecated, and its warning rightly brings in logging
        ("run", "interface_a", "--version", "2", "-C", "c1", "--json"),
        ("check",),
    ],
)
def test_light_commands_skip_optional_heavy_modules(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # The shipped plugins declare no settings schema and the default plugin API: neither
    # pydantic nor packaging is needed, and the entry-point scan is cached after one run.
    imported(tmp_path, "--catalog", str(SHIPPED), *command)  # warms the entry-point cache
    code, modules, stderr = imported(tmp_path, "--catalog", str(SHIPPED), *command)
    assert code == 0, stderr
    assert loaded(modules, "pydantic", "packaging", "email", "logging") == []
    assert loaded(modules, "prometheus_client", "opentelemetry", "catalog_cli.runtime._otel") == []
    assert loaded(modules, "catalog_cli.interceptors.log", "catalog_cli.interceptors.metrics") == []
    assert "importlib.metadata" not in modules
    assert "catalog_cli.execution._catalog" in modules


def test_interceptors_do_not_bring_their_optional_exports(tmp_path: Path) -> None:
    # The metrics interceptor counts without prometheus_client (only its export needs it).
    catalog = tmp_path / "catalog.toml"
    copy_example(tmp_path)
    catalog.write_text(
        SHIPPED.read_text(encoding="utf-8").replace(
            'plugin_dirs = ["plugins"]', f"plugin_dirs = [{str(REPO / 'plugins')!r}]"
        )
        + "\n[interceptors.logging]\n[interceptors.metrics]\n",
        encoding="utf-8",
    )
    command = ("--catalog", str(catalog), "run", "interface_a", "--version", "2", "-C", "c1")
    code, modules, stderr = imported(tmp_path, *command, "--json")
    assert code == 0, stderr
    assert "catalog_cli.interceptors.metrics" in modules  # the interceptors did run
    assert loaded(modules, "prometheus_client", "opentelemetry", "rich") == []


@pytest.mark.parametrize(
    "command", [("--help",), ("jobs", "--help"), ("jobs", "list", "--help"), ("run", "-h")]
)
def test_help_does_not_import_the_job_store(tmp_path: Path, command: tuple[str, ...]) -> None:
    code, modules, stderr = imported(tmp_path, *command)
    assert code == 0, stderr
    assert loaded(modules, "sqlite3", "_sqlite3", "catalog_cli.execution._jobs") == []
    assert "catalog_cli.cli.jobs" in modules  # the jobs commands are there, only lighter


def test_commands_without_jobs_do_not_import_the_job_store(tmp_path: Path) -> None:
    command = ("--catalog", str(SHIPPED), "run", "interface_a", "--version", "2", "-C", "c1")
    code, modules, stderr = imported(tmp_path, *command, "--json")
    assert code == 0, stderr
    assert loaded(modules, "sqlite3", "catalog_cli.execution._jobs") == []
    assert "catalog_cli.execution._catalog" in modules


def test_run_imports_no_batch_machinery(tmp_path: Path) -> None:
    command = ("--catalog", str(SHIPPED), "run", "interface_a", "--version", "2", "-C", "c1")
    code, modules, stderr = imported(tmp_path, *command, "--json")
    assert code == 0, stderr
    assert "catalog_cli.execution._batch" not in modules
    assert loaded(modules, "dask", "distributed", "multiprocessing", "concurrent.futures") == []


def test_a_batch_imports_dask_only_when_asked_for(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"name": "Ada"}\n', encoding="utf-8")
    command = ("--catalog", str(SHIPPED), "run", "interface_a", "--version", "2", "-C", "c1")
    code, modules, stderr = imported(
        tmp_path, *command, "--batch", str(inputs), "--workers", "0", "--json"
    )
    assert code == 0, stderr
    assert "catalog_cli.execution._batch" in modules  # it did run a batch
    assert loaded(modules, "dask", "distributed", "tornado", "rich") == []


@pytest.mark.parametrize(
    "command", [("--help",), ("serve", "--help"), ("keys", "new"), ("keys", "new", "--json")]
)
def test_commands_do_not_import_the_http_stack(tmp_path: Path, command: tuple[str, ...]) -> None:
    # Only `catalog serve` itself (and the app factory) import FastAPI and uvicorn.
    code, modules, stderr = imported(tmp_path, *command)
    assert code == 0, stderr
    assert loaded(modules, "fastapi", "uvicorn", "starlette", "pydantic", "catalog_cli.http") == []
    assert loaded(modules, *ENGINE) == []


def test_every_public_name_resolves() -> None:
    # The package imports its names lazily: a stale entry would only fail when used.
    import catalog_cli

    assert catalog_cli.__all__ == sorted(catalog_cli.__all__, key=lambda n: (not n.isupper(), n))
    for name in catalog_cli.__all__:
        assert getattr(catalog_cli, name) is not None, name
