"""What runs for whom, and why: the descriptions behind listings, ``show`` and ``check``."""

from __future__ import annotations

from collections.abc import Mapping

from ..config import InterceptorConfig, thaw
from ..config._settings import describe_schema, is_schema
from ..errors import CatalogError, ConfigError, PluginError, UnknownPluginError
from ..registry import (
    BUILTIN,
    PREFIX,
    CheckedPlugin,
    Disabling,
    HookUse,
    Registry,
    default_order,
)
from ..runtime import Runtimes
from ._views import (
    CheckReport,
    InterceptorInfo,
    PluginInfo,
    PluginStatus,
    Problem,
    TenantInfo,
    TenantStatus,
)


def tenant(runtimes: Runtimes, customer: str) -> TenantInfo:
    registry = runtimes.registry
    config = registry.tenant_config(customer)
    versions = tuple(registry.resolve(name, customer) for name in registry.interfaces)
    outcome = runtimes.outcome(customer)
    settings = thaw(config.settings)
    rollouts = {
        name: registry.rollouts.status(customer, name, canary)
        for name, canary in config.canaries.items()
    }
    disabled = _disabled(registry, customer)
    if isinstance(outcome, CatalogError):
        return TenantInfo(
            customer,
            config.description,
            "failed",
            registry.selected(customer),
            versions,
            settings=settings,
            error=str(outcome),
            error_type=type(outcome).__name__,
            canaries=dict(config.canaries),
            rollouts=rollouts,
            disabled=disabled,
        )
    return TenantInfo(
        customer,
        config.description,
        "ok",
        outcome.plugins,
        versions,
        dict(outcome.hooks),
        settings,
        canaries=dict(config.canaries),
        interceptors=outcome.interceptors,
        rollouts=rollouts,
        disabled=disabled,
        isolation=outcome.workers.status().to_dict() if outcome.workers is not None else None,
        runs_async=frozenset(
            v.interface for v in versions if registry.version(v).hook in outcome.modes.versions
        ),
    )


def _disabled(registry: Registry, tenant: str) -> tuple[Disabling, ...]:
    """What keeps each plugin the tenant's section selects from running for it, if anything."""
    if not registry.disabled:
        return ()
    running = registry.selected(tenant)
    found = []
    for name in registry.configured_selection(tenant)[0]:
        record = registry.disabled.applying(name, tenant) if name not in running else None
        if record is not None:
            found.append(record)
    return tuple(found)


def plugins(
    runtimes: Runtimes, *, customer: str | None = None, available: bool = False
) -> list[PluginInfo]:
    """Built-in and selected plugins (with ``available``, unselected ones too), with status.

    Unselected plugins are described without importing them.
    """
    registry = runtimes.registry
    if customer is not None:
        registry.tenant_config(customer)
    users: dict[str, list[str]] = {}
    off: dict[str, list[str]] = {}
    for tenant_id in registry.config.tenants:
        running = registry.selected(tenant_id)
        for name in running:
            users.setdefault(name, []).append(tenant_id)
        if registry.disabled:
            for name in registry.configured_selection(tenant_id)[0]:
                if name not in running:
                    off.setdefault(name, []).append(tenant_id)
    return _plugin_infos(registry, users, customer=customer, available=available, off=off)


def _plugin_infos(
    registry: Registry,
    users: Mapping[str, list[str]],
    *,
    customer: str | None = None,
    available: bool = False,
    off: Mapping[str, list[str]] | None = None,
) -> list[PluginInfo]:
    """The plugins, given ``users``: plugin name -> the tenants that select it, in order
    (and ``off``: plugin name -> the tenants whose section selects it, disabled at run
    time)."""
    tenants = registry.config.tenants
    infos = []
    for source in registry.sources.values():
        selecting = (
            tuple(tenants) if source.kind == "builtin" else tuple(users.get(source.name, ()))
        )
        disabled_for = tuple((off or {}).get(source.name, ()))
        if customer is not None:
            # One tenant's view: whether it runs the plugin, and nothing of the others'.
            if customer in disabled_for:
                selecting, disabled_for = (), (customer,)
            elif customer in selecting:
                disabled_for = ()
            else:
                continue
        if not selecting and not disabled_for and not available:
            continue
        status: PluginStatus = "disabled" if disabled_for else "not selected"
        hooks: tuple[HookUse, ...] = ()
        error = None
        if selecting:
            found = registry.plugin(source.name)
            if isinstance(found, CheckedPlugin):
                status, hooks = "loaded", found.uses
            else:
                status, error = "failed", str(found)
        infos.append(
            PluginInfo(
                source.name,
                source.kind,
                source.location,
                status,
                selecting,
                hooks,
                error,
                registry.meta(source.name),
                source.distribution,
                tuple(
                    r
                    for r in registry.disabled.records
                    if r.plugin == source.name and (r.tenant is None or r.tenant in disabled_for)
                ),
                disabled_for,
            )
        )
    return infos


