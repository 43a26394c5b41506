"""The public ``Catalog``: load a catalog file, run methods for tenants, describe what runs."""

from __future__ import annotations

import os
import threading
import types
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, final, runtime_checkable

import pluggy

from .. import _interrupts
from .._catalog_events import CatalogEvent, EventBus, Subscriber, call_safely
from ..config import Canary, CatalogConfig, find_catalog, read_config
from ..declarations import Interface, Version
from ..errors import CatalogError, ReloadError, UnknownCanaryError, UnknownPluginPointError
from ..registry import Disabling, Registry, VersionChoice, VersionSource
from ..registry._rollout import CanarySeries, CanaryStatus, Rollback, Rollouts, rollbacks_path
from ..runtime import (
    CanaryCall,
    HealthResult,
    PreparedCall,
    Runtimes,
    States,
    StepPlan,
    TenantRuntime,
    Trace,
    call_plan,
    stop,
)
from ..runtime import _lifecycle as lifecycle
from . import _describe as describe
from ._contract import PluginReport
from ._contract import check_plugin as check_contract
from ._limits import Bulkheads, CallLimits, limits_of
from ._pipeline import acall as acall_pipeline
from ._pipeline import call as call_pipeline
from ._plugin_state import PluginStateFile, state_path
from ._requests import CallAnswer, CallRequest
from ._views import CheckReport, InterceptorInfo, PluginInfo, TenantInfo

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ..interceptors.metrics import Series
    from ..runtime._workers import PoolStatus
    from ._management import PluginChange
    from ._watch import Watcher


class CallOutcome(NamedTuple):
    """A method's result with the facts of the call: which version ran and why."""

    result: Any
    interface: str
    version: int
    version_source: VersionSource
    customer: str
    call_id: str
    seconds: float
    #: for ``execute(..., trace=True)``: what ran, as a tree
    trace: Trace | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "interface": self.interface,
            "version": self.version,
            "version_source": self.version_source,
            "customer": self.customer,
            "call_id": self.call_id,
            "seconds": self.seconds,
            "result": self.result,
        }
        if self.trace is not None:
            data["trace"] = self.trace.to_dict()
        return data


@runtime_checkable
class Method(Protocol):
    """What :meth:`Catalog.method` returns: one interface version for one tenant, as a
    function. ``method(**arguments)`` checks the arguments, then runs the method (errors as for
    :meth:`Catalog.run`)."""

    #: the declaration of the version it runs (the tenant's, before any canary split)
    version: Version
    tenant: str

    def __call__(self, **arguments: Any) -> Any: ...

    async def acall(self, **arguments: Any) -> Any:
        """The call awaited: on the async path when the version runs async def
        implementations for the tenant (see :meth:`Catalog.arun`)."""


def _method(call: PreparedCall | CanaryCall, runtimes: Runtimes) -> Method:
    """A function of its own for ``call``: the prepared call's own code (so calling it costs
    no step of ours), with the facts of the call as attributes."""
    if isinstance(call, PreparedCall):
        shared = call.call
        own: Any = types.FunctionType(
            shared.__code__,
            shared.__globals__,
            shared.__name__,
            shared.__defaults__,
            shared.__closure__,
        )
        own.__kwdefaults__ = shared.__kwdefaults__
        own.acall = call.acall
        declared = call.declared
    else:
        canary = call

        def own(**arguments: Any) -> Any:
            return canary.call(**arguments)

        own.acall = canary.acall

        declared = runtimes.registry.version(runtimes.registry.resolve(call.interface, call.tenant))
    own.__name__ = own.__qualname__ = f"{declared.hook} for {call.tenant}"
    own.__doc__ = declared.doc
    own.version = declared
    own.tenant = call.tenant
    # Held so the plugins it calls are not shut down by a reload while it lives.
    own.catalog_runtimes = runtimes
    method: Method = own
    return method


