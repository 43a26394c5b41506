"""What runs for whom, and why: the descriptions behind listings, ``show`` and ``check``."""

from __future__ import annotations

from typing import Literal

from ..config import InterceptorConfig, thaw
from ..config._settings import describe_schema, is_schema
from ..errors import CatalogError, ConfigError, PluginError, UnknownPluginError
from ..registry import BUILTIN, PREFIX, CheckedPlugin, HookUse, default_order
from ..runtime import Runtimes
from ._views import CheckReport, InterceptorInfo, PluginInfo, Problem, TenantInfo


def tenant(runtimes: Runtimes, customer: str) -> TenantInfo:
    registry = runtimes.registry
    config = registry.tenant_config(customer)
    versions = tuple(registry.resolve(name, customer) for name in registry.interfaces)
    outcome = runtimes.outcome(customer)
    settings = thaw(config.settings)
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
    )


def plugins(
    runtimes: Runtimes, *, customer: str | None = None, available: bool = False
) -> list[PluginInfo]:
    """Built-in and selected plugins (with ``available``, unselected ones too), with status.

    Unselected plugins are described without importing them.
    """
    registry = runtimes.registry
    tenants = registry.config.tenants
    if customer is not None:
        registry.tenant_config(customer)
    users: dict[str, list[str]] = {}
    for tenant_id in tenants:
        for name in registry.selected(tenant_id):
            users.setdefault(name, []).append(tenant_id)
    infos = []
    for source in registry.sources.values():
        selecting = (
            tuple(tenants) if source.kind == "builtin" else tuple(users.get(source.name, ()))
        )
        if customer is not None and customer not in selecting:
            continue
        if not selecting and not available:
            continue
        status: Literal["loaded", "failed", "not selected"] = "not selected"
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


def check(runtimes: Runtimes) -> CheckReport:
    """Load every tenant and every selected plugin, run nothing, and report all problems."""
    registry = runtimes.registry
    tenants = tuple(tenant(runtimes, t) for t in registry.config.tenants)
    selected = tuple(plugins(runtimes))
    problems: list[Problem] = []
    failed = {p.name for p in selected if p.status == "failed"}
    for found in selected:
        if found.status == "failed":
            problems.append(Problem("plugin", found.error or "", plugin=found.name))
    # Broken plugin files nobody selects yet: reported, without failing any tenant.
    for source in registry.unselected():
        checked = registry.check_source(source)
        if isinstance(checked, PluginError):
            message = f"{checked} (no tenant selects it yet)"
            problems.append(Problem("plugin", message, plugin=source.name))
    for described in tenants:
        if described.status == "failed":
            outcome = runtimes.outcome(described.id)
            kind = "config" if isinstance(outcome, ConfigError) else "plugin"
            culprit = outcome.plugin if isinstance(outcome, PluginError) else None
            message = described.error or ""
            if culprit in failed:  # the plugin's own problem is already listed
                message = f"tenant {described.id!r} fails closed: plugin {culprit!r} failed"
            problems.append(Problem(kind, message, tenant=described.id, plugin=culprit))
    return CheckReport(str(registry.path), tenants, selected, tuple(problems))
