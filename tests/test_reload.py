"""Catalog.reload(): an atomic swap that never breaks a call, and refuses a broken catalog."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import ReloadError
from tests.conftest import WriteCatalog

TOML = """
[catalog]
plugin_dirs = ["plugins"]
versions = {{ interface_a = 1 }}
[tenants.t]
plugins = ["sig"]
[tenants.t.settings.sig]
word = "{word}"
"""

SIG = """
from catalog_cli import hookimpl
@hookimpl
def interface_a_v1_signature(ctx, name):
    return "{text}:" + ctx.settings["word"]
"""


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_reload_picks_up_new_settings_and_plugin_code(write_catalog: WriteCatalog) -> None:
    path = write_catalog(TOML.format(word="one"), {"plugins/sig.py": SIG.format(text="v1")})
    catalog = Catalog(path)
    assert catalog.run("interface_a", customer="t").endswith("v1:one")
    _write(path, TOML.format(word="two"))
    _write(path.parent / "plugins" / "sig.py", SIG.format(text="v2"))
    catalog.reload()
    assert catalog.run("interface_a", customer="t").endswith("v2:two")


def test_reload_runs_new_code_written_at_the_same_time_and_size(
    write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Python's own bytecode cache trusts a file's modification time (in seconds) and size:
    # a plugin rewritten within the same second at the same size would run its old code.
    import os
    import sys

    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = write_catalog(TOML.format(word="one"), {"plugins/sig.py": SIG.format(text="v1")})
    plugin = path.parent / "plugins" / "sig.py"
    catalog = Catalog(path)
    assert catalog.run("interface_a", customer="t").endswith("v1:one")
    assert list((plugin.parent / "__pycache__").glob("sig.*.pyc"))  # a cache was written
    before = plugin.stat()
    _write(plugin, SIG.format(text="v2"))
    os.utime(plugin, ns=(before.st_atime_ns, before.st_mtime_ns))  # the same time and size
    assert plugin.stat().st_size == before.st_size
    catalog.reload()
    assert catalog.run("interface_a", customer="t").endswith("v2:one")


def test_bad_toml_leaves_the_old_catalog_serving(write_catalog: WriteCatalog) -> None:
    path = write_catalog(TOML.format(word="one"), {"plugins/sig.py": SIG.format(text="v1")})
    catalog = Catalog(path)
    _write(path, "[catalog\n")
    with pytest.raises(ReloadError, match="not valid TOML") as info:
        catalog.reload()
    assert "serves on" in str(info.value)
    assert catalog.run("interface_a", customer="t").endswith("v1:one")


def test_plugin_that_fails_to_import_leaves_the_old_catalog_serving(
    write_catalog: WriteCatalog,
) -> None:
    path = write_catalog(TOML.format(word="one"), {"plugins/sig.py": SIG.format(text="v1")})
    catalog = Catalog(path)
    catalog.run("interface_a", customer="t")
    _write(path.parent / "plugins" / "sig.py", "raise RuntimeError('half-written file')\n")
    with pytest.raises(ReloadError, match="half-written file"):
        catalog.reload()
    assert catalog.run("interface_a", customer="t").endswith("v1:one")


def test_calls_during_reloads_never_fail(write_catalog: WriteCatalog) -> None:
    path = write_catalog(TOML.format(word="w0"), {"plugins/sig.py": SIG.format(text="v0")})
    catalog = Catalog(path)
    # A tenant's plugins are imported when the tenant is first used: use it before the files
    # change, so that the first answer is of one catalog too.
    seen: set[str] = {catalog.run("interface_a", customer="t").splitlines()[-1]}
    errors: list[BaseException] = []
    stop = threading.Event()

    def caller() -> None:
        while not stop.is_set():
            try:
                seen.add(catalog.run("interface_a", customer="t").splitlines()[-1])
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(1, 6):
            _write(path, TOML.format(word=f"w{round_}"))
            _write(path.parent / "plugins" / "sig.py", SIG.format(text=f"v{round_}"))
            catalog.reload()
        _write(path, "not toml at all [")
        with pytest.raises(ReloadError):
            catalog.reload()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert errors == []
    assert "v5:w5" in seen
    # Every answer was one consistent catalog: never new code with old settings or the reverse.
    assert all(answer.split(":")[0][1:] == answer.split(":")[1][1:] for answer in seen), seen


def test_old_plugins_are_shut_down_after_the_swap(
    write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import sys
    from types import ModuleType

    log = ModuleType("reload_event_log")
    log.EVENTS = []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, log.__name__, log)
    source = SIG.format(text="{text}") + (
        "\nimport reload_event_log\n"
        "@hookimpl\n"
        "def catalog_shutdown(tenant):\n"
        "    reload_event_log.EVENTS.append(('stop', '{text}'))\n"
    )
    path = write_catalog(TOML.format(word="one"), {"plugins/sig.py": source.format(text="v1")})
    catalog = Catalog(path)
    catalog.run("interface_a", customer="t")
    _write(path.parent / "plugins" / "sig.py", source.format(text="v2"))
    catalog.reload()
    gc.collect()
    assert log.EVENTS == [("stop", "v1")]
    catalog.close()
    assert log.EVENTS == [("stop", "v1"), ("stop", "v2")]


def test_a_new_broken_tenant_does_not_block_a_reload(write_catalog: WriteCatalog) -> None:
    path = write_catalog(TOML.format(word="one"), {"plugins/sig.py": SIG.format(text="v1")})
    catalog = Catalog(path)
    _write(path, TOML.format(word="two") + '[tenants.newcomer]\nplugins = ["missing"]\n')
    catalog.reload()
    assert catalog.run("interface_a", customer="t").endswith("v1:two")
    assert catalog.tenant("newcomer").status == "failed"


def test_a_prepared_method_keeps_its_plugins_alive_across_reloads(
    write_catalog: WriteCatalog,
) -> None:
    path = write_catalog(TOML.format(word="one"), {"plugins/sig.py": SIG.format(text="v1")})
    catalog = Catalog(path)
    greet = catalog.method("interface_a", customer="t")
    _write(path, TOML.format(word="two"))
    catalog.reload()
    assert greet().endswith("v1:one")  # the method keeps the catalog it was made from
    assert catalog.run("interface_a", customer="t").endswith("v1:two")
