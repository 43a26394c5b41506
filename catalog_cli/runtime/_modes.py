"""Which of a tenant's calls run on the async path (see ``_async``), decided when it is built.

A version runs on the async path for a tenant when anything its calls may run is ``async
def``: an implementation of its entry point or of one of its plugin points, a call
interceptor in scope, or (for a version served by a newer one's code) the version that
serves it. A plugin point's implementations are driven on the async path when one of them is
async, or an async point interceptor is in scope. Everything else stays plain pluggy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from ..registry import Registry, TenantPlan

#: Served versions served by served versions: chains are short; this bounds a mistake.
_DEPTH = 8


class Modes(NamedTuple):
    """What runs on the async path, by hook name."""

    #: plugin points whose implementations are driven on the async path
    points: frozenset[str]
    #: versions (by entry point) whose calls run on the async path
    versions: frozenset[str]


PLAIN = Modes(frozenset(), frozenset())


def modes_of(registry: Registry, plan: TenantPlan, depth: int = 0) -> Modes:
    """The modes of the tenant of ``plan`` (see the module docstring), computed once per
    registry for each set of implementations and interceptors."""
    key = (
        "modes",
        tuple((impl.function, impl.info.hook) for p in plan.plugins for impl in p.implementations),
        tuple(
            (use.plugin_name, tuple(name for name in registry.interfaces if use.applies(name)))
            for use in plan.interceptors
            if any(impl.asynchronous for impl in use.plugin.implementations)
        ),
    )
    found: Modes | None = registry.shared.get(key)
    if found is None:
        found = registry.shared.setdefault(key, _modes(registry, plan, depth))
    return found


def _modes(registry: Registry, plan: TenantPlan, depth: int) -> Modes:
    plugins = (*registry.builtins, *plan.plugins)
    asynchronous = {
        impl.info.hook for p in plugins for impl in p.implementations if impl.asynchronous
    }
    # An interceptor's async twin of a plain hook makes nothing async: plain calls run the
    # plain one.
    around = [
        (
            use,
            {i.info.hook for i in use.plugin.implementations if i.asynchronous}
            - {i.info.hook for i in use.plugin.implementations if not i.asynchronous},
        )
        for use in plan.interceptors
    ]
    around = [(use, hooks) for use, hooks in around if hooks]
    if not asynchronous and not around:
        return PLAIN
    points: set[str] = set()
    versions: set[str] = set()
    for interface in registry.interfaces.values():
        name = interface.name
        calls = any("catalog_call" in hooks and use.applies(name) for use, hooks in around)
        at_points = any(
            "catalog_point_call" in hooks and use.applies(name) for use, hooks in around
        )
        for version in interface.versions.values():
            mine = {p.hook for p in version.points.values() if at_points or p.hook in asynchronous}
            points |= mine
            if calls or mine or version.hook in asynchronous:
                versions.add(version.hook)
    if depth < _DEPTH:
        for hook, (version, route) in registry.routes.items():
            if hook in versions:
                continue
            running = registry.interfaces[version.interface].versions[route.target]
            served = modes_of(registry, registry.served_plan(plan, hook), depth + 1)
            if running.hook in served.versions:
                versions.add(hook)
    return Modes(frozenset(points), frozenset(versions))
