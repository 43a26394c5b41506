"""Interceptors: pluggy wrappers around a whole method call, and around plugin-point work.

An interceptor is a plugin whose hooks are ``catalog_call(ctx, call)`` and
``catalog_point_call(ctx, call, point)``, implemented as new-style wrappers
(``@hookimpl(wrapper=True)``). ``ctx`` is the interceptor's own context for the tenant (its
settings, state and logger), bound when the tenant is built; ``call`` is the call in progress.
For each tenant in its scope the catalog registers it in the tenant's own PluginManager; a
call then goes through ``catalog_call``, whose innermost implementation is the catalog's and
calls the entry point. Every tenant wrapper on the entry point therefore runs inside every
interceptor, and the order of interceptors is the ``order`` from catalog.toml alone.

Tenants (and interfaces) with no interceptor in scope call the entry point directly: they pay
nothing for this module.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NamedTuple, final

import pluggy

from ..declarations import hookimpl
from ..registry import PREFIX, InterceptorUse
from ._context import CURRENT, call_id_of
from ._guards import WrapperMisbehaved, passed_on

if TYPE_CHECKING:
    import logging

    from ..declarations import PluginPoint, Version

#: The call in progress in this thread (and in threads an interceptor runs the method in).
current_call: contextvars.ContextVar[Call] = contextvars.ContextVar("catalog_current_call")

#: The name the innermost implementations are registered under.
INNERMOST: Final = "catalog.call"
#: The call events wrapper (see _events), outside every interceptor.
EVENTS: Final = "catalog.events"
#: An interceptor's async twins (see ``twins``) are registered under its name and this.
TWIN: Final = "@async"


@final
class InterceptorContext:
    """What an interceptor's hooks receive as ``ctx``: its own, for one tenant."""

    __slots__ = ("_events", "_log", "name", "settings", "state", "tenant")

    def __init__(
        self,
        name: str,
        tenant: str,
        settings: Mapping[str, Any],
        state: dict[str, Any],
        events: int | None = None,
    ) -> None:
        #: the interceptor's name in catalog.toml
        self.name = name
        self.tenant = tenant
        #: its settings for this tenant (read-only)
        self.settings = settings
        #: a dict it keeps for this tenant: never shared with another tenant, kept across
        #: calls and reloads of the catalog
        self.state = state
        self._log: logging.Logger | None = None
        #: the token of the catalog's EventBus (the bus itself leads to every tenant)
        self._events = events

    def emit(self, kind: str, details: Mapping[str, Any] | None = None) -> None:
        """Tell the catalog's event subscribers (and this tenant's plugins) that ``kind``
        happened to this tenant; queued, never raises, never waits for a subscriber."""
        if self._events is not None:
            from .._catalog_events import emit_to

            emit_to(self._events, kind, self.tenant, details)

    @property
    def plugin(self) -> str:
        """Its name in the tenant's PluginManager (``interceptor.<name>``)."""
        return PREFIX + self.name

    @property
    def log(self) -> logging.Logger:
        """The logger ``catalog.interceptors.<name>``."""
        if self._log is None:
            import logging

            self._log = logging.getLogger(f"catalog.interceptors.{self.name}")
        return self._log

    def __repr__(self) -> str:
        return f"<InterceptorContext {self.name!r} for tenant {self.tenant!r}>"


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
    #: the point's declaration (the running version's: a call of a version served by a newer
    #: one's code runs the newer version's points)
    declared: PluginPoint | None = None

    @classmethod
    def at(
        cls,
        point: PluginPoint,
        plugin: str,
        argnames: tuple[str, ...],
        args: tuple[Any, ...],
        run: Callable[[], Any],
        *,
        wrapper: bool = False,
    ) -> PointCall:
        """``plugin``'s work at ``point`` with ``args`` (the values of ``argnames``)."""
        arguments = MappingProxyType(dict(zip(argnames, args, strict=True)))
        return cls(point.name, point.hook, plugin, point.returns, arguments, run, wrapper, point)


