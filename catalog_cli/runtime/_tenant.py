"""One tenant at run time: its own PluginManager, its plugins' contexts, its prepared calls.

Built from the registry's plan for the tenant: the catalog's hookspecs (shared, parsed once),
the interceptors in the tenant's scope, the built-ins and the tenant's plugins, each
registered as a plugin object of this tenant whose functions have the plugin's own context
bound (see ``registry.plugin_object``). Nothing reachable from a context leads to another
tenant: the manager, the contexts, the settings and the interceptors' state are this
tenant's alone.

A catalog may have many thousands of tenants, so a tenant holds only what is its own: what
every tenant would compute alike (the steps that check a plugin's results, which code belongs
to which plugin) is made once per registry and shared, and a step is registered bound to the
tenant's context, as the plugin's own functions are.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Mapping
from types import CodeType, MappingProxyType, MethodType
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import pluggy

from ..declarations import PluginPoint, Version
from ..declarations import _hooks as catalog_hooks
from ..errors import PluginValidationError
from ..registry import (
    CheckedPlugin,
    HookUse,
    Implementation,
    InterceptorUse,
    PluginObject,
    Registry,
    TenantPlan,
    VersionChoice,
    async_twins,
    bind,
    plugin_object,
)
from . import _asteps as asteps
from . import _events as events
from . import _guards as guards
from ._adapters import Check
from ._async import AwaitablePoint, BridgePoint, handed_over
from ._context import Context, Points
from ._context import points as points_class
from ._direct import direct_entry
from ._intercept import INNERMOST, TWIN, Chain, InterceptorContext, async_impls, innermost
from ._modes import Modes, modes_of
from ._prepared import PreparedCall
from ._served import ServedCall, served_step
from ._trace import traced_function, traced_wrapper

if TYPE_CHECKING:
    from .._catalog_events import EventBus
    from ._workers import WorkerPool

#: Plugins without settings of their own share this one (read-only) mapping.
_NO_SETTINGS: Mapping[str, Any] = MappingProxyType({})
#: Preparing a call or a traced build is rare and quick: one lock serves every tenant.
_PREPARING = threading.Lock()


class TenantRuntime:
    """A tenant whose manager is built; see the module docstring."""

    __slots__ = (
        "__weakref__",
        "_events",
        "_point_callers",
        "_prepared",
        "_registry",
        "_served",
        "_states",
        "_traced",
        "_warned",
        "codes",
        "generation",
        "id",
        "interceptors",
        "modes",
        "observed",
        "plan",
        "plugins",
        "pm",
        "serving",
        "traced",
        "workers",
    )

    def __init__(
        self,
        registry: Registry,
        plan: TenantPlan,
        states: dict[str, dict[str, dict[str, Any]]],
        *,
        generation: int = 0,
        traced: bool = False,
        warned: set[str] | None = None,
        serving: int | None = None,
        catalog_events: EventBus | None = None,
        workers: WorkerPool | None = None,
    ) -> None:
        self.id = plan.id
        #: the worker processes of its isolated plugins (shared with its traced and served
        #: builds; started by ``Runtimes``), or None
        if workers is None and plan.workers is not None:
            from ._workers import pool_for  # only for isolated plugins: it starts processes

            workers = pool_for(registry, plan)
        self.workers = workers
        #: the catalog's events, which the tenant's interceptors may emit to
        self._events = catalog_events
        #: for the manager of a served version's calls: that version (what contexts say)
        self.serving = serving
        self.plan = plan
        self.generation = generation
        self.traced = traced
        self._registry = registry
        #: tenant -> interceptor -> what the interceptor keeps for the tenant (the catalog's)
        self._states = states
        self._prepared: dict[VersionChoice, PreparedCall] | None = None
        self._traced: TenantRuntime | None = None
        #: served version's entry point -> the tenant's manager for its calls (built when used)
        self._served: dict[str, TenantRuntime] | None = None
        #: entry points whose deprecation was logged for this tenant (traced calls included)
        self._warned = warned
        #: the tenant's plugins in call order
        shared = _shared(registry, plan)
        self.plugins: tuple[str, ...] = shared.plugins
        #: the interceptors around the tenant's calls, outermost first
        self.interceptors: tuple[InterceptorUse, ...] = plan.interceptors
        self.pm = registry.specs.manager()
        #: the code of every hook function of the tenant's plugins -> the plugin's name
        self.codes: Mapping[CodeType, str] = shared.codes
        #: a plugin of the tenant observes its calls (catalog_call_event)
        self.observed = shared.observed
        #: what runs on the async path (see ``_modes``)
        self.modes: Modes = modes_of(registry, plan)
        self._point_callers: dict[str, Any] | None = {} if self.interceptors else None
        self._register_interceptors()
        if self.observed:
            events.register_observers(self.pm)
        # Pluggy calls the most recently registered implementation first: the tenant's
        # plugins are registered in reverse, after the built-ins, so they run in the order the
        # tenant lists them, before the built-ins (the fallback of `first` points).
        points: dict[str, Points] = {}
        for plugin in registry.builtins:
            self._register(plugin, points, builtin=True)
        self._register_served()
        for plugin in reversed(plan.plugins):
            self._register(plugin, points, builtin=False)

    @property
    def hooks(self) -> Mapping[str, tuple[HookUse, ...]]:
        """plugin name -> hooks it implements (built-ins included)."""
        return MappingProxyType(
            {p.name: p.uses for p in (*self._registry.builtins, *self.plan.plugins)}
        )

    # -- building ----------------------------------------------------------------------------

    def _register_interceptors(self) -> None:
        uses = self.interceptors
        if not uses and not self.observed:
            return
        self.pm.register(innermost(), name=INNERMOST)
        # Pluggy calls the wrapper registered last first: innermost first, outermost last.
        states = self._states.setdefault(self.id, {})
        for use in reversed(uses):
            state = states.setdefault(use.name, {})
            token = self._events.token if self._events is not None else None
            ctx = InterceptorContext(use.name, self.id, use.settings, state, token)
            binder = self._interceptor_binder(use, ctx)
            twins = async_twins(use.plugin)
            if not twins:
                self._add(use.plugin_name, plugin_object(use.plugin, binder))
                continue
            # The plain ones for plain calls, the twins (a plugin of their own, right after)
            # for calls on the async path: see ``_intercept.async_impls``.
            plain = [i for i in use.plugin.implementations if i not in twins]
            self._add(use.plugin_name, plugin_object(use.plugin, binder, plain))
            self._add(use.plugin_name + TWIN, plugin_object(use.plugin, binder, twins))

    def _register_served(self) -> None:
        """Each version served by a newer one's code gets an implementation standing in for
        its own built-in (see ``_served``), named after its version change."""
        registry = self._registry
        for hook, (version, route) in registry.routes.items():
            running = registry.interfaces[version.interface].versions[route.target]
            implementation = registry.implementations[hook]
            served = ServedCall(self, version, route, running, implementation)
            plugin = PluginObject(implementation, None)
            step = served_step(version, asynchronous=hook in self.modes.versions)
            setattr(plugin, hook, MethodType(step, served))
            self._add(implementation, plugin)

    def served_view(self, hook: str) -> TenantRuntime:
        """The manager a served call of the version whose entry point is ``hook`` runs the
        newer version on: the built-ins, and this tenant's plugins for the served version's
        points, at the points they are mapped to (built on the first such call)."""
        views = self._served
        found = views.get(hook) if views is not None else None
        if found is None:
            with _PREPARING:
                if self._served is None:
                    self._served = {}
                found = self._served.get(hook)
                if found is None:
                    found = self._served[hook] = self._sibling(
                        self._registry.served_plan(self.plan, hook),
                        traced=self.traced,
                        serving=self._registry.routes[hook][0].number,
                    )
        return found

    def _sibling(
        self,
        plan: TenantPlan,
        *,
        traced: bool,
        serving: int | None = None,
    ) -> TenantRuntime:
        """Another build of this tenant (traced, or a served version's): the same generation,
        interceptor states and catalog events, and the deprecations logged once for both."""
        return TenantRuntime(
            self._registry,
            plan,
            self._states,
            generation=self.generation,
            traced=traced,
            warned=self._warned_set(),
            serving=serving,
            catalog_events=self._events,
            workers=self.workers,
        )

    def _warned_set(self) -> set[str]:
        """The entry points whose deprecation was logged (made when first needed)."""
        if self._warned is None:
            self._warned = set()
        return self._warned

    def _add(self, name: str, plugin: object) -> None:
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            # The registry checked the plugin on its own; this is what only a tenant shows
            # (two plugins of the same module, say).
            raise PluginValidationError(name, str(exc).replace("\n", " "), tenant=self.id) from exc

    def _register(self, plugin: CheckedPlugin, points: dict[str, Points], *, builtin: bool) -> None:
        settings = self.plan.settings.get(plugin.name, _NO_SETTINGS)
        contexts: dict[str, Context] = {}
        pool = self.workers if self.workers and plugin.name in self.workers.plugins else None

        def context(impl: Implementation) -> Context:
            info = impl.info
            # An async def implementation awaits the points: its context holds them so.
            key = f"{info.interface}.v{info.version}{'.async' if impl.asynchronous else ''}"
            found = contexts.get(key)
            if found is None:
                version = self._registry.interfaces[info.interface].versions[info.version]
                found = contexts[key] = Context(
                    self.id,
                    info.interface,
                    # A served call is a call of the served version, run by a newer one's code.
                    self.serving or info.version,
                    plugin.name,
                    settings,
                    self._points_of(version, points, awaitable=impl.asynchronous),
                )
            return found

        def implementation(impl: Implementation) -> Callable[..., Any]:
            info = impl.info
            if pool is not None:  # an isolated plugin: its code runs in the tenant's workers
                if not info.interface:
                    return pool.lifecycle(impl, plugin.name, self._registry.config.health_timeout)
                impl, remote = pool.stand_in(impl, context(impl), self._registry.shared)
                if info.hook in self.modes.points:
                    # awaited: the call waits for its worker in a thread, the event loop free
                    impl = asteps.in_a_thread(impl)
                return self._guarded(impl, cast(Context, remote), plugin.name, builtin=builtin)
            if not info.interface:  # lifecycle and event hooks: no context
                return impl.function
            if impl.opts.get("hookwrapper"):
                impl = self._new_style(impl, plugin.name)
            return self._guarded(impl, context(impl), plugin.name, builtin=builtin)

        if pool is not None:  # its health check tells the pool's state, also without its own
            from ._workers import with_health

            plugin = with_health(plugin, self._registry.hooks)
        self._add(plugin.name, plugin_object(plugin, implementation))

    def _points_of(
        self, version: Version, points: dict[str, Points], *, awaitable: bool = False
    ) -> Points:
        key = version.hook + (".async" if awaitable else "")
        found = points.get(key)
        if found is None:
            hook = self.pm.hook
            callers = {
                name: self._point(getattr(hook, p.hook), p, awaitable)
                for name, p in version.points.items()
            }
            found = points[key] = points_class(tuple(callers))(version, callers)
        return found

    def _point(self, caller: Any, point: PluginPoint, awaitable: bool) -> Any:
        """What ``ctx.points.<name>`` holds: the hook caller, or on the async path a caller
        that is awaited (``awaitable``: for async def code) or waits for the event loop."""
        on_loop = point.hook in self.modes.points
        if not (awaitable or on_loop):
            if not self.traced:
                return caller
            from ._trace import TracedCaller

            return TracedCaller(caller, "plugin point", point.name, policy=point.policy)
        trace = ("plugin point", point.name, {"policy": point.policy}) if self.traced else None
        found = AwaitablePoint(caller, trace=trace)
        return found if awaitable else BridgePoint(found)

    def _point_caller(self, interface: str) -> Any:
        """``catalog_point_call`` with the interceptors that apply to ``interface`` (None: none)."""
        callers = self._point_callers
        if callers is None:  # no interceptors
            return None
        if interface in callers:
            return callers[interface]
        around = [
            use
            for use in self.interceptors
            if "catalog_point_call" in use.hooks and use.applies(interface)
        ]
        caller = None
        if around:
            hook = self.pm.hook.catalog_point_call
            wanted = {use.plugin_name for use in around} | {INNERMOST}
            unwanted = [i.plugin for i in hook.get_hookimpls() if i.plugin_name not in wanted]
            caller = (
                self.pm.subset_hook_caller("catalog_point_call", remove_plugins=unwanted)
                if unwanted
                else hook
            )
        callers[interface] = caller
        return caller

    def _apoint_impls(self, interface: str) -> list[Any] | None:
        """``_point_caller`` on the async path: the implementations to drive (None: none)."""
        if self._point_caller(interface) is None:
            return None
        wanted = {
            use.plugin_name
            for use in self.interceptors
            if "catalog_point_call" in use.hooks and use.applies(interface)
        }
        return async_impls(self.pm.hook.catalog_point_call, wanted | {INNERMOST})

    def _guarded(
        self, impl: Implementation, ctx: Context, plugin: str, *, builtin: bool
    ) -> Callable[..., Any]:
        """The implementation bound to the plugin's context ``ctx``, with the steps this
        tenant needs around it (see ``_guards``)."""
        info = impl.info
        declared = self._registry.interfaces[info.interface].versions[info.version]
        point = declared.points.get(info.point) if info.point is not None else None
        caller = self._point_caller(info.interface) if point is not None else None
        modes = self.modes
        if (
            impl.asynchronous
            or (point is not None and point.hook in modes.points)
            or (point is None and not impl.wrapper and info.hook in modes.versions)
        ):
            impls = self._apoint_impls(info.interface) if point is not None else None
            return self._aguarded(impl, ctx, plugin, builtin, declared, point, impls)
        traced = self.traced
        # A customer plugin's results are checked by a step shared by every tenant.
        step = None if builtin else self._shared_step(impl, plugin, declared, point)
        function = bind(impl, ctx) if step is None else MethodType(step, ctx)
        if impl.wrapper:
            if traced:
                function = traced_wrapper(impl, function, "wrapper", info.hook, plugin)
            if caller is not None and point is not None:
                function = guards.routed_wrapper(impl, function, point, plugin, caller)
            return function
        if point is None:  # the entry point's implementation: the catalog's own
            if traced:
                function = traced_function(impl, function, "implementation", info.hook, plugin)
            return function
        if traced:
            function = traced_function(impl, function, "implementation", info.hook, plugin)
        isolate = point.key in self.plan.isolated
        if caller is not None or isolate:
            function = guards.point_guard(impl, function, point, plugin, self.id, caller, isolate)
        return function

    def _aguarded(
        self,
        impl: Implementation,
        ctx: Context,
        plugin: str,
        builtin: bool,
        declared: Version,
        point: PluginPoint | None,
        impls: list[Any] | None,
    ) -> Callable[..., Any]:
        """``_guarded`` for an implementation that runs on the async path (``_asteps``);
        ``impls``: the point interceptors' implementations to drive."""
        info = impl.info
        traced = self.traced
        asynchronous = impl.asynchronous
        routed = impls is not None and point is not None
        #: what an async wrapper gives, checked by the driver (see ``_async.Handover``)
        after = None
        if asynchronous and impl.wrapper:
            function = bind(impl, ctx)
            check = None if builtin else self._check(declared, point, plugin, wrapper=True)
            if check is not None and (traced or routed):
                function = asteps.checked_wrapper(impl, function, plugin, check, ctx)
            elif check is not None:
                after = functools.partial(check_for, check, ctx)
        else:
            # async def implementations at points are checked by shared steps too (awaited)
            step = None if builtin else self._shared_step(impl, plugin, declared, point)
            function = bind(impl, ctx) if step is None else MethodType(step, ctx)
        if impl.wrapper:
            if traced:
                function = asteps.traced_wrapper(impl, function, "wrapper", info.hook, plugin)
            if routed:
                assert impls is not None and point is not None
                function = asteps.routed_wrapper(impl, function, point, plugin, impls)
            return _registrable(impl, function, plugin, after)
        if traced:
            tracer = asteps.traced_function if asynchronous else traced_function
            function = tracer(impl, function, "implementation", info.hook, plugin)
        if point is None:
            # Plain code calling points that run on the async path waits in a worker thread.
            if not asynchronous and any(
                p.hook in self.modes.points for p in declared.points.values()
            ):
                function = asteps.offloaded(impl, function)
            return function
        isolate = point.key in self.plan.isolated
        if impls is not None or isolate:
            function = asteps.point_guard(impl, function, point, plugin, self.id, impls, isolate)
        return function

    def _new_style(self, impl: Implementation, plugin: str) -> Implementation:
        """``guards.new_style``, made once per registry: every tenant (and the steps shared
        by them, keyed by the function) shares it."""
        key = ("new-style", plugin, impl.attribute, impl.function)
        found: Implementation | None = self._registry.shared.get(key)
        if found is None:
            found = self._registry.shared.setdefault(key, guards.new_style(impl, plugin))
        return found

    def _shared_step(
        self, impl: Implementation, plugin: str, declared: Version, point: PluginPoint | None
    ) -> Callable[..., Any] | None:
        """The step that checks what a customer plugin's implementation returns (made once
        per registry, for every tenant), or None when there is nothing to check."""
        shared = self._registry.shared
        key = ("step", plugin, impl.attribute, impl.function)
        if key in shared:
            found: Callable[..., Any] | None = shared[key]
            return found
        step = None
        if impl.wrapper:
            check = self._check(declared, point, plugin, wrapper=True)
            data_type = declared.return_type if point is None else point.return_type
            step = guards.checked_wrapper(impl, plugin, check, data_type)
        elif point is not None and point.return_type is not None:
            check = self._check(declared, point, plugin, wrapper=False)
            assert check is not None
            step = guards.checked(
                impl,
                point.return_type,
                check,
                # at collect and first points None means "no answer"; a wrap point's step answers
                none_is_no_answer=point.policy != "wrap",
            )
        found = shared.setdefault(key, step)
        return found

    def _check(
        self, declared: Version, point: PluginPoint | None, plugin: str, *, wrapper: bool
    ) -> Check | None:
        """The check of what a customer plugin's implementation returns, if it can be checked
        (None passes at collect and first points: the step lets it through)."""
        if point is None:
            data_type = declared.return_type
            where = "entry point"
        else:
            if wrapper and point.policy == "collect":
                return None  # a wrapper there returns the list of answers
            data_type = point.return_type
            where = f"plugin point {point.name!r}"
        if data_type is None:
            return None
        return guards.result_check(
            data_type,
            plugin=plugin,
            interface=declared.interface,
            version=declared.number,
            where=where,
        )

    def _interceptor_binder(
        self, use: InterceptorUse, ctx: InterceptorContext
    ) -> Callable[[Implementation], Callable[..., Any]]:
        def implementation(impl: Implementation) -> Callable[..., Any]:
            function = bind(impl, ctx)
            # Around the whole call only: around each plugin's work the trace shows the plugin.
            if self.traced and impl.info.hook == "catalog_call":
                tracer = asteps.traced_wrapper if impl.asynchronous else traced_wrapper
                function = tracer(impl, function, "interceptor", use.name, use.plugin_name)
            return _registrable(impl, function, use.plugin_name)

        return implementation

    # -- calling -----------------------------------------------------------------------------

    def wrappers(self, hook: str) -> tuple[str, ...]:
        """The tenant's plugins that wrap ``hook``, outermost first."""
        found = [
            impl.plugin_name
            for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls())
            if (impl.wrapper or impl.hookwrapper) and impl.plugin_name in self.plugins
        ]
        return tuple(found)

    def prepared(self, choice: VersionChoice) -> PreparedCall:
        """The call of ``choice``'s version for this tenant, prepared once."""
        prepared = self._prepared
        found = prepared.get(choice) if prepared is not None else None
        if found is None:
            with _PREPARING:
                if self._prepared is None:
                    self._prepared = {}
                found = self._prepared.get(choice)
                if found is None:
                    found = self._prepared[choice] = self._prepare(choice)
        return found

    def _prepare(self, choice: VersionChoice) -> PreparedCall:
        registry = self._registry
        declared = registry.version(choice)
        if declared.deprecated is not None:
            warned = self._warned_set()
            if declared.hook not in warned:
                warned.add(declared.hook)  # once, traced or not
                _warn_deprecated(declared, self.id)
        implementation = registry.implementations[declared.hook]
        entry: Any = getattr(self.pm.hook, declared.hook)
        asynchronous = declared.hook in self.modes.versions
        name = f"{declared.interface} v{declared.number}"
        if asynchronous:
            entry = AwaitablePoint(entry, trace=("entry point", name, {}) if self.traced else None)
        elif self.traced:
            from ._trace import TracedCaller

            entry = TracedCaller(entry, "entry point", name)
        else:
            entry = direct_entry(self.pm, entry, tuple(p.name for p in declared.parameters))
        # A shadow canary's run of its candidate is no call of the tenant's: interceptors
        # (rate limits, breakers, recordings, caches) and observers never see it.
        shadow = choice.source == "shadow"
        around = tuple(
            use for use in self.interceptors if not shadow and use.applies(choice.interface)
        )
        if around or (self.observed and not shadow):
            entry = Chain(
                self.id,
                self.pm,
                entry,
                around,
                choice.source,
                self.generation,
                declared,
                registry.path,
                implementation,
                self.wrappers(declared.hook),
                asynchronous=asynchronous,
            )
        return PreparedCall(
            self.id,
            declared,
            choice.source,
            entry,
            implementation,
            self.codes,
            asynchronous=asynchronous,
        )

    def traced_runtime(self) -> TenantRuntime:
        """A build of this tenant whose implementations record themselves in the trace of the
        call in progress: the same plugin modules and settings, already started by this one."""
        found = self._traced
        if found is None:
            with _PREPARING:
                found = self._traced
                if found is None:
                    found = self._traced = self._sibling(self.plan, traced=True)
        return found

    def plugin_settings(self) -> dict[str, Mapping[str, Any]]:
        """plugin name -> its settings, in start order (built-ins, then dependencies first)."""
        names = [*(p.name for p in self._registry.builtins), *reversed(self.plugins)]
        return {name: self.plan.settings.get(name, _NO_SETTINGS) for name in names}

    def __repr__(self) -> str:
        return f"<TenantRuntime {self.id!r}{' (traced)' if self.traced else ''}>"


