"""Building one tenant's PluginManager: hookspecs, built-ins, then only that tenant's plugins."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import Any, NamedTuple

import pluggy

from . import _events as events
from . import _intercept as intercept
from . import _lifecycle as lifecycle
from ._context import PluginBinding
from ._declare import Policy
from ._interfaces import Interface, PluginPoint
from ._markers import PROJECT
from .errors import PluginValidationError


class HookInfo(NamedTuple):
    """What a hook name means: an interface version's entry point or one of its plugin points."""

    hook: str
    interface: str
    version: int
    #: None for the entry point
    point: str | None
    policy: Policy
    argnames: tuple[str, ...]

    @property
    def label(self) -> str:
        if self.hook in intercept.HOOKS:
            return f"interceptor hook {self.hook}"
        if not self.interface:
            return f"lifecycle hook {self.point!r}"
        where = f"{self.interface} v{self.version}"
        return (
            f"{where} entry point" if self.point is None else f"{where} plugin point {self.point!r}"
        )


class HookUse(NamedTuple):
    """One hook implementation of a plugin."""

    hook: str
    interface: str
    version: int
    point: str | None
    wrapper: bool
    tryfirst: bool
    trylast: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "interface": self.interface,
            "version": self.version,
            "plugin_point": self.point,
            "wrapper": self.wrapper,
            "tryfirst": self.tryfirst,
            "trylast": self.trylast,
        }


def hook_index(interfaces: Mapping[str, Interface]) -> dict[str, HookInfo]:
    """Every hook name the interfaces declare, and the lifecycle hooks (interface "")."""
    index: dict[str, HookInfo] = {
        hook: HookInfo(hook, "", 0, short, "collect", lifecycle.ARGNAMES)
        for hook, short in lifecycle.HOOKS.items()
    }
    index["catalog_call_event"] = HookInfo(
        "catalog_call_event", "", 0, "call events", "collect", ("event",)
    )
    index["catalog_call"] = HookInfo("catalog_call", "", 0, "method call", "wrap", ("call",))
    index["catalog_point_call"] = HookInfo(
        "catalog_point_call", "", 0, "plugin point call", "wrap", ("call", "point")
    )
    for interface in interfaces.values():
        for version in interface.versions.values():
            entry_args = ("ctx", *(p.name for p in version.parameters))
            index[version.hook] = HookInfo(
                version.hook, interface.name, version.number, None, "wrap", entry_args
            )
            for point in version.points.values():
                args = ("ctx", *(p.name for p in point.parameters))
                index[point.hook] = HookInfo(
                    point.hook, interface.name, version.number, point.name, point.policy, args
                )
    return index


def _impl_argnames(func: Any) -> tuple[list[str], list[str], list[str]]:
    """(parameters, those with defaults, those pluggy cannot pass) of an implementation."""
    target = func.__func__ if inspect.ismethod(func) else func
    params = list(inspect.signature(target).parameters.values())
    if inspect.ismethod(func) and params:
        params = params[1:]
    plain = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    odd = [p.name for p in params if p not in plain]
    return (
        [p.name for p in plain],
        [p.name for p in plain if p.default is not p.empty],
        odd,
    )