class _Innermost:
    """The catalog's own implementations of the interceptor hooks: they do the actual work."""

    @hookimpl
    def catalog_call(self, call: Call) -> Any:
        if call._response is None and call._runner is None:  # the common case, inlined
            return call._chain.entry(**call._arguments)
        return call._run_method()

    @hookimpl
    def catalog_point_call(self, point: PointCall) -> Any:
        return point.run()


@final
class Chain:
    """In place of the entry point's hook caller for a version of a tenant with interceptors
    (or call observers): each call goes through ``catalog_call``."""

    __slots__ = (
        "_again",
        "_aimpls",
        "_plan",
        "asynchronous",
        "caller",
        "catalog_path",
        "declared",
        "entry",
        "generation",
        "implementation",
        "interceptors",
        "pm",
        "points",
        "source",
        "tenant",
        "wrappers",
    )

    def __init__(
        self,
        tenant: str,
        pm: pluggy.PluginManager,
        entry: Any,
        interceptors: tuple[InterceptorUse, ...],
        source: str,
        generation: int,
        declared: Version,
        catalog_path: Path | None,
        implementation: str,
        wrappers: tuple[str, ...],
        *,
        asynchronous: bool = False,
    ) -> None:
        self.tenant = tenant
        self.pm = pm
        self.declared = declared
        self.catalog_path = catalog_path
        self.entry = entry
        #: in wrap order, outermost first: those in scope for this interface
        self.interceptors = interceptors
        self.source = source
        self.generation = generation
        self.implementation = implementation
        #: the tenant's plugins wrapping the entry point
        self.wrappers = wrappers
        self._again: dict[str, Any] = {}
        #: the calls run on the async path: ``entry`` is then awaited (see ``_async``)
        self.asynchronous = asynchronous
        self.caller = self._subset(set())
        self._plan: Plan | None = None
        self._aimpls: list[Any] | None = None
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

    def _outer(self, name: str) -> set[str]:
        """Interceptor ``name`` and those outside it (by their plugin names)."""
        names = [use.name for use in self.interceptors]
        return {PREFIX + n for n in names[: names.index(name) + 1]}

    def again_caller(self, name: str) -> Any:
        """The chain inside interceptor ``name``: what it wraps, without itself."""
        found = self._again.get(name)
        if found is None:
            found = self._again[name] = self._subset(self._outer(name))
        return found

    def again_plan(self, name: str) -> Plan:
        """``again_caller`` as the plan ``drive`` runs."""
        key = "plan:" + name
        found = self._again.get(key)
        if found is None:
            found = self._again[key] = plan_of(self.again_caller(name))
        return found

    def again_impls(self, name: str) -> list[Any]:
        """``again_caller`` on the async path: the implementations to drive."""
        key = TWIN + name
        found = self._again.get(key)
        if found is None:
            found = self._again[key] = self._async_subset(self._outer(name))
        return found

    def _async_subset(self, keep_out: set[str]) -> list[Any]:
        """``_subset`` on the async path: interceptors with async twins run their twins, and
        the innermost implementation awaits the method."""
        wanted = {use.plugin_name for use in self.interceptors} - keep_out
        if not keep_out:
            wanted.add(EVENTS)
        return async_impls(self.pm.hook.catalog_call, wanted)

    def __call__(self, **arguments: Any) -> Any:
        if self.asynchronous:
            from ._async import run_sync

            declared = self.declared
            return run_sync(
                lambda: self.acall(**arguments), self.tenant, declared.interface, declared.number
            )
        call = Call(self, arguments)
        plan = self._plan
        if plan is None:
            plan = self._plan = plan_of(self.caller)
        if not self.points:
            return drive(plan, call)
        token = current_call.set(call)
        try:
            return drive(plan, call)
        finally:
            current_call.reset(token)

    async def acall(self, **arguments: Any) -> Any:
        """A call on the async path: the interceptors (plain or async) driven and awaited."""
        from ._async import call_hook

        impls = self._aimpls
        if impls is None:
            impls = self._aimpls = self._async_subset(set())
        call = Call(self, arguments)
        token = current_call.set(call)
        try:
            return await call_hook(impls, {"call": call}, True, "catalog_call")
        finally:
            current_call.reset(token)