class _Shared(NamedTuple):
    """What tenants with the same plugins and interceptors have alike."""

    #: the plugins' names, in call order
    plugins: tuple[str, ...]
    codes: Mapping[CodeType, str]
    observed: bool


def _shared(registry: Registry, plan: TenantPlan) -> _Shared:
    """Computed once per registry for each set of plugins and interceptors."""
    key = (
        "plugins",
        tuple((p.name, p.module) for p in plan.plugins),
        tuple((use.plugin_name, use.module) for use in plan.interceptors),
    )
    found: _Shared | None = registry.shared.get(key)
    if found is None:
        codes: dict[CodeType, str] = {}
        everyone = [*registry.builtins, *plan.plugins]
        for plugin in everyone:
            for code in (*plugin.codes, *guards.codes(plugin)):
                codes.setdefault(code, plugin.name)
        for use in plan.interceptors:
            for code in use.plugin.codes:
                codes.setdefault(code, use.plugin_name)
        observed = any(
            use.hook == catalog_hooks.EVENTS for plugin in everyone for use in plugin.uses
        )
        names = tuple(p.name for p in plan.plugins)
        found = registry.shared.setdefault(key, _Shared(names, MappingProxyType(codes), observed))
    return found


def _registrable(
    impl: Implementation,
    function: Callable[..., Any],
    plugin: str,
    after: Callable[[Any], Any] | None = None,
) -> Callable[..., Any]:
    """An async wrapper as pluggy can register it (see ``_async.Handover``), what it gives
    passed through ``after``; anything else as is."""
    if inspect.isasyncgenfunction(function):
        return handed_over(impl.argnames, function, impl.opts, impl.attribute, plugin, after)
    return function


def check_for(check: Check, ctx: Context, value: Any) -> Any:
    """``check`` of what a plugin of the tenant of ``ctx`` gave."""
    return check(value, ctx)


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
