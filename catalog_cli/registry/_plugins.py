"""Checking one plugin module against the catalog's hooks, once, before any tenant uses it.

A plugin is a module of ``@hookimpl`` functions. Each tenant registers it as its own plugin
object (see :func:`plugin_object`) whose hook implementations are bound to that tenant's
``ctx``: the module's functions are shared, what they see as ``ctx`` is not.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from types import CodeType, MappingProxyType, ModuleType
from typing import Any, NamedTuple

import pluggy

from ..declarations import PROJECT, Interface
from ..declarations import _contracts as contracts
from ..declarations import _hooks as catalog_hooks
from ..errors import PluginValidationError
from ..errors import hint as did_you_mean
from ._hooks import HookInfo, HookUse
from ._meta import PluginMeta, check_compatible, declared_meta
from ._sources import PluginSource


class Implementation(NamedTuple):
    """One ``@hookimpl`` function of a plugin module."""

    #: the module attribute that holds it (the hook's name, unless ``specname`` says otherwise)
    attribute: str
    function: Callable[..., Any]
    info: HookInfo
    #: the options it was marked with (``wrapper``, ``tryfirst``, ...)
    opts: Mapping[str, Any]
    #: its first parameter is ``ctx``, which each tenant binds to its own context
    takes_ctx: bool
    #: the parameters pluggy passes it, in its order (``ctx`` is bound, not passed)
    argnames: tuple[str, ...] = ()
    #: ``async def``: awaited on the async path (see ``runtime._async``)
    asynchronous: bool = False

    @property
    def wrapper(self) -> bool:
        return bool(self.opts.get("wrapper") or self.opts.get("hookwrapper"))

    @property
    def use(self) -> HookUse:
        info = self.info
        return HookUse(
            info.hook,
            info.interface,
            info.version,
            info.point,
            self.wrapper,
            bool(self.opts.get("tryfirst")),
            bool(self.opts.get("trylast")),
        )


class CheckedPlugin(NamedTuple):
    """A plugin module that passed every check, and what it implements."""

    name: str
    source: PluginSource
    module: ModuleType
    meta: PluginMeta
    implementations: tuple[Implementation, ...]

    @property
    def uses(self) -> tuple[HookUse, ...]:
        return tuple(impl.use for impl in self.implementations)

    @property
    def codes(self) -> frozenset[CodeType]:
        """The code of its hook functions: a traceback frame running one is this plugin's."""
        return frozenset(_code(impl.function) for impl in self.implementations)


def _code(function: Callable[..., Any]) -> CodeType:
    code: CodeType = inspect.unwrap(function).__code__
    return code


class PluginObject:
    """A plugin as one tenant registers it: its hook implementations as attributes.

    Pluggy reads hook implementations from a plugin object's attributes, so the catalog gives
    each tenant an object of its own: the same functions, with ``ctx`` bound to the tenant's
    context for that plugin. Only the hook attributes are listed to pluggy.
    """

    __slots__ = ("__dict__", "catalog_module", "catalog_plugin")

    def __init__(self, name: str, module: ModuleType | None) -> None:
        #: the plugin's name (pluggy's name for it is the same)
        self.catalog_plugin = name
        #: the plugin's module: other attributes are read from it (None: the catalog's own
        #: stand-in, which has no module)
        self.catalog_module = module

    def __dir__(self) -> list[str]:
        return list(self.__dict__)

    def __getattr__(self, name: str) -> Any:
        # Only for names that are not hooks: the module's own (a plugin's constants, say).
        if self.catalog_module is None:
            raise AttributeError(name)
        return getattr(self.catalog_module, name)

    def __repr__(self) -> str:
        return f"<plugin {self.catalog_plugin!r}>"


def plugin_object(
    plugin: CheckedPlugin,
    bind: Callable[[Implementation], Callable[..., Any]],
    implementations: Iterable[Implementation] | None = None,
) -> PluginObject:
    """A plugin object whose attributes are ``bind(implementation)``, for each of them (or of
    those given)."""
    found = PluginObject(plugin.name, plugin.module)
    chosen = plugin.implementations if implementations is None else implementations
    for impl in chosen:
        setattr(found, impl.attribute, bind(impl))
    return found