@final
class Catalog:
    """A catalog of versioned methods and the per-tenant plugins that change them.

    >>> catalog = Catalog.load()  # doctest: +SKIP
    >>> catalog.run("interface_a", customer="c1", version=2, name="Ada")  # doctest: +SKIP
    'Hi Ada, welcome back!\\n-- The Acme Retail team'
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        limits: bool = False,
        clock: Callable[[], float] | None = None,
        watch: bool = False,
    ) -> None:
        """Load the catalog file at ``path``. ``limits``: apply ``[limits]`` to calls made
        here (each tenant's calls running at once, refused beyond its limit with
        ConcurrencyLimitError; a deadline for every call not given one), as a server does.
        ``clock``: seconds since the epoch now, for canary ramps and the time of rollbacks
        (default ``time.time``; a test gives its own). ``watch``: reload when the catalog
        file or its code changes (see :meth:`watch`)."""
        self.path = Path(path)
        self._bulkheads = Bulkheads() if limits else None
        self._watcher: Watcher | None = None
        #: tenant -> interceptor -> what the interceptor keeps for the tenant (across reloads)
        self._states: States = {}
        #: what happened to the catalog, told to subscribers and to each tenant's plugins
        self._events = EventBus(to_tenant=self._to_tenant)
        #: the canaries' state (shares now, outcomes, rollbacks), across reloads
        self._rollouts = Rollouts(rollbacks_path(self.path), clock)
        #: the plugins disabled at run time, kept for the next start (see ``_management``)
        self._plugin_state = PluginStateFile(state_path(self.path))
        registry = Registry(read_config(self.path), rollouts=self._rollouts)
        registry.disabled = self._plugin_state.read()
        self._runtimes = Runtimes(registry, self._states, events=self._events)
        self._reloading = threading.Lock()
        _interrupts.install()
        if watch:
            self.watch()

    def watch(
        self, *, debounce: float = 0.3, on_reload: Callable[[Catalog], None] | None = None
    ) -> Watcher:
        """Reload whenever the catalog file, its declaration, built-in or plugin folders, or
        a module ``[catalog]`` names change (once the files have been quiet for ``debounce``
        seconds); a refused reload is logged and the catalog in use serves on. ``on_reload``
        is called after each reload. Needs the ``watch`` extra. Stopped by :meth:`close`."""
        if self._watcher is None:
            from ._watch import Watcher

            self._watcher = Watcher(self, debounce=debounce, on_reload=on_reload)
        return self._watcher

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        limits: bool = False,
        clock: Callable[[], float] | None = None,
        watch: bool = False,
    ) -> Catalog:
        """Load ``path``, else $CATALOG_FILE, the nearest ./catalog.toml, or the example
        (``limits``, ``clock`` and ``watch``: see the constructor)."""
        found, _why = find_catalog(path)
        return cls(found, limits=limits, clock=clock, watch=watch)

    @property
    def registry(self) -> Registry:
        """What the catalog holds, as of the last load or reload (read-only)."""
        return self._runtimes.registry

    # -- running ---------------------------------------------------------------------------

    def run(
        self, interface: str, /, *, customer: str, version: int | None = None, **kwargs: Any
    ) -> Any:
        """Run ``interface`` for ``customer`` and return its result.

        The version is ``version`` if given, else the tenant's pin, the catalog's default, or
        the latest. Raises InvalidArgumentsError before any plugin runs if ``kwargs`` do not fit
        the version's declaration, and PluginCallError naming the plugin if one raises.
        """
        if self._bulkheads is not None:
            return self.execute(interface, customer=customer, version=version, arguments=kwargs)[0]
        runtimes = self._runtimes  # held: a reload does not stop what this call runs
        call = runtimes.calls.get((customer, interface, version))
        if call is None:
            call = runtimes.call(customer, interface, version, kwargs)
        return call(**kwargs)

    async def arun(
        self, interface: str, /, *, customer: str, version: int | None = None, **kwargs: Any
    ) -> Any:
        """:meth:`run` awaited. A version whose plugins (or interceptors) for ``customer``
        include ``async def`` implementations runs on the async path: its async code is
        awaited on this event loop, plain code runs as it would in :meth:`run` (in a worker
        thread when it calls plugin points with async implementations). A version with only
        plain implementations runs as :meth:`run` runs it. Errors as for :meth:`run`."""
        if self._bulkheads is not None:
            request = CallRequest(customer, interface, version, kwargs)
            answer = await self.acall(request)
            if not answer.ok:
                answer.raise_error()
            return answer.result
        runtimes = self._runtimes
        call = runtimes.acalls.get((customer, interface, version))
        if call is None:
            call = runtimes.acall(customer, interface, version, kwargs)
        return await call(**kwargs)

    async def acall(
        self,
        request: CallRequest,
        *,
        timeout: float | None = None,
        trace: bool = False,
        choice: VersionChoice | None = None,
        call_id: str | None = None,
    ) -> CallAnswer:
        """:meth:`call` awaited (see :meth:`arun`); ``timeout`` cancels a call on the async
        path at its deadline."""
        return await acall_pipeline(
            self._runtimes,
            request,
            timeout=timeout,
            trace=trace,
            choice=choice,
            bulkheads=self._bulkheads,
            call_id=call_id,
        )

    def runs_async(
        self,
        interface: str,
        *,
        customer: str,
        version: int | None = None,
        build: bool = True,
        choice: VersionChoice | None = None,
    ) -> bool:
        """Whether ``customer``'s calls of ``interface`` (``version``, else its version; or
        the version ``choice`` decided) run on the async path: some of what they run is
        ``async def``. ``build``: build the tenant to find out (else a tenant not built yet,
        or failing closed, answers False)."""
        runtimes = self._runtimes
        if choice is None:
            choice = runtimes.registry.resolve(interface, customer, version)
        if not build and not isinstance(runtimes.known(customer), TenantRuntime):
            return False
        return runtimes.prepared(customer, choice).asynchronous

    def call(
        self,
        request: CallRequest,
        *,
        timeout: float | None = None,
        trace: bool = False,
        choice: VersionChoice | None = None,
        call_id: str | None = None,
    ) -> CallAnswer:
        """Run ``request`` and answer with its result, or its error as data (never raises a
        catalog error). ``timeout`` bounds the wait in seconds; ``trace`` records what ran;
        ``choice`` is a version decided before by :meth:`resolve_version` with these
        arguments (a canary decided by chance is then not decided twice); ``call_id`` is the
        id to give the call (default: a new one, see ``new_call_id``)."""
        return call_pipeline(
            self._runtimes,
            request,
            timeout=timeout,
            trace=trace,
            choice=choice,
            bulkheads=self._bulkheads,
            call_id=call_id,
        )

    def limits(self, customer: str, interface: str) -> CallLimits:
        """What ``[limits]`` sets for ``customer``'s calls of ``interface``: calls running at
        once (0: no limit) and the deadline of a call not given one."""
        return limits_of(self.config, customer, interface)

    def execute(
        self,
        interface: str,
        *,
        customer: str,
        version: int | None = None,
        arguments: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        trace: bool = False,
        choice: VersionChoice | None = None,
    ) -> CallOutcome:
        """Like :meth:`run`, with the call's facts; ``timeout`` (seconds) bounds the wait.

        Python cannot stop a running thread: on timeout the caller gets CallTimeoutError at the
        deadline, and the abandoned call finishes (or hangs) in a daemon thread.
        ``trace``: record what ran in ``outcome.trace``; if the call fails, the error carries it
        as ``error.trace``. ``choice``: see :meth:`call`.
        """
        request = CallRequest(customer, interface, version, dict(arguments or {}))
        answer = self.call(request, timeout=timeout, trace=trace, choice=choice)
        if not answer.ok:
            answer.raise_error()
        assert answer.version is not None and answer.call_id is not None
        return CallOutcome(
            answer.result,
            interface,
            answer.version,
            answer.version_source,  # type: ignore[arg-type]
            customer,
            answer.call_id,
            answer.seconds,
            answer.trace,
        )

    def map(
        self,
        interface: str,
        inputs: Iterable[Mapping[str, Any]],
        *,
        customer: str,
        version: int | None = None,
        executor: Executor | None = None,
        progress: Callable[[int, int], None] | None = None,
        chunk_size: int | None = None,
        timeout: float | None = None,
    ) -> list[CallAnswer]:
        """Run ``interface`` for ``customer`` once per argument mapping in ``inputs``; the
        answers come back in input order, a failed item as an answer with its error (it never
        stops the batch).

        ``executor``: any ``concurrent.futures.Executor`` (a process pool, Dask's
        ``client.get_executor()``); workers in other processes load this catalog's file, which
        must be readable there with the same plugins importable; tasks in this process (a
        thread pool) use this catalog itself. None: here, one call after another.
        ``progress(done, total)`` is told as items complete.
        """
        from ._batch import map_calls

        return map_calls(
            self.path,
            interface,
            inputs,
            customer=customer,
            version=version,
            executor=executor,
            progress=progress,
            chunk_size=chunk_size,
            timeout=timeout,
            catalog=self,
        )

    @property
    def config(self) -> CatalogConfig:
        """The catalog file as read (read-only), as of the last load or reload."""
        return self._runtimes.registry.config

    @property
    def generation(self) -> int:
        """How many reloads have been swapped in."""
        return self._runtimes.generation

    def method(self, interface: str, *, customer: str, version: int | None = None) -> Method:
        """The method as a callable for one tenant and version, resolved once.

        For callers that call the same method many times: ``quote = catalog.method(
        "price_quote", customer="c1")`` then ``quote(unit_price=1.0, quantity=2)``. It keeps
        the tenant's manager and version of the moment it was made (a reload does not move it).
        """
        runtimes = self._runtimes
        choice = runtimes.registry.resolve(interface, customer, version)
        runtimes.get(customer)  # the tenant is built now (or fails closed now)
        method = _method(runtimes.callable(customer, interface, version, choice), runtimes)
        bulkheads = self._bulkheads
        if bulkheads is None:
            return method

        # A canary decides by each call's arguments: its tenant's calls are resolved each time.
        canaries = runtimes.registry.tenant_config(customer).canaries
        fixed = None if version is None and interface in canaries else choice

        def limited(**arguments: Any) -> Any:
            request = CallRequest(customer, interface, version, arguments)
            answer = call_pipeline(runtimes, request, choice=fixed, bulkheads=bulkheads)
            if not answer.ok:
                answer.raise_error()
            return answer.result

        async def alimited(**arguments: Any) -> Any:
            request = CallRequest(customer, interface, version, arguments)
            answer = await acall_pipeline(runtimes, request, choice=fixed, bulkheads=bulkheads)
            if not answer.ok:
                answer.raise_error()
            return answer.result

        limited.acall = alimited  # type: ignore[attr-defined]
        limited.__name__ = limited.__qualname__ = method.__name__  # type: ignore[attr-defined]
        limited.__doc__ = method.__doc__
        limited.version = method.version  # type: ignore[attr-defined]
        limited.tenant = method.tenant  # type: ignore[attr-defined]
        limited.catalog_runtimes = runtimes  # type: ignore[attr-defined]
        return limited  # type: ignore[return-value]

    def reload(self) -> None:
        """Re-read the catalog file and the catalog's modules (declarations, built-ins and
        plugins, imported afresh), and swap them in atomically.

        The new catalog is loaded completely (every tenant built and its plugins started)
        before the swap; calls in flight finish on the old managers, later calls use the new
        ones. If the file is invalid, or a tenant not known to fail would fail, nothing
        changes and ReloadError says why (a tenant new to the file just fails closed). The old
        plugins are shut down once no call or Method holds them.
        """
        try:
            new = self._reload()
        except ReloadError as exc:
            self._events.emit(
                "reload_refused",
                None,
                {"generation": self.generation, "causes": [str(c) for c in exc.causes]},
            )
            raise
        self._events.emit(
            "reloaded",
            None,
            {"generation": new.generation, "tenants": sorted(new.registry.config.tenants)},
        )
        for tenant in new.registry.config.tenants:
            found = new.known(tenant)
            if isinstance(found, CatalogError):
                new.tell_failed(tenant, found)

    def _reload(self) -> Runtimes:
        with self._reloading:
            old = self._runtimes
            try:
                registry = Registry(read_config(self.path), fresh=True, rollouts=self._rollouts)
                # Changes another process made (the command line) apply from now on.
                registry.disabled = self._plugin_state.read()
            except BaseException as exc:
                # Whatever the catalog's new modules raise refuses the reload (the old catalog
                # serves on), SystemExit and stray interrupts included; a real Ctrl-C goes on.
                if _interrupts.is_real(exc):
                    raise
                raise ReloadError(str(self.path), [_reload_cause(exc)]) from exc
            new = Runtimes(
                registry, self._states, generation=old.generation + 1, events=self._events
            )
            # Tenants that fail in a reload that is then refused never served: told after
            # the swap, not while it is tried.
            new.announce = False
            try:
                broken = [
                    outcome
                    for tenant in registry.config.tenants
                    if isinstance(outcome := new.outcome(tenant), CatalogError)
                    and not _was_failing(old, tenant)
                ]
            except BaseException as exc:
                if _interrupts.is_real(exc):
                    raise
                new.close()
                raise ReloadError(str(self.path), [_reload_cause(exc)]) from exc
            if broken:
                new.close()
                raise ReloadError(str(self.path), broken)
            self._runtimes = new
            new.announce = True
        # In-flight calls hold the old runtimes; shut their plugins down when the last ends.
        weakref.finalize(old, stop, old.built(), old.registry.config.startup_timeout)
        return new

    @property
    def events(self) -> EventBus:
        """The catalog's events (see :meth:`subscribe`); ``events.flush()`` waits for delivery."""
        return self._events

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` with every :class:`CatalogEvent` of this catalog from now
        on (plugin or tenant failures, reloads, breakers, dead jobs, canary rollbacks), on the
        catalog's event thread; what it raises is logged and ignored. Returns what
        unsubscribes it."""
        return self._events.subscribe(callback)

    def _to_tenant(self, event: CatalogEvent) -> None:
        """Deliver ``event`` to the ``catalog_event`` hooks of its tenant's manager only."""
        if event.tenant is None:
            return
        found = self._runtimes.known(event.tenant)
        if found is None or isinstance(found, CatalogError):
            return
        for impl in found.pm.hook.catalog_event.get_hookimpls():
            function, names = impl.function, impl.argnames

            def deliver(e: CatalogEvent, function: Any = function, names: Any = names) -> None:
                function(**{name: e for name in names})

            call_safely(deliver, event, f"plugin {impl.plugin_name!r}")

    # -- changing plugins at run time ----------------------------------------------------------

    def disable_plugin(
        self,
        name: str,
        *,
        customer: str | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> PluginChange:
        """Stop running plugin ``name`` for ``customer`` (None: every tenant that selects
        it), until :meth:`enable_plugin`, also after a restart (the state file keeps it).

        Only the tenants it changes are built anew, and swapped in atomically as a reload
        does: calls in flight finish on the old managers. Refused (PluginChangeError,
        nothing changed) for a built-in or an interceptor, a tenant that does not select it,
        a plugin that another one the tenant runs depends on, or a tenant that would then
        fail. ``actor``: who asks, for the audit log (default ``python (<OS user>)``)."""
        from ._management import change

        return change(self, "disable", name, tenant=customer, reason=reason, actor=actor)

    def enable_plugin(
        self,
        name: str,
        *,
        customer: str | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> PluginChange:
        """Run plugin ``name`` again for ``customer`` (None: remove every disabling of it, so
        every tenant that selects it runs it); as :meth:`disable_plugin` does otherwise. A
        plugin disabled for every tenant is enabled for every tenant, not for one."""
        from ._management import change

        return change(self, "enable", name, tenant=customer, reason=reason, actor=actor)

    def reload_plugin(
        self, name: str, *, reason: str = "", actor: str | None = None
    ) -> PluginChange:
        """Import plugin ``name``'s module afresh and build anew only the tenants that run it
        (their plugins started again), swapped in atomically: calls in flight finish on the
        old code, every other tenant keeps its very managers. If the new code does not
        import or a tenant would fail, PluginChangeError says why and the old code serves on."""
        from ._management import change

        return change(self, "reload", name, reason=reason, actor=actor)

    def plugin_changes(self) -> tuple[Disabling, ...]:
        """The plugins disabled at run time, in force in this catalog now, oldest first."""
        return self._runtimes.registry.disabled.records

    @property
    def plugin_state_path(self) -> Path:
        """Where disabled plugins are kept (``<stem>.state.json``); its audit log is
        ``plugin_audit_path``."""
        return self._plugin_state.path

    @property
    def plugin_audit_path(self) -> Path:
        return self._plugin_state.audit

    def call_plans(self, *, customer: str) -> dict[str, tuple[StepPlan, ...]]:
        """For each interface, in the version ``customer`` runs (without a canary's share),
        who runs at each step in pluggy's call order (see :meth:`call_plan`)."""
        registry = self._runtimes.registry
        registry.tenant_config(customer)
        return {name: self.call_plan(name, customer=customer) for name in registry.interfaces}

    def health(self, *, customer: str | None = None) -> list[HealthResult]:
        """Run every plugin's health check for each tenant (or one), with a deadline each.

        A tenant that fails closed is reported unhealthy, with the error that closed it.
        """
        runtimes = self._runtimes
        config = runtimes.registry.config
        tenants = [customer] if customer is not None else list(config.tenants)
        results: list[HealthResult] = []
        for tenant in tenants:
            runtimes.registry.tenant_config(tenant)  # UnknownTenantError for a bad id
            outcome = runtimes.outcome(tenant)
            if isinstance(outcome, CatalogError):
                plugin = getattr(outcome, "plugin", None) or "-"
                results.append(
                    HealthResult(tenant, plugin, "unhealthy", str(outcome), 0.0, checked=False)
                )
                continue
            results.extend(
                lifecycle.check(
                    outcome.pm, tenant, outcome.plugin_settings(), config.health_timeout
                )
            )
        return results

    def close(self) -> list[tuple[str, str, BaseException]]:
        """Shut down every started tenant's plugins (reverse dependency order).

        Returns the failures as (tenant, plugin, exception); they are logged too. Calls made
        after close() build the tenants (and start their plugins) again. A watch stops.
        """
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()
        return self._runtimes.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def plugin_manager(self, customer: str) -> pluggy.PluginManager:
        """The tenant's own PluginManager (built on first use; raises if it fails closed).

        Its hooks are called as with any pluggy manager, without ``ctx`` (each plugin's is
        bound to it): ``pm.hook.price_quote_v1(unit_price=1.0, quantity=2, country="NL")``.
        """
        return self._runtimes.get(customer).pm

    # -- describing ------------------------------------------------------------------------

    def call_plan(
        self, interface: str, *, customer: str, version: int | None = None
    ) -> tuple[StepPlan, ...]:
        """Who runs at each step of a call for ``customer``, in the order pluggy calls them.

        For a version served by a newer one's code, the entry point's implementation is the
        version change, and the plugin points are the newer version's (with the tenant's
        plugins for the served version's points, where they are mapped)."""
        registry = self._runtimes.registry
        choice = registry.resolve(interface, customer, version)
        declared = registry.version(choice)
        runtime = self._runtimes.get(customer)
        steps = call_plan(runtime.pm, declared)
        served = registry.routes.get(declared.hook)
        if served is None:
            return steps
        running = registry.interfaces[interface].versions[served[1].target]
        return (steps[0], *call_plan(runtime.served_view(declared.hook).pm, running)[1:])

    def error_policy(self, interface: str, point: str, *, customer: str, version: int) -> str:
        """What a plugin point does for ``customer`` when a plugin raises there: ``raise`` or
        ``isolate`` (the tenant's policy, else the catalog's, else the declaration's)."""
        registry = self._runtimes.registry
        declared = registry.interface(interface).version(version)
        found = declared.points.get(point)
        if found is None:
            raise UnknownPluginPointError(interface, version, point, sorted(declared.points))
        return registry.error_policy(customer, found)

    @property
    def description(self) -> str:
        return self.config.description

    def interfaces(self) -> list[Interface]:
        return list(self._runtimes.registry.interfaces.values())

    def interface(self, name: str) -> Interface:
        return self._runtimes.registry.interface(name)

    def resolve_version(
        self,
        interface: str,
        *,
        customer: str,
        version: int | None = None,
        arguments: Mapping[str, Any] | None = None,
    ) -> VersionChoice:
        """Which version a call would run, and which rule chose it. With ``arguments``, the
        tenant's canary share takes part (without, a canary is never chosen)."""
        return self._runtimes.registry.resolve(interface, customer, version, arguments)

    def default_version(self, interface: str) -> int:
        """The version a tenant without a pin runs: the catalog's default, else the latest."""
        registry = self._runtimes.registry
        found = registry.interface(interface)
        return registry.config.versions.get(interface, found.latest)

    def version_users(self, interface: str) -> dict[int, list[tuple[str, VersionSource]]]:
        """version -> the tenants that run it (without --version), with the rule that chose it."""
        registry = self._runtimes.registry
        users: dict[int, list[tuple[str, VersionSource]]] = {}
        for tenant in registry.config.tenants:
            choice = registry.resolve(interface, tenant)
            users.setdefault(choice.version, []).append((tenant, choice.source))
        return users

    def tenant_ids(self) -> list[str]:
        return list(self.config.tenants)

    def tenant(self, customer: str) -> TenantInfo:
        return describe.tenant(self._runtimes, customer)

    def tenants(self) -> list[TenantInfo]:
        runtimes = self._runtimes
        return [describe.tenant(runtimes, t) for t in runtimes.registry.config.tenants]

    def plugins(self, *, customer: str | None = None, available: bool = False) -> list[PluginInfo]:
        """Built-in and selected plugins (with ``available``, unselected ones too), with status.

        Unselected plugins are described without importing them.
        """
        return describe.plugins(self._runtimes, customer=customer, available=available)

    def plugin(self, name: str) -> PluginInfo:
        return describe.plugin(self._runtimes, name)

    def interceptors(self, *, available: bool = False) -> list[InterceptorInfo]:
        """The interceptors catalog.toml configures (with ``available``, every built-in too),
        in the order they wrap: lowest ``order`` outermost."""
        return describe.interceptors(self._runtimes, available=available)

    def interceptor_states(self, name: str) -> dict[str, Mapping[str, Any]]:
        """tenant -> what interceptor ``name`` keeps for the tenant (kept across reloads)."""
        return {tenant: kept[name] for tenant, kept in list(self._states.items()) if name in kept}

    def metrics(self) -> list[Series]:
        """What the metrics interceptor counted, per tenant, interface, version and version
        source (``canary`` for the canary's calls): calls, errors and a latency histogram.
        Counters live as long as this Catalog, across reloads.
        ``catalog_cli.interceptors.metrics.prometheus_text(catalog.metrics())`` renders them for
        Prometheus (extra ``prometheus``)."""
        from ..interceptors.metrics import NAME, collect

        return collect(self.interceptor_states(NAME))

    def worker_pools(self) -> list[PoolStatus]:
        """The worker pools of the built tenants' isolated plugins now (workers, limits,
        restarts); ``catalog_cli.runtime._workers.prometheus_text`` renders them."""
        return [r.workers.status() for r in self._runtimes.built() if r.workers is not None]

    def canary(self, interface: str, *, customer: str) -> CanaryStatus:
        """The tenant's canary of ``interface`` now: its mode, the share its candidate gets
        (a ramp's step; 0 once rolled back), the rollback that holds, and what the
        candidate's calls did in this process. UnknownCanaryError if it has none."""
        registry = self._runtimes.registry
        found = self._canary_of(registry, interface, customer)
        return registry.rollouts.status(customer, interface, found)

    def reset_canary(self, interface: str, *, customer: str) -> Rollback | None:
        """Undo the rollback of the tenant's canary of ``interface``, in every process of the
        catalog (through the rollbacks file): its candidate gets its share again, judged
        afresh. Returns the rollback undone (None: it was not rolled back)."""
        registry = self._runtimes.registry
        self._canary_of(registry, interface, customer)
        return registry.rollouts.reset(customer, interface)

    @staticmethod
    def _canary_of(registry: Registry, interface: str, customer: str) -> Canary:
        registry.interface(interface)  # UnknownInterfaceError
        canaries = registry.tenant_config(customer).canaries  # UnknownTenantError
        found = canaries.get(interface)
        if found is None:
            raise UnknownCanaryError(interface, canaries, context=f"of tenant {customer!r}")
        return found

    def canary_series(self) -> list[CanarySeries]:
        """What each candidate version a canary sent calls to did in this process, per tenant
        and interface: its calls' outcomes (see ``CanaryStatus.counts``), its share now,
        whether it is rolled back. ``canary_prometheus_text`` renders them."""
        registry = self._runtimes.registry

        def canary(tenant: str, interface: str) -> Canary | None:
            found = registry.config.tenants.get(tenant)
            return found.canaries.get(interface) if found is not None else None

        return registry.rollouts.series(canary)

    def check(self, *, jobs: int | None = 1) -> CheckReport:
        """Load every tenant and every selected plugin, run nothing, and report all problems
        (broken plugin files that no tenant selects yet too).

        ``jobs``: the tenants are built and started here (1, the default: they stay built
        for later calls), or in that many worker processes that start, check and shut down a
        share of them each; None: one per CPU, for large catalogs only (see
        ``TENANTS_PER_WORKER``). The report is the same.
        """
        from ._check import workers

        count = workers(jobs, len(self._runtimes.registry.config.tenants))
        return describe.check(self._runtimes, jobs=count)

    def check_plugin(
        self, plugin: str | os.PathLike[str], *, settings: Mapping[str, Any] | None = None
    ) -> PluginReport:
        """Check one plugin on its own, by name or by the path of its file, before any tenant
        selects it: its hooks and annotations against this catalog's declarations, its
        metadata, ``settings`` against its schema, and its lifecycle hooks within their
        deadlines. Problems are reported, never raised."""
        target = plugin if isinstance(plugin, str) else Path(plugin)
        return check_contract(self._runtimes, target, settings)


def _reload_cause(exc: BaseException) -> CatalogError:
    if isinstance(exc, CatalogError):
        return exc
    return CatalogError(f"loading the catalog anew failed: {type(exc).__name__}: {exc}")


def _was_failing(old: Runtimes, tenant: str) -> bool:
    """Whether ``tenant`` failed (or would have failed) in the catalog as loaded before: a
    tenant new to the file, or one that already failed, may fail after a reload."""
    registry = old.registry
    if tenant not in registry.config.tenants:
        return True
    known = old.known(tenant)
    if known is not None:
        return isinstance(known, CatalogError)
    return bool(registry.selection(tenant)[1])
