"""The validation interceptor: plugin results and method results against the declared types."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import ConfigError, ResultValidationError
from catalog_cli.interceptors import validation
from tests.conftest import REPO, MakeCatalog

#: A tenant plugin answering the discounts point (declared ``float | None``) with text.
TEXT_DISCOUNT = """
from catalog_cli import hookimpl


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    return "lots"
"""

#: A well-behaved tenant plugin: a 10 % discount, no tax answer (None: "no answer").
GOOD = """
from catalog_cli import hookimpl


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    return 0.1


@hookimpl
def price_quote_v1_tax_rate(ctx, country):
    return None
"""

#: Answers the tax_rate point (a "first" point, ``float | None``) with text.
TEXT_TAX = """
from catalog_cli import hookimpl


@hookimpl
def price_quote_v1_tax_rate(ctx, country):
    return "21%"
"""

#: A tenant wrapper on interface_a v1 (declared ``-> str``) that returns a number.
NUMBER_WRAPPER = """
from catalog_cli import hookimpl


@hookimpl(wrapper=True)
def interface_a_v1(ctx, name):
    yield
    return 42
"""

#: Observes calls: the catalog then wraps every entry point with a wrapper of its own.
OBSERVER = """
from catalog_cli import hookimpl


@hookimpl
def catalog_call_event(event):
    pass
"""

FILES = {
    "plugins/observer.py": OBSERVER,
    "plugins/text_discount.py": TEXT_DISCOUNT,
    "plugins/good.py": GOOD,
    "plugins/text_tax.py": TEXT_TAX,
    "plugins/number_wrapper.py": NUMBER_WRAPPER,
}


def _catalog(make_catalog: MakeCatalog, interceptors: str = "[interceptors.validation]") -> Catalog:
    return make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]
        {interceptors}
        [tenants.t]
        plugins = ["good", "text_discount"]
        [tenants.u]
        plugins = ["good", "text_discount"]
        [tenants.good]
        plugins = ["good"]
        [tenants.tax]
        plugins = ["text_tax"]
        [tenants.wrapped]
        plugins = ["number_wrapper", "observer"]
        """,
        FILES,
    )


def _quote(catalog: Catalog, tenant: str) -> Any:
    return catalog.run("price_quote", customer=tenant, unit_price=10.0, quantity=2)


def test_a_plugins_wrong_answer_at_a_plugin_point_names_that_plugin(
    make_catalog: MakeCatalog,
) -> None:
    catalog = _catalog(make_catalog)
    with pytest.raises(ResultValidationError) as caught:
        _quote(catalog, "t")
    error = caught.value
    assert error.plugin == "text_discount"
    assert error.tenant == "t"
    assert (error.interface, error.version) == ("price_quote", 1)
    assert error.where == "plugin point 'discounts'"
    assert error.expected == "float | None"
    assert error.problem == "got str 'lots'"
    assert exit_code(error) == 7
    assert "plugin 'text_discount' returned a wrong value from plugin point 'discounts'" in str(
        error
    )


def test_without_the_interceptor_customer_plugins_are_still_checked(
    make_catalog: MakeCatalog,
) -> None:
    # The catalog checks what customer plugins return, always: the interceptor adds checks of
    # the catalog's own code (built-ins, the method's result).
    catalog = _catalog(make_catalog, interceptors="")
    with pytest.raises(ResultValidationError) as caught:
        _quote(catalog, "t")
    assert caught.value.plugin == "text_discount"
    assert caught.value.where == "plugin point 'discounts'"


def test_a_first_point_is_checked_and_none_is_no_answer(make_catalog: MakeCatalog) -> None:
    catalog = _catalog(make_catalog)
    with pytest.raises(ResultValidationError) as caught:
        _quote(catalog, "tax")
    assert caught.value.plugin == "text_tax"
    assert caught.value.where == "plugin point 'tax_rate'"
    # "good" answers None at tax_rate: no answer, so the built-in's rate is used.
    assert _quote(catalog, "good")["tax_rate"] == 0.21


