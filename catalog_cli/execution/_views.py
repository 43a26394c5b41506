"""Read-only descriptions of tenants, plugins and check results, for listings and ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from ..config import Canary, Scope
from ..registry import Disabling, HookUse, InterceptorUse, PluginMeta, VersionChoice
from ..registry._rollout import CanaryStatus

Status = Literal["ok", "failed"]
PluginStatus = Literal["loaded", "failed", "not selected", "disabled"]


@dataclass(frozen=True)
class TenantInfo:
    """What runs for one tenant, and why."""

    id: str
    description: str
    status: Status
    #: Selected plugins in call order.
    plugins: tuple[str, ...]
    versions: tuple[VersionChoice, ...]
    #: plugin -> hooks it implements (built-ins included); empty when the tenant failed
    hooks: dict[str, tuple[HookUse, ...]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    #: interface -> the canary share of another version
    canaries: dict[str, Canary] = field(default_factory=dict)
    #: the interceptors around the tenant's calls, outermost first
    interceptors: tuple[InterceptorUse, ...] = ()
    #: interface -> its canary now: share, rollback, what its candidate's calls did here
    rollouts: dict[str, CanaryStatus] = field(default_factory=dict)
    #: the plugins its section selects that are disabled at run time (by whom, why, when)
    disabled: tuple[Disabling, ...] = ()
    #: its worker pool of isolated plugins now: plugins, limits, workers, restarts (None: none)
    isolation: dict[str, Any] | None = None
    #: the interfaces whose version (as resolved) runs on the async path for the tenant: some
    #: of what its calls run is ``async def``
    runs_async: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "status": self.status,
            "error": self.error,
            "error_type": self.error_type,
            "plugins": list(self.plugins),
            "versions": [v.to_dict() for v in self.versions],
            "hooks": {name: [u.to_dict() for u in uses] for name, uses in self.hooks.items()},
            "settings": self.settings,
            "canaries": {name: c.to_dict() for name, c in self.canaries.items()},
            "interceptors": [use.to_dict() for use in self.interceptors],
            "rollouts": {name: status.to_dict() for name, status in self.rollouts.items()},
            "disabled": [record.to_dict() for record in self.disabled],
            "isolation": self.isolation,
            "runs_async": sorted(self.runs_async),
        }


class PluginInfo(NamedTuple):
    """One plugin: where it comes from, what it implements, who uses it, whether it loads."""

    name: str
    kind: str
    location: str
    status: PluginStatus
    tenants: tuple[str, ...]
    hooks: tuple[HookUse, ...] = ()
    error: str | None = None
    meta: PluginMeta = PluginMeta()
    #: For plugins from an installed distribution: its name.
    distribution: str = ""
    #: its disablings at run time (for every tenant, or for one); ``tenants`` are those
    #: that run it, ``disabled_for`` those whose section selects it but do not run it
    disabled: tuple[Disabling, ...] = ()
    disabled_for: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "location": self.location,
            "distribution": self.distribution,
            "status": self.status,
            "error": self.error,
            "tenants": list(self.tenants),
            "hooks": [u.to_dict() for u in self.hooks],
            "disabled": [record.to_dict() for record in self.disabled],
            "disabled_for": list(self.disabled_for),
            **self.meta.to_dict(),
        }


class InterceptorInfo(NamedTuple):
    """An interceptor: configured in catalog.toml, or a built-in one could switch on."""

    name: str
    builtin: bool
    configured: bool
    enabled: bool
    #: None when the interceptor could not be loaded
    order: int | None
    include: Scope
    exclude: Scope
    #: the tenants it wraps calls of
    tenants: tuple[str, ...]
    description: str
    hooks: tuple[str, ...]
    settings: dict[str, Any]
    #: the settings schema: name, type, default, description
    schema: list[dict[str, Any]] | None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "builtin": self.builtin,
            "configured": self.configured,
            "enabled": self.enabled,
            "order": self.order,
            "include": self.include.to_dict(),
            "exclude": self.exclude.to_dict(),
            "tenants": list(self.tenants),
            "description": self.description,
            "hooks": list(self.hooks),
            "settings": self.settings,
            "schema": self.schema,
            "error": self.error,
        }


class Problem(NamedTuple):
    """One thing ``catalog check`` found wrong."""

    kind: str
    message: str
    tenant: str | None = None
    plugin: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "tenant": self.tenant,
            "plugin": self.plugin,
        }


class TenantStatus(NamedTuple):
    """One tenant as ``catalog check`` found it: built and started, or failed closed."""

    id: str
    status: Status
    #: its plugins: in call order when it builds, else as it selects them
    plugins: tuple[str, ...]
    error: str | None = None
    error_type: str | None = None
    #: what failed it: "config", "plugin" or "crash" (its check ended the process checking it)
    kind: str | None = None
    #: the plugin that failed it, if one did
    plugin: str | None = None


@dataclass(frozen=True)
class CheckReport:
    """The outcome of checking a catalog without running anything."""

    catalog: str
    tenants: tuple[TenantStatus, ...]
    plugins: tuple[PluginInfo, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalog": self.catalog,
            "ok": self.ok,
            "problems": [p.to_dict() for p in self.problems],
            "tenants": [{"id": t.id, "status": t.status, "error": t.error} for t in self.tenants],
            "plugins": [
                {"name": p.name, "status": p.status, "error": p.error} for p in self.plugins
            ],
        }
