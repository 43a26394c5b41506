"""Interceptors: pluggy wrappers around a whole method call, and around plugin-point work.

An interceptor is a plugin whose hooks are ``catalog_call`` and ``catalog_point_call``,
implemented as new-style wrappers (``@hookimpl(wrapper=True)``). For each tenant in its scope
the catalog registers it in the tenant's own PluginManager; a call then goes through
``catalog_call``, whose innermost implementation is the catalog's and calls the entry point.
Every tenant wrapper on the entry point therefore runs inside every interceptor, and the order
of interceptors is the ``order`` from catalog.toml alone.

Tenants (and interfaces) with no interceptor in scope call the entry point directly: they pay
nothing for this module.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Final, NamedTuple, final

import pluggy

from ._markers import hookimpl, hookspec
from .errors import CatalogError

if TYPE_CHECKING:
    import logging
    from pathlib import Path

    from ._context import Context
    from ._interfaces import PluginPoint, Version

#: Hooks only interceptors may implement.
HOOKS: Final = ("catalog_call", "catalog_point_call")

#: The prefix of an interceptor's name in a tenant's PluginManager ("interceptor.logging").
PREFIX: Final = "interceptor."

#: The call in progress in this thread (and in threads an interceptor runs the method in).
current_call: contextvars.ContextVar[Call] = contextvars.ContextVar("catalog_current_call")


@hookspec(firstresult=True)
def catalog_call(call: Call) -> Any:
    """Wrap one method call: implement with ``@hookimpl(wrapper=True)`` and ``yield`` once."""


@hookspec(firstresult=True)
def catalog_point_call(call: Call, point: PointCall) -> Any:
    """Wrap one plugin's implementation at a plugin point (``wrapper=True``, ``yield`` once)."""


class InterceptorUse(NamedTuple):
    """An interceptor as registered for one tenant: in the order they wrap (outermost first)."""

    #: the name in catalog.toml (``[interceptors.<name>]``)
    name: str
    order: int
    module: ModuleType
    #: interface patterns it applies to (empty: all), and those it never applies to
    interfaces: tuple[str, ...]
    exclude_interfaces: tuple[str, ...]
    #: the interceptor hooks it implements
    hooks: tuple[str, ...]
    settings: Mapping[str, Any]
    builtin: bool
    #: the settings as written in catalog.toml (secrets as their "${env:NAME}" reference)
    written: Mapping[str, Any] = MappingProxyType({})

    @property
    def plugin_name(self) -> str:
        return PREFIX + self.name

    def applies(self, interface: str) -> bool:
        from fnmatch import fnmatchcase

        if any(fnmatchcase(interface, p) for p in self.exclude_interfaces):
            return False
        return not self.interfaces or any(fnmatchcase(interface, p) for p in self.interfaces)

    def to_dict(self) -> dict[str, Any]:
        from ._config import thaw

        return {
            "name": self.name,
            "order": self.order,
            "builtin": self.builtin,
            "interfaces": list(self.interfaces) or ["*"],
            "exclude_interfaces": list(self.exclude_interfaces),
            "hooks": list(self.hooks),
            "settings": thaw(self.written),
        }


class PointCall(NamedTuple):
    """One plugin's implementation of a plugin point, about to run (see ``catalog_point_call``)."""

    point: str
    hook: str
    #: the plugin whose implementation this is (its result is its own)
    plugin: str
    #: the declared return annotation, as written
    returns: str
    arguments: Mapping[str, Any]
    run: Callable[[], Any]
    #: a tenant wrapper's step: ``yield`` gives the value it returns (at a collect point, the
    #: list of results), which it made before the interceptors see it
    wrapper: bool = False


class _Innermost:
    """The catalog's own implementations of the interceptor hooks: they do the actual work."""

    @hookimpl
    def catalog_call(self, call: Call) -> Any:
        if call._response is None and call._runner is None:  # the common case, inlined
            return call._chain.entry(ctx=call.ctx, **call._arguments)
        return call._run_method()

    @hookimpl
    def catalog_point_call(self, point: PointCall) -> Any:
        return point.run()