def test_valid_calls_pass_unchanged(make_catalog: MakeCatalog) -> None:
    plugins = REPO / "plugins"
    toml = f"""
    [catalog]
    plugin_dirs = ["{plugins.as_posix()}"]
    {{interceptors}}
    [tenants.c1]
    plugins = ["customer_1.interface_a", "customer_1.price_quote"]
    [tenants.c1.settings."customer_1.interface_a"]
    team = "The Acme Retail team"
    [tenants.c1.settings."customer_1.price_quote"]
    loyalty_rate = 0.05
    bulk_from = 10
    [tenants.c2]
    plugins = ["customer_2.*"]
    [tenants.c2.settings."customer_2.price_quote"]
    domestic = ["NL"]
    handling_fee = 2.5
    [tenants.c3]
    """
    checked = make_catalog(toml.format(interceptors="[interceptors.validation]"))
    plain = make_catalog(toml.format(interceptors=""))
    calls: list[tuple[str, int, dict[str, Any]]] = [
        ("interface_a", 1, {"name": "Ada"}),
        ("interface_a", 2, {"name": "Ada", "language": "de", "vip": True}),
        ("price_quote", 1, {"unit_price": 9.5, "quantity": 12, "country": "DE"}),
    ]
    for tenant in ("c1", "c2", "c3"):
        for interface, version, arguments in calls:
            expected = plain.run(interface, customer=tenant, version=version, **arguments)
            got = checked.run(interface, customer=tenant, version=version, **arguments)
            assert got == expected


def test_a_tenant_wrapper_that_changes_the_result_to_a_wrong_type(
    make_catalog: MakeCatalog,
) -> None:
    for interceptors in ("[interceptors.validation]", ""):
        catalog = _catalog(make_catalog, interceptors)
        with pytest.raises(ResultValidationError) as caught:
            catalog.run("interface_a", customer="wrapped", version=1)
        error = caught.value
        # The wrapper made the value: it is named, with or without the interceptor.
        assert (error.plugin, error.where, error.expected) == (
            "number_wrapper",
            "entry point",
            "str",
        )
        assert error.problem.startswith("got int 42")
        assert catalog.run("interface_a", customer="good", version=1) == "Hello, there!"


#: An interface whose built-in gets its types wrong: what only the interceptor checks.
COUNT_SPECS = """
from catalog_cli import Context, entrypoint, plugin_point


@entrypoint
def count_v1(ctx: Context) -> int:
    \"\"\"How many.\"\"\"


@plugin_point(count_v1, policy="wrap")
def count_v1_step(ctx: Context) -> int:
    \"\"\"The step; the catalog's.\"\"\"
"""

COUNT_IMPL = """
from catalog_cli import hookimpl


@hookimpl
def count_v1(ctx):
    ctx.points.step()
    return "many"


@hookimpl
def count_v1_step(ctx):
    return "one"
"""


def _counting(make_catalog: MakeCatalog, interceptors: str) -> Catalog:
    return make_catalog(
        f"""
        {interceptors}
        [tenants.t]
        [tenants.u]
        """,
        {"hookspecs/count.py": COUNT_SPECS, "builtin_plugins/count.py": COUNT_IMPL},
        example=False,
    )


def test_the_settings_switch_each_check_off(make_catalog: MakeCatalog) -> None:
    both = _counting(make_catalog, "[interceptors.validation]")
    with pytest.raises(ResultValidationError) as caught:
        both.run("count", customer="t")
    assert (caught.value.plugin, caught.value.where) == (
        "builtin_plugins.count",
        "plugin point 'step'",
    )
    points_off = _counting(
        make_catalog, "[interceptors.validation]\nsettings = { plugin_points = false }"
    )
    with pytest.raises(ResultValidationError) as caught:  # the method's result still is
        points_off.run("count", customer="t")
    assert caught.value.where == "entry point"
    neither = _counting(
        make_catalog,
        "[interceptors.validation]\nsettings = { plugin_points = false, results = false }",
    )
    assert neither.run("count", customer="t") == "many"
    assert _counting(make_catalog, "").run("count", customer="t") == "many"


def test_a_tenant_overrides_a_setting(make_catalog: MakeCatalog) -> None:
    catalog = _counting(
        make_catalog,
        "[interceptors.validation]\n[tenants.u.interceptors.validation]\n"
        "plugin_points = false\nresults = false",
    )
    with pytest.raises(ResultValidationError):
        catalog.run("count", customer="t")
    assert catalog.run("count", customer="u") == "many"


@pytest.mark.parametrize(
    ("interceptors", "key", "message"),
    [
        (
            '[interceptors.validation]\nsettings = { plugin_points = "yes" }',
            "interceptors.validation.settings.plugin_points",
            "expected a boolean",
        ),
        (
            "[interceptors.validation]\nsettings = { result = false }",
            "interceptors.validation.settings.result",
            "unknown setting (allowed: plugin_points, results)",
        ),
        (
            "[interceptors.validation]\n[tenants.t.interceptors.validation]\nresults = 1",
            "tenants.t.interceptors.validation.results",
            "expected a boolean",
        ),
    ],
)
def test_bad_settings_fail_the_tenant_closed_naming_the_key(
    make_catalog: MakeCatalog, interceptors: str, key: str, message: str
) -> None:
    catalog = _catalog(make_catalog, interceptors)
    with pytest.raises(ConfigError) as caught:
        _quote(catalog, "t")
    assert key in str(caught.value)
    assert message in str(caught.value)