def async_twins(plugin: CheckedPlugin) -> tuple[Implementation, ...]:
    """An interceptor's async twins: ``async def`` implementations of a hook it also
    implements with a plain def (``specname`` names the hook), which the async path runs
    in place of the plain ones."""
    plain = {i.info.hook for i in plugin.implementations if not i.asynchronous}
    return tuple(i for i in plugin.implementations if i.asynchronous and i.info.hook in plain)


def _argnames(func: Any) -> tuple[list[str], list[str], list[str]]:
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


def _check_annotations(
    name: str, func: Any, info: HookInfo, argnames: list[str], wrapper: bool
) -> None:
    """Annotations that contradict the hook's declaration (see ``declarations._contracts``)."""
    if info.hints is None:
        return
    hints = contracts.resolved_hints(func)
    for param in argnames:
        if param == "ctx" or param not in hints or param not in info.hints:
            continue
        expected = info.hints[param]
        if not contracts.is_subtype(expected, hints[param]):
            raise PluginValidationError(
                name,
                f"parameter {param!r} is annotated {contracts.show(hints[param])}, but the "
                f"{info.label} passes {contracts.show(expected)}",
                hook=info.hook,
                expected=[f"{param}: {contracts.show(expected)}"],
                found=[f"{param}: {contracts.show(hints[param])}"],
            )
    if "return" not in hints or info.returns is None:
        return
    returned = hints["return"]
    if wrapper:
        returned = contracts.generator_return(returned)
        if returned is None:
            return
    if not contracts.is_subtype(returned, info.returns):
        raise PluginValidationError(
            name,
            f"returns {contracts.show(returned)}, but the {info.label} declares "
            f"{contracts.show(info.returns)}",
            hook=info.hook,
            expected=[f"-> {contracts.show(info.returns)}"],
            found=[f"-> {contracts.show(returned)}"],
        )


def _implementation(
    name: str,
    attr: str,
    func: Any,
    opts: Mapping[str, Any],
    info: HookInfo,
    *,
    builtin: bool,
    interceptor: bool,
) -> Implementation:
    """Check one marked function against its hook; raises PluginValidationError."""
    hook = info.hook
    argnames, defaulted, odd = _argnames(func)
    if odd:
        raise PluginValidationError(
            name,
            f"parameter(s) {', '.join(odd)} are keyword-only or variadic; pluggy passes "
            "arguments by position, so use plain parameters",
            hook=hook,
            expected=info.argnames,
            found=argnames + odd,
        )
    if defaulted:
        raise PluginValidationError(
            name,
            f"parameter(s) {', '.join(defaulted)} have defaults, and pluggy never passes "
            "parameters with defaults: remove the defaults",
            hook=hook,
            expected=info.argnames,
            found=argnames,
        )
    unknown = [a for a in argnames if a not in info.argnames]
    if unknown:
        raise PluginValidationError(
            name,
            f"parameter(s) {', '.join(unknown)} are not in the spec of the {info.label}",
            hook=hook,
            expected=info.argnames,
            found=argnames,
        )
    if "ctx" in argnames and argnames[0] != "ctx":
        raise PluginValidationError(
            name,
            "ctx must be the first parameter (the catalog binds it to the plugin's context)",
            hook=hook,
            expected=info.argnames,
            found=argnames,
        )
    wrapper = bool(opts.get("wrapper") or opts.get("hookwrapper"))
    asynchronous = inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)
    if asynchronous:
        _check_async(name, func, opts, info)
    generator = inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func)
    if (hook in catalog_hooks.INTERCEPTOR_HOOKS) != interceptor:
        raise PluginValidationError(
            name,
            "an interceptor implements only catalog_call and catalog_point_call"
            if interceptor
            else f"{hook} is an interceptor hook: configure the plugin as an interceptor "
            f"([interceptors.{name}] in catalog.toml), not as a tenant plugin",
            hook=hook,
        )
    if interceptor:
        if not (opts.get("wrapper") and generator):
            raise PluginValidationError(
                name,
                "an interceptor hook must be a new-style wrapper: "
                "@hookimpl(wrapper=True) on a generator function that yields once",
                hook=hook,
            )
        if opts.get("tryfirst") or opts.get("trylast"):
            raise PluginValidationError(
                name,
                "interceptors are ordered by `order` in catalog.toml: remove tryfirst/trylast",
                hook=hook,
            )
    elif not info.interface and (wrapper or generator):
        # The catalog calls lifecycle hooks one by one and waits for their return value.
        raise PluginValidationError(
            name,
            "a lifecycle or event hook must be a plain function (not a generator or a wrapper)",
            hook=hook,
        )
    if wrapper and not generator:
        raise PluginValidationError(
            name, "a wrapper must be a generator function (it must `yield` once)", hook=hook
        )
    if not builtin and not wrapper and info.policy == "wrap" and info.interface:
        raise PluginValidationError(
            name,
            f"the {info.label} is implemented by the catalog and may only be wrapped: "
            "use @hookimpl(wrapper=True) and `yield`",
            hook=hook,
        )
    _check_annotations(name, func, info, argnames, wrapper)
    return Implementation(
        attr,
        func,
        info,
        MappingProxyType(dict(opts)),
        "ctx" in argnames,
        tuple(a for a in argnames if a != "ctx"),
        asynchronous,
    )


