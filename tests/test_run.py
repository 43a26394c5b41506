"""Running methods: version resolution, plugin points, the context, errors from plugins."""

from __future__ import annotations

import inspect
import logging
import sys
import threading
from types import ModuleType

import pluggy
import pytest

from catalog_cli import Catalog, Context, Method
from catalog_cli.errors import (
    CallTimeoutError,
    InvalidArgumentsError,
    PluginCallError,
    ResultValidationError,
    UnknownInterfaceError,
    UnknownPluginPointError,
    UnknownTenantError,
    UnknownVersionError,
)
from tests.conftest import MakeCatalog, PluginCatalog


def _plugin_module(name: str) -> ModuleType:
    """The most recently loaded plugin file module named ``name``."""
    return [
        m for n, m in sys.modules.items() if n.startswith("_catalog_") and n.endswith(f".{name}")
    ][-1]


# -- the shipped catalog --------------------------------------------------------------------


def test_versions_and_customers_give_different_results(shipped: Catalog) -> None:
    c1_v1 = shipped.run("interface_a", customer="c1", version=1, name="Ada")
    c1_v2 = shipped.run("interface_a", customer="c1", version=2, name="Ada")
    c2_v2 = shipped.run("interface_a", customer="c2", version=2, name="Ada")
    c3_v2 = shipped.run("interface_a", customer="c3", version=2, name="Ada")
    assert c1_v1 == "Hello, Ada!\n-- The Acme Retail team"
    assert c1_v2 == "Hi Ada, welcome back!\n-- The Acme Retail team"
    assert c2_v2 == "Dear Ada,\nGlobex Wholesale B.V., Chamber of Commerce 12345678."
    assert c3_v2 == "Hello, Ada!"


def test_price_quote_policies_per_customer(shipped: Catalog) -> None:
    c1 = shipped.run("price_quote", customer="c1", unit_price=10.0, quantity=10)
    # collect: loyalty 5 % + bulk 10 % add up
    assert c1["discount"] == 15.0
    assert c1["total"] == round(100 * 0.85 * 1.21, 2)
    c2 = shipped.run("price_quote", customer="c2", unit_price=10.0, quantity=10, country="DE")
    # first: c2's tax rate answers for DE; wrap: handling fee, then rounded up to 5 cents
    assert c2["tax_rate"] == 0.0
    assert c2["total"] == 102.5
    c2_domestic = shipped.run("price_quote", customer="c2", unit_price=1.01, quantity=1)
    assert c2_domestic["tax_rate"] == 0.21  # c2 returns None for NL: the built-in answers
    assert c2_domestic["total"] == 3.75  # 1.01 * 1.21 + 2.5 = 3.7221 -> 3.75


@pytest.mark.parametrize(
    ("customer", "requested", "expected"),
    [
        ("c1", None, (1, "catalog")),  # no pin: the catalog's default
        ("c2", None, (2, "tenant")),  # the tenant's pin beats the catalog's default
        ("c2", 1, (1, "requested")),  # --version beats everything
        ("c1", 2, (2, "requested")),
    ],
)
def test_version_resolution_order(
    shipped: Catalog, customer: str, requested: int | None, expected: tuple[int, str]
) -> None:
    choice = shipped.resolve_version("interface_a", customer=customer, version=requested)
    assert (choice.version, choice.source) == expected


def test_latest_when_nothing_pins(shipped: Catalog) -> None:
    choice = shipped.resolve_version("price_quote", customer="c1")
    assert (choice.version, choice.source) == (1, "latest")


def test_unknown_names_list_the_choices(shipped: Catalog) -> None:
    with pytest.raises(UnknownInterfaceError, match=r"interface_a, price_quote"):
        shipped.run("nope", customer="c1")
    with pytest.raises(UnknownTenantError, match=r"c1, c2, c3"):
        shipped.run("interface_a", customer="c9")
    with pytest.raises(UnknownVersionError, match=r"Known versions: 1, 2") as info:
        shipped.run("interface_a", customer="c1", version=3)
    assert info.value.interface == "interface_a"


def test_arguments_checked_before_any_plugin_runs(plugin_catalog: PluginCatalog) -> None:
    catalog = plugin_catalog(
        {
            "spy": """
            from catalog_cli import hookimpl
            CALLS = []
            @hookimpl
            def interface_a_v2_greeting(ctx, name, language):
                CALLS.append(name)
            """
        },
    )
    with pytest.raises(InvalidArgumentsError) as info:
        catalog.run("interface_a", customer="t", version=2, name=3, vip="yes", colour="red")
    assert set(info.value.problems) == {"name", "vip", "colour"}
    assert "expected str, got int 3" in info.value.problems["name"]
    assert "unknown parameter" in info.value.problems["colour"]
    # Not even imported: the tenant is built once its arguments are known to fit.
    assert not [n for n in sys.modules if n.startswith("_catalog_") and n.endswith(".spy")]


