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


def direct(entry: Any) -> bool:
    """Whether ``entry`` is a direct call of an entry point (the code ``_direct`` makes)."""
    code = getattr(entry, "__code__", None)
    return code is not None and code.co_filename == "<catalog entry point>"


def test_a_tenant_with_only_the_builtin_calls_it_directly(shipped: Catalog) -> None:
    pm = shipped.plugin_manager("c3")
    assert isinstance(pm, pluggy.PluginManager)
    assert type(pm) is TenantManager
    entry = prepared(shipped, "c3", "price_quote").entry
    assert direct(entry)
    assert entry(**ARGUMENTS) == pm.hook.price_quote_v1(**ARGUMENTS)
    assert shipped.run("price_quote", customer="c3", **ARGUMENTS) == entry(**ARGUMENTS)


def test_a_served_version_calls_its_step_directly(shipped: Catalog) -> None:
    # interface_a v1 is served by v2's code: its entry point's one implementation is that step
    entry = prepared(shipped, "c3", "interface_a").entry
    assert prepared(shipped, "c3", "interface_a").declared.number == 1
    assert direct(entry)
    pm = shipped.plugin_manager("c3")
    assert entry(name="Ada") == pm.hook.interface_a_v1(name="Ada") == "Hello, Ada!"
    # and the step calls v2's entry point directly too, on the tenant's served manager
    (step,) = pm.hook.interface_a_v1.get_hookimpls()
    served = step.function.__self__
    assert direct(served._caller)


def test_traced_calls_go_through_pluggy(shipped: Catalog) -> None:
    runtime = shipped._runtimes.get("c3").traced_runtime()
    choice = shipped.resolve_version("price_quote", customer="c3")
    assert not direct(runtime.prepared(choice).entry)


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
    assert direct(prepared(shipped, "c1", "price_quote").entry)


def test_the_builtin_blocked_later_is_not_called(shipped: Catalog) -> None:
    method = shipped.method("price_quote", customer="c3")
    method(**ARGUMENTS)
    pm = shipped.plugin_manager("c3")
    pm.set_blocked("builtin_plugins.price_quote")
    assert pm.hook.price_quote_v1(**ARGUMENTS) is None  # nothing implements it now
    assert method(**ARGUMENTS) is None


def test_an_interceptor_chain_calls_the_entry_point_directly(make_catalog: Any) -> None:
    catalog = make_catalog(
        """
        [tenants.t]
        [interceptors.metrics]
        """
    )
    chain = prepared(catalog, "t", "price_quote").entry
    assert direct(chain.entry)
    before = catalog.run("price_quote", customer="t", **ARGUMENTS)
    catalog.plugin_manager("t").register(_Doubler(), name="doubler")
    after = catalog.run("price_quote", customer="t", **ARGUMENTS)
    assert after["total"] == before["total"] * 2


@pytest.mark.parametrize("how", ["monitoring", "tracing"])
def test_hook_call_monitoring_set_before_the_first_call_sees_the_entry_point(
    shipped: Catalog, how: str
) -> None:
    pm = shipped.plugin_manager("c3")
    seen: list[str] = []
    if how == "monitoring":
        undo = pm.add_hookcall_monitoring(
            lambda name, impls, kwargs: seen.append(name), lambda *args: None
        )
    else:
        pm.trace.root.setwriter(seen.append)
        undo = pm.enable_tracing()
    try:
        shipped.run("price_quote", customer="c3", **ARGUMENTS)
    finally:
        undo()
    assert any("price_quote_v1 " in line or line == "price_quote_v1" for line in seen), seen


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
    assert not direct(prepared(catalog, "t", "price_quote").entry)
    assert catalog.run("price_quote", customer="t", **ARGUMENTS)["currency"] == "XXX"


# -- the direct call against pluggy's own, for any implementation and any call ---------------

hookspec = pluggy.HookspecMarker("catalog")
NAMES = ("a", "b", "c")


class Spec:
    @hookspec(firstresult=True)
    def entry(self, a: Any, b: Any, c: Any) -> Any:
        """An entry point of three parameters."""


