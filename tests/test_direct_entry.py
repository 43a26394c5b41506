"""A version's entry point called directly: exactly what pluggy's hook call would do, or pluggy.

The catalog calls the one implementation of an entry point itself while the tenant's manager
holds nothing else for it (see catalog_cli/runtime/_direct.py). These tests hold it to pluggy's
own call, and check that anything registered or monitored later on the manager is seen.
"""

from __future__ import annotations

import string
from collections.abc import Generator
from typing import Any

import pluggy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog_cli import Catalog, hookimpl
from catalog_cli.registry import TenantManager
from catalog_cli.runtime._direct import direct_entry
from tests.conftest import prepared

ARGUMENTS = {"unit_price": 2.5, "quantity": 4, "country": "DE"}


def test_a_tenant_with_only_the_builtin_calls_it_directly(shipped: Catalog) -> None:
    pm = shipped.plugin_manager("c3")
    assert isinstance(pm, pluggy.PluginManager)
    assert type(pm) is TenantManager
    entry = prepared(shipped, "c3", "price_quote").entry
    assert not isinstance(entry, pluggy.HookCaller)
    assert entry(**ARGUMENTS) == pm.hook.price_quote_v1(**ARGUMENTS)
    assert shipped.run("price_quote", customer="c3", **ARGUMENTS) == entry(**ARGUMENTS)


class _Doubler:
    """A wrapper on the entry point, registered on the tenant's manager by hand."""

    @hookimpl(wrapper=True)
    def price_quote_v1(self) -> Generator[None, dict[str, Any], dict[str, Any]]:
        result = yield
        return {**result, "total": result["total"] * 2}


def test_a_plugin_registered_later_runs_in_every_call_already_made(shipped: Catalog) -> None:
    method = shipped.method("price_quote", customer="c3")
    before = method(**ARGUMENTS)
    pm = shipped.plugin_manager("c3")
    doubler = _Doubler()
    pm.register(doubler, name="doubler")
    try:
        assert method(**ARGUMENTS)["total"] == before["total"] * 2
        assert shipped.run("price_quote", customer="c3", **ARGUMENTS)["total"] == (
            before["total"] * 2
        )
    finally:
        pm.unregister(doubler)
    assert method(**ARGUMENTS) == before
    # Another tenant's manager was not touched, and still calls its built-in directly.
    assert not isinstance(prepared(shipped, "c1", "price_quote").entry, pluggy.HookCaller)


def test_hook_call_monitoring_sees_the_entry_point(shipped: Catalog) -> None:
    method = shipped.method("price_quote", customer="c3")
    method(**ARGUMENTS)
    seen: list[str] = []
    undo = shipped.plugin_manager("c3").add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append(name), lambda *args: None
    )
    try:
        method(**ARGUMENTS)
    finally:
        undo()
    assert seen[0] == "price_quote_v1"
    assert "price_quote_v1_tax_rate" in seen


def test_a_tenant_wrapping_the_entry_point_calls_pluggy(make_catalog: Any) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["wrap"]
        """,
        {
            "plugins/wrap.py": """
            from catalog_cli import hookimpl

            @hookimpl(wrapper=True)
            def price_quote_v1():
                result = yield
                return {**result, "currency": "XXX"}
            """
        },
    )
    assert isinstance(prepared(catalog, "t", "price_quote").entry, pluggy.HookCaller)
    assert catalog.run("price_quote", customer="t", **ARGUMENTS)["currency"] == "XXX"


# -- the direct call against pluggy's own, for any implementation and any call ---------------

hookspec = pluggy.HookspecMarker("catalog")
NAMES = ("a", "b", "c")


class Spec:
    @hookspec(firstresult=True)
    def entry(self, a: Any, b: Any, c: Any) -> Any:
        """An entry point of three parameters."""


def _implementation(argnames: list[str], outcome: str) -> Any:
    """A plugin whose ``entry`` takes ``argnames`` and returns them, None, or raises."""
    source = (
        f"def entry({', '.join(argnames)}):\n"
        f"    if {outcome!r} == 'raise':\n"
        f"        raise KeyError('from the plugin')\n"
        f"    return None if {outcome!r} == 'none' else ({''.join(a + ', ' for a in argnames)})\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    plugin = type("Plugin", (), {})()
    plugin.entry = pluggy.HookimplMarker("catalog")(namespace["entry"])
    return plugin


def _outcome(call: Any, kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "value", call(**kwargs)
    except Exception as exc:  # the exception's type and text, to compare
        return type(exc).__name__, str(exc)


@settings(max_examples=200, deadline=None)
@given(
    argnames=st.permutations(NAMES).flatmap(
        lambda names: st.integers(0, 3).map(lambda n: list(names[:n]))
    ),
    outcome=st.sampled_from(["value", "none", "raise"]),
    given_names=st.sets(st.sampled_from([*NAMES, "extra"])),
    values=st.lists(st.text(string.ascii_letters, max_size=3), min_size=4, max_size=4),
)
def test_the_direct_call_is_pluggys_call(
    argnames: list[str], outcome: str, given_names: set[str], values: list[str]
) -> None:
    pm = TenantManager("catalog")
    pm.add_hookspecs(Spec)
    pm.register(_implementation(argnames, outcome))
    caller = pm.hook.entry
    entry = direct_entry(pm, caller, NAMES)
    assert entry is not caller
    named = zip([*NAMES, "extra"], values, strict=True)
    kwargs = {name: value for name, value in named if name in given_names}
    if set(NAMES) <= given_names:
        assert _outcome(entry, kwargs) == _outcome(caller, kwargs)
    else:
        # pluggy warns of a parameter the call leaves out: the direct call leaves it to pluggy
        with pytest.warns(UserWarning):
            mine = _outcome(entry, kwargs)
        with pytest.warns(UserWarning):
            assert mine == _outcome(caller, kwargs)


def test_only_a_lone_plain_implementation_is_called_directly() -> None:
    pm = TenantManager("catalog")
    pm.add_hookspecs(Spec)
    assert direct_entry(pm, pm.hook.entry, NAMES) is pm.hook.entry  # none at all
    pm.register(_implementation(["a"], "value"), name="one")
    pm.register(_implementation(["b"], "value"), name="two")
    assert direct_entry(pm, pm.hook.entry, NAMES) is pm.hook.entry  # two
    pm.unregister(name="two")
    assert direct_entry(pm, pm.hook.entry, ("a", "b")) is pm.hook.entry  # c is no parameter
    plain = pluggy.PluginManager("catalog")
    plain.add_hookspecs(Spec)
    plain.register(_implementation(["a"], "value"))
    assert direct_entry(plain, plain.hook.entry, NAMES) is plain.hook.entry  # not watched
