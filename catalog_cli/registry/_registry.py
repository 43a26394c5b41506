"""The Registry: what one reading of a catalog holds, checked, and never changed after.

Built once from a catalog file: its declarations, the sources of its plugins, its built-ins
(imported and checked), and the configuration. What depends on one tenant (which plugins it
selects, their imports and checks, its settings and interceptors) is worked out when that
tenant is first needed and then kept: a command about one tenant does not check the others.
A reload builds a new Registry; the old one stays as it was for the calls still using it.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import importlib.util
import threading
from collections.abc import Collection, Hashable, Iterable, Mapping
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, NamedTuple

from .. import _interrupts
from ..config import CatalogConfig, InterceptorConfig, Limits, TenantConfig, freeze
from ..config._config import EMPTY, Recent, TenantTable
from ..config._settings import Problems, Secrets, resolve_secrets, validate
from ..declarations import (
    Interface,
    PluginPoint,
    Route,
    Version,
    build_interfaces,
    declarations,
)
from ..errors import (
    CatalogError,
    ConfigError,
    ConfigProblem,
    DeclarationError,
    PluginError,
    PluginLoadError,
    PluginValidationError,
    UnknownInterfaceError,
    UnknownTenantError,
    listing,
)
from ..errors import hint as did_you_mean
from . import _entrypoints, _sources
from ._depends import call_order
from ._disabled import NONE, DisabledPlugins
from ._hooks import HookInfo, hook_index
from ._interceptors import BUILTIN, PREFIX, InterceptorUse, default_order
from ._isolation import Isolation, check_isolated, isolated_names
from ._loader import ModuleLoader
from ._meta import PluginMeta, declared_meta, own_attribute
from ._namespace import Folder
from ._plugins import CheckedPlugin, check_plugin
from ._rollout import Rollouts, rollbacks_path
from ._served import served_name, served_plugins
from ._sources import PluginSource
from ._specs import SpecNamespace
from ._versions import VersionChoice, choose, shadowed


class TenantPlan(NamedTuple):
    """Everything needed to build one tenant's runtime, checked."""

    id: str
    #: the tenant's plugins in call order (a plugin before those it depends on)
    plugins: tuple[CheckedPlugin, ...]
    #: plugin name -> its settings for this tenant (built-ins too), checked by its schema
    settings: Mapping[str, Mapping[str, Any]]
    #: the interceptors around the tenant's calls, outermost first
    interceptors: tuple[InterceptorUse, ...]
    #: the keys of plugin points whose error policy is ``isolate`` for this tenant
    isolated: frozenset[str]
    #: the plugins that run in the tenant's worker processes, and their limits (None: none)
    workers: Isolation | None = None


