"""Shared fixtures: a fresh catalog per test, built from a temporary catalog.toml."""

from __future__ import annotations

import itertools
import shutil
import signal
import sys
import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from catalog_cli import Catalog
from catalog_cli.cli import app
from catalog_cli.runtime import PreparedCall
from catalog_cli.testing import write_catalog as kit_write_catalog

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "catalog.toml"

WriteCatalog = Callable[..., Path]
MakeCatalog = Callable[..., Catalog]
PluginCatalog = Callable[..., Catalog]
Invoke = Callable[..., Result]


@pytest.fixture(autouse=True)
def _sigint_handler_kept() -> Iterator[None]:
    # Tests that run event loops, job workers or the command line in this process may change
    # the handler of Ctrl-C; each test starts with the one the one before it started with.
    kept = signal.getsignal(signal.SIGINT)
    yield
    if kept is not None and signal.getsignal(signal.SIGINT) is not kept:
        signal.signal(signal.SIGINT, kept)


@pytest.fixture(autouse=True)
def _no_catalog_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A CATALOG_FILE in the developer's shell must not change what the tests load, and each
    # test starts with an empty entry-point cache of its own.
    monkeypatch.delenv("CATALOG_FILE", raising=False)
    monkeypatch.delenv("CATALOG_DEBUG", raising=False)
    monkeypatch.delenv("CATALOG_NO_CACHE", raising=False)
    monkeypatch.setenv("CATALOG_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _forget_plugin_files() -> Iterator[None]:
    # Catalog-local modules are imported under names unique to their folder; drop the ones a
    # test loaded so sys.modules does not grow across the suite.
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("_catalog_"):
            del sys.modules[name]


@pytest.fixture
def shipped() -> Catalog:
    """The catalog that ships at the top of the repository."""
    return Catalog(SHIPPED)


#: The example catalog's folders of declarations and built-ins, copied into test catalogs.
EXAMPLE_FOLDERS = ("hookspecs", "builtin_plugins")


def copy_example(folder: Path) -> None:
    """Give the catalog in ``folder`` the example's interfaces and built-ins."""
    for name in EXAMPLE_FOLDERS:
        shutil.copytree(REPO / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))


@pytest.fixture
def write_catalog(tmp_path: Path) -> WriteCatalog:
    """Write ``catalog.toml`` (and plugin files, by path relative to it) into a temp folder.

    ``files`` maps a relative path such as ``plugins/acme/a.py`` to its source; both the TOML
    and the sources are dedented. The catalog declares the example's interfaces (its
    ``hookspecs/`` and ``builtin_plugins/`` are copied), unless ``example=False``.
    """

    def write(toml: str, files: Mapping[str, str] | None = None, *, example: bool = True) -> Path:
        # the plugin-author kit's own helper, as a catalog's owner would use it
        return kit_write_catalog(tmp_path, toml, files, declarations_from=REPO if example else None)

    return write


@pytest.fixture
def make_catalog(write_catalog: WriteCatalog) -> MakeCatalog:
    """Like ``write_catalog``, then load it as a Catalog."""

    def make(toml: str, files: Mapping[str, str] | None = None, *, example: bool = True) -> Catalog:
        return Catalog(write_catalog(toml, files, example=example))

    return make


@pytest.fixture
def plugin_catalog(make_catalog: MakeCatalog) -> PluginCatalog:
    """A catalog whose one tenant (``t`` unless named) selects the given plugin files, in order.

    ``plugins`` maps a plugin name to its source (it becomes ``plugins/<name>.py``).
    """

    def make(plugins: Mapping[str, str], tenant: str = "t") -> Catalog:
        selected = ", ".join(f'"{name}"' for name in plugins)
        toml = f"""
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.{tenant}]
        plugins = [{selected}]
        """
        return make_catalog(toml, {f"plugins/{n}.py": src for n, src in plugins.items()})

    return make


@pytest.fixture
def invoke() -> Invoke:
    """Run the CLI in-process: ``invoke("run", "interface_a", "-C", "c1", catalog=path)``."""
    runner = CliRunner()

    def run(*args: str, catalog: Path | None = SHIPPED, input: str | None = None) -> Result:
        prefix = ["--catalog", str(catalog)] if catalog is not None else []
        return runner.invoke(app, [*prefix, *args], input=input)

    return run


_serial = itertools.count()


@pytest.fixture
def new_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """Write an importable module with a name unique to this test; return the name."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    created: list[str] = []

    def write(stem: str, source: str) -> str:
        name = f"_third_party_{stem}_{next(_serial)}"
        (folder / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        created.append(name)
        return name

    yield write
    for name in created:
        sys.modules.pop(name, None)


def prepared(catalog: Catalog, tenant: str, interface: str) -> PreparedCall:
    """The call ``catalog.run(interface, customer=tenant)`` would make (for looking inside)."""
    choice = catalog.resolve_version(interface, customer=tenant)
    return catalog._runtimes.prepared(tenant, choice)