def plugin(runtimes: Runtimes, name: str) -> PluginInfo:
    for info in plugins(runtimes, available=True):
        if info.name == name:
            return info
    raise UnknownPluginError(name, runtimes.registry.sources)


def interceptors(runtimes: Runtimes, *, available: bool = False) -> list[InterceptorInfo]:
    """The interceptors catalog.toml configures (with ``available``, every built-in too),
    in the order they wrap: lowest ``order`` outermost."""
    registry = runtimes.registry
    config = registry.config
    found = []
    names = list(config.interceptors)
    if available:
        names += [name for name in BUILTIN if name not in names]
    for name in names:
        configured = config.interceptors.get(name)
        source = registry.source(PREFIX + name)
        settings = configured or InterceptorConfig(name, enabled=False)
        order: int | None = settings.order
        meta, error = None, None
        hooks: tuple[str, ...] = ()
        if not settings.enabled and name not in BUILTIN:
            # A plugin that nothing runs is never imported (its code may act at import).
            meta = registry.meta(source.name)
        else:
            checked = registry.plugin(source.name)
            if isinstance(checked, PluginError):
                error = str(checked)
            else:
                hooks = tuple(dict.fromkeys(use.hook for use in checked.uses))
                meta = checked.meta
                if order is None:
                    order = default_order(checked.module)
        found.append(
            InterceptorInfo(
                name,
                name in BUILTIN,
                configured is not None,
                settings.enabled,
                order,
                settings.include,
                settings.exclude,
                tuple(t for t in config.tenants if settings.enabled and settings.covers_tenant(t)),
                meta.description if meta is not None else "",
                hooks,
                thaw(settings.settings),
                describe_schema(meta.settings)
                if meta is not None and is_schema(meta.settings)
                else None,
                error,
            )
        )
    return sorted(found, key=lambda i: (not i.configured, i.order or 0, i.name))


def tenant_status(runtimes: Runtimes, tenant: str) -> TenantStatus:
    """The tenant built and started (and kept so), or why it fails closed."""
    outcome = runtimes.outcome(tenant)
    if isinstance(outcome, CatalogError):
        return TenantStatus(
            tenant,
            "failed",
            runtimes.registry.selected(tenant),
            str(outcome),
            type(outcome).__name__,
            "config" if isinstance(outcome, ConfigError) else "plugin",
            outcome.plugin if isinstance(outcome, PluginError) else None,
        )
    return TenantStatus(tenant, "ok", outcome.plugins)


def check(runtimes: Runtimes, *, jobs: int = 1) -> CheckReport:
    """Load every tenant and every selected plugin, run nothing, and report all problems.

    ``jobs``: with more than one, the tenants are built and started in that many worker
    processes (see ``_check``), not here; the report is the same.
    """
    registry = runtimes.registry
    tenant_ids = list(registry.config.tenants)
    if jobs > 1 and tenant_ids:
        from ._check import check_tenants

        statuses = check_tenants(registry, tenant_ids, jobs)
    else:
        statuses = [tenant_status(runtimes, t) for t in tenant_ids]
    users: dict[str, list[str]] = {}
    for found in statuses:
        for name in found.plugins:
            users.setdefault(name, []).append(found.id)
    selected = tuple(_plugin_infos(registry, users))
    problems: list[Problem] = []
    failed = {p.name for p in selected if p.status == "failed"}
    for plugin_info in selected:
        if plugin_info.status == "failed":
            problems.append(Problem("plugin", plugin_info.error or "", plugin=plugin_info.name))
    # Broken plugin files nobody selects yet: reported, without failing any tenant.
    for source in registry.unselected(users):
        checked = registry.check_source(source)
        if isinstance(checked, PluginError):
            message = f"{checked} (no tenant selects it yet)"
            problems.append(Problem("plugin", message, plugin=source.name))
    for found in statuses:
        if found.status == "failed":
            message = found.error or ""
            if found.plugin in failed:  # the plugin's own problem is already listed
                message = f"tenant {found.id!r} fails closed: plugin {found.plugin!r} failed"
            problems.append(
                Problem(found.kind or "plugin", message, tenant=found.id, plugin=found.plugin)
            )
    return CheckReport(str(registry.path), tuple(statuses), selected, tuple(problems))
