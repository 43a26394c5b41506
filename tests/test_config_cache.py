"""A large catalog file through the on-disk cache: the same configuration, one tenant at a time."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from catalog_cli import Catalog
from catalog_cli.config import _cache as cache
from catalog_cli.config import _toml as toml
from catalog_cli.config import read_config
from tests.conftest import WriteCatalog

GOOD = """\
    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v1_signature(ctx, name):
        return f"-- {ctx.settings.get('team', '?')}"
    """


def _tenant(index: int) -> str:
    if index % 4 == 0:
        return f"""
[tenants.t{index}]
description = "Tenant {index}, with \\"quotes\\" and ünïcode"
plugins = ["acme.good"]
versions = {{ interface_a = 1 }}

[tenants.t{index}.settings."acme.good"]
team = "team {index}"
rate = 0.05
nested = {{ list = [1, 2.5, "three"], since = 2024-01-02, at = 1979-05-27T07:32:00Z }}
"""
    if index % 4 == 1:
        return f"""
[tenants.t{index}]
plugins = ["acme.good"]
settings = {{ "acme.good" = {{ rate = 0.05, flag = true }} }}
"""
    if index % 4 == 2:
        return f"""
[tenants."t{index}"]
description = '''a multi-line
string'''
unknown_key = 1
"""
    return f"\n[tenants.t{index}]\n"


def _toml_text(tenants: int) -> str:
    return '[catalog]\nplugin_dirs = ["plugins"]\n' + "".join(_tenant(i) for i in range(tenants))


@pytest.fixture
def large(write_catalog: WriteCatalog) -> Path:
    text = _toml_text(4)
    tenants = 4
    while len(text.encode()) < cache.THRESHOLD:
        tenants *= 2
        text = _toml_text(tenants)
    return write_catalog(text, {"plugins/acme/good.py": GOOD})


def _cached(path: Path) -> Path:
    return cache._location(path)


def test_the_cache_gives_the_parsed_configuration(large: Path) -> None:
    parsed = read_config(large)  # parses, and writes the cache
    assert _cached(large).is_file()
    assert not isinstance(parsed.document, cache.CachedDocument)
    again = read_config(large)
    assert isinstance(again.document, cache.CachedDocument)
    assert list(again.tenants) == list(parsed.tenants)
    for tenant in parsed.tenants:
        assert again.tenants[tenant] == parsed.tenants[tenant], tenant
    first = again.tenants["t0"].settings["acme.good"]
    assert first["nested"]["since"] == datetime.date(2024, 1, 2)
    assert first["nested"]["at"] == datetime.datetime(
        1979, 5, 27, 7, 32, tzinfo=datetime.timezone.utc
    )
    # A tenant's problems name the line of the key, from the cache as from the file.
    (problem,) = again.tenants["t2"].problems
    assert problem.line is not None and problem.line > 1
    assert problem == parsed.tenants["t2"].problems[0]
    lines = large.read_text(encoding="utf-8").splitlines()
    assert lines[problem.line - 1].startswith("unknown_key")


def test_a_command_about_one_tenant_reads_one_record(
    large: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_config(large)
    monkeypatch.setattr(toml, "loads", _never)  # the file is not parsed again
    decoded: list[object] = []
    loads = cache._loads
    monkeypatch.setattr(cache, "_loads", lambda data: decoded.append(data) or loads(data))
    config = read_config(large)
    decoded.clear()  # the header
    assert config.tenants["t5"].plugins == ("acme.good",)
    config.tenants["t5"]
    assert len(decoded) == 1


def test_a_changed_file_is_read_afresh(large: Path) -> None:
    read_config(large)
    with large.open("a", encoding="utf-8") as handle:
        handle.write('\n[tenants.newcomer]\nplugins = ["acme.good"]\n')
    assert read_config(large).tenants["newcomer"].plugins == ("acme.good",)
    assert isinstance(read_config(large).document, cache.CachedDocument)


def test_a_damaged_cache_is_ignored(large: Path) -> None:
    read_config(large)
    target = _cached(large)
    target.write_bytes(target.read_bytes()[:1000])
    assert read_config(large).tenants["t0"].plugins == ("acme.good",)
    target.write_bytes(b"")
    assert read_config(large).tenants["t0"].plugins == ("acme.good",)


def test_no_cache_when_switched_off(large: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.NO_CACHE_VAR, "1")
    read_config(large)
    assert not _cached(large).exists()


def test_tenants_that_write_the_same_settings_share_them(large: Path) -> None:
    config = read_config(large)
    one = config.tenants["t1"].settings["acme.good"]
    assert config.tenants["t5"].settings["acme.good"] is one
    assert config.tenants["t0"].settings["acme.good"] is not one
    assert config.tenants["t3"].settings is config.tenants["t7"].settings  # both empty


def test_only_equal_values_are_shared(write_catalog: WriteCatalog) -> None:
    config = read_config(
        write_catalog(
            """
            [tenants.a.settings.p]
            x = 1
            [tenants.b.settings.p]
            x = 1.0
            [tenants.c.settings.p]
            x = true
            [tenants.d.settings.p]
            x = -0.0
            [tenants.e.settings.p]
            x = 0.0
            [tenants.f.settings.p]
            x = 1
            """
        )
    )
    shown = {t: config.tenants[t].settings["p"] for t in "abcdef"}
    assert shown["a"] is shown["f"]
    assert len({id(value) for value in shown.values()}) == 5
    assert [type(shown[t]["x"]) for t in "abc"] == [int, float, bool]
    assert str(shown["d"]["x"]) == "-0.0"


def test_one_tenant_of_many_is_all_a_run_reads(large: Path) -> None:
    read_config(large)  # the cache, as a second command finds it
    catalog = Catalog(large)
    assert catalog.run("interface_a", customer="t5", version=1).endswith("-- ?")
    tenants = catalog.config.tenants
    assert list(tenants._built) == ["t5"]  # type: ignore[attr-defined]
    assert list(catalog.registry._selections) == ["t5"]


def _never(text: str) -> dict[str, object]:
    raise AssertionError("the catalog file was parsed again")
