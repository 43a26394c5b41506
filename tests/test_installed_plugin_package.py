"""One real installed plugin package: built and installed by pip, found through its entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import copy_example

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "acme-catalog-greeter"
version = "3.1.4"
description = "A greeting plugin, packaged"
authors = [{ name = "Acme Plugins" }]

[project.entry-points."catalog.plugins"]
"acme.greeter" = "acme_catalog_greeter"

[tool.setuptools]
py-modules = ["acme_catalog_greeter"]
"""

MODULE = """
from catalog_cli import hookimpl


@hookimpl
def interface_a_v2_greeting(ctx, name, language):
    return f"Greetings from an installed package, {name}!"
"""

CATALOG = """
[catalog]
versions = { interface_a = 2 }
[tenants.t]
plugins = ["acme.greeter"]
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("setuptools", reason="building the package needs setuptools")
    project = tmp_path_factory.mktemp("project")
    (project / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (project / "acme_catalog_greeter.py").write_text(textwrap.dedent(MODULE))
    target = tmp_path_factory.mktemp("target")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(target),
            str(project),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.skip(f"pip could not build the test package here: {result.stderr[-400:]}")
    return target


def _catalog(installed: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    copy_example(tmp_path)
    (tmp_path / "catalog.toml").write_text(textwrap.dedent(CATALOG))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(installed), *sys.path]),
        "CATALOG_CACHE_DIR": str(tmp_path / "cache"),
    }
    return subprocess.run(
        [sys.executable, "-c", "from catalog_cli.cli import main; main()", *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def test_installed_package_plugin_runs(installed: Path, tmp_path: Path) -> None:
    result = _catalog(installed, tmp_path, "run", "interface_a", "-C", "t", "--arg", "name=Ada")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Greetings from an installed package, Ada!"


def test_installed_package_is_listed_with_its_metadata(installed: Path, tmp_path: Path) -> None:
    result = _catalog(installed, tmp_path, "plugins", "show", "acme.greeter", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["kind"], info["distribution"], info["version"], info["status"]) == (
        "package",
        "acme-catalog-greeter",
        "3.1.4",
        "loaded",
    )
    assert info["description"] == "A greeting plugin, packaged"