class Registry:
    """One consistent, checked view of a catalog (see the module docstring)."""

    #: plugins switched off at run time (``execution/_management``), set before any tenant
    #: is worked out: a tenant's selection leaves them out
    disabled: DisabledPlugins = NONE

    def __init__(
        self, config: CatalogConfig, *, fresh: bool = False, rollouts: Rollouts | None = None
    ) -> None:
        self.config = config
        self.path = config.path
        #: the tenants' canaries at run time (shares now, rollbacks): a Catalog's, kept across
        #: its reloads; every tenant's, so nothing a plugin reaches holds the registry
        self.rollouts = rollouts if rollouts is not None else Rollouts(rollbacks_path(self.path))
        #: imports every plugin module once; ``fresh``: anew, for a reload
        self.loader = ModuleLoader(config.import_timeout, fresh=fresh)
        self._lock = threading.Lock()
        self._checked: dict[str, CheckedPlugin | PluginError] = {}
        self._selections: dict[str, tuple[tuple[str, ...], tuple[ConfigProblem, ...]]] = {}
        #: what every tenant's runtime would make alike (the steps that check a plugin's
        #: results, say), made once and shared: key -> value, added to, never changed
        self.shared: dict[Hashable, Any] = {}
        #: (plugin, id of settings as written) -> (those settings, as its schema made them)
        self._validated = Recent()

        folders = self._folders()
        self.spec_modules = self._declaration_modules(folders)
        self.interfaces: Mapping[str, Interface] = MappingProxyType(
            build_interfaces(self.spec_modules)
        )
        self.hooks: Mapping[str, HookInfo] = MappingProxyType(hook_index(self.interfaces))
        self.specs = SpecNamespace(
            function for module in self.spec_modules for _hook, function in declarations(module)
        )
        self.points: Mapping[str, PluginPoint] = MappingProxyType(
            {
                p.key: p
                for i in self.interfaces.values()
                for v in i.versions.values()
                for p in v.points.values()
            }
        )
        #: entry point of a version served by a newer one's code -> (the version, its route)
        self.routes: Mapping[str, tuple[Version, Route]] = MappingProxyType(
            {
                version.hook: (version, route)
                for interface in self.interfaces.values()
                for version in interface.versions.values()
                if (route := interface.route(version.number)) is not None
            }
        )
        builtin_sources = self._builtin_sources(folders)
        self.sources: Mapping[str, PluginSource] = MappingProxyType(
            self._find_sources(builtin_sources, folders)
        )
        self.builtins = tuple(self._check_builtin(source) for source in builtin_sources)
        #: hook -> the built-in plugin implementing it (entry points and wrap points)
        self.implementations: Mapping[str, str] = MappingProxyType(self._implementations())
        self._check_default_versions()
        self._check_limits()
        self._check_error_policies(("catalog",), self.config.errors)
        #: interceptor name -> where its module comes from (named "interceptor.<name>")
        self.interceptor_sources: Mapping[str, PluginSource] = MappingProxyType(
            self._find_interceptors()
        )

    # -- what the catalog holds --------------------------------------------------------------

    def _folders(self) -> dict[str, Folder | None]:
        """The catalog's folders; one named in catalog.toml must exist, a default may not."""
        config = self.config
        found: dict[str, Folder | None] = {}
        problems = []
        named = [("hookspecs_dir", config.hookspecs_dir), ("builtins_dir", config.builtins_dir)] + [
            (f"plugin_dirs.{i}", d) for i, d in enumerate(config.plugin_dirs)
        ]
        for key, directory in named:
            if directory is None:
                found[key] = None
            elif directory.is_dir():
                found[key] = Folder.of(directory)
            elif directory in config.explicit_dirs:
                where = key.split(".")[0]
                index = f"item {key.split('.')[1]}: " if "." in key else ""
                problems.append(
                    config.problem(("catalog", where), f"{index}no such directory: {directory}")
                )
            else:
                found[key] = None
        if problems:
            raise ConfigError(config.path, problems)
        return found

    def _package_modules(self, group: str) -> list[str]:
        """The modules the packages named in ``[catalog] packages`` declare in ``group``."""
        if not self.config.packages:
            return []
        entries = {ep.name: ep.module for ep in _entrypoints.entries(group)}
        return [entries[name] for name in self.config.packages if name in entries]

    def _check_packages(self) -> None:
        names = self.config.packages
        if not names:
            return
        installed = {
            ep.name
            for group in (_sources.HOOKSPECS_GROUP, _sources.BUILTINS_GROUP)
            for ep in _entrypoints.entries(group)
        }
        problems = []
        for index, name in enumerate(names):
            if name not in installed:
                hint = did_you_mean(name, installed)
                known = listing(sorted(installed)) or "none"
                problems.append(
                    self.config.problem(
                        ("catalog", "packages"),
                        f"item {index}: no installed package offers interfaces as {name!r} "
                        f"(entry points in {_sources.HOOKSPECS_GROUP} or "
                        f"{_sources.BUILTINS_GROUP}; installed: {known}){hint}",
                    )
                )
        if problems:
            raise ConfigError(self.config.path, problems)

    def _check_listed_modules(self, key: str, names: tuple[str, ...]) -> None:
        """A module named in ``[catalog]`` that does not exist is a configuration error."""
        problems = []
        for index, name in enumerate(names):
            try:
                found = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                found = None
            except BaseException as exc:
                # Finding ``a.b`` imports ``a``: its code may raise anything (a stray
                # KeyboardInterrupt or SystemExit too), which is a problem of this entry.
                if _interrupts.is_real(exc):
                    raise
                problems.append(
                    self.config.problem(
                        ("catalog", key),
                        f"item {index}: importing the package of {name!r} raised "
                        f"{type(exc).__name__}: {exc}",
                    )
                )
                continue
            if found is None:
                problems.append(
                    self.config.problem(
                        ("catalog", key), f"item {index}: no importable module named {name!r}"
                    )
                )
        if problems:
            raise ConfigError(self.config.path, problems)

    def _declaration_modules(self, folders: Mapping[str, Folder | None]) -> tuple[ModuleType, ...]:
        """The catalog's own declarations, those of modules and packages it names: imported."""
        self._check_listed_modules("hookspecs", self.config.hookspecs)
        self._check_packages()
        folder = folders.get("hookspecs_dir")
        sources = [
            *(_sources.folder_modules(folder, "module") if folder is not None else []),
            *_sources.module_sources(self.config.hookspecs, "module"),
            *_sources.module_sources(self._package_modules(_sources.HOOKSPECS_GROUP), "module"),
        ]
        modules = []
        seen: dict[str, ModuleType] = {}
        for source in sources:
            if source.module in seen:
                continue
            try:
                seen[source.module] = self.loader.load(source)
                modules.append(seen[source.module])
            except PluginLoadError as exc:
                if isinstance(exc.cause, DeclarationError):
                    if exc.cause.module is None:
                        exc.cause.module = source.location
                    raise exc.cause from None
                raise DeclarationError(
                    f"the declarations failed to import: {type(exc.cause).__name__}: {exc.cause}",
                    module=source.location,
                ) from None
        self._check_declaring(seen)
        return tuple(modules)

    def _check_declaring(self, loaded: Mapping[str, ModuleType]) -> None:
        """A module named in ``[catalog] hookspecs`` declares interfaces: one that does not
        (``json``, a plugin module) is a mistake in the file, not an empty interface list."""
        problems = [
            self.config.problem(
                ("catalog", "hookspecs"),
                f"item {index}: module {name!r} declares no interface (none of its functions "
                "is marked @entrypoint or @plugin_point); list interface declaration modules "
                "here, and plugin modules in [catalog.modules] or [catalog] builtins",
            )
            for index, name in enumerate(self.config.hookspecs)
            if name in loaded and not declarations(loaded[name])
        ]
        if problems:
            raise ConfigError(self.config.path, problems)

    def _builtin_sources(self, folders: Mapping[str, Folder | None]) -> list[PluginSource]:
        self._check_listed_modules("builtins", self.config.builtins)
        folder = folders.get("builtins_dir")
        return [
            *(
                _sources.folder_modules(folder, "builtin", prefix=f"{folder.path.name}.")
                if folder is not None
                else []
            ),
            *_sources.module_sources(self.config.builtins, "builtin"),
            *_sources.module_sources(self._package_modules(_sources.BUILTINS_GROUP), "builtin"),
        ]

    def _check_builtin(self, source: PluginSource) -> CheckedPlugin:
        """A built-in is the catalog's own code: one that fails stops the catalog."""
        found = self.plugin(source.name)
        if isinstance(found, PluginError):
            raise found
        return found

    def _implementations(self) -> dict[str, str]:
        """Every entry point and ``wrap`` point has exactly one built-in implementation; a
        version served by a newer one's code has none, its version change stands in."""
        implementations: dict[str, str] = {}
        for hook, (_version, route) in self.routes.items():
            implementations[hook] = served_name(route)
        for plugin in self.builtins:
            for use in plugin.uses:
                if use.wrapper or self.hooks[use.hook].policy != "wrap" or not use.interface:
                    continue
                if use.hook in implementations:
                    raise DeclarationError(
                        f"{self.hooks[use.hook].label} is implemented twice: by "
                        f"{implementations[use.hook]} and {plugin.name}",
                        hook=use.hook,
                    )
                implementations[use.hook] = plugin.name
        for info in self.hooks.values():
            if (
                info.interface
                and info.policy == "wrap"
                and info.hook not in implementations
                and self.interfaces[info.interface].route(info.version) is None
            ):
                params = ", ".join(info.argnames)
                raise DeclarationError(
                    f"the {info.label} has no implementation: add "
                    f"`@hookimpl def {info.hook}({params})` to a built-in plugin module",
                    module=self.interfaces[info.interface].versions[info.version].module,
                    hook=info.hook,
                )
        return implementations

    def _find_sources(
        self, builtins: list[PluginSource], folders: Mapping[str, Folder | None]
    ) -> dict[str, PluginSource]:
        config = self.config
        found: dict[str, PluginSource] = {}
        problems: list[ConfigProblem] = []

        def add(source: PluginSource, key: tuple[str, ...]) -> None:
            other = found.get(source.name)
            if other is not None:
                problems.append(
                    config.problem(
                        key,
                        f"two plugins are named {source.name!r}: {other.describe()} and "
                        f"{source.describe()}",
                    )
                )
                return
            found[source.name] = source

        for source in builtins:
            add(source, ("catalog", "builtins"))
        for key, folder in folders.items():
            if key.startswith("plugin_dirs") and folder is not None:
                for source in _sources.directory_plugins(folder):
                    add(source, ("catalog", "plugin_dirs"))
        for source in _sources.package_plugins():
            add(source, ("catalog",))
        seen_modules: dict[str, str] = {}
        for name, module in config.modules.items():
            if module in seen_modules:
                problems.append(
                    config.problem(
                        ("catalog", "modules", name),
                        f"module {module} is already the plugin {seen_modules[module]!r}",
                    )
                )
                continue
            seen_modules[module] = name
            add(PluginSource(name, "module", module, module), ("catalog", "modules", name))
        if problems:
            raise ConfigError(config.path, problems)
        return found

    def _find_interceptors(self) -> dict[str, PluginSource]:
        found: dict[str, PluginSource] = {}
        problems: list[ConfigProblem] = []
        for name, configured in self.config.interceptors.items():
            key = ("interceptors", name)
            if name in BUILTIN:
                module = BUILTIN[name]
                found[name] = PluginSource(PREFIX + name, "builtin", module, module)
            elif name in self.sources and self.sources[name].kind != "builtin":
                found[name] = self.sources[name]._replace(name=PREFIX + name)
            else:
                known = [*BUILTIN, *(n for n, s in self.sources.items() if s.kind != "builtin")]
                hint = did_you_mean(name, known)
                problems.append(
                    self.config.problem(
                        key,
                        f"no interceptor named {name!r}: not a built-in ({', '.join(BUILTIN)}) "
                        f"nor a plugin{hint}",
                    )
                )
                continue
            problems.extend(self._scope_problems(key, configured))
        if problems:
            raise ConfigError(self.config.path, problems)
        return found

    def _scope_problems(self, key: tuple[str, ...], configured: InterceptorConfig) -> list[Any]:
        """A plain name (no wildcard) in a scope must be a known tenant or interface."""
        problems = []
        tenants = self.config.tenants
        for part, scope in (("include", configured.include), ("exclude", configured.exclude)):
            for what, names, known in (
                ("tenant", scope.tenants, tenants),
                ("interface", scope.interfaces, self.interfaces),
            ):
                for name in names:
                    if any(ch in name for ch in "*?[") or name in known:
                        continue
                    hint = did_you_mean(name, known)
                    problems.append(
                        self.config.problem(
                            (*key, part, f"{what}s"), f"unknown {what} {name!r}{hint}"
                        )
                    )
        return problems

    def _error_policy_problems(
        self, key: tuple[str, ...], policies: Mapping[str, str], tenant: str | None = None
    ) -> list[ConfigProblem]:
        problems = []
        for name, policy in policies.items():
            point = self.points.get(name)
            if point is None:
                hint = did_you_mean(name, self.points)
                problems.append(
                    self.config.problem(
                        (*key, "errors", name), f"no such plugin point{hint}", tenant
                    )
                )
            elif point.policy == "wrap" and policy == "isolate":
                problems.append(
                    self.config.problem(
                        (*key, "errors", name),
                        "a wrap point has one implementation, the catalog's: it cannot isolate",
                        tenant,
                    )
                )
        return problems

    def _check_error_policies(self, key: tuple[str, ...], policies: Mapping[str, str]) -> None:
        problems = self._error_policy_problems(key, policies)
        if problems:
            raise ConfigError(self.config.path, problems)

    def _check_default_versions(self) -> None:
        problems = [
            problem
            for interface, number in self.config.versions.items()
            if (
                problem := self._version_problem(
                    ("catalog", "versions", interface), interface, number
                )
            )
        ]
        if problems:
            raise ConfigError(self.config.path, problems)

    def _limits_problems(
        self, key: tuple[str, ...], limits: Limits, tenant: str | None = None
    ) -> list[ConfigProblem]:
        """``[limits.interfaces.<name>]`` for interfaces the catalog does not have."""
        return [
            self._unknown_interface((*key, "interfaces", name), name, tenant)
            for name in limits.interfaces
            if name not in self.interfaces
        ]

    def _check_limits(self) -> None:
        problems = self._limits_problems(("limits",), self.config.limits)
        if problems:
            raise ConfigError(self.config.path, problems)

    def _unknown_interface(
        self, key: tuple[str, ...], interface: str, tenant: str | None
    ) -> ConfigProblem:
        known = listing(self.interfaces) or "none"
        hint = did_you_mean(interface, self.interfaces)
        return self.config.problem(key, f"unknown interface (known: {known}){hint}", tenant)

    def _version_problem(
        self, key: tuple[str, ...], interface: str, number: int, tenant: str | None = None
    ) -> ConfigProblem | None:
        found = self.interfaces.get(interface)
        if found is None:
            return self._unknown_interface(key, interface, tenant)
        if number not in found.versions:
            known = ", ".join(str(v) for v in found.versions)
            return self.config.problem(
                key, f"{interface} has no version {number} (versions: {known})", tenant
            )
        return None

    # -- plugins -----------------------------------------------------------------------------

    def source(self, name: str) -> PluginSource:
        """A plugin's source; interceptors are found by their registered name too."""
        found = self.sources.get(name)
        if found is None and name.startswith(PREFIX):
            short = name[len(PREFIX) :]
            found = self.interceptor_sources.get(short)
            if found is None and short in BUILTIN:  # a built-in no catalog.toml switched on
                found = PluginSource(name, "builtin", BUILTIN[short], BUILTIN[short])
        if found is None:
            raise KeyError(name)
        return found

    def plugin(self, name: str) -> CheckedPlugin | PluginError:
        """The plugin imported and checked (once per registry), or why it cannot be used."""
        found = self._checked.get(name)
        if found is None:
            source = self.source(name)
            try:
                module = self.loader.load(source)
                found = check_plugin(
                    source,
                    module,
                    self.hooks,
                    self.interfaces,
                    self.specs.manager,
                    builtin=source.kind == "builtin" and not name.startswith(PREFIX),
                    interceptor=name.startswith(PREFIX),
                    name=name,
                )
            except PluginError as exc:
                found = exc
            except BaseException as exc:
                # An odd plugin must fail alone, never the whole catalog: also with SystemExit
                # or a stray KeyboardInterrupt from its code (a real Ctrl-C goes on).
                if _interrupts.is_real(exc):
                    raise
                found = _unchecked(name, exc)
            found = self._checked.setdefault(name, found)
        return found

    def file_source(self, path: Path) -> PluginSource:
        """A plugin file no plugin folder of the catalog holds (``catalog check --plugin
        PATH``): named after the file, imported under its folder's private name."""
        folder = Folder.of(path.parent)
        resolved = path.resolve()
        for source in self.sources.values():
            if source.folder is not None and Path(source.location).resolve() == resolved:
                return source
        return PluginSource(
            path.stem, "file", str(path), folder.module_name(Path(path.name)), folder=folder
        )

    def check_source(self, source: PluginSource) -> CheckedPlugin | PluginError:
        """A plugin from ``source`` imported and checked like any other (not kept by name)."""
        if self.sources.get(source.name) == source:
            return self.plugin(source.name)
        try:
            module = self.loader.load(source)
            return check_plugin(
                source,
                module,
                self.hooks,
                self.interfaces,
                self.specs.manager,
                builtin=False,
            )
        except PluginError as exc:
            return exc
        except BaseException as exc:
            if _interrupts.is_real(exc):
                raise
            return _unchecked(source.name, exc)

    def unselected(self, selected: Collection[str] | None = None) -> list[PluginSource]:
        """Plugin files in the catalog's plugin folders that no tenant selects (``selected``:
        the plugins the tenants select, if known already)."""
        if selected is None:
            selected = {name for tenant in self.config.tenants for name in self.selected(tenant)}
        return [
            source
            for source in self.sources.values()
            if source.kind == "file"
            and source.name not in selected
            and source.name not in self.config.interceptors
        ]

    def meta(self, name: str) -> PluginMeta:
        """A plugin's metadata: declared, if it was imported; else what its source tells."""
        found = self._checked.get(name)
        if isinstance(found, CheckedPlugin):
            return found.meta
        status = self.loader.status(name)
        module = status if isinstance(status, ModuleType) else None
        try:
            return declared_meta(self.source(name), module)
        except BaseException as exc:  # a PluginValidationError, or the plugin's own code
            if _interrupts.is_real(exc):
                raise
            return declared_meta(self.source(name), None)

    # -- versions ----------------------------------------------------------------------------

    def interface(self, name: str) -> Interface:
        try:
            return self.interfaces[name]
        except KeyError:
            raise UnknownInterfaceError(name, self.interfaces) from None

    def tenant_config(self, tenant: str) -> TenantConfig:
        try:
            return self.config.tenants[tenant]
        except KeyError:
            raise UnknownTenantError(tenant, self.config.tenants) from None

    def resolve(
        self,
        interface: str,
        tenant: str,
        requested: int | None = None,
        arguments: Mapping[str, Any] | None = None,
    ) -> VersionChoice:
        """--version given > the tenant's canary share > its pin > the catalog's default > the
        latest. Without ``arguments`` (listings), a canary is never chosen."""
        found = self.interface(interface)
        config = self.tenant_config(tenant)
        return choose(self.config, config, found, requested, arguments, self.rollouts)

    def shadowed(
        self, live: VersionChoice, tenant: str, arguments: Mapping[str, Any]
    ) -> int | None:
        """The version a shadow canary runs besides ``live`` for this call, if it takes it."""
        found = self.interfaces[live.interface]
        return shadowed(self.tenant_config(tenant), found, live, arguments, self.rollouts)

    def version(self, choice: VersionChoice) -> Version:
        return self.interfaces[choice.interface].versions[choice.version]

    def error_policy(self, tenant: str, point: PluginPoint) -> str:
        """The tenant's policy, else the catalog's, else the declaration's."""
        policies = self.tenant_config(tenant).errors
        return policies.get(point.key) or self.config.errors.get(point.key) or point.errors

    # -- tenants -----------------------------------------------------------------------------

    def selection(self, tenant: str) -> tuple[tuple[str, ...], tuple[ConfigProblem, ...]]:
        """The plugins the tenant selects (patterns expanded, in its order, those disabled at
        run time left out), and the problems of its section; checked without importing
        anything."""
        found = self.configured_selection(tenant)
        off = self.disabled.of(tenant)
        if off and not off.isdisjoint(found[0]):
            return tuple(name for name in found[0] if name not in off), found[1]
        return found

    def configured_selection(
        self, tenant: str
    ) -> tuple[tuple[str, ...], tuple[ConfigProblem, ...]]:
        """:meth:`selection` as the tenant's section has it, plugins disabled at run time
        included."""
        found = self._selections.get(tenant)
        if found is None:
            config = self.tenant_config(tenant)
            selected, problems = self._check_tenant(config)
            # Tenants that select the same plugins share the tuple of their names.
            names = tuple(selected)
            names = self.shared.setdefault(("selected", names), names)
            found = self._selections.setdefault(tenant, (names, (*config.problems, *problems)))
        return found

    def forget(self, tenants: Iterable[str]) -> None:
        """Drop what was worked out for ``tenants`` (their checked sections and selections;
        worked out again when next needed): a process that goes through many tenants once,
        as a worker of ``catalog check`` does, need not keep them all."""
        tenants = list(tenants)
        for tenant in tenants:
            self._selections.pop(tenant, None)
        table = self.config.tenants
        if isinstance(table, TenantTable):
            table.forget(tenants)

    def selected(self, tenant: str) -> tuple[str, ...]:
        return self.selection(tenant)[0]

    def derive(self, disabled: DisabledPlugins, *, reimport: Collection[str] = ()) -> Registry:
        """This registry with ``disabled`` in force and the modules of the plugins in
        ``reimport`` imported afresh when next needed (a plugin changed at run time).

        The declarations, built-ins and sources are shared; what was worked out for tenants
        (selections, plans' shared parts, validated settings) is not, so each tenant is
        planned anew when it is built on the new registry. This registry is left as it was,
        for the calls still using it."""
        derived = copy.copy(self)
        derived.disabled = disabled
        derived._lock = threading.Lock()
        derived._selections = dict(self._selections)  # from the file alone
        derived.shared = {}
        derived._validated = Recent()
        derived._checked = {
            name: found for name, found in self._checked.items() if name not in reimport
        }
        if reimport:
            derived.loader = self.loader.renewing(reimport)
        return derived

    @functools.cached_property
    def _selectable(self) -> list[str]:
        """The plugins a tenant may select: an interceptor plugin is switched on in
        [interceptors], never selected by a tenant."""
        return [
            s.name
            for s in self.sources.values()
            if s.kind != "builtin" and s.name not in self.config.interceptors
        ]

    def _matches(self, pattern: str) -> list[str]:
        """The selectable plugins a wildcard pattern matches (worked out once per pattern)."""
        found: list[str] | None = self.shared.get(("matches", pattern))
        if found is None:
            found = self.shared.setdefault(
                ("matches", pattern), fnmatch.filter(self._selectable, pattern)
            )
        return found

    def _unknown_plugin(self, pattern: str) -> str:
        """What to say of a name no plugin has (a did-you-mean costs: once per name)."""
        found: str | None = self.shared.get(("unknown plugin", pattern))
        if found is None:
            selectable = self._selectable
            hint = did_you_mean(pattern, selectable)
            known = listing(selectable) or "none"
            found = self.shared.setdefault(
                ("unknown plugin", pattern), f"unknown plugin {pattern!r} (known: {known}){hint}"
            )
        return found

    def _check_tenant(self, tenant: TenantConfig) -> tuple[list[str], list[ConfigProblem]]:
        problems: list[ConfigProblem] = []
        key = ("tenants", tenant.id)
        selected: list[str] = []
        for pattern in tenant.plugins:
            if any(ch in pattern for ch in "*?["):
                matches = self._matches(pattern)
                if not matches:
                    problems.append(
                        self.config.problem(
                            (*key, "plugins"), f"pattern {pattern!r} matches no plugin", tenant.id
                        )
                    )
            elif pattern in self.sources and self.sources[pattern].kind == "builtin":
                problems.append(
                    self.config.problem(
                        (*key, "plugins"),
                        f"{pattern!r} is a built-in plugin, registered for every tenant: "
                        "do not list it",
                        tenant.id,
                    )
                )
                matches = []
            elif pattern in self.config.interceptors:
                problems.append(
                    self.config.problem(
                        (*key, "plugins"),
                        f"{pattern!r} is an interceptor ([interceptors.{pattern}]): it wraps the "
                        "calls of the tenants in its scope and is not listed in plugins",
                        tenant.id,
                    )
                )
                matches = []
            elif pattern not in self.sources:
                problems.append(
                    self.config.problem((*key, "plugins"), self._unknown_plugin(pattern), tenant.id)
                )
                matches = []
            else:
                matches = [pattern]
            selected.extend(m for m in matches if m not in selected)
        for interface, number in tenant.versions.items():
            problem = self._version_problem(
                (*key, "versions", interface), interface, number, tenant.id
            )
            if problem:
                problems.append(problem)
        problems += self._limits_problems((*key, "limits"), tenant.limits, tenant.id)
        for interface, canary in tenant.canaries.items():
            where = (*key, "canary", interface)
            problem = self._version_problem(
                (*where, "version"), interface, canary.version, tenant.id
            )
            if problem:
                problems.append(problem)
                continue
            declared = self.interfaces[interface].versions[canary.version]
            names = [p.name for p in declared.parameters]
            if canary.key is not None and canary.key not in names:
                problems.append(
                    self.config.problem(
                        (*where, "key"),
                        f"{interface} v{canary.version} has no parameter {canary.key!r} "
                        f"(parameters: {', '.join(names) or 'none'})",
                        tenant.id,
                    )
                )
        problems.extend(self._error_policy_problems(key, tenant.errors, tenant.id))
        if tenant.isolation is not None:
            _names, unmatched = isolated_names(tenant.isolation, selected)
            problems.extend(
                self.config.problem(
                    (*key, "isolation", "plugins"),
                    f"{pattern!r} matches none of this tenant's plugins",
                    tenant.id,
                )
                for pattern in unmatched
            )
        for name in tenant.interceptors:
            if name not in self.config.interceptors:
                configured = ", ".join(self.config.interceptors) or "none"
                problems.append(
                    self.config.problem(
                        (*key, "interceptors", name),
                        f"settings for interceptor {name!r}, which [interceptors] does not "
                        f"configure (configured: {configured})",
                        tenant.id,
                    )
                )
            elif not self.config.interceptors[name].covers_tenant(tenant.id):
                problems.append(
                    self.config.problem(
                        (*key, "interceptors", name),
                        f"settings for interceptor {name!r}, whose scope leaves this tenant out",
                        tenant.id,
                    )
                )
        for plugin in tenant.settings:
            source = self.sources.get(plugin)
            if plugin not in selected and (source is None or source.kind != "builtin"):
                problems.append(
                    self.config.problem(
                        (*key, "settings", plugin),
                        f"settings for {plugin!r}, which this tenant does not select",
                        tenant.id,
                    )
                )
        return selected, problems

    def plan(self, tenant: str) -> TenantPlan:
        """What the tenant's runtime is built from: its plugins imported and checked, their
        order, settings and interceptors. Raises the error that makes the tenant fail closed."""
        config = self.tenant_config(tenant)
        selected, problems = self.selection(tenant)
        if problems:
            raise ConfigError(self.config.path, problems, tenant=tenant)
        plugins = {}
        for name in selected:
            found = self.plugin(name)
            if isinstance(found, PluginLoadError):
                raise PluginLoadError(found.plugin, found.source, found.cause, tenant=tenant)
            if isinstance(found, PluginValidationError):
                raise found.for_tenant(tenant)
            if isinstance(found, PluginError):
                raise found
            plugins[name] = found
        order = call_order(
            selected,
            {name: plugin.meta.depends for name, plugin in plugins.items()},
            tenant=tenant,
            known=self.sources,
        )
        found_problems: Problems = []
        settings = self._settings(config, order, found_problems)
        interceptors = self._interceptor_uses(config, found_problems)
        if found_problems:
            listed = [self.config.problem(key, text, tenant) for key, text in found_problems]
            raise ConfigError(self.config.path, listed, tenant=tenant)
        return TenantPlan(
            tenant,
            tuple(plugins[name] for name in order),
            MappingProxyType(settings),
            tuple(interceptors),
            self._isolated(config),
            self._workers(config, selected, plugins),
        )

    def _workers(
        self, config: TenantConfig, selected: Iterable[str], plugins: Mapping[str, CheckedPlugin]
    ) -> Isolation | None:
        """The tenant's plugins that run in worker processes (checked: they can), and the
        limits of its pool; None when none does."""
        if config.isolation is None:
            return None
        names, _unmatched = isolated_names(config.isolation, selected)
        if not names:
            return None
        for name in names:
            check_isolated(plugins[name], self.interfaces, config.id)
        limits = config.isolation.limits.over(self.config.isolation)
        return Isolation(frozenset(names), limits)

    def served_plan(self, plan: TenantPlan, hook: str) -> TenantPlan:
        """What a served call of the version whose entry point is ``hook`` runs on, for the
        tenant of ``plan`` (see ``_served``): its plugins for the served version's points,
        moved to the running version's, and its interceptors."""
        version, route = self.routes[hook]
        return plan._replace(
            plugins=served_plugins(plan.plugins, version, route, self.hooks, self.shared)
        )

    def _isolated(self, config: TenantConfig) -> frozenset[str]:
        """The plugin points whose error policy is ``isolate`` for the tenant (a tenant with no
        policies of its own shares the catalog's set)."""
        if config.errors:
            return frozenset(
                key
                for key, point in self.points.items()
                if self.error_policy(config.id, point) == "isolate"
            )
        found: frozenset[str] | None = self.shared.get("isolated")
        if found is None:
            found = self.shared.setdefault(
                "isolated",
                frozenset(
                    key
                    for key, point in self.points.items()
                    if (self.config.errors.get(key) or point.errors) == "isolate"
                ),
            )
        return found

    def _settings(
        self, config: TenantConfig, order: list[str], found: Problems
    ) -> dict[str, Mapping[str, Any]]:
        """Each plugin's settings for the tenant: secrets resolved, checked by its schema."""
        secrets: Secrets = {}
        settings: dict[str, Mapping[str, Any]] = {}
        for plugin in (*self.builtins, *(self._checked_plugin(name) for name in order)):
            written = config.settings.get(plugin.name, EMPTY)
            schema = plugin.meta.settings
            if not _has_reference(written):
                # As written (frozen already, shared by tenants that write the same), or as
                # the schema made them, once for all tenants that write the same.
                if schema is None:
                    settings[plugin.name] = written
                    continue
                known = self._validated.get((plugin.name, id(written)))
                if known is not None and known[0] is written:
                    settings[plugin.name] = known[1]
                    continue
            key = ("tenants", config.id, "settings", plugin.name)
            problems: Problems = []
            values = resolve_secrets(written, key, problems, secrets)
            if schema is not None:
                try:
                    values = validate(schema, values, key, problems, secrets)
                except BaseException as exc:
                    # The schema is the plugin's code (its validators): what escapes it is
                    # that plugin's failure, SystemExit and a stray KeyboardInterrupt too.
                    if _interrupts.is_real(exc):
                        raise
                    raise PluginValidationError(
                        plugin.name,
                        f"its settings schema raised {type(exc).__name__}: {exc}",
                        tenant=config.id,
                    ) from exc
            frozen = freeze(values) if values else EMPTY
            if schema is not None and not problems and not secrets:
                # kept with what it was made from, so the id is never another table's
                self._validated.put((plugin.name, id(written)), (written, frozen))
            found.extend(problems)
            settings[plugin.name] = frozen
        return settings

    def _checked_plugin(self, name: str) -> CheckedPlugin:
        found = self.plugin(name)
        if isinstance(found, PluginError):
            raise found
        return found

    def _interceptor_uses(self, config: TenantConfig, found: Problems) -> list[InterceptorUse]:
        """The interceptors for the tenant, loaded, checked and with their settings, outermost
        first. Raises PluginError (the tenant fails closed) for one that cannot be used."""
        uses = []
        secrets: Secrets = {}
        for name, configured in self.config.interceptors.items():
            if not configured.enabled or not configured.covers_tenant(config.id):
                continue
            plugin = self.plugin(PREFIX + name)
            if isinstance(plugin, PluginLoadError):
                raise PluginLoadError(plugin.plugin, plugin.source, plugin.cause, tenant=config.id)
            if isinstance(plugin, PluginValidationError):
                raise plugin.for_tenant(config.id)
            if isinstance(plugin, PluginError):
                raise plugin
            if (
                own_attribute(plugin.module, "OPT_IN", False) is True
                and not configured.include.interfaces
            ):
                # e.g. the cache: it changes what a method means, so it is never switched on
                # for every interface at once
                found.append(
                    (
                        ("interceptors", name, "include"),
                        f"{name} is opt-in per interface: name them, as "
                        'include = { interfaces = ["..."] }',
                    )
                )
                continue
            values = self._interceptor_settings(config, configured, plugin, found, secrets)
            order = (
                configured.order if configured.order is not None else default_order(plugin.module)
            )
            uses.append(
                InterceptorUse(
                    name,
                    order,
                    plugin,
                    configured.include.interfaces,
                    configured.exclude.interfaces,
                    tuple(dict.fromkeys(use.hook for use in plugin.uses)),
                    freeze(values),
                    name in BUILTIN,
                    freeze({**configured.settings, **config.interceptors.get(name, {})}),
                )
            )
        return sorted(uses, key=lambda use: (use.order, use.name))

    def _interceptor_settings(
        self,
        config: TenantConfig,
        configured: InterceptorConfig,
        plugin: CheckedPlugin,
        found: Problems,
        secrets: Secrets,
    ) -> dict[str, Any]:
        """``[interceptors.X.settings]`` with the tenant's ``[tenants.T.interceptors.X]`` over it,
        checked by the interceptor's schema; problems name the key they come from."""
        name = configured.name
        shared_key = ("interceptors", name, "settings")
        own_key = ("tenants", config.id, "interceptors", name)
        own = config.interceptors.get(name, {})
        values = {
            **resolve_secrets(configured.settings, shared_key, found, secrets),
            **resolve_secrets(own, own_key, found, secrets),
        }
        schema = plugin.meta.settings
        if schema is None:
            return values
        problems: Problems = []
        checked = validate(schema, values, shared_key, problems, secrets)
        for where, message in problems:
            setting = where[len(shared_key)] if len(where) > len(shared_key) else None
            ours = setting is not None and setting in own
            found.append(((*own_key, *where[len(shared_key) :]) if ours else where, message))
        return checked

    def outcome(self, tenant: str) -> TenantPlan | CatalogError:
        """The tenant's plan, or the error that makes it fail closed (never raised)."""
        try:
            return self.plan(tenant)
        except (ConfigError, PluginError) as exc:
            return exc


def _unchecked(plugin: str, exc: BaseException) -> PluginValidationError:
    return PluginValidationError(plugin, f"could not be checked: {type(exc).__name__}: {exc}")


def _has_reference(value: Any) -> bool:
    """Whether a setting refers to a secret ("${env:NAME}"), somewhere inside."""
    if isinstance(value, str):
        return "${env:" in value
    if isinstance(value, Mapping):
        return any(_has_reference(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_reference(v) for v in value)
    return False


def load_registry(path: Path, *, fresh: bool = False) -> Registry:
    """Read the catalog file at ``path`` and build its registry."""
    from ..config import read_config

    return Registry(read_config(path), fresh=fresh)
