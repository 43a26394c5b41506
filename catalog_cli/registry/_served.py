"""What a tenant runs for a version served by a newer version's code.

A call of the served version runs the newer version's built-in code. Around it, the plugin
points are the newer version's, but the plugins that answer there are those the tenant wrote
for the served version (each at the point its version change maps it to): a tenant's plugins
for the newer version change the newer version's answers, not the old one's. So a served call
runs on a manager of its own, built from this module's plan: the catalog's built-ins, and the
tenant's plugins for the served version's points, each implementation registered at the newer
point it is mapped to.
"""

from __future__ import annotations

import types
from collections.abc import Hashable, Mapping
from typing import Any

from ..declarations import PROJECT, Route, Version
from ._hooks import HookInfo
from ._plugins import CheckedPlugin, Implementation


def served_name(route: Route) -> str:
    """The name a served version's implementation goes by: its version change's (listings,
    and the blame of what its converters raise)."""
    return route.name


def served_plugins(
    plugins: tuple[CheckedPlugin, ...],
    version: Version,
    route: Route,
    hooks: Mapping[str, HookInfo],
    shared: dict[Hashable, Any],
) -> tuple[CheckedPlugin, ...]:
    """``plugins`` (a tenant's, in call order) as a served call of ``version`` registers them:
    only their implementations of the served version's points, each moved to the point of the
    running version it maps to. Every tenant shares the moved implementations (``shared``)."""
    running = route.target
    found = []
    for plugin in plugins:
        moved = []
        for impl in plugin.implementations:
            info = impl.info
            point = info.point
            if (
                info.interface != version.interface
                or info.version != version.number
                or point is None
                or point not in route.points
            ):
                continue
            target = hooks[f"{version.interface}_v{running}_{route.points[point]}"]
            key = ("served", plugin.name, impl.attribute, target.hook)
            if key not in shared:
                shared.setdefault(key, _moved(impl, target))
            moved.append(shared[key])
        if moved:
            found.append(plugin._replace(implementations=tuple(moved)))
    return tuple(found)


def _moved(impl: Implementation, target: HookInfo) -> Implementation:
    """``impl`` as an implementation of ``target``: a copy of its function (the same code, so
    a failure in it is still blamed on its plugin) marked for the new hook."""
    original = impl.function
    copy = types.FunctionType(
        original.__code__,
        original.__globals__,
        original.__name__,
        original.__defaults__,
        original.__closure__,
    )
    copy.__kwdefaults__ = original.__kwdefaults__
    copy.__qualname__ = original.__qualname__
    copy.__module__ = original.__module__
    copy.__annotations__ = dict(original.__annotations__)
    opts = {**impl.opts, "specname": target.hook}
    # The marker pluggy reads: the same options, for the running version's hook.
    setattr(copy, f"{PROJECT}_impl", dict(opts))
    return impl._replace(function=copy, info=target, opts=types.MappingProxyType(opts))