def _check_async(name: str, func: Any, opts: Mapping[str, Any], info: HookInfo) -> None:
    """``async def`` implementations: awaited on the async path (see ``runtime._async``)."""
    hook = info.hook
    if not info.interface and hook not in catalog_hooks.INTERCEPTOR_HOOKS:
        raise PluginValidationError(
            name,
            "a lifecycle or event hook must be a plain def: the catalog calls it synchronously",
            hook=hook,
        )
    if opts.get("hookwrapper"):
        raise PluginValidationError(
            name,
            "an old-style hookwrapper cannot be async: use @hookimpl(wrapper=True) on an "
            "async def that yields",
            hook=hook,
        )
    if opts.get("wrapper") and not inspect.isasyncgenfunction(func):
        raise PluginValidationError(
            name,
            "an async wrapper must `yield` (an async generator): `result = yield`, then "
            "optionally `yield new_result`",
            hook=hook,
        )
    if not opts.get("wrapper") and inspect.isasyncgenfunction(func):
        raise PluginValidationError(
            name,
            "an async def that yields is a wrapper: mark it @hookimpl(wrapper=True)",
            hook=hook,
        )


def check_plugin(
    source: PluginSource,
    module: ModuleType,
    hooks: Mapping[str, HookInfo],
    interfaces: Mapping[str, Interface],
    spec_manager: Callable[[], pluggy.PluginManager],
    *,
    builtin: bool,
    interceptor: bool = False,
    name: str | None = None,
) -> CheckedPlugin:
    """Check every hook implementation in ``module``; return what it implements.

    Raises PluginValidationError naming the plugin, the hook, and what was expected and found.
    Stricter than pluggy alone: unknown hooks, parameters with defaults (which pluggy would
    silently never pass), annotations that contradict the hook, ``async def``, undecorated
    look-alikes and, for customer plugins, replacing a step that may only be wrapped.
    ``spec_manager()`` gives a manager with the catalog's hookspecs and no plugins, for
    pluggy's own checks.
    """
    name = name or source.name
    meta = declared_meta(source, module)
    check_compatible(name, meta, interfaces)
    parser = pluggy.PluginManager(PROJECT)
    implementations: list[Implementation] = []
    # What the module's code defined, read from its namespace: neither a module-level
    # ``__dir__`` nor ``__getattr__`` (plugin code, which may raise anything) runs here.
    namespace = dict(vars(module))
    for attr in sorted(key for key in namespace if isinstance(key, str)):
        opts = parser.parse_hookimpl_opts(module, attr)
        if opts is None:
            value = namespace[attr]
            if attr in hooks and inspect.isfunction(value):
                raise PluginValidationError(
                    name,
                    "this function is named like a hook but has no @hookimpl decorator "
                    "(from catalog_cli import hookimpl)",
                    hook=attr,
                )
            continue
        hook = opts.get("specname") or attr
        info = hooks.get(hook)
        if info is None:
            hint = did_you_mean(hook, hooks)
            raise PluginValidationError(
                name, f"implements {hook}, which no interface declares{hint}", hook=hook
            )
        func = namespace[attr]
        if getattr(func, "__module__", module.__name__) != module.__name__:
            raise PluginValidationError(
                name,
                f"the implementation is defined in module {func.__module__}, not in the plugin: "
                "define the hook function in the plugin (it may call shared code)",
                hook=hook,
            )
        implementations.append(
            _implementation(name, attr, func, opts, info, builtin=builtin, interceptor=interceptor)
        )
    if not implementations:
        raise PluginValidationError(
            name, "implements no hooks (mark implementations with @hookimpl)"
        )
    checked = CheckedPlugin(name, source, module, meta, tuple(implementations))
    _check_targets(checked)
    _check_served(checked, interfaces, builtin=builtin)
    # pluggy's own checks too (e.g. wrapper and hookwrapper together), on the object a tenant
    # would register
    trial = spec_manager()
    # Pluggy registers only generator functions as wrappers: a tenant registers an async one
    # through a generator of the catalog's (``runtime._async.Handover``); its parameters and
    # options were checked above.
    plain = [i for i in implementations if not (i.asynchronous and i.wrapper)]
    plugin = plugin_object(checked, lambda impl: bind(impl, _PLACEHOLDER), plain)
    try:
        trial.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginValidationError(name, str(exc).replace("\n", " ")) from exc
    trial.unregister(plugin)
    return checked