# -- plugin points, order and the context ---------------------------------------------------

ORDER_TOML = """
[catalog]
plugin_dirs = ["plugins"]
versions = { interface_a = 1 }
[tenants.t]
plugins = ["second", "first", "third"]
[tenants.t.settings.first]
word = "one"
[tenants.t.settings.second]
word = "two"
"""

ORDER_FILES = {
    "plugins/first.py": """
    from catalog_cli import hookimpl
    @hookimpl
    def interface_a_v1_signature(ctx, name):
        return f"first:{ctx.settings['word']}:{ctx.plugin}"
    """,
    "plugins/second.py": """
    from catalog_cli import hookimpl
    @hookimpl
    def interface_a_v1_signature(ctx, name):
        return f"second:{ctx.settings['word']}:{ctx.plugin}"
    """,
    "plugins/third.py": """
    from catalog_cli import hookimpl
    @hookimpl
    def interface_a_v1_signature(ctx, name):
        return f"third:{dict(ctx.settings)}:{ctx.plugin}"
    """,
}


def test_collect_runs_plugins_in_catalog_order_with_their_own_settings(
    make_catalog: MakeCatalog,
) -> None:
    catalog = make_catalog(ORDER_TOML, ORDER_FILES)
    result = catalog.run("interface_a", customer="t", name="x")
    assert result.splitlines() == [
        "Hello, x!",
        "second:two:second",
        "first:one:first",
        "third:{}:third",
    ]


def test_call_plan_reports_pluggy_call_order(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(ORDER_TOML, ORDER_FILES)
    steps = {s.point: s for s in catalog.call_plan("interface_a", customer="t", version=2)}
    assert steps[None].implementations == ("builtin_plugins.interface_a",)
    # v1 is served by v2's code: its change stands in for a built-in, and its plugins for
    # `signature` answer at v2's `extra_lines`, in the same order.
    served = {s.point: s for s in catalog.call_plan("interface_a", customer="t", version=1)}
    assert served[None].implementations == ("GreetingInTheUsersLanguage",)
    assert served["extra_lines"].implementations == ("second", "first", "third")
    assert served["greeting"].implementations == ("builtin_plugins.interface_a",)


def test_first_result_wins_and_builtin_is_the_fallback(plugin_catalog: PluginCatalog) -> None:
    catalog = plugin_catalog(
        {
            "quiet": """
            from catalog_cli import hookimpl
            @hookimpl
            def interface_a_v2_greeting(ctx, name, language):
                return None
            """,
            "loud": """
            from catalog_cli import hookimpl
            @hookimpl
            def interface_a_v2_greeting(ctx, name, language):
                return "HEY" if language == "en" else None
            """,
        },
    )
    assert catalog.run("interface_a", customer="t", version=2) == "HEY"
    assert catalog.run("interface_a", customer="t", version=2, language="es") == "Hola, there!"


def test_wrapper_around_a_wrap_point(plugin_catalog: PluginCatalog) -> None:
    catalog = plugin_catalog(
        {
            "double": """
            from catalog_cli import hookimpl
            @hookimpl(wrapper=True)
            def price_quote_v1_total(subtotal):
                total = yield
                return total * 2
            """
        },
    )
    result = catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1, country="NL")
    assert result["total"] == round(2 * 1.21, 2)


def test_context_carries_the_call(plugin_catalog: PluginCatalog) -> None:
    catalog = plugin_catalog(
        {
            "probe": """
            from catalog_cli import hookimpl
            SEEN = []
            @hookimpl
            def interface_a_v1_signature(ctx, name):
                SEEN.append((ctx.tenant, ctx.interface, ctx.version, ctx.call_id, ctx.plugin))
                ctx.log.info("signing for %s", name)
            """
        },
        tenant="acme",
    )
    catalog.run("interface_a", customer="acme", version=1, name="a")
    catalog.run("interface_a", customer="acme", version=1, name="b")
    probe = _plugin_module("probe")
    (t1, i1, v1, id1, p1), (_, _, _, id2, _) = probe.SEEN
    assert (t1, i1, v1, p1) == ("acme", "interface_a", 1, "probe")
    assert id1 != id2


