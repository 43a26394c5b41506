"""Canary rollout: a deterministic, sticky share of a tenant's calls on another version."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import ConfigError
from tests.conftest import Invoke, MakeCatalog, WriteCatalog

CANARY = """
[catalog]
versions = {{ interface_a = 1 }}
plugin_dirs = ["plugins"]
[tenants.t]
plugins = ["marker"]
[tenants.t.canary.interface_a]
version = 2
share = {share}
{key}
[tenants.other]
plugins = ["marker"]
"""

#: Tells the versions apart: v2's greeting is "v2 <name>" (v1, served by v2's code, does not
#: run the tenant's plugins for v2).
MARKER = """
from catalog_cli import hookimpl

@hookimpl
def interface_a_v2_greeting(name):
    return "v2 " + name
"""


def _catalog(make_catalog: MakeCatalog, share: float = 0.1, key: str = 'key = "name"') -> Catalog:
    return make_catalog(CANARY.format(share=share, key=key), {"plugins/marker.py": MARKER})


def _version(catalog: Catalog, name: str, **extra: object) -> int:
    result = catalog.run("interface_a", customer="t", name=name, **extra)
    return 2 if result.startswith("v2 ") else 1


def test_split_is_within_tolerance_over_10000_keys(make_catalog: MakeCatalog) -> None:
    catalog = _catalog(make_catalog, share=0.1)
    on_canary = sum(_version(catalog, f"user-{i}") == 2 for i in range(10_000))
    # Binomial(10000, 0.1): standard deviation 30; 5 sigma either side.
    assert 850 <= on_canary <= 1150


def test_split_is_sticky_per_key(make_catalog: MakeCatalog) -> None:
    catalog = _catalog(make_catalog, share=0.5)
    first = {name: _version(catalog, name) for name in (f"u{i}" for i in range(200))}
    assert set(first.values()) == {1, 2}
    again = {name: _version(catalog, name) for name in first}
    assert again == first
    # A fresh catalog (another process) puts every key on the same side again.
    other = _catalog(make_catalog, share=0.5)
    assert {name: _version(other, name) for name in first} == first


def test_other_tenants_and_explicit_versions_are_untouched(make_catalog: MakeCatalog) -> None:
    catalog = _catalog(make_catalog, share=0.99)
    assert all(
        catalog.run("interface_a", customer="other", name=f"u{i}").startswith("Hello, u")
        for i in range(50)
    )
    # --version always wins.
    assert all(
        catalog.run("interface_a", customer="t", version=1, name=f"u{i}").startswith("Hello, u")
        for i in range(50)
    )


def test_outcome_reports_the_canary(make_catalog: MakeCatalog) -> None:
    catalog = _catalog(make_catalog, share=0.5)
    sources = {
        catalog.execute("interface_a", customer="t", arguments={"name": f"u{i}"}).version_source
        for i in range(100)
    }
    assert sources == {"canary", "catalog"}


def test_without_a_key_each_call_decides(make_catalog: MakeCatalog) -> None:
    catalog = _catalog(make_catalog, share=0.5, key="")
    versions = {_version(catalog, "same") for _ in range(200)}
    assert versions == {1, 2}


def test_prepared_method_follows_the_split(make_catalog: MakeCatalog) -> None:
    catalog = _catalog(make_catalog, share=0.5)
    greet = catalog.method("interface_a", customer="t")
    assert {greet(name=f"u{i}").startswith("v2 ") for i in range(100)} == {True, False}


@pytest.mark.parametrize(
    ("table", "key", "message"),
    [
        ("version = 7\nshare = 0.1", "tenants.t.canary.interface_a.version", "no version 7"),
        ("version = 2\nshare = 1.5", "tenants.t.canary.interface_a.share", "below 1, got 1.5"),
        (
            'version = 2\nshare = 0.1\nkey = "nope"',
            "tenants.t.canary.interface_a.key",
            "has no parameter 'nope'",
        ),
        (
            "version = 2\nshare = 0.1\nweight = 3",
            "tenants.t.canary.interface_a.weight",
            "unknown key",
        ),
    ],
)
def test_bad_canary_fails_the_tenant_closed(
    make_catalog: MakeCatalog, table: str, key: str, message: str
) -> None:
    catalog = make_catalog(
        f"[tenants.t]\n[tenants.t.canary.interface_a]\n{table}\n[tenants.other]\n"
    )
    with pytest.raises(ConfigError) as info:
        catalog.run("interface_a", customer="t")
    assert info.value.key == key
    assert message in str(info.value)
    assert catalog.run("interface_a", customer="other", version=2) == "Hello, there!"


def test_tenants_show_reports_the_canary(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        CANARY.format(share=0.1, key='key = "name"'), {"plugins/marker.py": MARKER}
    )
    shown = invoke("tenants", "show", "t", catalog=path)
    assert shown.exit_code == 0, shown.stderr
    assert "canary: v2 for 10% of calls (by argument 'name', sticky)" in shown.stdout
    data = json.loads(invoke("tenants", "show", "t", "--json", catalog=path).stdout)
    assert data["canaries"] == {
        "interface_a": {
            "version": 2,
            "share": 0.1,
            "key": "name",
            "mode": "live",
            "ramp": None,
            "rollback": None,
            "tolerance": 0.0,
        }
    }


DEMO_SPECS = """
from catalog_cli import Context, entrypoint


@entrypoint
def demo_v1(ctx: Context, n: str) -> str:
    \"\"\"Echo n as text.\"\"\"


@entrypoint
def demo_v2(ctx: Context, n: int) -> str:
    \"\"\"Echo n, a number now.\"\"\"
"""

DEMO_IMPL = """
from catalog_cli import hookimpl


@hookimpl
def demo_v1(ctx, n):
    return f"v1 {n!r}"


@hookimpl
def demo_v2(ctx, n):
    return f"v2 {n!r}"
"""


def test_cli_arguments_are_parsed_by_the_canary_versions_types(
    invoke: Invoke, write_catalog: WriteCatalog, new_module: Callable[..., str]
) -> None:
    specs = new_module("demo_specs", DEMO_SPECS)
    impl = new_module("demo_impl", DEMO_IMPL)
    path = write_catalog(
        f"""
        [catalog]
        hookspecs = ["{specs}"]
        builtins = ["{impl}"]
        [tenants.t]
        versions = {{ demo = 1 }}
        [tenants.t.canary.demo]
        version = 2
        share = 0.999
        key = "n"
        """
    )
    result = invoke("run", "demo", "-C", "t", "--arg", "n=5", "--json", catalog=path)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["version"], data["version_source"], data["result"]) == (2, "canary", "v2 5")
    # --version still wins, and parses by its own types
    result = invoke(
        "run", "demo", "-C", "t", "--version", "1", "--arg", "n=5", "--json", catalog=path
    )
    assert json.loads(result.stdout)["result"] == "v1 '5'"


def test_the_split_follows_the_value_the_method_gets(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        """
        [tenants.t]
        versions = { interface_a = 1 }
        [tenants.t.canary.interface_a]
        version = 2
        share = 0.5
        key = "name"
        """
    )

    def side(**arguments: object) -> int:
        return catalog.resolve_version("interface_a", customer="t", arguments=arguments).version

    # interface_a's name defaults to "there": leaving it out is the same as passing it
    assert side() == side(name="there")
    assert len({side(name=f"n{i}") for i in range(40)}) == 2  # the test is not vacuous