class _Placeholder:
    """Stands in for a tenant's context when a plugin is checked on its own."""


_PLACEHOLDER = _Placeholder()


def bind(impl: Implementation, ctx: object) -> Callable[..., Any]:
    """The implementation with ``ctx`` bound, as pluggy will call it (without ``ctx``)."""
    if not impl.takes_ctx:
        return impl.function
    from types import MethodType

    # A bound method: pluggy leaves the bound first parameter out of what it passes, and
    # reads the @hookimpl marker through it.
    return MethodType(impl.function, ctx)


def _check_served(
    plugin: CheckedPlugin, interfaces: Mapping[str, Interface], *, builtin: bool
) -> None:
    """A version served by a newer one's code runs none of its own: a built-in for it would
    never run, nor would a plugin at one of its points that the version change maps nowhere.
    Both are refused rather than silently skipped."""
    for impl in plugin.implementations:
        info = impl.info
        if not info.interface:
            continue
        route = interfaces[info.interface].route(info.version)
        if route is None:
            continue
        served = f"{info.interface} v{info.version} is served by v{route.target}'s code"
        if builtin:
            raise PluginValidationError(
                plugin.name,
                f"{served} (version change {route.name}): remove this implementation of "
                f"{info.label}, which would never run",
                hook=info.hook,
            )
        if info.point is not None and info.point not in route.points:
            raise PluginValidationError(
                plugin.name,
                f"implements plugin point {info.point!r} of {info.interface} v{info.version}, "
                f"which runs no more: {served}, and the version change {route.name} maps no "
                f"point of v{route.target} onto it",
                hook=info.hook,
            )


def _check_targets(plugin: CheckedPlugin) -> None:
    """A plugin that names the interface versions it targets implements no others."""
    meta = plugin.meta
    if not meta.interfaces:
        return
    for use in plugin.uses:
        if use.interface and use.version not in meta.interfaces.get(use.interface, ()):
            raise PluginValidationError(
                plugin.name,
                f"implements {use.interface} v{use.version}, which its PLUGIN.interfaces "
                "does not list",
                hook=use.hook,
            )