#: The name the innermost implementations are registered under.
INNERMOST: Final = "catalog.call"
#: The call events wrapper (see _events), outside every interceptor.
EVENTS: Final = "catalog.events"


@final
class Chain:
    """Replaces the entry point caller of an intercepted call scope: runs ``catalog_call``."""

    __slots__ = (
        "_again",
        "by_module",
        "caller",
        "catalog_path",
        "declared",
        "entry",
        "generation",
        "interceptors",
        "own_states",
        "pm",
        "points",
        "source",
        "states",
    )

    def __init__(
        self,
        pm: pluggy.PluginManager,
        entry: Any,
        interceptors: tuple[InterceptorUse, ...],
        source: str,
        generation: int,
        states: dict[tuple[str, str], dict[str, Any]],
        declared: Version,
        catalog_path: Path | None,
    ) -> None:
        self.pm = pm
        self.declared = declared
        self.catalog_path = catalog_path
        #: (tenant, interceptor) -> that interceptor's state for that tenant (the catalog's)
        self.states = states
        self.entry = entry
        #: in wrap order, outermost first: those in scope for this interface
        self.interceptors = interceptors
        self.source = source
        self.generation = generation
        self._again: dict[str, Any] = {}
        self.caller = self._subset(set())
        #: module name -> interceptor, to find the one whose code reads call.settings
        self.by_module = {use.module.__name__: use for use in interceptors}
        #: module name -> that interceptor's state for this tenant (the dict in ``states``)
        self.own_states: dict[str, dict[str, Any]] = {}
        #: only point interceptors need to find the call from inside a plugin point
        self.points = any("catalog_point_call" in use.hooks for use in interceptors)

    def _subset(self, keep_out: set[str]) -> Any:
        """``catalog_call`` with the interceptors in scope but those in ``keep_out``; the call
        events wrapper (outside them all) only when nothing is kept out."""
        hook = self.pm.hook.catalog_call
        wanted = {use.plugin_name for use in self.interceptors} - keep_out
        if not keep_out:
            wanted.add(EVENTS)
        unwanted = [
            impl.plugin
            for impl in hook.get_hookimpls()
            if impl.plugin_name != INNERMOST and impl.plugin_name not in wanted
        ]
        if not unwanted:
            return hook
        return self.pm.subset_hook_caller("catalog_call", remove_plugins=unwanted)

    def again_caller(self, name: str) -> Any:
        """The chain inside interceptor ``name``: what it wraps, without itself."""
        found = self._again.get(name)
        if found is None:
            names = [use.name for use in self.interceptors]
            outer = {PREFIX + n for n in names[: names.index(name) + 1]}
            found = self._again[name] = self._subset(outer)
        return found

    def __call__(self, ctx: Context, **arguments: Any) -> Any:
        call = Call(self, ctx, arguments)
        if not self.points:
            return self.caller(call=call)
        token = current_call.set(call)
        try:
            return self.caller(call=call)
        finally:
            current_call.reset(token)


