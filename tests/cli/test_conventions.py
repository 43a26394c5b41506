"""CLI conventions: --version, ``python -m``, completion, did-you-mean, ``-c`` anywhere, output
into pipes and into narrow terminals, ``catalog info``.

Where a pipe or a terminal matters, the CLI runs in a subprocess (``python -m catalog_cli``), so
what is checked is what a shell user sees.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.conftest import REPO, SHIPPED, Invoke, WriteCatalog

COMMAND = Path(sys.executable).parent / ("catalog.exe" if sys.platform == "win32" else "catalog")
BOX = re.compile("[\u2500-\u257f]")  # box-drawing characters


def cli(
    *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    environment.pop("CATALOG_FILE", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "catalog_cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder with no catalog.toml in it or above it."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    if any((d / "catalog.toml").is_file() for d in (folder, *folder.parents)):
        pytest.skip("a catalog.toml above the temporary folder would be found")
    return folder


# -- version, python -m, completion ---------------------------------------------------------


def test_version_option(invoke: Invoke) -> None:
    result = invoke("--version", catalog=None)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"catalog (task-catalog) {version('task-catalog')}"


def test_python_dash_m_runs_the_cli() -> None:
    done = cli("run", "interface_a", "--version", "2", "--customer", "c1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Hi there, welcome back!\n-- The Acme Retail team\n"
    assert "Traceback" not in done.stderr


def test_python_dash_m_names_itself_in_usage() -> None:
    done = cli("--help")
    assert done.returncode == 0
    assert "python -m catalog_cli" in done.stdout


def test_completion_options_are_offered(invoke: Invoke) -> None:
    result = invoke("--help", catalog=None)
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout


@pytest.mark.skipif(not COMMAND.is_file(), reason="the `catalog` console script is not installed")
def test_completion_script_for_bash() -> None:
    done = subprocess.run(
        [str(COMMAND), "--show-completion", "bash"],
        capture_output=True,
        text=True,
        # Typer detects the shell from the process tree, which a test runner may not show;
        # this switch of Typer's makes the shell an explicit value instead.
        env={**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "_CATALOG_COMPLETE=complete_bash" in done.stdout
    assert "complete -o default -F" in done.stdout


def complete(line: str, cwd: Path = REPO) -> list[str]:
    """What the shell offers when TAB is pressed at the end of ``line``."""
    env = {
        "_CATALOG_COMPLETE": "complete_bash",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(line.split(" ")) - 1),
    }
    done = cli(env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completes_commands() -> None:
    assert complete("catalog ru") == ["run"]


def test_completes_interfaces_and_tenants() -> None:
    assert complete("catalog run int") == ["interface_a"]
    assert complete("catalog run interface_a --customer ") == ["c1", "c2", "c3"]


def test_completes_plugins_of_the_catalog_given_after_the_command(
    write_catalog: WriteCatalog, outside: Path
) -> None:
    path = write_catalog('[catalog]\nplugin_dirs = ["plugins"]\n', {"plugins/own/x.py": ""})
    line = f"catalog plugins show -c {path} ow"
    assert complete(line, cwd=outside) == ["own.x"]


def test_a_broken_catalog_completes_nothing(write_catalog: WriteCatalog) -> None:
    path = write_catalog("[catalog\n")
    assert complete(f"catalog -c {path} run ") == []


# -- did you mean -----------------------------------------------------------------------------


def test_misspelt_command(invoke: Invoke) -> None:
    result = invoke("plugin", "list")
    assert result.exit_code == 2
    assert "Did you mean 'plugins'?" in result.stderr


def test_misspelt_interface(invoke: Invoke) -> None:
    result = invoke("run", "interfce_a", "--customer", "c1")
    assert result.exit_code == 4
    assert "Did you mean 'interface_a'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_misspelt_tenant(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "--customer", "C1")
    assert result.exit_code == 4
    assert "unknown tenant 'C1'" in result.stderr
    assert "Did you mean 'c1'?" in result.stderr


def test_misspelt_plugin(invoke: Invoke) -> None:
    result = invoke("plugins", "show", "customer_1.interfac")
    assert result.exit_code == 4
    assert "Did you mean 'customer_1.interface_a'?" in result.stderr


# -- --catalog before or after the command ---------------------------------------------------


def test_catalog_option_after_the_command(outside: Path) -> None:
    done = cli("run", "interface_a", "-C", "c1", "--version", "2", "-c", str(SHIPPED), cwd=outside)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Hi there, welcome back!")
    assert "note:" not in done.stderr  # the catalog was given: no fallback note


def test_catalog_option_before_the_command(outside: Path) -> None:
    done = cli("--catalog", str(SHIPPED), "interfaces", "list", "--json", cwd=outside)
    assert done.returncode == 0, done.stderr
    assert {row["name"] for row in json.loads(done.stdout)} == {"interface_a", "price_quote"}


def test_catalog_file_from_the_environment(outside: Path, write_catalog: WriteCatalog) -> None:
    path = write_catalog("[tenants.only]\n")
    done = cli("tenants", "list", "--json", cwd=outside, env={"CATALOG_FILE": str(path)})
    assert done.returncode == 0, done.stderr
    assert [row["id"] for row in json.loads(done.stdout)] == ["only"]


def test_nearest_catalog_upwards(write_catalog: WriteCatalog) -> None:
    path = write_catalog("[tenants.near]\n")
    below = path.parent / "deep" / "er"
    below.mkdir(parents=True)
    done = cli("tenants", "list", "--json", cwd=below)
    assert [row["id"] for row in json.loads(done.stdout)] == ["near"]


def test_fallback_to_the_example_is_said_once_on_stderr(outside: Path) -> None:
    done = cli("tenants", "list", "--json", cwd=outside)
    assert done.returncode == 0, done.stderr
    assert [row["id"] for row in json.loads(done.stdout)] == ["c1", "c2", "c3"]
    notes = [line for line in done.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert "using the example catalog" in notes[0] and "catalog init" in notes[0]


# -- repeated arguments ------------------------------------------------------------------------


def test_repeated_arg_is_an_error(invoke: Invoke) -> None:
    result = invoke("run", "interface_a", "-C", "c1", "--arg", "name=A", "--arg", "name=B")
    assert result.exit_code == 2
    assert "name is given twice" in result.stderr


# -- output into pipes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("plugins", "list"),
        ("interfaces", "list"),
        ("tenants", "list"),
        ("interfaces", "show", "interface_a"),
        ("tenants", "show", "c1"),
        ("check",),
        ("info",),
    ],
)
def test_piped_listings_have_no_box_drawing(command: tuple[str, ...]) -> None:
    done = cli(*command)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert not BOX.search(done.stdout), done.stdout


def test_piped_rows_are_whole_lines() -> None:
    done = cli("plugins", "list")
    lines = done.stdout.splitlines()
    for name in ("customer_1.interface_a", "customer_2.price_quote", "builtin_plugins.price_quote"):
        assert sum(line.split()[:1] == [name] for line in lines) == 1, done.stdout


def test_piped_dict_result_is_json() -> None:
    done = cli("run", "price_quote", "-C", "c1", "--args", '{"quantity": 3, "unit_price": 2.5}')
    assert done.returncode == 0, done.stderr
    quote = json.loads(done.stdout)
    assert set(quote) >= {"subtotal", "total"}


def test_piped_text_result_is_the_text() -> None:
    done = cli("run", "interface_a", "-C", "c3")
    assert done.stdout == "Hello, there!\n"


def test_piped_diagnostics_are_whole_lines(write_catalog: WriteCatalog) -> None:
    # A path longer than any terminal is wide, in a message on stderr: never split, so a log
    # of it can be searched for the path.
    catalog = write_catalog("[tenants.t]\n")
    deep = catalog.parent / ("a-folder-with-a-long-name-" * 4) / "catalog.toml"
    deep.parent.mkdir()
    catalog.rename(deep)
    for name in ("hookspecs", "builtin_plugins"):
        (catalog.parent / name).rename(deep.parent / name)
    done = cli("lock", "--check", "--catalog", str(deep), env={"COLUMNS": "60"})
    assert done.returncode != 0
    expected = f"{deep.parent.name}{os.sep}catalog.lock does not exist"
    assert any(expected in line for line in done.stderr.splitlines()), done.stderr


# -- narrow terminals --------------------------------------------------------------------------


def names_in(text: str) -> set[str]:
    return set(re.findall(r"[\w.]+", text))


@pytest.mark.parametrize("columns", [80, 100, 120])
@pytest.mark.parametrize(
    "command", [("plugins", "list"), ("interfaces", "list"), ("tenants", "list"), ("info",)]
)
def test_terminal_tables_keep_names_whole(columns: int, command: tuple[str, ...]) -> None:
    done = cli(*command, env={"FORCE_COLOR": "1", "COLUMNS": str(columns), "TERM": "xterm"})
    assert done.returncode == 0, done.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    assert all(len(line) <= columns for line in text.splitlines()), text
    found = names_in(text)
    expected = {"c1", "c2", "c3"}
    if command[0] == "plugins":
        expected |= {
            "customer_1.interface_a",
            "customer_1.price_quote",
            "customer_2.interface_a",
            "customer_2.price_quote",
            "builtin_plugins.interface_a",
            "builtin_plugins.price_quote",
        }
    elif command[0] == "interfaces":
        expected = {"interface_a", "price_quote"}
    elif command[0] == "info":
        expected = {"catalog.toml"}
    assert expected <= found, text


def test_too_narrow_for_a_table_rows_become_blocks() -> None:
    env = {"FORCE_COLOR": "1", "COLUMNS": "40", "TERM": "xterm"}
    done = cli("plugins", "list", env=env)
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    assert "customer_1.interface_a" in names_in(text)
    assert all(len(line) <= 40 for line in text.splitlines()), text


# -- catalog info ------------------------------------------------------------------------------


def test_info_json(invoke: Invoke) -> None:
    result = invoke("info", "--json")
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["catalog"] == str(SHIPPED)
    assert info["found"] == "given"
    folders = info["folders"]
    assert folders["hookspecs"] == {"path": str(REPO / "hookspecs"), "exists": True}
    assert folders["builtin_plugins"] == {"path": str(REPO / "builtin_plugins"), "exists": True}
    assert folders["plugins"] == [{"path": str(REPO / "plugins"), "exists": True}]
    assert info["interfaces"] == 2 and info["versions"] == 3
    assert info["tenants"] == 3
    assert info["plugins"] == 4
    assert info["task_catalog"] == version("task-catalog")
    assert info["job_store"].endswith(".sqlite3")


def test_info_for_an_own_catalog(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog("[tenants.a]\n[tenants.b]\n", example=False)
    result = invoke("info", "--json", catalog=path)
    assert result.exit_code == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["interfaces"] == 0 and info["tenants"] == 2
    assert Path(info["job_store"]).parent == path.parent


def test_info_says_how_the_catalog_was_found(outside: Path) -> None:
    done = cli("info", "--json", cwd=outside)
    assert json.loads(done.stdout)["found"] == "example"
