"""``catalog plugins list`` prints rows kept from an earlier run while nothing they were made
from has changed (catalog_cli/cli/_listing_cache.py), and makes them afresh once it has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from catalog_cli.cli import _listing_cache
from tests.conftest import Invoke, WriteCatalog

TOML = """\
    [catalog]
    plugin_dirs = ["plugins"]

    [tenants.t]
    plugins = ["acme.*"]
    """

FIRST = """\
    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v2_extra_lines(ctx, name, vip):
        return "first line"
    """


def settle() -> None:
    """Wait until what a test wrote is older than the listing cache's margin: a listing made
    from files changed just now is not kept."""
    time.sleep(_listing_cache.RECENT_NS / 1e9 + 0.1)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The catalogs' plugin listings made through the engine (not kept ones), by name."""
    from catalog_cli.execution._catalog import Catalog

    made: list[str] = []
    real = Catalog.plugins

    def counting(self: Catalog, **options: object) -> object:
        made.append(self.path.name)
        return real(self, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(Catalog, "plugins", counting)
    return made


def listed(invoke: Invoke, catalog: Path, *args: str) -> str:
    result = invoke("plugins", "list", *args, catalog=catalog)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_kept_rows_print_as_made_until_a_plugin_changes(
    invoke: Invoke, write_catalog: WriteCatalog, loads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = write_catalog(TOML, {"plugins/acme/first.py": FIRST})
    settle()
    made = listed(invoke, catalog)  # made, and kept
    kept_json = listed(invoke, catalog, "--json")
    assert listed(invoke, catalog) == made
    assert len(loads) == 1
    assert "acme.first" in made and "loaded" in made
    with monkeypatch.context() as env:
        env.setenv("CATALOG_NO_CACHE", "1")
        assert listed(invoke, catalog, "--json") == kept_json
        assert listed(invoke, catalog) == made
    assert len(loads) == 3

    (catalog.parent / "plugins/acme/first.py").write_text(
        "raise RuntimeError('broken')\n", encoding="utf-8"
    )
    for name in [name for name in sys.modules if name.startswith("_catalog_")]:
        del sys.modules[name]  # as in a new process: this one imported the plugin already
    broken = json.loads(listed(invoke, catalog, "--json"))
    assert len(loads) == 4
    assert [p["status"] for p in broken if p["name"] == "acme.first"] == ["failed"]


def test_a_new_plugin_file_a_disabling_and_the_environment_are_seen(
    invoke: Invoke,
    write_catalog: WriteCatalog,
    loads: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = write_catalog(TOML, {"plugins/acme/first.py": FIRST})
    settle()
    listed(invoke, catalog)
    listed(invoke, catalog)
    assert len(loads) == 1  # kept

    second = textwrap.dedent(FIRST).replace("first", "second")
    (catalog.parent / "plugins/acme/second.py").write_text(second, encoding="utf-8")
    assert "acme.second" in listed(invoke, catalog)
    assert len(loads) == 2

    disabled = invoke("plugins", "disable", "acme.first", "--reason", "flaky", catalog=catalog)
    assert disabled.exit_code == 0, disabled.output
    assert "disabled for every tenant" in listed(invoke, catalog)

    loads.clear()
    settle()
    listed(invoke, catalog)
    listed(invoke, catalog)
    assert len(loads) == 1  # kept again
    monkeypatch.setenv("ACME_REGION", "eu")  # a plugin may read it as it is imported
    listed(invoke, catalog)
    assert len(loads) == 2


def test_catalog_toml_edited_in_place_is_seen(
    invoke: Invoke, write_catalog: WriteCatalog, loads: list[str]
) -> None:
    second = textwrap.dedent(FIRST).replace("first", "second")
    catalog = write_catalog(
        TOML, {"plugins/acme/first.py": FIRST, "plugins/acme/second.py": second}
    )
    settle()
    assert "acme.second" in listed(invoke, catalog)
    listed(invoke, catalog)
    assert len(loads) == 1  # kept
    text = catalog.read_text(encoding="utf-8")
    with open(catalog, "r+", encoding="utf-8") as handle:  # in place: the folder is unchanged
        handle.write(text.replace('"acme.*"', '"acme.first"'))
        handle.truncate()
    assert "acme.second" not in listed(invoke, catalog)
    assert len(loads) == 2


def test_rows_that_printed_something_are_not_kept(
    invoke: Invoke, write_catalog: WriteCatalog, loads: list[str]
) -> None:
    noisy = "import sys\nprint('acme says hello', file=sys.stderr)\n" + textwrap.dedent(FIRST)
    catalog = write_catalog(TOML, {"plugins/acme/first.py": noisy})
    settle()
    result = invoke("plugins", "list", catalog=catalog)
    assert "acme says hello" in result.stderr
    listed(invoke, catalog)
    assert len(loads) == 2  # made again: a kept listing would not say hello


def test_nothing_is_kept_with_the_cache_off(
    invoke: Invoke, write_catalog: WriteCatalog, loads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = write_catalog(TOML, {"plugins/acme/first.py": FIRST})
    monkeypatch.setenv("CATALOG_NO_CACHE", "1")
    settle()
    listed(invoke, catalog)
    listed(invoke, catalog)
    assert len(loads) == 2


def test_a_process_started_while_recording_makes_it_unclean() -> None:
    with _listing_cache.recording() as recorded:
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert not recorded.clean


def test_a_recording_notes_files_read_and_folders_listed(tmp_path: Path) -> None:
    data = tmp_path / "data.txt"
    data.write_text("x", encoding="utf-8")
    with _listing_cache.recording() as recorded:
        data.read_text(encoding="utf-8")
        os.listdir(tmp_path)
        (tmp_path / "written.txt").write_text("y", encoding="utf-8")
    assert recorded.clean
    assert str(data) in recorded.opened  # opened by a Path object
    assert str(tmp_path / "written.txt") not in recorded.opened
    assert str(tmp_path) in recorded.listed
    assert {str(data), str(tmp_path)} <= set(recorded.paths())


@pytest.mark.parametrize("configured", [True, False])
def test_the_cache_folder_is_the_catalogs_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, configured: bool
) -> None:
    from catalog_cli.config import _cache

    if not configured:
        monkeypatch.delenv("CATALOG_CACHE_DIR")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert Path(_listing_cache.cache_dir()) == _cache.cache_dir()
    assert _listing_cache.CACHE_DIR_VAR == _cache.CACHE_DIR_VAR
    assert _listing_cache.NO_CACHE_VAR == _cache.NO_CACHE_VAR


def test_a_large_catalog_read_through_its_own_cache_is_still_watched(
    invoke: Invoke, write_catalog: WriteCatalog, loads: list[str]
) -> None:
    """A catalog file large enough to be read through the configuration cache is not opened
    when that cache is warm: the listing depends on it all the same."""
    padding = "# " + "x" * 98 + "\n"
    toml = TOML + "[tenants.u]\n" + padding * 3000  # about 300 KB
    catalog = write_catalog(toml, {"plugins/acme/first.py": FIRST})
    settle()
    listed(invoke, catalog, "-C", "t")  # the configuration cache is warm from here
    listed(invoke, catalog, "-C", "u")
    listed(invoke, catalog, "-C", "u")
    assert len(loads) == 2  # the second listing of u was kept
    text = catalog.read_text(encoding="utf-8")
    with open(catalog, "r+", encoding="utf-8") as handle:  # in place: the folder is unchanged
        handle.write(text.replace("[tenants.u]", "[tenants.v]"))
        handle.truncate()
    gone = invoke("plugins", "list", "-C", "u", catalog=catalog)
    assert gone.exit_code == 4, gone.output


def test_a_working_folder_that_is_gone_makes_the_listing_afresh(
    invoke: Invoke, write_catalog: WriteCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = write_catalog(TOML, {"plugins/acme/first.py": FIRST})
    folder = tmp_path / "gone"
    folder.mkdir()
    monkeypatch.chdir(folder)
    folder.rmdir()
    assert "acme.first" in listed(invoke, catalog)
