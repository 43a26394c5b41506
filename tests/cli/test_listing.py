"""``interfaces list/show``, ``plugins list`` and ``tenants list/show``: tables and --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Invoke, WriteCatalog

CUSTOMER_PLUGINS = [
    "customer_1.interface_a",
    "customer_1.price_quote",
    "customer_2.interface_a",
    "customer_2.price_quote",
]
BUILTINS = ["builtin_plugins.interface_a", "builtin_plugins.price_quote"]

MIXED_TOML = """\
    [catalog]
    plugin_dirs = ["plugins"]

    [tenants.ordered]
    description = "two plugins, listed second-first"
    plugins = ["acme.second", "acme.first"]

    [tenants.ordered.settings."acme.first"]
    limits = { daily = 3, tiers = [{ name = "gold" }] }

    [tenants.broken]
    description = "selects a plugin that fails to import"
    plugins = ["acme.boom"]
    """

MIXED_FILES = {
    "plugins/acme/first.py": """\
        from catalog_cli import hookimpl


        @hookimpl
        def interface_a_v2_extra_lines(ctx, name, vip):
            return "first line"
        """,
    "plugins/acme/second.py": """\
        from catalog_cli import hookimpl


        @hookimpl
        def interface_a_v2_extra_lines(ctx, name, vip):
            return "second line"
        """,
    "plugins/acme/boom.py": """\
        raise RuntimeError("kaboom while importing")
        """,
    "plugins/acme/unused.py": """\
        raise RuntimeError("never imported: no tenant selects it")
        """,
}


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich folds long table cells at 80 columns; keep every name on one line.
    monkeypatch.setenv("COLUMNS", "250")


@pytest.fixture
def mixed(write_catalog: WriteCatalog) -> Path:
    return write_catalog(MIXED_TOML, MIXED_FILES)


def as_json(invoke: Invoke, *args: str, catalog: Path | None = None) -> Any:
    result = (
        invoke(*args, "--json") if catalog is None else invoke(*args, "--json", catalog=catalog)
    )
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


# -- interfaces -----------------------------------------------------------------------------


def test_interfaces_list_table(invoke: Invoke) -> None:
    result = invoke("interfaces", "list")
    assert result.exit_code == 0, result.stderr
    row = line_with(result.stdout, "interface_a")
    assert "v1 (deprecated), v2" in row
    assert "Compose the welcome message" in row
    row = line_with(result.stdout, "price_quote")
    assert "Quote a price" in row


def test_interfaces_list_json(invoke: Invoke) -> None:
    data = as_json(invoke, "interfaces", "list")
    assert [row["name"] for row in data] == ["interface_a", "price_quote"]
    interface_a, price_quote = data
    assert interface_a["versions"] == [1, 2]
    assert interface_a["latest"] == 2
    assert interface_a["default"] == 1  # [catalog.versions]
    assert interface_a["summary"].startswith("Compose the welcome message")
    assert price_quote["versions"] == [1]
    assert price_quote["default"] == 1  # no default: the latest


def test_interfaces_show_table(invoke: Invoke) -> None:
    result = invoke("interfaces", "show", "interface_a")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "v1  hook interface_a_v1 -> str" in out
    assert "v2 (latest)  hook interface_a_v2 -> str" in out
    assert "Literal['en', 'es', 'de']" in out
    assert "interface_a_v2_greeting(ctx, name: str, language: str) -> str | None" in out
    assert "Tenants on v1: c1 (catalog), c3 (catalog)" in out
    assert "Tenants on v2: c2 (tenant)" in out


def test_interfaces_show_json(invoke: Invoke) -> None:
    data = as_json(invoke, "interfaces", "show", "interface_a")
    assert data["name"] == "interface_a"
    assert data["latest"] == 2
    v1, v2 = data["versions"]
    assert (v1["version"], v2["version"]) == (1, 2)
    assert v2["hook"] == "interface_a_v2"
    assert v2["returns"] == "str"
    assert [p["name"] for p in v2["parameters"]] == ["name", "language", "vip"]
    vip = v2["parameters"][2]
    assert vip == {"name": "vip", "type": "bool", "required": False, "default": False}
    points = {p["name"]: p for p in v2["plugin_points"]}
    assert set(points) == {"greeting", "extra_lines"}
    assert points["greeting"]["policy"] == "first"
    assert points["extra_lines"]["policy"] == "collect"
    assert v1["tenants"] == [
        {"tenant": "c1", "source": "catalog"},
        {"tenant": "c3", "source": "catalog"},
    ]
    assert v2["tenants"] == [{"tenant": "c2", "source": "tenant"}]


def test_interfaces_show_price_quote_required_parameters(invoke: Invoke) -> None:
    data = as_json(invoke, "interfaces", "show", "price_quote")
    (v1,) = data["versions"]
    params = {p["name"]: p for p in v1["parameters"]}
    assert params["unit_price"] == {"name": "unit_price", "type": "float", "required": True}
    assert params["country"]["default"] == "NL"
    assert {p["name"]: p["policy"] for p in v1["plugin_points"]} == {
        "discounts": "collect",
        "tax_rate": "first",
        "total": "wrap",
    }


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_interfaces_show_unknown(invoke: Invoke, json_flag: tuple[str, ...]) -> None:
    result = invoke("interfaces", "show", "nope", *json_flag)
    assert result.exit_code == 4
    assert "unknown interface 'nope'" in result.stderr
    assert "interface_a, price_quote" in result.stderr
    assert result.stdout == ""


# -- plugins --------------------------------------------------------------------------------


def test_plugins_list_table(invoke: Invoke) -> None:
    result = invoke("plugins", "list")
    assert result.exit_code == 0, result.stderr
    for name in [*BUILTINS, *CUSTOMER_PLUGINS]:
        assert name in result.stdout
    row = line_with(result.stdout, "customer_2.price_quote")
    assert "loaded" in row
    assert "c2" in row
    assert "price_quote v1: tax_rate, total (wrapper)" in result.stdout
    assert "c1, c2, c3" in line_with(result.stdout, "builtin_plugins.interface_a")


def test_plugins_list_json(invoke: Invoke) -> None:
    data = as_json(invoke, "plugins", "list")
    by_name = {p["name"]: p for p in data}
    assert list(by_name) == [*BUILTINS, *CUSTOMER_PLUGINS]
    builtin = by_name["builtin_plugins.interface_a"]
    assert builtin["kind"] == "builtin"
    assert builtin["status"] == "loaded"
    assert builtin["tenants"] == ["c1", "c2", "c3"]
    c1 = by_name["customer_1.interface_a"]
    assert c1["kind"] == "file"
    assert c1["location"].endswith("interface_a.py")
    assert c1["error"] is None
    assert c1["tenants"] == ["c1"]
    assert {h["hook"] for h in c1["hooks"]} == {
        "interface_a_v1_signature",
        "interface_a_v2_greeting",
        "interface_a_v2_extra_lines",
    }
    wrapper = next(
        h for h in by_name["customer_2.price_quote"]["hooks"] if h["hook"] == "price_quote_v1_total"
    )
    assert wrapper["wrapper"] is True
    assert wrapper["plugin_point"] == "total"
    assert wrapper["interface"] == "price_quote"
    assert wrapper["version"] == 1


def test_plugins_list_customer(invoke: Invoke) -> None:
    data = as_json(invoke, "plugins", "list", "--customer", "c2")
    assert [p["name"] for p in data] == [
        *BUILTINS,
        "customer_2.interface_a",
        "customer_2.price_quote",
    ]
    result = invoke("plugins", "list", "-C", "c2")
    assert result.exit_code == 0, result.stderr
    assert "Plugins for tenant c2" in result.stdout
    assert "customer_1" not in result.stdout


def test_plugins_list_customer_without_plugins(invoke: Invoke) -> None:
    data = as_json(invoke, "plugins", "list", "--customer", "c3")
    assert [p["name"] for p in data] == BUILTINS


def test_plugins_list_unknown_customer(invoke: Invoke) -> None:
    result = invoke("plugins", "list", "--customer", "nope")
    assert result.exit_code == 4
    assert "unknown tenant 'nope'" in result.stderr
    assert "c1, c2, c3" in result.stderr


def test_plugins_list_failed_plugin(invoke: Invoke, mixed: Path) -> None:
    result = invoke("plugins", "list", catalog=mixed)
    assert result.exit_code == 0, result.stderr
    row = line_with(result.stdout, "acme.boom")
    assert "failed" in row
    assert "broken" in row
    assert "kaboom while importing" in result.stdout
    assert "loaded" in line_with(result.stdout, "acme.first")
    assert "acme.unused" not in result.stdout

    data = as_json(invoke, "plugins", "list", catalog=mixed)
    boom = next(p for p in data if p["name"] == "acme.boom")
    assert boom["status"] == "failed"
    assert "RuntimeError: kaboom while importing" in boom["error"]
    assert boom["tenants"] == ["broken"]
    assert boom["hooks"] == []


def test_plugins_list_available(invoke: Invoke, mixed: Path) -> None:
    data = as_json(invoke, "plugins", "list", "--available", catalog=mixed)
    unused = next(p for p in data if p["name"] == "acme.unused")
    # Described without importing it: its import would raise.
    assert unused["status"] == "not selected"
    assert unused["tenants"] == []
    assert unused["error"] is None
    result = invoke("plugins", "list", "--available", catalog=mixed)
    assert result.exit_code == 0, result.stderr
    assert "not selected" in line_with(result.stdout, "acme.unused")


def test_plugins_list_available_shipped(invoke: Invoke) -> None:
    # Every shipped plugin is selected by some tenant.
    names = [p["name"] for p in as_json(invoke, "plugins", "list", "--available")]
    assert names == [*BUILTINS, *CUSTOMER_PLUGINS]


# -- tenants --------------------------------------------------------------------------------


def test_tenants_list_table(invoke: Invoke) -> None:
    result = invoke("tenants", "list")
    assert result.exit_code == 0, result.stderr
    assert "Acme Retail" in line_with(result.stdout, "c1 ")
    assert "Globex Wholesale" in line_with(result.stdout, "c2 ")
    assert "interface_a v2 (tenant)" in line_with(result.stdout, "c2 ")
    assert "interface_a v1 (catalog)" in line_with(result.stdout, "c1 ")


def test_tenants_list_json(invoke: Invoke) -> None:
    data = as_json(invoke, "tenants", "list")
    assert [t["id"] for t in data] == ["c1", "c2", "c3"]
    c1, c2, c3 = data
    assert c1["status"] == "ok"
    assert c1["error"] is None
    assert c1["description"] == "Acme Retail"
    assert c1["plugins"] == ["customer_1.interface_a", "customer_1.price_quote"]
    assert c2["versions"] == [
        {"interface": "interface_a", "version": 2, "source": "tenant"},
        {"interface": "price_quote", "version": 1, "source": "latest"},
    ]
    assert c2["settings"]["customer_2.price_quote"] == {"domestic": ["NL"], "handling_fee": 2.5}
    assert c3["plugins"] == []
    assert set(c3["hooks"]) == set(BUILTINS)


def test_tenants_list_shows_failed_tenant(invoke: Invoke, mixed: Path) -> None:
    result = invoke("tenants", "list", catalog=mixed)
    assert result.exit_code == 0, result.stderr
    assert "failed" in line_with(result.stdout, "broken")
    data = as_json(invoke, "tenants", "list", catalog=mixed)
    broken = next(t for t in data if t["id"] == "broken")
    assert broken["status"] == "failed"
    assert broken["error_type"] == "PluginLoadError"
    assert "kaboom while importing" in broken["error"]
    assert broken["hooks"] == {}


def test_tenants_show_c2(invoke: Invoke) -> None:
    result = invoke("tenants", "show", "c2")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Globex Wholesale" in out
    assert "plugins (call order): customer_2.interface_a, customer_2.price_quote" in out
    assert "interface_a v2  (version from: tenant)" in out
    assert "price_quote v1  (version from: latest)" in out
    greeting = line_with(out, "greeting")
    assert "customer_2.interface_a, builtin_plugins.interface_a" in greeting
    total = line_with(out, "total")
    assert "customer_2.price_quote" in total
    assert "builtin_plugins.price_quote" in total
    assert "legal_notice" in out


def test_tenants_show_c2_json(invoke: Invoke) -> None:
    data = as_json(invoke, "tenants", "show", "c2")
    assert data["id"] == "c2"
    assert data["status"] == "ok"
    assert data["plugins"] == ["customer_2.interface_a", "customer_2.price_quote"]
    assert {"interface": "interface_a", "version": 2, "source": "tenant"} in data["versions"]
    steps = {step["plugin_point"]: step for step in data["plans"]["interface_a"]}
    assert steps[None]["hook"] == "interface_a_v2"
    assert steps["greeting"]["implementations"] == [
        "customer_2.interface_a",
        "builtin_plugins.interface_a",
    ]
    total = next(s for s in data["plans"]["price_quote"] if s["plugin_point"] == "total")
    assert total["policy"] == "wrap"
    assert total["wrappers"] == ["customer_2.price_quote"]
    assert total["implementations"] == ["builtin_plugins.price_quote"]


def test_tenants_show_call_order_follows_catalog(invoke: Invoke, mixed: Path) -> None:
    result = invoke("tenants", "show", "ordered", catalog=mixed)
    assert result.exit_code == 0, result.stderr
    assert "plugins (call order): acme.second, acme.first" in result.stdout
    assert "acme.second, acme.first" in line_with(result.stdout, "extra_lines")
    data = as_json(invoke, "tenants", "show", "ordered", catalog=mixed)
    step = next(s for s in data["plans"]["interface_a"] if s["plugin_point"] == "extra_lines")
    assert step["implementations"] == ["acme.second", "acme.first"]
    # ... and the call really runs in that order.
    run = invoke("run", "interface_a", "-C", "ordered", catalog=mixed)
    assert run.stdout == "Hello, there!\nsecond line\nfirst line\n"


def test_tenants_show_nested_settings_json(invoke: Invoke, mixed: Path) -> None:
    data = as_json(invoke, "tenants", "show", "ordered", catalog=mixed)
    assert data["settings"]["acme.first"] == {"limits": {"daily": 3, "tiers": [{"name": "gold"}]}}


def test_tenants_show_failed_tenant(invoke: Invoke, mixed: Path) -> None:
    result = invoke("tenants", "show", "broken", catalog=mixed)
    assert result.exit_code == 0, result.stderr
    assert "failed" in result.stdout
    assert "kaboom while importing" in result.stdout
    data = as_json(invoke, "tenants", "show", "broken", catalog=mixed)
    assert data["status"] == "failed"
    assert data["plans"] == {}


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_tenants_show_unknown(invoke: Invoke, json_flag: tuple[str, ...]) -> None:
    result = invoke("tenants", "show", "nope", *json_flag)
    assert result.exit_code == 4
    assert "unknown tenant 'nope'" in result.stderr
    assert "c1, c2, c3" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("group", ["interfaces", "plugins", "tenants"])
def test_group_without_command_shows_help(invoke: Invoke, group: str) -> None:
    result = invoke(group)
    assert result.exit_code == 2
    assert "list" in result.stdout + result.stderr


def test_interceptors_list_and_show(invoke: Invoke) -> None:
    result = invoke("interceptors", "list", "--available", "--json")
    assert result.exit_code == 0, result.output
    infos = {info["name"]: info for info in json.loads(result.stdout)}
    assert infos["retry"]["configured"] is False and infos["retry"]["error"] is None
    assert infos["retry"]["order"] == 600
    result = invoke("interceptors", "show", "cache")
    assert result.exit_code == 0, result.output
    assert "max_entries" in result.stdout and "ttl" in result.stdout
    result = invoke("interceptors", "show", "nope")
    assert result.exit_code == 4
    assert "unknown interceptor 'nope'" in result.stderr
