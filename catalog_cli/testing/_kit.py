"""Helpers for testing a catalog and its plugins, without pytest."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..execution import Catalog
    from ..execution._contract import PluginReport

#: The folders that hold a catalog's interfaces: copied into catalogs written for a test.
DECLARATION_FOLDERS = ("hookspecs", "builtin_plugins")


def find_catalog_file(start: str | os.PathLike[str] | None = None) -> Path:
    """The catalog under test: ``$CATALOG_FILE``, else the nearest ``catalog.toml`` in
    ``start`` (default: the working directory) or a folder above it."""
    from ..errors import ConfigError, ConfigProblem

    from_env = os.environ.get("CATALOG_FILE")
    if from_env:
        return Path(from_env)
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "catalog.toml"
        if candidate.is_file():
            return candidate
    problem = ConfigProblem(
        "",
        "no such file, here or in a folder above; name one with $CATALOG_FILE or pytest's "
        "--catalog-file",
    )
    raise ConfigError(here / "catalog.toml", [problem])


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """A Catalog of the file at ``path`` (a catalog.toml or its folder), or of the catalog
    under test (:func:`find_catalog_file`)."""
    from ..execution import Catalog

    if path is None:
        return Catalog(find_catalog_file())
    target = Path(path)
    return Catalog(target / "catalog.toml" if target.is_dir() else target)


def write_catalog(
    folder: str | os.PathLike[str],
    toml: str,
    files: Mapping[str, str] | None = None,
    *,
    declarations_from: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a catalog into ``folder``: ``catalog.toml`` from ``toml`` and each of ``files``
    (a path relative to the folder, such as ``plugins/acme/x.py``, to its source); texts are
    dedented. With ``declarations_from`` (a catalog file or its folder) that catalog's
    ``hookspecs/`` and ``builtin_plugins/`` are copied, so the new catalog has its interfaces.
    Returns the path of the catalog file."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    if declarations_from is not None:
        source = Path(declarations_from)
        source = source.parent if source.is_file() else source
        for name in DECLARATION_FOLDERS:
            if (source / name).is_dir() and not (root / name).exists():
                shutil.copytree(
                    source / name, root / name, ignore=shutil.ignore_patterns("__pycache__")
                )
    for relative, text in (files or {}).items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
    path = root / "catalog.toml"
    path.write_text(textwrap.dedent(toml), encoding="utf-8")
    return path


def assert_plugin_contract(
    catalog: Catalog, plugin: str | os.PathLike[str], settings: Mapping[str, Any] | None = None
) -> PluginReport:
    """Check the plugin named ``plugin`` (or the plugin file at that path) on its own, as
    ``catalog check --plugin`` does: it imports, its hooks exist and their parameters and
    annotations fit, its metadata is valid, ``settings`` fit its schema, and its lifecycle
    hooks finish in time. Raises AssertionError listing every problem; returns the report."""
    target = plugin if isinstance(plugin, str) else Path(plugin)
    report = catalog.check_plugin(target, settings=settings)
    if not report.ok:
        problems = "\n".join(f"  - {problem}" for problem in report.problems)
        raise AssertionError(f"plugin {report.plugin} breaks its contract:\n{problems}")
    return report


class CliResult(NamedTuple):
    """What a ``catalog`` command run in-process ended with."""

    exit_code: int
    stdout: str
    stderr: str


def invoke_cli(*args: str, catalog: str | os.PathLike[str] | None = None) -> CliResult:
    """Run ``catalog ARGS...`` in this process, against ``catalog`` (a catalog file) when
    given; the output is what a pipe would get."""
    from typer.testing import CliRunner

    from ..cli import app

    prefix = ["--catalog", str(catalog)] if catalog is not None else []
    result = CliRunner().invoke(app, [*prefix, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)