def test_plugin_log_records_carry_tenant_and_call(
    plugin_catalog: PluginCatalog, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = plugin_catalog(
        {
            "talker": """
            from catalog_cli import hookimpl
            @hookimpl
            def interface_a_v1_signature(ctx, name):
                ctx.log.warning("hello from %s", name)
            """
        },
        tenant="acme",
    )
    with caplog.at_level(logging.INFO, logger="catalog"):
        catalog.run("interface_a", customer="acme", version=1, name="z")
    (record,) = [r for r in caplog.records if r.name == "catalog.plugins.talker"]
    assert record.getMessage() == "hello from z"
    assert record.catalog_tenant == "acme"  # type: ignore[attr-defined]
    assert record.catalog_plugin == "talker"  # type: ignore[attr-defined]


def _context(catalog: Catalog, tenant: str, plugin: str, hook: str) -> Context:
    """The ``ctx`` bound to a plugin's implementation of ``hook`` for ``tenant``."""
    implementation = getattr(catalog.plugin_manager(tenant).get_plugin(plugin), hook)
    ctx = inspect.unwrap(implementation).__self__  # a bound method, maybe in a guard
    assert isinstance(ctx, Context)
    return ctx


def test_each_plugin_of_each_tenant_has_a_context_of_its_own(shipped: Catalog) -> None:
    builtin = _context(shipped, "c2", "builtin_plugins.price_quote", "price_quote_v1")
    customer = _context(shipped, "c2", "customer_2.price_quote", "price_quote_v1_tax_rate")
    other = _context(shipped, "c1", "builtin_plugins.price_quote", "price_quote_v1")
    assert (builtin.tenant, builtin.plugin, dict(builtin.settings)) == (
        "c2",
        "builtin_plugins.price_quote",
        {"currency": "EUR"},
    )
    assert customer.plugin == "customer_2.price_quote"
    assert dict(customer.settings) == {"domestic": ("NL",), "handling_fee": 2.5}
    assert (other.tenant, dict(other.settings)) == ("c1", {})
    assert builtin.call_id is None  # no call in progress


def test_unknown_plugin_point_names_the_known_ones(shipped: Catalog) -> None:
    ctx = _context(shipped, "c1", "builtin_plugins.interface_a", "interface_a_v2")
    with pytest.raises(UnknownPluginPointError, match="Known plugin points: extra_lines, greeting"):
        _ = ctx.points.signature
    assert dir(ctx.points) == ["extra_lines", "greeting"]


def test_raw_pluggy_call_gives_the_same_result(shipped: Catalog) -> None:
    pm = shipped.plugin_manager("c2")
    assert isinstance(pm, pluggy.PluginManager)
    # No ctx to pass: each plugin's is bound to it.
    raw = pm.hook.interface_a_v2(name="Ada", language="en", vip=True)
    assert raw == shipped.run("interface_a", customer="c2", version=2, name="Ada", vip=True)


def test_execute_reports_the_facts(shipped: Catalog) -> None:
    outcome = shipped.execute("interface_a", customer="c2", arguments={"name": "Bo"})
    assert (outcome.version, outcome.version_source, outcome.customer) == (2, "tenant", "c2")
    assert outcome.result.startswith("Dear Bo,")
    assert outcome.call_id and outcome.seconds >= 0


# -- plugins that fail during a call --------------------------------------------------------

RAISING = """
[catalog]
plugin_dirs = ["plugins"]
[tenants.bad]
plugins = ["ok", "boom"]
[tenants.good]
plugins = ["ok"]
"""


def _raising_files(where: str) -> dict[str, str]:
    return {
        "plugins/ok.py": """
        from catalog_cli import hookimpl
        @hookimpl
        def interface_a_v2_extra_lines(ctx, name, vip):
            return "ok"
        """,
        "plugins/boom.py": f"""
        from catalog_cli import hookimpl
        def helper():
            raise ValueError("bad data")
        @hookimpl{"(wrapper=True)" if where == "wrapper" else ""}
        def interface_a_v2_{"greeting" if where == "wrapper" else "extra_lines"}(ctx, name):
            {"yield" if where == "wrapper" else "pass"}
            helper()
        """,
    }


@pytest.mark.parametrize("where", ["point", "wrapper"])
def test_plugin_exception_names_the_plugin_and_tenant(
    make_catalog: MakeCatalog, where: str
) -> None:
    catalog = make_catalog(RAISING, _raising_files(where))
    with pytest.raises(PluginCallError) as info:
        catalog.run("interface_a", customer="bad", version=2)
    error = info.value
    assert (error.plugin, error.tenant, error.interface, error.version) == (
        "boom",
        "bad",
        "interface_a",
        2,
    )
    assert isinstance(error.cause, ValueError)
    assert "plugin 'boom' raised ValueError" in str(error)
    # The other tenant, which does not select the plugin, is unaffected.
    assert catalog.run("interface_a", customer="good", version=2) == "Hello, there!\nok"


def test_a_wrong_value_is_blamed_on_the_plugin_that_returned_it(
    plugin_catalog: PluginCatalog,
) -> None:
    catalog = plugin_catalog(
        {
            "weird": """
            from catalog_cli import hookimpl
            @hookimpl
            def price_quote_v1_tax_rate(ctx, country):
                return "not a number"
            """
        },
    )
    # No validation interceptor: the catalog checks what customer plugins return.
    with pytest.raises(ResultValidationError) as info:
        catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1)
    assert (info.value.plugin, info.value.where) == ("weird", "plugin point 'tax_rate'")
    assert "expected float | None, got str 'not a number'" in str(info.value)


