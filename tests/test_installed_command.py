"""The installed ``catalog`` console script, run for real in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMMAND = Path(sys.executable).parent / ("catalog.exe" if sys.platform == "win32" else "catalog")

C1_V2 = "Hi there, welcome back!\n-- The Acme Retail team\n"

pytestmark = pytest.mark.skipif(
    not COMMAND.is_file(),
    reason=f"the `catalog` console script is not installed next to {sys.executable} "
    "(install the project, e.g. `pip install -e .`, into this environment)",
)


def catalog(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMMAND), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


@pytest.fixture
def empty_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    nearest = [d for d in (folder, *folder.parents) if (d / "catalog.toml").is_file()]
    if nearest:
        pytest.skip(f"{nearest[0] / 'catalog.toml'} would be found instead of the default")
    return folder


def test_quick_start_in_repo() -> None:
    # (tests/conftest.py removes CATALOG_FILE and CATALOG_DEBUG from the environment.)
    done = catalog("run", "interface_a", "--version", "2", "--customer", "c1", cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout == C1_V2
    assert "interface_a v2 (requested) for c1" in done.stderr


def test_packaged_default_catalog_from_empty_dir(empty_dir: Path) -> None:
    done = catalog("run", "interface_a", "--version", "2", "--customer", "c1", cwd=empty_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout == C1_V2


def test_packaged_default_resolves_versions(empty_dir: Path) -> None:
    done = catalog("run", "interface_a", "--customer", "c2", "--json", cwd=empty_dir)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["version"] == 2
    assert data["version_source"] == "tenant"
    assert data["result"].startswith("Dear there,")


def test_unknown_customer_exit_4_without_traceback(empty_dir: Path) -> None:
    done = catalog("run", "interface_a", "--version", "2", "--customer", "nope", cwd=empty_dir)
    assert done.returncode == 4
    assert "Traceback" not in done.stderr
    assert "unknown tenant 'nope'" in done.stderr
    assert "c1, c2, c3" in done.stderr
    assert done.stdout == ""


def test_debug_shows_traceback(empty_dir: Path) -> None:
    done = catalog("--debug", "run", "interface_a", "--customer", "nope", cwd=empty_dir)
    assert done.returncode != 0
    assert "Traceback (most recent call last)" in done.stderr
    assert "UnknownTenantError" in done.stderr


def test_check_shipped_catalog(empty_dir: Path) -> None:
    done = catalog("check", "--json", cwd=empty_dir)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_help(empty_dir: Path) -> None:
    done = catalog("--help", cwd=empty_dir)
    assert done.returncode == 0
    assert done.stdout.startswith("Usage: catalog ")
    for command in ("run", "check", "interfaces", "plugins", "tenants"):
        assert command in done.stdout


# -- your own catalog, with the installed command -------------------------------------------

OWN_SPEC = '''\
"""Our own interface_a: nothing like the example's."""

from __future__ import annotations

from catalog_cli import Context, entrypoint


@entrypoint
def interface_a_v1(ctx: Context, amount: int, currency: str = "EUR") -> str:
    """Format an amount of money."""
'''

OWN_BUILTIN = """\
from catalog_cli import hookimpl


@hookimpl
def interface_a_v1(ctx, amount, currency):
    return f"{amount} {currency}"
"""

OWN_PLUGIN = """\
from catalog_cli import hookimpl


@hookimpl(wrapper=True)
def interface_a_v1(ctx, amount, currency):
    return (yield) + " (ours)"
"""

IMPOSTOR = 'raise RuntimeError("the hookspecs package on PYTHONPATH was imported")\n'


@pytest.fixture
def own_catalog(tmp_path: Path) -> Path:
    folder = tmp_path / "own"
    for relative, text in {
        "hookspecs/interface_a.py": OWN_SPEC,
        "builtin_plugins/interface_a.py": OWN_BUILTIN,
        "plugins/team/money.py": OWN_PLUGIN,
        "catalog.toml": '[tenants.t]\nplugins = ["team.money"]\n[tenants.u]\n',
    }.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text, encoding="utf-8")
    return folder / "catalog.toml"


def test_own_catalog_outside_the_repository(own_catalog: Path, tmp_path: Path) -> None:
    # Folders named like a catalog's on the import path change nothing: the catalog's own
    # folders are loaded by path, under private names.
    shadow = tmp_path / "shadow"
    for name in ("hookspecs", "builtin_plugins", "plugins"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text(IMPOSTOR, encoding="utf-8")
        (shadow / name / "interface_a.py").write_text(IMPOSTOR, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(shadow)}
    env.pop("CATALOG_FILE", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(COMMAND), "-c", str(own_catalog), *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=env,
            timeout=60,
            check=False,
        )

    done = run("run", "interface_a", "-C", "t", "--arg", "amount=12")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "12 EUR (ours)\n"
    assert run("run", "interface_a", "-C", "u", "--arg", "amount=3").stdout == "3 EUR\n"
    listed = json.loads(run("interfaces", "list", "--json").stdout)
    assert [row["name"] for row in listed] == ["interface_a"]
    assert [
        p["name"]
        for p in json.loads(run("interfaces", "show", "interface_a", "--json").stdout)["versions"][
            0
        ]["parameters"]
    ] == ["amount", "currency"]
    assert run("check").returncode == 0


def test_the_installed_package_is_catalog_cli_only() -> None:
    import sysconfig

    import catalog_cli

    where = Path(catalog_cli.__file__).resolve().parent.parent
    if where == REPO:
        pytest.skip("an editable install: the package is this repository")
    for root in {Path(sysconfig.get_paths()["purelib"]), where}:
        for name in ("hookspecs", "builtin_plugins", "plugins"):
            assert not (root / name).exists(), root / name
    assert (where / "catalog_cli" / "example" / "catalog.toml").is_file()
