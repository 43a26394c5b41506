"""Tenant isolation, a security property: a call only ever reaches its own tenant's plugins.

Random catalogs (tenants with random ordered plugin selections and per-tenant secrets), random
call sequences, run from many threads at once. Every plugin answers on every call, so a plugin
running for the wrong tenant, in the wrong order, or reading another tenant's settings would
show in the result.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog_cli import Catalog
from tests.conftest import copy_example

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
    lines = [f"Hello {name}!"]
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
            assert {n for n in names if not n.startswith("builtin_plugins.")} == set(selected)
