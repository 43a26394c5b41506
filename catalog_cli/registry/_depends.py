"""The order a tenant's plugins run in, given what they depend on."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from ..errors import PluginDependencyError


def call_order(
    selected: Sequence[str],
    depends: Mapping[str, Sequence[str]],
    *,
    tenant: str,
    known: Collection[str] = (),
) -> list[str]:
    """The tenant's plugins in call order: as listed, except that a plugin runs before the
    plugins it depends on (which are registered, and started, before it).

    Dependencies are never pulled in: each must be selected by the tenant too, so allow-listing
    still decides everything that is imported. Raises PluginDependencyError for a missing
    dependency (naming who needs what) or a cycle (naming the whole cycle).
    """
    chosen = set(selected)
    for plugin in selected:
        for needed in depends.get(plugin, ()):
            if needed not in chosen:
                where = (
                    f"tenant {tenant!r} does not select it: add it to tenants.{tenant}.plugins"
                    if needed in known
                    else "no plugin source provides it"
                )
                raise PluginDependencyError(
                    plugin, f"depends on plugin {needed!r}, but {where}", tenant=tenant
                )

    registration: list[str] = []
    state: dict[str, str] = {}  # "visiting" or "done"
    trail: list[str] = []

    def visit(plugin: str) -> None:
        if state.get(plugin) == "done":
            return
        if state.get(plugin) == "visiting":
            cycle = [*trail[trail.index(plugin) :], plugin]
            raise PluginDependencyError(
                plugin, f"dependency cycle: {' -> '.join(cycle)}", tenant=tenant
            )
        state[plugin] = "visiting"
        trail.append(plugin)
        for needed in depends.get(plugin, ()):
            visit(needed)
        trail.pop()
        state[plugin] = "done"
        registration.append(plugin)

    # pluggy calls the last registered first: register in reverse of the listed order, with
    # each plugin's dependencies before it.
    for plugin in reversed(selected):
        visit(plugin)
    return list(reversed(registration))
