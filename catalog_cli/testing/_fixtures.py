"""pytest fixtures for catalogs and their plugins (registered by the ``pytest11`` entry point
of task-catalog, so every project with it installed has them).

- ``catalog_file``: the catalog under test: ``--catalog-file``, else the ini option
  ``catalog_file``, else ``$CATALOG_FILE``, else the nearest ``catalog.toml`` above pytest's
  root folder;
- ``catalog``: a :class:`~catalog_cli.Catalog` of it, closed after the test;
- ``make_catalog``: ``make_catalog(toml, files=None, *, declarations=True)`` writes a catalog
  into a temporary folder (with the interfaces of the catalog under test) and loads it;
- ``catalog_cli``: ``catalog_cli("run", "welcome", "-C", "acme")`` runs the CLI in-process
  against the catalog under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ..execution import Catalog
    from ._kit import CliResult


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("task-catalog")
    group.addoption(
        "--catalog-file",
        dest="catalog_file",
        default=None,
        metavar="PATH",
        help="the catalog.toml the task-catalog fixtures load (default: the nearest one)",
    )
    parser.addini("catalog_file", "the catalog.toml the task-catalog fixtures load", default="")


@pytest.fixture
def catalog_file(request: pytest.FixtureRequest) -> Path:
    """The catalog under test (see the module docstring)."""
    from ._kit import find_catalog_file

    config = request.config
    option = config.getoption("catalog_file")
    if option:  # relative to where pytest was started, as paths on a command line are
        return Path(config.invocation_params.dir) / str(option)
    ini = config.getini("catalog_file")
    if ini:  # relative to the folder of the ini file (pytest's rootdir)
        return Path(config.rootpath) / str(ini)
    return find_catalog_file(config.rootpath)


@pytest.fixture
def catalog(catalog_file: Path) -> Iterator[Catalog]:
    """A Catalog of the catalog under test, its plugins shut down after the test."""
    from ._kit import load_catalog

    loaded = load_catalog(catalog_file)
    yield loaded
    loaded.close()


@pytest.fixture
def make_catalog(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Catalog]]:
    """A factory of catalogs written from data into temporary folders (see the module
    docstring); each is closed after the test."""
    from ._kit import load_catalog, write_catalog

    made: list[Catalog] = []

    def make(
        toml: str, files: Mapping[str, str] | None = None, *, declarations: bool = True
    ) -> Catalog:
        source = request.getfixturevalue("catalog_file") if declarations else None
        folder = tmp_path_factory.mktemp("catalog")
        loaded = load_catalog(write_catalog(folder, toml, files, declarations_from=source))
        made.append(loaded)
        return loaded

    yield make
    for loaded in made:
        loaded.close()


@pytest.fixture
def catalog_cli(catalog_file: Path) -> Callable[..., CliResult]:
    """Run a ``catalog`` command in-process against the catalog under test."""
    from ._kit import invoke_cli

    def run(*args: Any) -> CliResult:
        return invoke_cli(*(str(arg) for arg in args), catalog=catalog_file)

    return run