def _implementation(argnames: list[str], outcome: str, **opts: Any) -> Any:
    """A plugin whose ``entry`` takes ``argnames`` and returns them, None, or raises."""
    source = (
        f"def entry({', '.join(argnames)}):\n"
        f"    if {outcome!r} == 'raise':\n"
        f"        raise KeyError('from the plugin')\n"
        f"    if {outcome!r} == 'exit':\n"
        f"        raise SystemExit(3)\n"
        f"    if {outcome!r} == 'stop':\n"
        f"        raise StopIteration('early')\n"
        f"    return None if {outcome!r} == 'none' else ({''.join(a + ', ' for a in argnames)})\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    plugin = type("Plugin", (), {})()
    plugin.entry = pluggy.HookimplMarker("catalog")(**opts)(namespace["entry"])
    return plugin


def _outcome(call: Any, kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "value", call(**kwargs)
    except BaseException as exc:  # the exception's type and text, to compare
        return type(exc).__name__, str(exc)


@settings(max_examples=200, deadline=None)
@given(
    argnames=st.permutations(NAMES).flatmap(
        lambda names: st.integers(0, 3).map(lambda n: list(names[:n]))
    ),
    outcome=st.sampled_from(["value", "none", "raise", "exit", "stop"]),
    order=st.sampled_from([{}, {"tryfirst": True}, {"trylast": True}]),
    given_names=st.sets(st.sampled_from([*NAMES, "extra"])),
    values=st.lists(st.text(string.ascii_letters, max_size=3), min_size=4, max_size=4),
)
def test_the_direct_call_is_pluggys_call(
    argnames: list[str],
    outcome: str,
    order: dict[str, bool],
    given_names: set[str],
    values: list[str],
) -> None:
    pm = TenantManager("catalog")
    pm.add_hookspecs(Spec)
    pm.register(_implementation(argnames, outcome, **order))
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


def test_an_implementation_with_defaults_is_left_to_pluggy() -> None:
    # pluggy 1.6 and later pass an implementation's defaulted parameters too
    namespace: dict[str, Any] = {}
    exec("def entry(a, b='default'):\n    return (a, b)\n", namespace)
    plugin = type("Plugin", (), {})()
    plugin.entry = pluggy.HookimplMarker("catalog")(namespace["entry"])
    pm = TenantManager("catalog")
    pm.add_hookspecs(Spec)
    pm.register(plugin)
    assert direct_entry(pm, pm.hook.entry, NAMES) is pm.hook.entry


class _Registering:
    """A hook caller that, once its implementations were read, sees a wrapper registered
    (as by another thread, between the catalog reading them and watching the manager)."""

    def __init__(self, pm: TenantManager) -> None:
        self.pm = pm
        self.caller = pm.hook.entry
        self.spec = self.caller.spec
        self.name = self.caller.name

    def get_hookimpls(self) -> list[Any]:
        impls = self.caller.get_hookimpls()
        self.pm.register(_Suffix(), name="suffix")
        return impls

    def __call__(self, **kwargs: Any) -> Any:
        return self.caller(**kwargs)


class _Suffix:
    @pluggy.HookimplMarker("catalog")(wrapper=True)
    def entry(self) -> Generator[None, Any, Any]:
        result = yield
        return (*result, "wrapped")


def test_a_change_while_the_direct_call_is_made_is_not_missed() -> None:
    pm = TenantManager("catalog")
    pm.add_hookspecs(Spec)
    pm.register(_implementation(["a"], "value"))
    entry = direct_entry(pm, _Registering(pm), NAMES)
    assert entry(a=1, b=2, c=3) == (1, "wrapped")


def test_a_watcher_is_called_once_after_the_next_change() -> None:
    pm = TenantManager("catalog")
    calls: list[str] = []
    pm.catalog_watch(lambda: calls.append("late"), pm.catalog_changes - 1)
    assert calls == ["late"]  # a change came after what it saw: at once
    pm.catalog_watch(lambda: calls.append("next"), pm.catalog_changes)
    assert calls == ["late"]
    pm.register(object(), name="one")
    pm.register(object(), name="two")
    assert calls == ["late", "next"]