#: The interceptors' wrappers of a chain, outermost first (function, whether it takes the call,
#: plugin name), and the hook caller they come from; no wrappers (None) when one of them is
#: not a new-style wrapper taking only the call: then pluggy calls them.
Plan = tuple[tuple[tuple[Callable[..., Any], bool, str], ...] | None, Any]


def plan_of(caller: Any) -> Plan:
    """What ``drive`` needs of ``catalog_call``'s implementations in ``caller``."""
    steps = []
    for impl in reversed(caller.get_hookimpls()):
        if impl.plugin_name == INNERMOST:
            continue
        if not impl.wrapper or tuple(impl.argnames) not in ((), ("call",)):
            return None, caller
        steps.append((impl.function, bool(impl.argnames), impl.plugin_name))
    return tuple(steps), caller


def drive(plan: Plan, call: Call) -> Any:
    """``catalog_call`` for ``call``: the interceptors' new-style wrappers driven as pluggy
    drives them (each to its ``yield``, outermost first; then the method; then each given the
    result or the exception, innermost first), without the generic work of a hook call (they
    are known to be wrappers taking the call, and what they wrap to be the method)."""
    steps, caller = plan
    if steps is None:
        return caller(call=call)
    entered = []
    error: BaseException | None = None
    result: Any = None
    try:
        for function, takes_call, plugin in steps:
            gen = function(call) if takes_call else function()
            try:
                next(gen)
            except StopIteration:
                raise WrapperMisbehaved(plugin, "catalog_call", "did not yield") from None
            entered.append((gen, plugin))
        if call._response is None and call._runner is None:  # the common case, inlined
            result = call._chain.entry(**call._arguments)
        else:
            result = call._run_method()
    except BaseException as exc:
        error = exc
    # ``_guards.resume``, inlined: this runs for every wrapper of every call.
    for gen, plugin in reversed(entered):
        try:
            if error is None:
                gen.send(result)
            else:
                gen.throw(error)
        except StopIteration as stop:
            result, error = stop.value, None
        except RuntimeError as exc:
            if not passed_on(exc, error, gen):
                result, error = None, exc
        except BaseException as exc:
            result, error = None, exc
        else:
            result, error = None, WrapperMisbehaved(plugin, "catalog_call", "yielded twice")
    if error is not None:
        raise error
    return result


class _AsyncInnermost(NamedTuple):
    """The innermost implementation of ``catalog_call`` on the async path, in its place in
    the list of implementations the async driver calls (it reads only these attributes)."""

    function: Callable[..., Any]
    argnames: tuple[str, ...] = ("call",)
    plugin_name: str = INNERMOST
    hookwrapper: bool = False
    wrapper: bool = False


async def _arun_method(call: Call) -> Any:
    return await call._arun_method()


def async_impls(hook: Any, wanted: set[str]) -> list[Any]:
    """The implementations of an interceptor hook (``catalog_call`` or ``catalog_point_call``)
    for the async driver, of the interceptors in ``wanted``: an interceptor with an async twin
    runs its twin, and the catalog's innermost ``catalog_call`` awaits the method."""
    impls = hook.get_hookimpls()
    twinned = {i.plugin_name.removesuffix(TWIN) for i in impls if i.plugin_name.endswith(TWIN)}
    found: list[Any] = []
    for impl in impls:
        name = impl.plugin_name
        if name == INNERMOST:
            found.append(_AsyncInnermost(_arun_method) if hook.name == "catalog_call" else impl)
        elif name.endswith(TWIN):
            if name.removesuffix(TWIN) in wanted:
                found.append(impl)
        elif name in wanted and name not in twinned:
            found.append(impl)
    return found


