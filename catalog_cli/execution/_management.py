"""Changing a running catalog's plugins: disable or enable one for a tenant or for every
tenant, or reload one plugin's code.

A change is made as a reload is (``Catalog.reload``), for the tenants it touches only: a
registry is derived from the one in use (``Registry.derive``), the touched tenants are built
and started on it, and only then is the new set of runtimes swapped in, atomically, with the
other tenants' runtimes taken over as they are (the very same managers). Calls in flight
finish on the managers they started on; the replaced tenants' plugins are shut down once no
call holds them. A change that would make a tenant fail that did not fail before, or that
breaks what another plugin depends on, is refused with PluginChangeError and changes
nothing. Disablings are written to the plugin state file (``_plugin_state``), and every
change, applied or refused, to its audit log.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ..errors import (
    CatalogError,
    PluginChangeError,
    PluginDependencyError,
    PluginError,
    StateFileError,
    UnknownNameError,
    UnknownPluginError,
)
from ..registry import CheckedPlugin, DisabledPlugins, Disabling, Registry
from ..runtime import Runtimes, TenantRuntime, stop
from ._plugin_state import now, os_user

if TYPE_CHECKING:
    from ._catalog import Catalog

Action = Literal["disable", "enable", "reload"]


class PluginChange(NamedTuple):
    """A change to a plugin at run time, as applied."""

    action: Action
    plugin: str
    #: None: every tenant
    tenant: str | None
    #: ``applied``, or ``unchanged`` when it was so already (nothing was rebuilt)
    outcome: Literal["applied", "unchanged"]
    #: the tenants built anew for it: their new calls run on new managers
    rebuilt: tuple[str, ...]
    by: str
    reason: str
    at: str
    #: the catalog's generation after it
    generation: int

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        data["rebuilt"] = list(self.rebuilt)
        return data


def default_actor() -> str:
    return f"python ({os_user()})"


def change(
    catalog: Catalog,
    action: Action,
    plugin: str,
    *,
    tenant: str | None = None,
    reason: str = "",
    actor: str | None = None,
) -> PluginChange:
    """Make the change (see the module docstring) and tell the audit log."""
    by = actor or default_actor()
    at = now()
    entry: dict[str, Any] = {
        "at": at,
        "by": by,
        "action": action,
        "plugin": plugin,
        "tenant": tenant,
        "reason": reason,
    }
    state = catalog._plugin_state
    try:
        state.check_audit()
        with catalog._reloading:
            done = _change(catalog, action, plugin, tenant, by, reason, at)
    except (PluginChangeError, StateFileError, UnknownNameError) as exc:
        entry.update(outcome="refused", error=str(exc), error_kind=exc.kind)
        if not isinstance(exc, StateFileError) or exc.path != state.audit:
            state.record(entry)
        raise
    entry.update(outcome=done.outcome, rebuilt=list(done.rebuilt), generation=done.generation)
    state.record(entry)
    return done


def _change(
    catalog: Catalog,
    action: Action,
    plugin: str,
    tenant: str | None,
    by: str,
    reason: str,
    at: str,
) -> PluginChange:
    old = catalog._runtimes
    registry = old.registry
    _check_target(registry, action, plugin, tenant)
    before = registry.disabled
    record = Disabling(plugin, tenant, by, reason, at)
    disabled = before if action == "reload" else _changed(before, action, record)
    if action != "reload" and disabled == before:
        _persist(catalog, action, record)
        return PluginChange(action, plugin, tenant, "unchanged", (), by, reason, at, old.generation)

    derived = registry.derive(disabled, reimport=(plugin,) if action == "reload" else ())
    tenants = list(registry.config.tenants)
    if action == "reload":
        touched = [t for t in tenants if plugin in registry.selected(t)]
        if not touched:
            raise _refused(
                action,
                plugin,
                tenant,
                [CatalogError("no tenant runs it: there is nothing to reload")],
            )
    else:
        touched = [t for t in tenants if registry.selected(t) != derived.selected(t)]
    problems = _dependency_problems(derived, action, plugin, touched)
    if problems:
        raise _refused(action, plugin, tenant, problems)

    kept: dict[str, TenantRuntime | CatalogError] = {}
    for name in tenants:
        found = old.known(name)
        if name not in touched and found is not None:
            kept[name] = found
    new = old.successor(derived, kept)
    # Tenants that fail in a change that is then refused never served: nothing to tell.
    new.announce = False
    causes: list[CatalogError] = []
    if action == "reload":
        found_plugin = derived.plugin(plugin)
        if isinstance(found_plugin, PluginError):
            causes.append(found_plugin)
    if not causes:
        from ._catalog import _was_failing

        causes = [
            outcome
            for name in touched
            if isinstance(outcome := new.outcome(name), CatalogError)
            and not _was_failing(old, name)
        ]
    if causes:
        _stop_built(new, touched)
        raise _refused(action, plugin, tenant, causes)
    if action != "reload":
        # Written before the swap: a change the next start would not know is not made.
        try:
            _persist(catalog, action, record)
        except StateFileError:
            _stop_built(new, touched)
            raise
    catalog._runtimes = new
    new.announce = True
    carried = {id(found) for found in kept.values()}
    left = [runtime for runtime in old.built() if id(runtime) not in carried]
    # In-flight calls hold the old runtimes; shut the replaced tenants' plugins down when the
    # last of them ends (the tenants taken over serve on, and are not stopped).
    weakref.finalize(old, stop, left, old.registry.config.startup_timeout)
    _tell(new, action, plugin, reason, touched)
    return PluginChange(
        action, plugin, tenant, "applied", tuple(touched), by, reason, at, new.generation
    )


def _tell(
    runtimes: Runtimes, action: Action, plugin: str, reason: str, touched: Iterable[str]
) -> None:
    """Each tenant the change rebuilt is told (its own plugins too); who made the change
    stays in the audit log, for the operator."""
    events = runtimes.events
    if events is None:
        return
    for rebuilt in touched:
        events.emit(
            "plugin_changed",
            rebuilt,
            {
                "action": action,
                "plugin": plugin,
                "reason": reason,
                "generation": runtimes.generation,
            },
        )


def _refused(
    action: Action, plugin: str, tenant: str | None, causes: Sequence[CatalogError]
) -> PluginChangeError:
    return PluginChangeError(action, plugin, causes, tenant=tenant)


def _stop_built(runtimes: Runtimes, tenants: Iterable[str]) -> None:
    """Shut down what a refused change started for ``tenants`` (and nothing taken over)."""
    started = [r for t in tenants if isinstance(r := runtimes.known(t), TenantRuntime)]
    stop(started, runtimes.registry.config.startup_timeout)


def _check_target(registry: Registry, action: Action, plugin: str, tenant: str | None) -> None:
    """UnknownTenantError, UnknownPluginError, or PluginChangeError for a plugin the change
    cannot apply to."""
    if tenant is not None:
        registry.tenant_config(tenant)
    source = registry.sources.get(plugin)
    config = registry.config

    def refuse(why: str) -> PluginChangeError:
        return _refused(action, plugin, tenant, [CatalogError(why)])

    if plugin in config.interceptors:
        raise refuse(
            f"{plugin!r} is an interceptor ([interceptors.{plugin}]): switch it off there "
            "(enabled = false) and reload the catalog"
        )
    if source is None:
        if action == "enable" and any(r.plugin == plugin for r in registry.disabled.records):
            return  # a plugin gone from the catalog may still be enabled, to tidy up
        selectable = [n for n, s in registry.sources.items() if s.kind != "builtin"]
        raise UnknownPluginError(plugin, selectable)
    if source.kind == "builtin":
        raise refuse(
            f"{plugin!r} is a built-in, the catalog's own code for every tenant: it cannot be "
            + ("disabled" if action != "reload" else "reloaded alone; reload the catalog")
        )
    if tenant is not None and plugin not in registry.configured_selection(tenant)[0]:
        raise refuse(f"tenant {tenant!r} does not select it (tenants.{tenant}.plugins)")
    if action == "enable" and tenant is not None and registry.disabled.find(plugin, None):
        raise refuse(
            "it is disabled for every tenant: enable it for every tenant, then disable it "
            "for those that should not run it"
        )
    if action == "reload" and tenant is not None:
        raise refuse("a plugin's code is reloaded for every tenant that runs it")


def _changed(disabled: DisabledPlugins, action: Action, record: Disabling) -> DisabledPlugins:
    """``disabled`` with the change of ``record``'s plugin and tenant made (the same object
    when it changes nothing)."""
    plugin, tenant = record.plugin, record.tenant
    records = list(disabled.records)
    if action == "disable":
        if disabled.find(plugin, tenant) is not None or disabled.find(plugin, None) is not None:
            return disabled
        return DisabledPlugins([*records, record])
    kept = [
        r for r in records if not (r.plugin == plugin and (tenant is None or r.tenant == tenant))
    ]
    return disabled if len(kept) == len(records) else DisabledPlugins(kept)


def _persist(catalog: Catalog, action: Action, record: Disabling) -> None:
    """Make the change in the state file too: merged into what is on disk now, which may
    hold changes this process has not reloaded yet. Read also when the change is made
    already, so that a broken file refuses it."""
    state = catalog._plugin_state
    with state.locked():
        on_disk = state.read()
        changed = _changed(on_disk, action, record)
        if changed is not on_disk:
            state.write(changed)


def _dependency_problems(
    derived: Registry, action: Action, plugin: str, tenants: Iterable[str]
) -> list[CatalogError]:
    """What the change would break among what plugins depend on, tenant by tenant."""
    problems: list[CatalogError] = []
    for tenant in tenants:
        if action == "disable":
            for name in derived.selected(tenant):
                found = derived.plugin(name)
                if isinstance(found, CheckedPlugin) and plugin in found.meta.depends:
                    problems.append(
                        PluginDependencyError(
                            name,
                            f"depends on plugin {plugin!r}, which tenant {tenant!r} runs for "
                            f"it: disable {name!r} for that tenant first",
                        )
                    )
        elif action == "enable":
            found = derived.plugin(plugin)
            if not isinstance(found, CheckedPlugin):
                continue  # its own error fails the tenant, and refuses the change there
            off = derived.disabled.of(tenant)
            for needed in found.meta.depends:
                if needed in off:
                    problems.append(
                        PluginDependencyError(
                            plugin,
                            f"depends on plugin {needed!r}, which is disabled for tenant "
                            f"{tenant!r}: enable {needed!r} first",
                        )
                    )
    return problems