def test_scope_by_tenant_and_interface(make_catalog: MakeCatalog) -> None:
    catalog = _counting(
        make_catalog,
        """
        [interceptors.validation]
        include = { tenants = ["t"] }
        """,
    )
    with pytest.raises(ResultValidationError):
        catalog.run("count", customer="t")
    assert catalog.run("count", customer="u") == "many"  # u is not in scope
    excluded = _counting(
        make_catalog,
        """
        [interceptors.validation]
        exclude = { interfaces = ["count"] }
        """,
    )
    assert excluded.run("count", customer="t") == "many"


def test_under_the_isolate_policy_a_wrong_answer_is_left_out(
    make_catalog: MakeCatalog, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = _catalog(
        make_catalog,
        '[interceptors.validation]\n[catalog.errors]\n"price_quote.v1.discounts" = "isolate"',
    )
    with caplog.at_level(logging.WARNING, logger="catalog.errors"):
        result = _quote(catalog, "t")
    assert result["discount"] == 2.0  # good's 10 % of 20.0; the text answer is left out
    [record] = [r for r in caplog.records if r.name == "catalog.errors"]
    assert "'text_discount'" in record.getMessage()
    assert "ResultValidationError" in record.getMessage()


#: A made-up interface: a return type the catalog cannot check, and a wrap point.
SPECS = """
from __future__ import annotations

from catalog_cli import Context, entrypoint, plugin_point


class Widget:
    pass


@entrypoint
def widget_v1(ctx: Context) -> Widget:
    \"\"\"A widget.\"\"\"


@plugin_point(widget_v1, policy="collect")
def widget_v1_part(ctx: Context) -> Widget | None:
    \"\"\"A part of the widget, or None.\"\"\"


@plugin_point(widget_v1, policy="wrap")
def widget_v1_size(ctx: Context) -> int:
    \"\"\"The size; the catalog's, plugins may wrap it.\"\"\"
"""

IMPL = """
from catalog_cli import hookimpl


@hookimpl
def widget_v1(ctx):
    ctx.points.part()
    return {"size": ctx.points.size()}


@hookimpl
def widget_v1_size(ctx):
    return ctx.settings.get("size")
"""

PART = """
from catalog_cli import hookimpl


@hookimpl
def widget_v1_part(ctx):
    return "not a widget at all"
"""


def test_unchecked_types_are_skipped_and_a_wrap_points_none_is_a_value(
    make_catalog: MakeCatalog, new_module: Callable[..., str]
) -> None:
    specs = new_module("widget_specs", SPECS)
    impl = new_module("widget_impl", IMPL)
    catalog = make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]
        hookspecs = ["{specs}"]
        builtins = ["{impl}"]
        [interceptors.validation]
        [tenants.sized]
        plugins = ["part"]
        [tenants.sized.settings."{impl}"]
        size = 3
        [tenants.unsized]
        """,
        {"plugins/part.py": PART},
    )
    assert catalog.interface("widget").versions[1].return_type is None
    # Neither the method's result nor the part's answer has a checkable type.
    assert catalog.run("widget", customer="sized") == {"size": 3}
    with pytest.raises(ResultValidationError) as caught:
        catalog.run("widget", customer="unsized")
    assert caught.value.plugin == impl
    assert caught.value.where == "plugin point 'size'"
    assert caught.value.problem == "got NoneType None"


def test_the_module_declares_its_settings_and_order() -> None:
    assert validation.ORDER == 800
    assert validation.PLUGIN.settings.defaults() == {"plugin_points": True, "results": True}


def test_a_tenant_wrapper_at_a_wrap_point_is_named_for_its_value(make_catalog) -> None:  # type: ignore[no-untyped-def]
    freebie = """
    from catalog_cli import hookimpl

    @hookimpl(wrapper=True)
    def price_quote_v1_total(ctx):
        total = yield
        return "free"
    """
    collector = """
    from catalog_cli import hookimpl

    @hookimpl(wrapper=True)
    def price_quote_v1_discounts(ctx):
        found = yield
        return found + ["ten percent"]
    """
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.validation]
        [tenants.t]
        plugins = ["freebie"]
        [tenants.u]
        plugins = ["collector"]
        """,
        {"plugins/freebie.py": freebie, "plugins/collector.py": collector},
    )
    with pytest.raises(ResultValidationError) as caught:
        catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1)
    assert caught.value.plugin == "freebie" and caught.value.where == "plugin point 'total'"
    with pytest.raises(ResultValidationError) as caught:
        catalog.run("price_quote", customer="u", unit_price=1.0, quantity=1)
    assert caught.value.plugin == "collector" and "item 0" in str(caught.value)