def test_error_in_builtin_is_blamed_on_builtin(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        "[tenants.t]\n",
        {
            "hookspecs/ratio.py": """
            from catalog_cli import Context, entrypoint

            @entrypoint
            def ratio_v1(ctx: Context, a: int, b: int) -> float:
                "a / b"
            """,
            "builtin_plugins/ratio.py": """
            from catalog_cli import hookimpl

            @hookimpl
            def ratio_v1(a, b):
                return a / b
            """,
        },
        example=False,
    )
    with pytest.raises(PluginCallError) as info:
        catalog.run("ratio", customer="t", a=1, b=0)
    assert info.value.plugin == "builtin_plugins.ratio"
    assert isinstance(info.value.cause, ZeroDivisionError)


def test_timeout_returns_at_the_deadline(plugin_catalog: PluginCatalog) -> None:
    catalog = plugin_catalog(
        {
            "slow": """
            import threading
            from catalog_cli import hookimpl
            RELEASE = threading.Event()
            @hookimpl
            def interface_a_v1_signature(ctx, name):
                RELEASE.wait(30)
            """
        },
    )
    catalog.plugin_manager("t")  # imports the plugin
    slow = _plugin_module("slow")
    try:
        with pytest.raises(CallTimeoutError, match=r"did not finish within 0.2 s") as info:
            catalog.execute("interface_a", customer="t", version=1, timeout=0.2)
        assert info.value.tenant == "t"
        assert any(t.name.startswith("catalog-call-") for t in threading.enumerate())
    finally:
        slow.RELEASE.set()


def test_timeout_also_bounds_a_plugin_that_hangs_at_import(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["stuck"]
        [tenants.other]
        """,
        {"plugins/stuck.py": "import time\ntime.sleep(2)\n"},
    )
    with pytest.raises(CallTimeoutError) as info:
        catalog.execute("interface_a", customer="t", timeout=0.2)
    assert (info.value.tenant, info.value.interface) == ("t", "interface_a")
    assert catalog.execute("interface_a", customer="other", timeout=5).result == "Hello, there!"


def test_sys_exit_in_a_plugin_becomes_a_plugin_call_error(plugin_catalog: PluginCatalog) -> None:
    catalog = plugin_catalog(
        {
            "quitter": """
            import sys
            from catalog_cli import hookimpl
            @hookimpl
            def interface_a_v1_signature(ctx, name):
                sys.exit(42)
            """
        },
    )
    with pytest.raises(PluginCallError) as info:
        catalog.run("interface_a", customer="t", version=1)
    assert info.value.plugin == "quitter"
    assert isinstance(info.value.cause, SystemExit)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_numbers_are_invalid_arguments(shipped: Catalog, value: float) -> None:
    with pytest.raises(InvalidArgumentsError, match="expected a finite number") as info:
        shipped.run("price_quote", customer="c1", unit_price=value, quantity=1)
    assert set(info.value.problems) == {"unit_price"}


def test_prepared_method_runs_like_run(shipped: Catalog) -> None:
    quote = shipped.method("price_quote", customer="c2")
    assert quote.version.number == 1
    args = {"unit_price": 10.0, "quantity": 3, "country": "DE"}
    assert quote(**args) == shipped.run("price_quote", customer="c2", **args)
    with pytest.raises(InvalidArgumentsError, match="quantity: missing"):
        quote(unit_price=1.0)
    assert isinstance(quote, Method) and quote.tenant == "c2"
    assert quote.__name__ == "price_quote_v1 for c2"


def test_prepared_method_blames_the_plugin(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(RAISING, _raising_files("point"))
    greet = catalog.method("interface_a", customer="bad", version=2)
    with pytest.raises(PluginCallError) as info:
        greet(name="x")
    assert (info.value.plugin, info.value.tenant) == ("boom", "bad")
