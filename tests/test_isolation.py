"""Tenant isolation, a security property: a call only ever reaches its own tenant's plugins.

Random catalogs (tenants with random ordered plugin selections and per-tenant secrets), random
call sequences, run from many threads at once. Every plugin answers on every call, so a plugin
running for the wrong tenant, in the wrong order, or reading another tenant's settings would
show in the result.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import types
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog_cli import Catalog
from tests.conftest import MakeCatalog, copy_example

PLUGINS = [f"p{i}" for i in range(6)]

PLUGIN_SOURCE = """
from catalog_cli import hookimpl


@hookimpl
def interface_a_v1_signature(ctx, name):
    return f"sig:{ctx.plugin}@{ctx.tenant}:{ctx.settings['secret']}:{name}"


@hookimpl(wrapper=True)
def interface_a_v1(ctx, name):
    text = yield
    return text + f"\\nwrap:{ctx.plugin}@{ctx.tenant}"
"""

tenant_ids = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
selections = st.lists(st.sampled_from(PLUGINS), unique=True, max_size=len(PLUGINS))
catalogs = st.dictionaries(tenant_ids, selections, min_size=1, max_size=5)


def _write(root: Path, tenants: dict[str, list[str]]) -> Catalog:
    copy_example(root)
    plugin_dir = root / "plugins"
    plugin_dir.mkdir()
    for plugin in PLUGINS:
        (plugin_dir / f"{plugin}.py").write_text(PLUGIN_SOURCE)
    lines = ["[catalog]", 'plugin_dirs = ["plugins"]', "versions = { interface_a = 1 }"]
    for tenant, selected in tenants.items():
        lines.append(f"[tenants.{tenant}]")
        lines.append("plugins = [" + ", ".join(f'"{p}"' for p in selected) + "]")
        for plugin in selected:
            lines.append(f"[tenants.{tenant}.settings.{plugin}]")
            lines.append(f'secret = "{tenant}-{plugin}"')
    path = root / "catalog.toml"
    path.write_text("\n".join(lines) + "\n")
    return Catalog(path)


def _expected(tenant: str, selected: list[str], name: str) -> str:
    lines = [f"Hello, {name}!"]
    lines += [f"sig:{p}@{tenant}:{tenant}-{p}:{name}" for p in selected]
    # Wrappers: the first listed is outermost, so it appends its line last.
    lines += [f"wrap:{p}@{tenant}" for p in reversed(selected)]
    return "\n".join(lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tenants=catalogs, data=st.data())
def test_calls_reach_only_the_calling_tenants_plugins(
    tenants: dict[str, list[str]], data: st.DataObject
) -> None:
    calls = data.draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(tenants)), st.text("abc", max_size=3)),
            min_size=1,
            max_size=40,
        ),
        label="calls",
    )
    with tempfile.TemporaryDirectory() as folder:
        catalog = _write(Path(folder), tenants)

        def call(item: tuple[str, str]) -> tuple[str, str, str]:
            tenant, name = item
            return tenant, name, catalog.run("interface_a", customer=tenant, name=name)

        # Threads start before any manager exists, so first builds race as well as calls.
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(call, calls))
    for tenant, name, result in results:
        assert result == _expected(tenant, tenants[tenant], name)


@settings(max_examples=25, deadline=None)
@given(tenants=catalogs)
def test_each_manager_holds_only_its_tenants_plugins(tenants: dict[str, list[str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        catalog = _write(Path(folder), tenants)
        for tenant, selected in tenants.items():
            names = {name for name, _ in catalog.plugin_manager(tenant).list_name_plugin()}
            # The catalog's own: its built-ins, and the version changes that serve old versions.
            own = set(catalog.registry.implementations.values())
            assert {
                n for n in names if not n.startswith("builtin_plugins.") and n not in own
            } == set(selected)


# -- nothing reachable from a plugin's ctx leads to another tenant -------------------------

#: A plugin (and an interceptor) that walk everything reachable from their ``ctx`` (and the
#: interceptor's ``call``) by ordinary attribute access, looking for another tenant's marker:
#: attributes, slots, containers, closures, bound methods; not modules, classes, function
#: globals, loggers or the garbage collector (shared code and process infrastructure).
HUNTER = """
import logging
import types

from catalog_cli import hookimpl

FOUND = []
SEEN = []
LEAVES = (str, bytes, int, float, complex, bool, type(None), range)
STOPS = (types.ModuleType, type, logging.Logger, logging.Manager, types.CodeType)


