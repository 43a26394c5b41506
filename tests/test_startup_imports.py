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


def test_version_imports_no_engine_and_no_metadata_parser(tmp_path: Path) -> None:
    # The version is read from the distribution's metadata file: importlib.metadata (and the
    # email parser it brings) would make `catalog --version` take a quarter longer.
    code, modules, stderr = imported(tmp_path, "--version")
    assert code == 0, stderr
    assert loaded(modules, "importlib.metadata", "email", *ENGINE) == []


def test_the_version_read_is_the_one_importlib_metadata_reads() -> None:
    from importlib.metadata import version

    import catalog_cli

    assert catalog_cli.__version__ == version("task-catalog")


# In-process from here: which commands Typer turns into click commands on a run.


def _built_by_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> list[str]:
    """The callbacks of the commands Typer converted while ``main()`` ran ``catalog *args``."""
    import typer.main

    from catalog_cli.cli import main

    built: list[str] = []
    real = typer.main.get_command_from_info

    def counting(command_info: typer.models.CommandInfo, **options: object) -> object:
        built.append(command_info.callback.__name__ if command_info.callback else "?")
        return real(command_info, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(typer.main, "get_command_from_info", counting)
    monkeypatch.setattr(sys, "argv", ["catalog", *args])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    return built


def test_a_run_builds_only_the_command_it_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from catalog_cli.cli import plugins

    built = _built_by_main(monkeypatch, "-c", str(SHIPPED), "plugins", "list", "--json")
    assert json.loads(capsys.readouterr().out)  # it did list the plugins
    assert built
    assert set(built) <= {
        c.callback.__name__ for c in plugins.app.registered_commands if c.callback
    }


def test_version_builds_no_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _built_by_main(monkeypatch, "--version") == []
    assert capsys.readouterr().out.startswith("catalog (task-catalog) ")


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--help",),
        ("-h", "plugins"),
        ("--debug",),
        ("plugns", "list"),  # misspelt: Typer suggests from all commands
        ("--install-completion",),
        ("-x", "plugins", "list"),  # an option it does not know: Typer's to judge
        ("--catalog",),
    ],
)
def test_anything_else_gets_the_whole_app(args: tuple[str, ...]) -> None:
    from catalog_cli.cli import _app, _prune

    assert _prune.for_args(_app.app, args, "_CATALOG_COMPLETE") is _app.app


def test_shell_completion_gets_the_whole_app(monkeypatch: pytest.MonkeyPatch) -> None:
    from catalog_cli.cli import _app, _prune

    monkeypatch.setenv("_CATALOG_COMPLETE", "complete_bash")
    assert _prune.for_args(_app.app, ("plugins", "list"), "_CATALOG_COMPLETE") is _app.app


@pytest.mark.parametrize(
    ("args", "commands", "groups"),
    [
        (("plugins", "list"), [], ["plugins"]),
        (("--catalog", "x.toml", "-vv", "--debug", "run", "interface_a"), ["run"], []),
        (("--catalog=x.toml", "tenants", "--help"), [], ["tenants"]),
        (("-c", "x.toml", "check", "--json"), ["check"], []),
        (("--version",), [], []),
    ],
)
def test_a_run_gets_only_its_command(
    args: tuple[str, ...], commands: list[str], groups: list[str]
) -> None:
    from catalog_cli.cli import _app, _prune

    lean = _prune.for_args(_app.app, args, "_CATALOG_COMPLETE")
    assert [c.name for c in lean.registered_commands] == commands
    assert [g.name for g in lean.registered_groups] == groups
    assert lean.registered_callback is _app.app.registered_callback
    assert len(_app.app.registered_groups) > 1  # the app itself is left whole
