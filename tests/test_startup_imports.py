"""Light commands must not import what they do not need (startup time is a feature).

Each command runs in a fresh interpreter that records ``sys.modules`` at exit.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import copy_example

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "catalog.toml"

# Runs the console-script entry point with the given argv, then dumps the imported modules.
PROBE = """\
import atexit, json, os, sys

out, args = sys.argv[1], sys.argv[2:]
# As the console script: the working folder is not searched for modules (nor stamped by a
# kept listing, see catalog_cli/cli/_listing_cache.py).
sys.path[:] = [entry for entry in sys.path if entry]
for searched in ("", os.getcwd()):
    sys.path_importer_cache.pop(searched, None)


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


def forget_listings() -> None:
    """Remove the listings kept by earlier runs (in this test's cache folder)."""
    shutil.rmtree(Path(os.environ["CATALOG_CACHE_DIR"]) / "listings", ignore_errors=True)


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


def keep_listing(tmp_path: Path, *command: str) -> None:
    """Run ``catalog *command`` until it has kept its listing: not kept by a run during which
    (or two seconds before which) a file it read changed, as when bytecode is written."""
    listings = Path(os.environ["CATALOG_CACHE_DIR"]) / "listings"
    for _ in range(3):
        code, modules, stderr = imported(tmp_path, *command)
        assert code == 0, stderr
        assert "catalog_cli.execution._catalog" in modules  # made through the engine
        if listings.is_dir() and any(listings.iterdir()):
            return
        time.sleep(2.1)
    raise AssertionError(f"no listing kept in {listings}")


@pytest.mark.parametrize("as_json", [(), ("--json",)])
def test_a_kept_listing_imports_no_engine(tmp_path: Path, as_json: tuple[str, ...]) -> None:
    command = ("--catalog", str(SHIPPED), "plugins", "list", *as_json)
    keep_listing(tmp_path, *command)
    code, kept, stderr = imported(tmp_path, *command)
    assert code == 0, stderr
    assert "catalog_cli.cli._listing_cache" in kept
    assert loaded(kept, *ENGINE, "catalog_cli.execution", "catalog_cli.registry") == []
    assert loaded(kept, "catalog_cli.runtime", "catalog_cli.declarations", "asyncio") == []
    assert loaded(kept, "logging", "importlib.metadata", "hashlib", "tomllib") == []
    if as_json:
        assert loaded(kept, "rich") == []
    # -v wants plugin logs: it loads the catalog again.
    code, verbose, stderr = imported(tmp_path, "-v", *command)
    assert code == 0, stderr
    assert "catalog_cli.execution._catalog" in verbose


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
    forget_listings()  # the listing is made again, through the engine
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
    ("command", "jobs_module"),
    [
        (("--help",), False),
        (("jobs", "--help"), True),
        (("jobs", "list", "--help"), True),
        (("run", "-h"), False),
    ],
)
def test_help_does_not_import_the_job_store(
    tmp_path: Path, command: tuple[str, ...], jobs_module: bool
) -> None:
    code, modules, stderr = imported(tmp_path, *command)
    assert code == 0, stderr
    assert loaded(modules, "sqlite3", "_sqlite3", "catalog_cli.execution._jobs") == []
    # The jobs commands are there for their own help, only lighter; not imported for others.
    assert ("catalog_cli.cli.jobs" in modules) is jobs_module


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
    # main() ends the process at once while threads that are not daemons run (a plugin's);
    # in this test process that would end the test run itself, silently.
    from catalog_cli.cli import _app

    monkeypatch.setattr(_app, "_exit_despite_threads", lambda code: None)
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    return built


def test_a_run_builds_only_the_command_it_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built = _built_by_main(monkeypatch, "-c", str(SHIPPED), "plugins", "list", "--json")
    assert json.loads(capsys.readouterr().out)  # it did list the plugins
    assert built == ["list_plugins"]  # not the other plugins commands, nor any other


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("-h",)])
def test_root_options_build_no_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    assert _built_by_main(monkeypatch, *args) == []
    assert capsys.readouterr().out.startswith(("catalog (task-catalog) ", "Usage: catalog"))


def _command_modules() -> list[str]:
    from catalog_cli.cli import _commands

    return sorted({f"catalog_cli.cli.{entry.module}" for entry in _commands.COMMANDS.values()})


def test_root_help_imports_no_command_module(tmp_path: Path) -> None:
    code, modules, stderr = imported(tmp_path, "--help")
    assert code == 0, stderr
    assert sorted(modules & set(_command_modules())) == []


@pytest.mark.parametrize(
    ("command", "module"),
    [
        (("plugins", "list", "--json"), "catalog_cli.cli.plugins"),
        (("tenants", "--help"), "catalog_cli.cli.tenants"),
        (("run", "interface_a", "-C", "c1", "--json"), "catalog_cli.cli.run"),
    ],
)
def test_a_run_imports_only_its_command_module(
    tmp_path: Path, command: tuple[str, ...], module: str
) -> None:
    code, modules, stderr = imported(tmp_path, "--catalog", str(SHIPPED), *command)
    assert code == 0, stderr
    assert sorted(modules & set(_command_modules())) == [module]


def test_the_command_table_matches_the_modules() -> None:
    # What `catalog --help` says of each command comes from _commands.COMMANDS without
    # importing it: it must be what the command itself says, at any width.
    import pkgutil

    import typer.main

    from catalog_cli import cli
    from catalog_cli.cli import _commands

    public = {m.name for m in pkgutil.iter_modules(cli.__path__) if not m.name.startswith("_")}
    assert {entry.module for entry in _commands.COMMANDS.values()} == public
    root = typer.main.get_command(cli.app)
    assert list(root.commands) == list(_commands.COMMANDS)  # type: ignore[attr-defined]
    for name in _commands.COMMANDS:
        made = root.commands[name]  # type: ignore[attr-defined]
        stand_in = _commands.summary(name)
        for limit in (20, 45, 60, 80, 200):
            assert stand_in.get_short_help_str(limit) == made.get_short_help_str(limit), name
        assert not made.hidden and not made.deprecated and not made.short_help, name


@pytest.mark.parametrize("width", [60, 100, 200])
def test_root_help_is_the_help_of_the_made_commands(width: int) -> None:
    import typer.main

    from catalog_cli.cli import app

    root = typer.main.get_command(app)
    with root.make_context("catalog", [], resilient_parsing=True, max_content_width=width) as ctx:
        ctx.terminal_width = width
        lazy = root.get_help(ctx)
        for name in list(root.commands):  # type: ignore[attr-defined]
            root.commands[name]  # type: ignore[attr-defined]  # made, as Typer would
        assert root.get_help(ctx) == lazy
    assert "plugins       List plugins and their load status." in lazy


def test_a_misspelt_command_is_still_suggested(tmp_path: Path) -> None:
    code, modules, stderr = imported(tmp_path, "plugns", "list")
    assert code == 2
    assert "Did you mean 'plugins'?" in stderr
    assert "catalog_cli.cli.plugins" not in modules  # from the names alone


@pytest.mark.parametrize(
    ("words", "expected"),
    [("catalog ", ["run", "plugins", "tenants"]), ("catalog plugins ", ["list", "disable"])],
)
def test_shell_completion_lists_every_command(words: str, expected: list[str]) -> None:
    from typer.testing import CliRunner

    from catalog_cli.cli import app

    env = {"_CATALOG_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": words}
    result = CliRunner().invoke(app, [], env=env, prog_name="catalog")
    for name in expected:
        assert f'"{name}":' in result.output, (name, result.output)
