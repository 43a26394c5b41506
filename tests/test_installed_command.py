"""The installed ``catalog`` console script, run for real in a subprocess."""

from __future__ import annotations

import json
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
