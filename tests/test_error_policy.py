"""Error policy per plugin point: ``raise`` fails the call naming the plugin; ``isolate`` leaves
the failing plugin's result out (logged and attributed) and keeps the others'."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from catalog_cli.declarations._decorators import plugin_point
from catalog_cli.errors import ConfigError, DeclarationError, PluginCallError
from tests.conftest import Invoke, MakeCatalog, WriteCatalog

GOOD = """
from catalog_cli import hookimpl

@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    return 0.1
"""

BAD = """
from catalog_cli import hookimpl

@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    raise KeyError("no discount table")
"""

TOML = """
[catalog]
plugin_dirs = ["plugins"]
{catalog_errors}
[tenants.t]
plugins = ["good", "bad"]
{tenant_errors}
[tenants.other]
plugins = ["good", "bad"]
"""

FILES = {"plugins/good.py": GOOD, "plugins/bad.py": BAD}
POINT = '"price_quote.v1.discounts"'


def quote(catalog: object, tenant: str = "t") -> object:
    return catalog.run("price_quote", customer=tenant, unit_price=100.0, quantity=1)  # type: ignore[attr-defined]


def test_raise_is_the_default_and_names_the_plugin(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(TOML.format(catalog_errors="", tenant_errors=""), FILES)
    with pytest.raises(PluginCallError) as caught:
        quote(catalog)
    assert caught.value.plugin == "bad"


def test_isolate_keeps_the_others_results_and_logs_the_culprit(
    make_catalog: MakeCatalog, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = make_catalog(
        TOML.format(catalog_errors=f"[catalog.errors]\n{POINT} = 'isolate'", tenant_errors=""),
        FILES,
    )
    with caplog.at_level(logging.WARNING, logger="catalog.errors"):
        result = quote(catalog)
    assert result["discount"] == 10.0  # type: ignore[index]  # good's 10 % is kept
    (record,) = [r for r in caplog.records if r.name == "catalog.errors"]
    message = record.getMessage()
    assert "plugin 'bad'" in message and "'discounts'" in message and "tenant 't'" in message
    assert "KeyError" in message


def test_tenant_policy_overrides_the_catalogs(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        TOML.format(
            catalog_errors=f"[catalog.errors]\n{POINT} = 'isolate'",
            tenant_errors=f"[tenants.t.errors]\n{POINT} = 'raise'",
        ),
        FILES,
    )
    with pytest.raises(PluginCallError):
        quote(catalog, "t")
    assert quote(catalog, "other")["discount"] == 10.0  # type: ignore[index]


def test_tenant_may_isolate_alone(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        TOML.format(catalog_errors="", tenant_errors=f"[tenants.t.errors]\n{POINT} = 'isolate'"),
        FILES,
    )
    assert quote(catalog, "t")["discount"] == 10.0  # type: ignore[index]
    with pytest.raises(PluginCallError):
        quote(catalog, "other")


@pytest.mark.parametrize(
    ("errors", "message"),
    [
        ('"price_quote.v1.discount" = "isolate"', "no such plugin point; did you mean"),
        ('"price_quote.v1.total" = "isolate"', "cannot isolate"),
        ('"price_quote.v1.discounts" = "ignore"', "expected one of raise, isolate"),
        ('"discounts" = "isolate"', "expected a plugin point as <interface>.v<N>.<point>"),
    ],
)
def test_bad_policies_are_config_errors(
    make_catalog: MakeCatalog, errors: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_catalog(
            TOML.format(catalog_errors=f"[catalog.errors]\n{errors}", tenant_errors=""), FILES
        )


def test_a_bad_tenant_policy_fails_only_that_tenant(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        TOML.format(
            catalog_errors="", tenant_errors='[tenants.t.errors]\n"price_quote.v1.nope" = "isolate"'
        ),
        FILES,
    )
    assert catalog.tenant("t").status == "failed"
    assert "tenants.t.errors" in (catalog.tenant("t").error or "")
    assert catalog.tenant("other").status == "ok"


SPECS = """
from catalog_cli import Context, entrypoint, plugin_point


@entrypoint
def notes_v1(ctx: Context) -> str:
    \"\"\"Notes from every plugin.\"\"\"


@plugin_point(notes_v1, errors="isolate")
def notes_v1_note(ctx: Context) -> str | None:
    \"\"\"A note.\"\"\"
"""

IMPL = """
from catalog_cli import hookimpl


@hookimpl
def notes_v1(ctx):
    return " / ".join(ctx.points.note())
"""


def test_the_hookspec_may_declare_isolate(
    make_catalog: MakeCatalog, new_module: Callable[..., str]
) -> None:
    specs = new_module("notes_specs", SPECS)
    impl = new_module("notes_impl", IMPL)
    failing = "from catalog_cli import hookimpl\n@hookimpl\ndef notes_v1_note():\n    1 / 0\n"
    fine = "from catalog_cli import hookimpl\n@hookimpl\ndef notes_v1_note():\n    return 'hi'\n"
    catalog = make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]
        hookspecs = ["{specs}"]
        builtins = ["{impl}"]
        [tenants.t]
        plugins = ["fine", "failing"]
        [tenants.strict]
        plugins = ["fine", "failing"]
        [tenants.strict.errors]
        "notes.v1.note" = "raise"
        """,
        {"plugins/failing.py": failing, "plugins/fine.py": fine},
    )
    point = catalog.interface("notes").versions[1].points["note"]
    assert point.errors == "isolate" and point.to_dict()["errors"] == "isolate"
    assert catalog.run("notes", customer="t") == "hi"
    with pytest.raises(PluginCallError) as caught:
        catalog.run("notes", customer="strict")
    assert caught.value.plugin == "failing"


def test_a_wrap_point_cannot_declare_isolate() -> None:
    from catalog_cli import entrypoint

    def demo_v1(ctx: object) -> str: ...

    entry = entrypoint(demo_v1)

    def demo_v1_total(ctx: object) -> float: ...

    with pytest.raises(DeclarationError, match="cannot isolate"):
        plugin_point(entry, policy="wrap", errors="isolate")(demo_v1_total)
    with pytest.raises(DeclarationError, match="unknown error policy"):
        plugin_point(entry, errors="skip")(demo_v1_total)  # type: ignore[arg-type]


def test_tenants_show_tells_the_effective_policy(
    invoke: Invoke, write_catalog: WriteCatalog
) -> None:
    path = write_catalog(
        TOML.format(catalog_errors="", tenant_errors=f"[tenants.t.errors]\n{POINT} = 'isolate'"),
        FILES,
    )
    for tenant, expected in (("t", "isolate"), ("other", "raise")):
        result = invoke("tenants", "show", tenant, "--json", catalog=path)
        steps = {s["plugin_point"]: s for s in json.loads(result.stdout)["plans"]["price_quote"]}
        assert steps["discounts"]["errors"] == expected
    result = invoke("tenants", "show", "t", catalog=path)
    assert "collect, isolate" in result.stdout
