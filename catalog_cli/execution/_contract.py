"""A plugin's contract, checked on its own: before any tenant selects it.

What ``catalog check --plugin`` and the plugin-author kit (``catalog_cli.testing``) report:
the plugin imports; its hooks exist and its parameters and annotations fit them; its metadata
is valid and it is compatible with the catalog; settings fit its schema; and its lifecycle
hooks (startup, health, shutdown) finish within the catalog's deadlines.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .. import _interrupts
from ..config import freeze
from ..config._settings import Problems, Secrets, resolve_secrets, validate
from ..errors import PluginError, UnknownPluginError
from ..registry import CheckedPlugin, HookUse, PluginMeta, PluginSource, bind, plugin_object
from ..runtime import Runtimes
from ..runtime import _lifecycle as lifecycle

#: The tenant a plugin's lifecycle hooks are run for when it is checked on its own.
TRIAL_TENANT = "plugin-check"


class PluginReport(NamedTuple):
    """What checking one plugin on its own found."""

    plugin: str
    #: where it comes from, for people
    source: str
    #: each problem, as a sentence naming what is wrong (empty: the plugin is fine)
    problems: tuple[str, ...]
    hooks: tuple[HookUse, ...] = ()
    meta: PluginMeta | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "source": self.source,
            "ok": self.ok,
            "problems": list(self.problems),
            "hooks": [use.to_dict() for use in self.hooks],
            "meta": self.meta.to_dict() if self.meta is not None else None,
        }


def _source(runtimes: Runtimes, target: str | Path) -> PluginSource:
    registry = runtimes.registry
    if isinstance(target, str) and target in registry.sources:
        return registry.sources[target]
    path = Path(target)
    if path.suffix == ".py" or path.exists():
        return registry.file_source(path)
    raise UnknownPluginError(target, registry.sources)


class _Trial:
    """Stands in for a tenant's context: lifecycle hooks do not take one."""


def check_plugin(
    runtimes: Runtimes,
    target: str | Path,
    settings: Mapping[str, Any] | None = None,
) -> PluginReport:
    """Check the plugin named ``target`` (or the plugin file at that path) against the
    catalog, with ``settings`` as a tenant would give them (see the module docstring)."""
    source = _source(runtimes, target)
    registry = runtimes.registry
    found = registry.check_source(source)
    if isinstance(found, PluginError):
        return PluginReport(source.name, source.describe(), (str(found),))
    problems: list[str] = []
    values = _settings(found, dict(settings or {}), problems)
    if not problems:
        problems.extend(_lifecycle(runtimes, found, values))
    return PluginReport(found.name, source.describe(), tuple(problems), found.uses, found.meta)


def _settings(plugin: CheckedPlugin, given: dict[str, Any], problems: list[str]) -> Any:
    """The settings checked by the plugin's schema; problems are sentences."""
    key = ("tenants", TRIAL_TENANT, "settings", plugin.name)
    found: Problems = []
    secrets: Secrets = {}
    values = resolve_secrets(given, key, found, secrets)
    schema = plugin.meta.settings
    if schema is not None:
        try:
            values = validate(schema, values, key, found, secrets)
        except BaseException as exc:  # the schema's validators are the plugin's own code
            if _interrupts.is_real(exc):
                raise
            problems.append(f"settings: its settings schema raised {type(exc).__name__}: {exc}")
    for where, message in found:
        setting = ".".join(where[len(key) :]) or "settings"
        problems.append(f"setting {setting}: {message}")
    return freeze(values)


def _lifecycle(runtimes: Runtimes, plugin: CheckedPlugin, settings: Any) -> list[str]:
    """Startup, health and shutdown in a manager of the plugin alone, within the deadlines."""
    config = runtimes.registry.config
    pm = runtimes.registry.specs.manager()
    trial = _Trial()
    pm.register(plugin_object(plugin, lambda impl: bind(impl, trial)), name=plugin.name)
    plugins = {plugin.name: settings}
    problems = []
    try:
        lifecycle.start(pm, TRIAL_TENANT, plugins, config.startup_timeout)
    except PluginError as exc:
        return [f"startup: {exc}"]
    for result in lifecycle.check(pm, TRIAL_TENANT, plugins, config.health_timeout):
        if result.status != "healthy":
            problems.append(f"health: {result.status}: {result.details}")
    for _name, failure in lifecycle.stop(pm, TRIAL_TENANT, plugins, config.startup_timeout):
        problems.append(f"shutdown: {type(failure).__name__}: {failure}")
    return problems