def inspect_plugin(
    name: str,
    module: ModuleType,
    hooks: Mapping[str, HookInfo],
    pm: pluggy.PluginManager,
    *,
    builtin: bool,
    tenant: str | None = None,
    interceptor: bool = False,
) -> list[HookUse]:
    """Check every hook implementation in ``module`` against its spec; return what it implements.

    Raises PluginValidationError naming the plugin, the hook, and the expected and found
    parameters. Stricter than pluggy alone: unknown hooks, parameters with defaults (which
    pluggy would silently never pass), undecorated look-alikes and, for customer plugins,
    replacing a step that may only be wrapped are all errors.
    """
    uses: list[HookUse] = []
    for attr in sorted(dir(module)):
        opts = pm.parse_hookimpl_opts(module, attr)
        if opts is None:
            value = getattr(module, attr, None)
            if attr in hooks and inspect.isfunction(value):
                raise PluginValidationError(
                    name,
                    "this function is named like a hook but has no @hookimpl decorator "
                    "(from catalog_cli import hookimpl)",
                    hook=attr,
                    tenant=tenant,
                )
            continue
        hook = opts.get("specname") or attr
        info = hooks.get(hook)
        if info is None:
            close = difflib.get_close_matches(hook, list(hooks), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise PluginValidationError(
                name,
                f"implements {hook}, which no interface declares{hint}",
                hook=hook,
                tenant=tenant,
            )
        func = getattr(module, attr)
        if getattr(func, "__module__", module.__name__) != module.__name__:
            # ctx.settings and the blame for errors find a plugin by the module its code is in.
            raise PluginValidationError(
                name,
                f"the implementation is defined in module {func.__module__}, not in the plugin: "
                "define the hook function in the plugin (it may call shared code)",
                hook=hook,
                tenant=tenant,
            )
        argnames, defaulted, odd = _impl_argnames(func)
        if odd:
            raise PluginValidationError(
                name,
                f"parameter(s) {', '.join(odd)} are keyword-only or variadic; pluggy passes "
                "arguments by position, so use plain parameters",
                hook=hook,
                expected=info.argnames,
                found=argnames + odd,
                tenant=tenant,
            )
        if defaulted:
            raise PluginValidationError(
                name,
                f"parameter(s) {', '.join(defaulted)} have defaults, and pluggy never passes "
                "parameters with defaults: remove the defaults",
                hook=hook,
                expected=info.argnames,
                found=argnames,
                tenant=tenant,
            )
        unknown = [a for a in argnames if a not in info.argnames]
        if unknown:
            raise PluginValidationError(
                name,
                f"parameter(s) {', '.join(unknown)} are not in the spec of the {info.label}",
                hook=hook,
                expected=info.argnames,
                found=argnames,
                tenant=tenant,
            )
        wrapper = bool(opts.get("wrapper") or opts.get("hookwrapper"))
        if (hook in intercept.HOOKS) != interceptor:
            raise PluginValidationError(
                name,
                "an interceptor implements only catalog_call and catalog_point_call"
                if interceptor
                else f"{hook} is an interceptor hook: configure the plugin as an interceptor "
                f"([interceptors.{name}] in catalog.toml), not as a tenant plugin",
                hook=hook,
                tenant=tenant,
            )
        if interceptor:
            if not (opts.get("wrapper") and inspect.isgeneratorfunction(func)):
                raise PluginValidationError(
                    name,
                    "an interceptor hook must be a new-style wrapper: "
                    "@hookimpl(wrapper=True) on a generator function that yields once",
                    hook=hook,
                    tenant=tenant,
                )
            if opts.get("tryfirst") or opts.get("trylast"):
                raise PluginValidationError(
                    name,
                    "interceptors are ordered by `order` in catalog.toml: remove tryfirst/trylast",
                    hook=hook,
                    tenant=tenant,
                )
        elif not info.interface and (
            wrapper or inspect.isgeneratorfunction(func) or inspect.iscoroutinefunction(func)
        ):
            # The catalog calls lifecycle hooks one by one and waits for their return value.
            raise PluginValidationError(
                name,
                "a lifecycle hook must be a plain function (not async, a generator or a wrapper)",
                hook=hook,
                tenant=tenant,
            )
        if wrapper and not inspect.isgeneratorfunction(func):
            raise PluginValidationError(
                name,
                "a wrapper must be a generator function (it must `yield` once)",
                hook=hook,
                tenant=tenant,
            )
        if not builtin and not wrapper and info.policy == "wrap":
            raise PluginValidationError(
                name,
                f"the {info.label} is implemented by the catalog and may only be wrapped: "
                "use @hookimpl(wrapper=True) and `yield`",
                hook=hook,
                tenant=tenant,
            )
        uses.append(
            HookUse(
                hook,
                info.interface,
                info.version,
                info.point,
                wrapper,
                bool(opts.get("tryfirst")),
                bool(opts.get("trylast")),
            )
        )
    if not uses:
        raise PluginValidationError(
            name, "implements no hooks (mark implementations with @hookimpl)", tenant=tenant
        )
    return uses


def register(
    pm: pluggy.PluginManager, name: str, module: ModuleType, *, tenant: str | None = None
) -> None:
    """Register ``module`` under ``name``, turning pluggy's validation errors into ours."""
    try:
        pm.register(module, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginValidationError(name, str(exc).replace("\n", " "), tenant=tenant) from exc
    except ValueError as exc:  # pluggy: the same plugin or name registered twice
        raise PluginValidationError(name, str(exc), tenant=tenant) from exc


def new_manager(spec_modules: Iterable[ModuleType]) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(lifecycle)
    pm.add_hookspecs(events)
    pm.add_hookspecs(intercept)
    for module in spec_modules:
        pm.add_hookspecs(module)
    return pm


class Tenant(NamedTuple):
    """A tenant whose manager was built: its PluginManager and what each plugin implements."""

    id: str
    pm: pluggy.PluginManager
    #: Selected plugins in catalog.toml order (the order they are called in).
    plugins: tuple[str, ...]
    #: plugin name -> hooks it implements (built-ins included)
    hooks: Mapping[str, tuple[HookUse, ...]]
    #: module name -> binding, for every registered module, in registration order
    bindings: Mapping[str, PluginBinding]
    #: interceptors for this tenant, in the order they wrap (outermost first)
    interceptors: tuple[intercept.InterceptorUse, ...] = ()
    #: a plugin of the tenant observes its calls (catalog_call_event)
    observed: bool = False

    def plugin_settings(self) -> dict[str, Mapping[str, Any]]:
        """plugin name -> its settings, in registration order (dependencies first)."""
        return {b.name: b.settings for b in self.bindings.values()}


#: Checks a plugin module (name, module, is built-in) and returns what it implements.
PluginCheck = Callable[[str, ModuleType, bool], tuple[HookUse, ...]]


def build_tenant(
    tenant: str,
    spec_modules: Sequence[ModuleType],
    builtins: Sequence[tuple[str, ModuleType]],
    plugins: Sequence[tuple[str, ModuleType]],
    check: PluginCheck,
    settings: Mapping[str, Mapping[str, Any]],
    interfaces: Mapping[str, Interface],
    interceptors: Sequence[intercept.InterceptorUse] = (),
    isolated: Callable[[PluginPoint], bool] = lambda point: False,
    traced: bool = False,
) -> Tenant:
    """A new PluginManager holding the hookspecs, the built-ins and ``plugins`` (in that order),
    then the interceptors, outermost last.

    Plugins are registered in reverse so pluggy (which calls the most recently registered
    implementation first) calls them in the order the tenant lists them, before the built-ins.
    ``traced``: every implementation records itself in the trace of the call (see _trace).
    """
    pm = new_manager(spec_modules)
    uses: dict[str, tuple[HookUse, ...]] = {}
    bindings: dict[str, PluginBinding] = {}
    empty: Mapping[str, Any] = MappingProxyType({})
    order = [(n, m, True) for n, m in builtins] + [(n, m, False) for n, m in reversed(plugins)]
    for name, module, builtin in order:
        uses[name] = check(name, module, builtin)
        if module.__name__ in bindings:
            raise PluginValidationError(
                name,
                f"module {module.__name__} is already registered as plugin "
                f"{bindings[module.__name__].name!r}",
                tenant=tenant,
            )
        register(pm, name, module, tenant=tenant)
        bindings[module.__name__] = PluginBinding(
            name, settings.get(name, empty), f"catalog.plugins.{name}"
        )
    for use in interceptors:
        bindings[use.module.__name__] = PluginBinding(
            use.plugin_name, use.settings, f"catalog.interceptors.{use.name}"
        )
    observed = events.register_observers(pm)
    intercept.register_interceptors(pm, interceptors, observed=observed)
    versions = [v for i in interfaces.values() for v in i.versions.values()]
    points = [p for v in versions for p in v.points.values()]
    if traced:
        from . import _trace

        steps: dict[str, tuple[_trace.Kind, str]] = {"catalog_call": ("interceptor", "")}
        steps.update({v.hook: ("implementation", v.hook) for v in versions})
        steps.update({p.hook: ("implementation", p.hook) for p in points})
        _trace.trace_implementations(pm, steps, skip=(intercept.INNERMOST,))
    intercept.point_guards(pm, points, interceptors, isolated, tenant)
    return Tenant(
        tenant,
        pm,
        tuple(name for name, _ in plugins),
        MappingProxyType(uses),
        MappingProxyType(bindings),
        tuple(interceptors),
        observed,
    )