@final
class Call:
    """What an interceptor sees of a method call, and the ways it may steer it.

    ``settings``, ``state`` and ``log`` belong to the interceptor whose code reads them
    (found from the call stack, as for ``ctx.settings``).
    """

    __slots__ = (
        "_arguments",
        "_chain",
        "_response",
        "_runner",
        "ctx",
        "interface",
        "tenant",
        "version",
        "version_source",
    )

    def __init__(self, chain: Chain, ctx: Context, arguments: dict[str, Any]) -> None:
        self._chain = chain
        self.ctx = ctx
        self._arguments = arguments
        self._response: tuple[Any] | None = None
        self._runner: Callable[[Callable[[], Any]], Any] | None = None
        # Plain attributes: interceptors read them on every call.
        scope = ctx._scope
        self.tenant: str = scope.tenant
        self.interface: str = scope.interface
        self.version: int = scope.version
        #: which rule chose the version: requested, canary, tenant, catalog or latest
        self.version_source: str = chain.source

    @property
    def arguments(self) -> Mapping[str, Any]:
        """The arguments, checked and with defaults filled in (read-only)."""
        return MappingProxyType(self._arguments)

    @property
    def canary(self) -> bool:
        return self._chain.source == "canary"

    @property
    def call_id(self) -> str:
        return self.ctx.call_id

    @property
    def generation(self) -> int:
        """How many times the catalog was reloaded before this call's tenant was built."""
        return self._chain.generation

    @property
    def declared(self) -> Version:
        """The version's declaration: parameters, return type, plugin points."""
        return self._chain.declared

    @property
    def implementation(self) -> str:
        """The built-in plugin that implements the entry point."""
        return self.ctx._scope.implementation

    @property
    def catalog_path(self) -> Path | None:
        """The catalog file the call's catalog was loaded from."""
        return self._chain.catalog_path

    @property
    def interceptors(self) -> tuple[str, ...]:
        """The interceptors around this call, outermost first."""
        return tuple(use.name for use in self._chain.interceptors)

    # -- the reading interceptor's own ------------------------------------------------------

    def _use(self) -> InterceptorUse:
        by_module = self._chain.by_module
        frame = sys._getframe(2)
        while frame is not None:
            use = by_module.get(frame.f_globals.get("__name__", ""))
            if use is not None:
                return use
            frame = frame.f_back  # type: ignore[assignment]
        raise CatalogError("call.settings, call.state and call.log are for interceptor code only")

    @property
    def settings(self) -> Mapping[str, Any]:
        """The reading interceptor's settings for this tenant."""
        # The common case first: read in the interceptor's own hook function.
        use = self._chain.by_module.get(sys._getframe(1).f_globals.get("__name__", ""))
        return (use or self._use()).settings

    @property
    def state(self) -> dict[str, Any]:
        """A dict the reading interceptor keeps for this tenant: never shared with another
        tenant, kept across calls and reloads of the catalog."""
        chain = self._chain
        found = chain.own_states.get(sys._getframe(1).f_globals.get("__name__", ""))
        if found is None:
            use = self._use()
            found = chain.states.setdefault((self.tenant, use.name), {})
            chain.own_states[use.module.__name__] = found
        return found

    @property
    def log(self) -> logging.Logger:
        import logging

        return logging.getLogger(f"catalog.interceptors.{self._use().name}")

    # -- steering ----------------------------------------------------------------------------

    def again(self) -> Any:
        """Run what the calling interceptor wraps once more (the interceptors inside it, then
        the method), and return its result: for retries. An answer given by ``respond`` stands."""
        return self._chain.again_caller(self._use().name)(call=self)

    def respond(self, value: Any) -> None:
        """Answer the call with ``value`` instead of running the method (call before ``yield``):
        interceptors inside this one still see the call, which returns ``value`` at once."""
        self._response = (value,)

    def run_with(self, runner: Callable[[Callable[[], Any]], Any]) -> None:
        """Have ``runner(method)`` run the method, e.g. in another thread with a deadline.
        ``method()`` runs the entry point (in the context of this call) and returns its result."""
        self._runner = runner

    def _run_method(self) -> Any:
        if self._response is not None:
            return self._response[0]
        chain, ctx, arguments = self._chain, self.ctx, self._arguments
        if self._runner is None:
            return chain.entry(ctx=ctx, **arguments)
        context = contextvars.copy_context()
        return self._runner(lambda: context.run(chain.entry, ctx=ctx, **arguments))

    def __repr__(self) -> str:
        return (
            f"<Call {self.interface} v{self.version} ({self.version_source}) "
            f"for tenant {self.tenant!r}>"
        )


def register_interceptors(
    pm: pluggy.PluginManager, uses: Sequence[InterceptorUse], *, observed: bool = False
) -> None:
    """Register ``uses`` (outermost first) so pluggy calls them in that order.

    Pluggy calls the wrapper registered last first, so they are registered innermost first.
    ``observed``: the call events wrapper is on ``catalog_call`` too, so the hook is needed.
    """
    from ._tenants import register

    if not uses and not observed:
        return
    pm.register(_Innermost(), name=INNERMOST)
    for use in reversed(uses):
        register(pm, use.plugin_name, use.module)


