"""Everything loaded from one reading of a catalog file, and the tenants built from it."""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.util
import threading
from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Any, Literal, NamedTuple

import pluggy

from . import _intercept as intercept
from . import _lifecycle as lifecycle
from . import _sources
from ._config import Canary, CatalogConfig, InterceptorConfig, TenantConfig, freeze
from ._context import CallScope
from ._depends import call_order
from ._interfaces import Interface, PluginPoint, Version, build_interfaces
from ._meta import PluginMeta, check_compatible, declared_meta
from ._settings import Problems, Secrets, resolve_secrets, validate
from ._sources import ModuleLoader, PluginSource
from ._tenants import (
    HookInfo,
    HookUse,
    Tenant,
    build_tenant,
    hook_index,
    inspect_plugin,
    new_manager,
    register,
)
from .errors import (
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

VersionSource = Literal["requested", "tenant", "catalog", "latest", "canary"]


class VersionChoice(NamedTuple):
    """The version a tenant gets for an interface, and which rule chose it."""

    interface: str
    version: int
    source: VersionSource

    def to_dict(self) -> dict[str, Any]:
        return {"interface": self.interface, "version": self.version, "source": self.source}


def _import_declarations(module_name: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except DeclarationError as exc:
        if exc.module is None:
            exc.module = module_name
        raise
    except Exception as exc:
        raise DeclarationError(
            f"{what} module failed to import: {type(exc).__name__}: {exc}", module=module_name
        ) from exc


def _in_canary(
    canary: Canary, tenant: str, interface: str, arguments: Mapping[str, Any], default: Any
) -> bool:
    """Whether this call goes to the canary: by a stable hash of the key argument (the same
    value always lands on the same side), or by chance for each call when there is no key."""
    if canary.key is None:
        import random

        return random.random() < canary.share
    import hashlib
    import json

    # The value the method gets decides: an omitted argument is its default, and 3.0 is 3
    # (a number from the command line and from JSON may be spelled either way).
    value = arguments.get(canary.key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    value = json.dumps(value, sort_keys=True, default=repr)
    digest = hashlib.blake2b(f"{tenant}\0{interface}\0{value}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64 < canary.share


def _default(interface: Interface, version: int, name: str | None) -> Any:
    """The declared default of parameter ``name`` of a version (None when it has none)."""
    for param in interface.versions[version].parameters:
        if param.name == name and not param.required:
            return param.default
    return None


def _warn_deprecated(version: Version, tenant: str) -> None:
    """Once per tenant and version (calls are prepared once): the version is on its way out."""
    import datetime
    import logging

    sunset = ""
    if version.sunset is not None:
        passed = datetime.date.fromisoformat(version.sunset) < datetime.date.today()
        sunset = f"; sunset {'was' if passed else 'is'} {version.sunset}"
    logging.getLogger("catalog.deprecation").warning(
        "%s v%s is deprecated%s: %s (called for tenant %r)",
        version.interface,
        version.number,
        sunset,
        version.deprecated,
        tenant,
    )


def _check_targets(name: str, meta: PluginMeta, uses: tuple[HookUse, ...]) -> None:
    """A plugin that names the interface versions it targets implements no others."""
    if not meta.interfaces:
        return
    for use in uses:
        if use.interface and use.version not in meta.interfaces.get(use.interface, ()):
            raise PluginValidationError(
                name,
                f"implements {use.interface} v{use.version}, which its PLUGIN.interfaces "
                "does not list",
                hook=use.hook,
            )


class CatalogState:
    """One consistent view of a catalog: declarations, plugin sources and per-tenant managers.

    Everything but the tenant cache is fixed at construction; tenants are built on first use.
    """

    def __init__(
        self,
        config: CatalogConfig,
        *,
        fresh: bool = False,
        generation: int = 0,
        interceptor_states: dict[tuple[str, str], dict[str, Any]] | None = None,
    ) -> None:
        self.config = config
        #: how many reloads came before this state
        self.generation = generation
        #: (tenant, interceptor) -> the interceptor's state for the tenant; kept across reloads
        self.interceptor_states = interceptor_states if interceptor_states is not None else {}
        names = [
            *_sources.package_modules(_sources.HOOKSPECS_PACKAGE),
            *_sources.entry_point_modules(_sources.HOOKSPECS_GROUP),
            *config.hookspecs,
        ]
        self._check_listed_modules("hookspecs", config.hookspecs)
        self.spec_modules = tuple(_import_declarations(n, "hookspec") for n in dict.fromkeys(names))
        self.interfaces: Mapping[str, Interface] = MappingProxyType(
            build_interfaces(self.spec_modules)
        )
        self.hooks: Mapping[str, HookInfo] = MappingProxyType(hook_index(self.interfaces))
        self._uses: dict[str, tuple[HookUse, ...] | PluginValidationError] = {}
        self._meta: dict[str, PluginMeta] = {}
        self._scratch_pm: pluggy.PluginManager | None = None
        self._check_lock = threading.RLock()
        builtin_names = [
            *_sources.package_modules(_sources.BUILTINS_PACKAGE),
            *_sources.entry_point_modules(_sources.BUILTINS_GROUP),
            *config.builtins,
        ]
        self._check_listed_modules("builtins", config.builtins)
        self.builtins = tuple(
            (n, _import_declarations(n, "built-in plugin")) for n in dict.fromkeys(builtin_names)
        )
        self.sources: Mapping[str, PluginSource] = MappingProxyType(self._find_sources())
        self.implementations = self._check_builtins()
        self._check_default_versions()
        #: interceptor name -> where its module comes from (named "interceptor.<name>")
        self.interceptor_sources: Mapping[str, PluginSource] = MappingProxyType(
            self._find_interceptors()
        )
        self.points: Mapping[str, PluginPoint] = MappingProxyType(
            {
                p.key: p
                for i in self.interfaces.values()
                for v in i.versions.values()
                for p in v.points.values()
            }
        )
        self._check_error_policies(("catalog",), config.errors)
        selections: dict[str, tuple[str, ...]] = {}
        problems: dict[str, tuple[ConfigProblem, ...]] = {}
        for tenant in config.tenants.values():
            selected, found = self._check_tenant(tenant)
            selections[tenant.id] = selected
            problems[tenant.id] = tenant.problems + tuple(found)
        self.selections: Mapping[str, tuple[str, ...]] = MappingProxyType(selections)
        self.tenant_problems: Mapping[str, tuple[ConfigProblem, ...]] = MappingProxyType(problems)

        self.loader = ModuleLoader(config.import_timeout, fresh=fresh)
        self._lock = threading.Lock()
        self._tenant_locks: dict[str, threading.Lock] = {}
        self._tenants: dict[str, Tenant | CatalogError] = {}
        #: (tenant, interface, requested version) -> prepared call scope and version
        self.prepared: dict[tuple[str, str, int | None], tuple[CallScope, Version]] = {}
        self._chosen: dict[tuple[str, VersionChoice, bool], tuple[CallScope, Version]] = {}
        self._traced: dict[str, Tenant] = {}
        self._warned: set[tuple[str, str]] = set()

    # -- checks made once, at load ---------------------------------------------------------

    def _check_listed_modules(self, key: str, names: tuple[str, ...]) -> None:
        """A module named in ``[catalog]`` that does not exist is a configuration error."""
        problems = []
        for index, name in enumerate(names):
            try:
                found = importlib.util.find_spec(name)
            except (ImportError, ValueError):
                found = None
            if found is None:
                problems.append(
                    self.config.problem(
                        ("catalog", key), f"item {index}: no importable module named {name!r}"
                    )
                )
        if problems:
            raise ConfigError(self.config.path, problems)

    def _check_builtins(self) -> dict[str, str]:
        """Every entry point and ``wrap`` point has exactly one built-in implementation.

        Returns hook -> the built-in plugin implementing it.
        """
        implementations: dict[str, str] = {}
        for name, module in self.builtins:
            uses = self.hook_uses(name, module, builtin=True)
            for use in uses:
                if use.wrapper or self.hooks[use.hook].policy != "wrap":
                    continue
                if use.hook in implementations:
                    raise DeclarationError(
                        f"{self.hooks[use.hook].label} is implemented twice: by "
                        f"{implementations[use.hook]} and {name}",
                        hook=use.hook,
                    )
                implementations[use.hook] = name
        for info in self.hooks.values():
            if info.interface and info.policy == "wrap" and info.hook not in implementations:
                params = ", ".join(info.argnames)
                raise DeclarationError(
                    f"the {info.label} has no implementation: add "
                    f"`@hookimpl def {info.hook}({params})` to a built-in plugin module",
                    module=self.interfaces[info.interface].versions[info.version].module,
                    hook=info.hook,
                )
        return implementations

    def hook_uses(
        self,
        name: str,
        module: ModuleType,
        *,
        builtin: bool,
        interceptor: bool = False,
    ) -> tuple[HookUse, ...]:
        """What ``module`` implements, checked once per catalog (raises PluginValidationError).

        The checks: the plugin's metadata and its compatibility with this catalog, every hook
        implementation against its spec, and pluggy's own registration checks.
        """
        cached = self._uses.get(name)
        if cached is None:
            # One check at a time: the scratch manager is shared, and pluggy's is not thread-safe.
            with self._check_lock:
                cached = self._uses.get(name) or self._check_plugin(
                    name, module, builtin, interceptor
                )
                self._uses[name] = cached
        if isinstance(cached, PluginValidationError):
            raise cached
        return cached

    def _check_plugin(
        self, name: str, module: ModuleType, builtin: bool, interceptor: bool
    ) -> tuple[HookUse, ...] | PluginValidationError:
        scratch = self._scratch()
        try:
            meta = declared_meta(self.source(name), module)
            check_compatible(name, meta, self.interfaces)
            self._meta[name] = meta
            uses = tuple(
                inspect_plugin(
                    name, module, self.hooks, scratch, builtin=builtin, interceptor=interceptor
                )
            )
            _check_targets(name, meta, uses)
            # pluggy's own checks too (e.g. wrapper and hookwrapper together)
            trial = self._scratch()
            register(trial, name, module)
            trial.unregister(module)
        except PluginValidationError as exc:
            return exc
        except Exception as exc:  # an odd plugin must fail alone, never the whole catalog
            return PluginValidationError(name, f"could not be checked: {type(exc).__name__}: {exc}")
        return uses

    def _scratch(self) -> pluggy.PluginManager:
        """A manager with the hookspecs and no plugins, for checking plugins one at a time."""
        if self._scratch_pm is None:
            self._scratch_pm = new_manager(self.spec_modules)
        return self._scratch_pm

    def source(self, name: str) -> PluginSource:
        """A plugin's source; interceptors are found by their registered name too."""
        found = self.sources.get(name)
        if found is None and name.startswith(intercept.PREFIX):
            from .interceptors import BUILTIN

            short = name[len(intercept.PREFIX) :]
            found = self.interceptor_sources.get(short)
            if found is None and short in BUILTIN:  # a built-in no catalog.toml switched on
                found = PluginSource(name, "builtin", BUILTIN[short], BUILTIN[short])
        if found is None:
            raise KeyError(name)
        return found

    def meta(self, name: str) -> PluginMeta:
        """A plugin's metadata: declared, if it was imported; else what its source tells."""
        found = self._meta.get(name)
        if found is not None:
            return found
        status = self.loader.status(name)
        module = status if isinstance(status, ModuleType) else None
        try:
            return declared_meta(self.source(name), module)
        except PluginValidationError:
            return declared_meta(self.source(name), None)

    def _find_sources(self) -> dict[str, PluginSource]:
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

        for source in _sources.builtin_sources(name for name, _ in self.builtins):
            add(source, ("catalog", "builtins"))
        for index, directory in enumerate(config.plugin_dirs):
            if not directory.is_dir():
                problems.append(
                    config.problem(
                        ("catalog", "plugin_dirs"), f"item {index}: no such directory: {directory}"
                    )
                )
                continue
            for source in _sources.directory_plugins(directory):
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
        from .interceptors import BUILTIN

        found: dict[str, PluginSource] = {}
        problems: list[ConfigProblem] = []
        for name, configured in self.config.interceptors.items():
            key = ("interceptors", name)
            if name in BUILTIN:
                module = BUILTIN[name]
                found[name] = PluginSource(intercept.PREFIX + name, "builtin", module, module)
            elif name in self.sources and self.sources[name].kind != "builtin":
                found[name] = self.sources[name]._replace(name=intercept.PREFIX + name)
            else:
                known = [*BUILTIN, *(n for n, s in self.sources.items() if s.kind != "builtin")]
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
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
        for part, scope in (("include", configured.include), ("exclude", configured.exclude)):
            for what, names, known in (
                ("tenant", scope.tenants, list(self.config.tenants)),
                ("interface", scope.interfaces, list(self.interfaces)),
            ):
                for name in names:
                    if any(ch in name for ch in "*?[") or name in known:
                        continue
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
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
                close = difflib.get_close_matches(name, list(self.points), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
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

    def error_policy(self, tenant: str, point: PluginPoint) -> str:
        """The tenant's policy, else the catalog's, else the declaration's."""
        policies = self.tenant_config(tenant).errors
        return policies.get(point.key) or self.config.errors.get(point.key) or point.errors

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

    def _version_problem(
        self, key: tuple[str, ...], interface: str, number: int, tenant: str | None = None
    ) -> ConfigProblem | None:
        found = self.interfaces.get(interface)
        if found is None:
            known = listing(self.interfaces) or "none"
            close = difflib.get_close_matches(interface, list(self.interfaces), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return self.config.problem(key, f"unknown interface (known: {known}){hint}", tenant)
        if number not in found.versions:
            known = ", ".join(str(v) for v in found.versions)
            return self.config.problem(
                key, f"{interface} has no version {number} (versions: {known})", tenant
            )
        return None

    def _check_tenant(self, tenant: TenantConfig) -> tuple[tuple[str, ...], list[ConfigProblem]]:
        problems: list[ConfigProblem] = []
        key = ("tenants", tenant.id)
        # An interceptor plugin is switched on in [interceptors], never selected by a tenant.
        selectable = [
            s.name
            for s in self.sources.values()
            if s.kind != "builtin" and s.name not in self.config.interceptors
        ]
        selected: list[str] = []
        for pattern in tenant.plugins:
            if any(ch in pattern for ch in "*?["):
                matches = fnmatch.filter(selectable, pattern)
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
                close = difflib.get_close_matches(pattern, selectable, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = listing(selectable) or "none"
                problems.append(
                    self.config.problem(
                        (*key, "plugins"),
                        f"unknown plugin {pattern!r} (known: {known}){hint}",
                        tenant.id,
                    )
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
        return tuple(selected), problems

    # -- versions --------------------------------------------------------------------------

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
        if requested is not None:
            found.version(requested)
            return VersionChoice(interface, requested, "requested")
        canary = config.canaries.get(interface)
        if (
            canary is not None
            and arguments is not None
            and canary.version in found.versions  # else the tenant fails closed on its own
            and _in_canary(
                canary, tenant, interface, arguments, _default(found, canary.version, canary.key)
            )
        ):
            return VersionChoice(interface, canary.version, "canary")
        pinned = config.versions.get(interface)
        if pinned is not None and pinned in found.versions:
            return VersionChoice(interface, pinned, "tenant")
        default = self.config.versions.get(interface)
        if default is not None:
            return VersionChoice(interface, default, "catalog")
        return VersionChoice(interface, found.latest, "latest")

    # -- tenants ---------------------------------------------------------------------------

    def tenant(self, tenant: str) -> Tenant:
        """The tenant's built manager; raises the error that makes it fail closed, if any."""
        outcome = self._tenants.get(tenant)
        if outcome is None:
            config = self.tenant_config(tenant)
            with self._lock:
                lock = self._tenant_locks.setdefault(tenant, threading.Lock())
            with lock:
                outcome = self._tenants.get(tenant)
                if outcome is None:
                    outcome = self._build(config)
                    self._tenants[tenant] = outcome
        if isinstance(outcome, CatalogError):
            raise outcome
        return outcome

    def known_outcome(self, tenant: str) -> Tenant | CatalogError | None:
        """The tenant as built so far, without building it (None if it never was)."""
        found = self._tenants.get(tenant)
        if found is None and self.tenant_problems.get(tenant):
            return ConfigError(self.config.path, self.tenant_problems[tenant], tenant=tenant)
        return found

    def tenant_outcome(self, tenant: str) -> Tenant | CatalogError:
        try:
            return self.tenant(tenant)
        except (ConfigError, PluginError) as exc:
            return exc

    def _build(self, config: TenantConfig) -> Tenant | CatalogError:
        problems = self.tenant_problems[config.id]
        if problems:
            return ConfigError(self.config.path, problems, tenant=config.id)
        try:
            modules = {}
            for name in self.selections[config.id]:
                try:
                    modules[name] = self.loader.load(self.sources[name])
                except PluginLoadError as exc:
                    return PluginLoadError(exc.plugin, exc.source, exc.cause, tenant=config.id)
                self.hook_uses(name, modules[name], builtin=False)  # also reads its metadata
            order = call_order(
                self.selections[config.id],
                {name: self._meta[name].depends for name in modules},
                tenant=config.id,
                known=self.sources,
            )
            plugins = [(name, modules[name]) for name in order]
            settings = self._settings(config, [n for n, _ in self.builtins] + order)
            if isinstance(settings, ConfigError):
                return settings
            interceptors = self._interceptor_uses(config)
            if isinstance(interceptors, ConfigError):
                return interceptors
            built = self._build_manager(config.id, plugins, settings, interceptors)
            lifecycle.start(
                built.pm, config.id, built.plugin_settings(), self.config.startup_timeout
            )
            return built
        except PluginValidationError as exc:
            return exc.for_tenant(config.id)
        except PluginError as exc:
            return exc

    def _build_manager(
        self,
        tenant: str,
        plugins: list[tuple[str, ModuleType]],
        settings: Mapping[str, Mapping[str, Any]],
        interceptors: list[intercept.InterceptorUse],
        *,
        traced: bool = False,
    ) -> Tenant:
        return build_tenant(
            tenant,
            self.spec_modules,
            self.builtins,
            plugins,
            lambda name, module, builtin: self.hook_uses(name, module, builtin=builtin),
            settings,
            self.interfaces,
            interceptors,
            lambda point: self.error_policy(tenant, point) == "isolate",
            traced=traced,
        )

    def _interceptor_uses(
        self, config: TenantConfig
    ) -> list[intercept.InterceptorUse] | ConfigError:
        """The interceptors for the tenant, loaded, checked and with their settings, outermost
        first. Raises PluginError (the tenant fails closed) for one that cannot be used."""
        from .interceptors import BUILTIN, default_order

        uses = []
        found: Problems = []
        secrets: Secrets = {}
        for name, configured in self.config.interceptors.items():
            if not configured.enabled or not configured.covers_tenant(config.id):
                continue
            source = self.interceptor_sources[name]
            try:
                module = self.loader.load(source)
            except PluginLoadError as exc:
                raise PluginLoadError(exc.plugin, exc.source, exc.cause, tenant=config.id) from None
            hooks = self.hook_uses(source.name, module, builtin=False, interceptor=True)
            if getattr(module, "OPT_IN", False) is True and not configured.include.interfaces:
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
            values = self._interceptor_settings(config, configured, found, secrets)
            order = configured.order if configured.order is not None else default_order(module)
            uses.append(
                intercept.InterceptorUse(
                    name,
                    order,
                    module,
                    configured.include.interfaces,
                    configured.exclude.interfaces,
                    tuple(dict.fromkeys(use.hook for use in hooks)),
                    freeze(values),
                    name in BUILTIN,
                    freeze({**configured.settings, **config.interceptors.get(name, {})}),
                )
            )
        if found:
            problems = [self.config.problem(key, message, config.id) for key, message in found]
            return ConfigError(self.config.path, problems, tenant=config.id)
        return sorted(uses, key=lambda use: (use.order, use.name))

    def _interceptor_settings(
        self,
        config: TenantConfig,
        configured: InterceptorConfig,
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
        schema = self._meta[intercept.PREFIX + name].settings
        if schema is None:
            return values
        problems: Problems = []
        checked = validate(schema, values, shared_key, problems, secrets)
        for where, message in problems:
            setting = where[len(shared_key)] if len(where) > len(shared_key) else None
            ours = setting is not None and setting in own
            found.append(((*own_key, *where[len(shared_key) :]) if ours else where, message))
        return checked

    def built_tenants(self) -> list[Tenant]:
        return [found for found in list(self._tenants.values()) if isinstance(found, Tenant)]

    def close(self) -> list[tuple[str, str, BaseException]]:
        """Shut down the plugins of every built tenant and forget the tenants."""
        with self._lock:
            built = self.built_tenants()
            self._tenants.clear()
            self.prepared.clear()
            self._chosen.clear()
            self._traced.clear()
        return self.stop_tenants(built, self.config)

    @staticmethod
    def stop_tenants(
        tenants: list[Tenant], config: CatalogConfig
    ) -> list[tuple[str, str, BaseException]]:
        """Shut down the plugins of ``tenants``; return the failures."""
        failures = []
        for found in tenants:
            for plugin, exc in lifecycle.stop(
                found.pm, found.id, found.plugin_settings(), config.startup_timeout
            ):
                failures.append((found.id, plugin, exc))
        return failures

    def _settings(
        self, config: TenantConfig, plugins: list[str]
    ) -> dict[str, Mapping[str, Any]] | ConfigError:
        """Each plugin's settings for the tenant: secrets resolved, checked by its schema."""
        found: Problems = []
        secrets: Secrets = {}
        settings: dict[str, Mapping[str, Any]] = {}
        for name in plugins:
            key = ("tenants", config.id, "settings", name)
            values = resolve_secrets(config.settings.get(name, {}), key, found, secrets)
            schema = self._meta[name].settings
            if schema is not None:
                values = validate(schema, values, key, found, secrets)
            settings[name] = freeze(values)
        if found:
            problems = [self.config.problem(key, message, config.id) for key, message in found]
            return ConfigError(self.config.path, problems, tenant=config.id)
        return settings

    def prepare(
        self,
        tenant: str,
        interface: str,
        requested: int | None,
        arguments: Mapping[str, Any] | None = None,
    ) -> tuple[CallScope, Version]:
        """The call scope for a (tenant, interface, version) triple, cached for later calls.

        With a canary for the tenant and no version asked, each call's ``arguments`` decide
        the version, so that answer is never cached: only the tenant's other calls stay fast.
        """
        key = (tenant, interface, requested)
        prepared = self.prepared.get(key)
        if prepared is not None:
            return prepared
        choice = self.resolve(interface, tenant, requested, arguments)
        prepared = self.prepare_choice(tenant, choice)
        if requested is not None or interface not in self.tenant_config(tenant).canaries:
            self.prepared[key] = prepared
        return prepared

    def prepare_choice(
        self, tenant: str, choice: VersionChoice, *, traced: bool = False
    ) -> tuple[CallScope, Version]:
        """The call scope for a version already chosen (and why: interceptors are told)."""
        key = (tenant, choice, traced)
        prepared = self._chosen.get(key)
        if prepared is not None:
            return prepared
        version = self.interfaces[choice.interface].versions[choice.version]
        built = self.tenant(tenant)
        if version.deprecated is not None and (tenant, version.hook) not in self._warned:
            self._warned.add((tenant, version.hook))  # once, traced or not
            _warn_deprecated(version, tenant)
        if traced:
            built = self._traced_tenant(built)
        hook = built.pm.hook
        entry: Any = getattr(hook, version.hook)
        points = {name: getattr(hook, p.hook) for name, p in version.points.items()}
        if traced:
            from ._trace import TracedCaller

            entry = TracedCaller(entry, "entry point", f"{version.interface} v{version.number}")
            points = {
                name: TracedCaller(caller, "plugin point", name, policy=version.points[name].policy)
                for name, caller in points.items()
            }
        # Interceptors of plugin points only need the chain too: it tells them the call.
        around = tuple(use for use in built.interceptors if use.applies(choice.interface))
        if around or built.observed:
            entry = intercept.Chain(
                built.pm,
                entry,
                around,
                choice.source,
                self.generation,
                self.interceptor_states,
                version,
                self.config.path,
            )
        scope = CallScope(
            tenant,
            choice.interface,
            version.number,
            entry,
            MappingProxyType(points),
            built.bindings,
            self.implementations[version.hook],
        )
        prepared = (scope, version)
        self._chosen[key] = prepared
        return prepared

    def _traced_tenant(self, built: Tenant) -> Tenant:
        """A copy of the tenant's manager whose implementations record themselves in a trace:
        the same plugin modules and settings, already started by the tenant itself."""
        found = self._traced.get(built.id)
        if found is None:
            with self._check_lock:
                found = self._traced.get(built.id)
                if found is None:
                    plugins = [
                        (name, self.loader.load(self.sources[name])) for name in built.plugins
                    ]
                    settings = {b.name: b.settings for b in built.bindings.values()}
                    found = self._build_manager(
                        built.id, plugins, settings, list(built.interceptors), traced=True
                    )
                    self._traced[built.id] = found
        return found