def _children(obj):
    if isinstance(obj, types.MappingProxyType) or isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield value
        return
    if isinstance(obj, (list, tuple, set, frozenset)):
        yield from obj
        return
    if isinstance(obj, types.MethodType):
        yield obj.__self__
        yield obj.__func__
        return
    if isinstance(obj, types.FunctionType):
        # not __globals__: a module's namespace (shared code, never a tenant's data)
        for cell in obj.__closure__ or ():
            try:
                yield cell.cell_contents
            except ValueError:
                pass
        yield obj.__defaults__
        yield obj.__kwdefaults__
        yield obj.__dict__
        return
    if hasattr(obj, "__dict__"):
        yield vars(obj)
    for kind in type(obj).__mro__:
        for name in getattr(kind, "__slots__", ()):
            if name in ("__dict__", "__weakref__"):
                continue
            try:
                yield getattr(obj, name)
            except AttributeError:
                pass
    # properties of the catalog's own objects, as ordinary attribute access reads them
    if type(obj).__module__.startswith("catalog_cli"):
        for name, member in vars(type(obj)).items():
            if isinstance(member, property):
                try:
                    yield getattr(obj, name)
                except Exception:
                    pass


def hunt(*roots):
    seen = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, str) and "VICTIM" in obj:
            FOUND.append(obj)
        if isinstance(obj, LEAVES) or isinstance(obj, STOPS):
            continue
        try:
            stack.extend(_children(obj))
        except Exception:
            pass
    SEEN.append(len(seen))


@hookimpl
def price_quote_v1_discounts(ctx, subtotal, quantity):
    hunt(ctx)
    return None
"""

HUNTING_INTERCEPTOR = """
from catalog_cli import hookimpl
import hunter_tools


@hookimpl(wrapper=True)
def catalog_call(ctx, call):
    hunter_tools.hunt(ctx, call)
    return (yield)
"""


ASYNC_HUNTING_INTERCEPTOR = """
from catalog_cli import hookimpl
import hunter_tools


@hookimpl(wrapper=True)
async def catalog_call(ctx, call):
    hunter_tools.hunt(ctx, call)
    yield
"""


@pytest.mark.parametrize("flavor", ["plain", "async"])
def test_nothing_reachable_from_a_plugins_ctx_leads_to_another_tenant(
    make_catalog: MakeCatalog, new_module: Callable[..., str], flavor: str
) -> None:
    """Also on the async path (every plugin and the spying interceptor ``async def``: their
    contexts hold awaitable plugin points, their steps are the async path's)."""
    hunter_source, spying, loyal = HUNTER, HUNTING_INTERCEPTOR, "def price_quote_v1_tax_rate"
    if flavor == "async":
        hunter_source = HUNTER.replace(
            "def price_quote_v1_discounts", "async def price_quote_v1_discounts"
        )
        spying, loyal = ASYNC_HUNTING_INTERCEPTOR, "async def price_quote_v1_tax_rate"
    tools = new_module("hunter_tools", hunter_source)
    catalog = make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]
        [catalog.modules]
        hunter = "{tools}"
        [interceptors.cache]
        include = {{ interfaces = ["price_quote"] }}
        [interceptors.metrics]
        [interceptors.spying]
        include = {{ tenants = ["spy"] }}
        [tenants.victim]
        plugins = ["loyal"]
        [tenants.victim.settings.loyal]
        note = "VICTIM-SECRET-settings"
        [tenants.victim.settings."builtin_plugins.price_quote"]
        currency = "VICTIM-SECRET-currency"
        [tenants.spy]
        plugins = ["hunter"]
        """,
        {
            "plugins/loyal.py": """
            from catalog_cli import hookimpl

            @hookimpl
            LOYAL(ctx, country):
                return 0.1 if ctx.settings["note"] else None
            """.replace("LOYAL", loyal),
            "plugins/spying.py": spying.replace("hunter_tools", tools),
        },
    )
    assert catalog.runs_async("price_quote", customer="spy") == (flavor == "async")
    # The victim's calls leave its data in interceptor state (the cache's entries, metrics).
    victim = catalog.run(
        "price_quote", customer="victim", unit_price=1.0, quantity=1, country="VICTIM-COUNTRY"
    )
    assert victim["currency"] == "VICTIM-SECRET-currency"
    catalog.run("price_quote", customer="spy", unit_price=1.0, quantity=1, country="NL")
    hunter = sys.modules[tools]
    assert hunter.FOUND == []
    # Both walks (the plugin's and the interceptor's) went far: this is not vacuous.
    assert len(hunter.SEEN) == 2 and min(hunter.SEEN) > 200, hunter.SEEN


def test_the_hunter_would_find_a_leak(new_module: Callable[..., str]) -> None:
    # The walker itself finds the marker when it is reachable.
    hunter = importlib.import_module(new_module("hunter_check", HUNTER))
    leak = types.SimpleNamespace(inner=[{"k": ("VICTIM-x",)}])
    hunter.hunt(types.SimpleNamespace(settings=types.MappingProxyType({"a": leak})))
    assert hunter.FOUND == ["VICTIM-x"]