def point_guards(
    pm: pluggy.PluginManager,
    points: Iterable[PluginPoint],
    uses: Sequence[InterceptorUse],
    isolated: Callable[[PluginPoint], bool],
    tenant: str,
) -> None:
    """Give each implementation at these plugin points the interceptors and error policy it
    needs. Pluggy calls ``impl.function(*args)`` for every implementation; replacing it on this
    tenant's own HookImpl records adds a step per implementation without touching plugin code
    or pluggy's call order. Points that need neither are left as they are."""
    for point in points:
        around = [
            use
            for use in uses
            if "catalog_point_call" in use.hooks and use.applies(point.interface)
        ]
        isolate = isolated(point)
        if not around and not isolate:
            continue
        caller = None
        if around:
            caller = _point_caller(pm, around)
        for impl in getattr(pm.hook, point.hook).get_hookimpls():
            if impl.wrapper and caller is not None:
                # What a wrapper returns is what it produced (a wrap point's value is often a
                # tenant wrapper's): the interceptors are told of it too.
                impl.function = _guard_wrapper(impl, point, caller)
            elif not (impl.wrapper or impl.hookwrapper):
                impl.function = _guard(impl, point, caller, isolate, tenant)


def _guard_wrapper(impl: pluggy.HookImpl, point: PluginPoint, caller: Any) -> Callable[..., Any]:
    from ._trace import relay

    original = impl.function
    names = impl.argnames
    plugin = impl.plugin_name

    def guarded(*args: Any) -> Generator[None, Any, Any]:
        result = yield from relay(original(*args))  # type: ignore[arg-type]
        call = current_call.get(None)
        if call is None:
            return result
        work = PointCall(
            point.name,
            point.hook,
            plugin,
            point.returns,
            MappingProxyType(dict(zip(names, args, strict=True))),
            lambda: result,
            wrapper=True,
        )
        return caller(call=call, point=work)

    return guarded


def _point_caller(pm: pluggy.PluginManager, around: Sequence[InterceptorUse]) -> Any:
    hook = pm.hook.catalog_point_call
    wanted = {use.plugin_name for use in around} | {INNERMOST}
    unwanted = [impl.plugin for impl in hook.get_hookimpls() if impl.plugin_name not in wanted]
    return (
        pm.subset_hook_caller("catalog_point_call", remove_plugins=unwanted) if unwanted else hook
    )


def _guard(
    impl: pluggy.HookImpl, point: PluginPoint, caller: Any, isolate: bool, tenant: str
) -> Callable[..., Any]:
    from .errors import PluginError

    original = impl.function
    names = impl.argnames
    plugin = impl.plugin_name
    ctx_at = names.index("ctx") if "ctx" in names else None

    def guarded(*args: Any) -> Any:
        call = current_call.get(None)
        # Only the plugin's own failures are isolated: an interceptor that fails around it
        # fails the call and is named for it.
        own = [False]

        def run() -> Any:
            try:
                return original(*args)
            except BaseException:
                own[0] = True
                raise

        try:
            if caller is None or call is None:
                return run()
            work = PointCall(
                point.name,
                point.hook,
                plugin,
                point.returns,
                MappingProxyType(dict(zip(names, args, strict=True))),
                run,
            )
            return caller(call=call, point=work)
        except (Exception, SystemExit) as exc:
            blamed = own[0] or (isinstance(exc, PluginError) and exc.plugin == plugin)
            if not isolate or not blamed:
                raise
            call_id = call.call_id if call is not None else None
            if call_id is None and ctx_at is not None:
                call_id = getattr(args[ctx_at], "call_id", None)
            _isolated(exc, plugin, point, tenant, call_id)
            return None

    return guarded


def _isolated(
    exc: BaseException, plugin: str, point: PluginPoint, tenant: str, call_id: str | None
) -> None:
    import logging

    from . import _trace

    logging.getLogger("catalog.errors").warning(
        "plugin %r failed at %s v%s plugin point %r for tenant %r (call %s); its result is "
        "left out (error policy: isolate): %s: %s",
        plugin,
        point.interface,
        point.version,
        point.name,
        tenant,
        call_id or "-",
        type(exc).__name__,
        exc,
    )
    _trace.note_isolated(plugin, exc)