@final
class Call:
    """What an interceptor sees of a method call, and the ways it may steer it.

    The interceptor's own settings, state and logger are on its ``ctx``.
    """

    __slots__ = (
        "_arguments",
        "_chain",
        "_response",
        "_runner",
        "_serial",
        "interface",
        "tenant",
        "version",
        "version_source",
    )

    def __init__(self, chain: Chain, arguments: dict[str, Any]) -> None:
        self._chain = chain
        self._arguments = arguments
        self._response: tuple[Any] | None = None
        self._runner: Callable[[Callable[[], Any]], Any] | None = None
        self._serial = CURRENT.get(0)
        declared = chain.declared
        # Plain attributes: interceptors read them on every call.
        self.tenant: str = chain.tenant
        self.interface: str = declared.interface
        self.version: int = declared.number
        #: which rule chose the version: requested, canary, tenant, catalog or latest
        self.version_source: str = chain.source

    @property
    def arguments(self) -> Mapping[str, Any]:
        """The arguments, checked and with defaults filled in (read-only)."""
        return MappingProxyType(self._arguments)

    @property
    def asynchronous(self) -> bool:
        """The call runs on the async path: ``again`` returns an awaitable, and a runner given
        to ``run_with`` gets a ``method`` whose result is awaited (see docs/interceptors.md)."""
        return self._chain.asynchronous

    @property
    def canary(self) -> bool:
        return self._chain.source == "canary"

    @property
    def call_id(self) -> str:
        return call_id_of(self._serial)

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
        return self._chain.implementation

    @property
    def wrappers(self) -> tuple[str, ...]:
        """The tenant's plugins that wrap the entry point (they may change its result)."""
        return self._chain.wrappers

    @property
    def catalog_path(self) -> Path | None:
        """The catalog file the call's catalog was loaded from."""
        return self._chain.catalog_path

    @property
    def interceptors(self) -> tuple[str, ...]:
        """The interceptors around this call, outermost first."""
        return tuple(use.name for use in self._chain.interceptors)

    def __getattr__(self, name: str) -> Any:
        if name in ("settings", "state", "log"):
            raise AttributeError(
                f"call.{name} is on the interceptor's own context: take it as the first "
                f"parameter, `def catalog_call(ctx, call)`, and read ctx.{name}"
            )
        raise AttributeError(name)

    # -- steering ----------------------------------------------------------------------------

    def again(self, ctx: InterceptorContext) -> Any:
        """Run what the interceptor ``ctx`` belongs to wraps once more (the interceptors inside
        it, then the method), and return its result: for retries. An answer given by
        ``respond`` stands. On the async path (``call.asynchronous``) it returns an
        awaitable: an ``async def`` interceptor awaits it."""
        if self.asynchronous:
            from ._async import call_hook

            impls = self._chain.again_impls(ctx.name)
            return call_hook(impls, {"call": self}, True, "catalog_call")
        return drive(self._chain.again_plan(ctx.name), self)

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
        chain, arguments = self._chain, self._arguments
        if self._runner is None:
            return chain.entry(**arguments)
        context = contextvars.copy_context()
        return self._runner(lambda: context.run(chain.entry, **arguments))

    async def _arun_method(self) -> Any:
        if self._response is not None:
            return self._response[0]
        chain, arguments = self._chain, self._arguments
        if self._runner is None:
            return await chain.entry(**arguments)
        # ``method()`` gives an awaitable here; a runner may return one (asyncio.wait_for).
        result = self._runner(lambda: chain.entry(**arguments))
        if inspect.isawaitable(result):
            result = await result
        return result

    def __repr__(self) -> str:
        return (
            f"<Call {self.interface} v{self.version} ({self.version_source}) "
            f"for tenant {self.tenant!r}>"
        )


def innermost() -> _Innermost:
    return _Innermost()
