"""The public ``Catalog``: load a catalog file, run methods for tenants, describe what runs."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, final

import pluggy

from . import _lifecycle as lifecycle
from ._config import read_config, thaw
from ._context import CallScope, Context, new_call_id
from ._deadline import Late, Overloaded, call_with_deadline
from ._interfaces import Interface, Version
from ._lifecycle import HealthResult
from ._locate import find_catalog
from ._plan import StepPlan, call_plan
from ._redact import redact
from ._state import CatalogState, VersionChoice, VersionSource
from ._tenants import HookUse
from ._trace import Trace, TraceNode, summarize
from ._views import CheckReport, InterceptorInfo, PluginInfo, Problem, TenantInfo

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from ._config import CatalogConfig
    from ._requests import CallAnswer
    from .interceptors.metrics import Series

from .errors import (
    CallTimeoutError,
    CatalogError,
    ConfigError,
    OverloadedError,
    PluginCallError,
    PluginError,
    ReloadError,
    UnknownPluginError,
)


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


def _blame(exc: BaseException, scope: CallScope) -> str:
    """The plugin whose code raised: the innermost traceback frame in a registered module."""
    culprit = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        binding = scope.bindings.get(tb.tb_frame.f_globals.get("__name__", ""))
        if binding is not None:
            culprit = binding.name
        tb = tb.tb_next
    return culprit or _misbehaved_wrapper(exc, scope) or scope.implementation


def _misbehaved_wrapper(exc: BaseException, scope: CallScope) -> str | None:
    """The plugin of a wrapper that did not yield, or yielded twice: pluggy reports it from
    its own frames, naming only the generator's file."""
    import re
    import sys

    found = re.match(r"wrap_controller at '\w+' (.+):\d+ ", str(exc))
    if not isinstance(exc, RuntimeError) or found is None:
        return None
    for module_name, binding in scope.bindings.items():
        module = sys.modules.get(module_name)
        if module is not None and getattr(module, "__file__", None) == found.group(1):
            return binding.name
    return None


def _invoke(scope: CallScope, ctx: Context, arguments: dict[str, Any]) -> Any:
    """Call the entry point, turning what a plugin raises into PluginCallError."""
    try:
        return scope.entry(ctx=ctx, **arguments)
    except CatalogError:
        raise
    except (Exception, SystemExit) as exc:  # a plugin's sys.exit() must not end the host
        raise _call_error(exc, ctx, scope) from exc


def _call_error(exc: BaseException, ctx: Context, scope: CallScope) -> PluginCallError:
    return PluginCallError(
        plugin=_blame(exc, scope),
        tenant=scope.tenant,
        interface=scope.interface,
        version=scope.version,
        call_id=ctx.call_id,
        cause=exc,
    )


@final
class Method:
    """One interface version for one tenant, ready to call: see :meth:`Catalog.method`."""

    __slots__ = ("_bind", "_canary", "_scope", "_state", "version")

    def __init__(
        self, scope: CallScope, declared: Version, state: CatalogState, *, canary: bool = False
    ) -> None:
        self._scope = scope
        self._bind = declared.bind
        self.version = declared
        # Held so the plugins it calls are not shut down by a reload while it lives.
        self._state = state
        #: the tenant has a canary for this interface: each call's arguments pick the version
        self._canary = canary

    def __call__(self, **kwargs: Any) -> Any:
        """Check the arguments, then run the method (errors as for :meth:`Catalog.run`)."""
        if self._canary:
            scope, declared = self._state.prepare(
                self._scope.tenant, self._scope.interface, None, kwargs
            )
            return _invoke(scope, Context(scope), declared.bind(kwargs))
        return _invoke(self._scope, Context(self._scope), self._bind(kwargs))

    def __repr__(self) -> str:
        return (
            f"<Method {self._scope.interface} v{self._scope.version} "
            f"for tenant {self._scope.tenant!r}>"
        )


@final
class Catalog:
    """A catalog of versioned methods and the per-tenant plugins that change them.

    >>> catalog = Catalog.load()  # doctest: +SKIP
    >>> catalog.run("interface_a", customer="c1", version=2, name="Ada")  # doctest: +SKIP
    'Hi Ada, welcome back!\n-- The Acme Retail team'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: (tenant, interceptor) -> what the interceptor keeps for the tenant (across reloads)
        self._interceptor_states: dict[tuple[str, str], dict[str, Any]] = {}
        self._state = CatalogState(
            read_config(self.path), interceptor_states=self._interceptor_states
        )
        self._reloading = threading.Lock()

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Catalog:
        """Load ``path``, else $CATALOG_FILE, the nearest ./catalog.toml, or the shipped default."""
        found, _why = find_catalog(path)
        return cls(found)

    # -- running ---------------------------------------------------------------------------

    def run(
        self, interface: str, /, *, customer: str, version: int | None = None, **kwargs: Any
    ) -> Any:
        """Run ``interface`` for ``customer`` and return its result.

        The version is ``version`` if given, else the tenant's pin, the catalog's default, or
        the latest. Raises InvalidArgumentsError before any plugin runs if ``kwargs`` do not fit
        the version's declaration, and PluginCallError naming the plugin if one raises.
        """
        state = self._state
        prepared = state.prepared.get((customer, interface, version))
        if prepared is None:
            prepared = state.prepare(customer, interface, version, kwargs)
        scope, declared = prepared
        arguments = declared.bind(kwargs)
        # _invoke, inlined: this is the hot path (see benchmarks/bench_call.py).
        ctx = Context(scope)
        try:
            return scope.entry(ctx=ctx, **arguments)
        except CatalogError:
            raise
        except (Exception, SystemExit) as exc:
            raise _call_error(exc, ctx, scope) from exc

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
        ``trace``: record what ran (interceptors, entry point, plugin points, each plugin's
        implementation) in ``outcome.trace``; if the call fails, the error carries it as
        ``error.trace``. ``choice``: a version decided before, by :meth:`resolve_version` with
        these arguments (a canary decided by chance is then not decided twice).
        """
        state = self._state
        if choice is None or choice.interface != interface:
            choice = state.resolve(interface, customer, version, arguments or {})
        call_id = new_call_id()
        started = time.perf_counter()
        recorder = None
        if trace:
            recorder = Trace(
                TraceNode(
                    "call",
                    f"{interface} v{choice.version}",
                    None,
                    {
                        "tenant": customer,
                        "interface": interface,
                        "version": choice.version,
                        "version_source": choice.source,
                        "call_id": call_id,
                        # secrets never enter a trace (it is printed and exported)
                        "arguments": {
                            k: summarize(v) for k, v in redact(dict(arguments or {})).items()
                        },
                    },
                )
            )

        def call() -> Any:
            # Inside the deadline: building the tenant imports its plugins, which may hang too.
            scope, declared = state.prepare_choice(customer, choice, traced=trace)
            bound = declared.bind(dict(arguments or {}))
            if recorder is None:
                return _invoke(scope, Context(scope, call_id), bound)
            recorder.activate()
            try:
                return _invoke(scope, Context(scope, call_id), bound)
            finally:
                recorder.deactivate()

        try:
            if timeout is None:
                result = call()
            else:
                try:
                    result = call_with_deadline(call, timeout, f"catalog-call-{call_id}")
                except Overloaded as busy:
                    raise OverloadedError(
                        f"{interface} v{choice.version} for tenant {customer!r} refused (call "
                        f"{call_id}): {busy}",
                        interceptor="deadline",
                        tenant=customer,
                        interface=interface,
                        version=choice.version,
                    ) from None
                except Late:
                    raise CallTimeoutError(
                        tenant=customer,
                        interface=interface,
                        version=choice.version,
                        call_id=call_id,
                        seconds=timeout,
                    ) from None
        except CatalogError as exc:
            if recorder is not None:
                recorder.finish(error=exc)
                exc.trace = recorder
            raise
        if recorder is not None:
            recorder.finish(result)
        return CallOutcome(
            result,
            interface,
            choice.version,
            choice.source,
            customer,
            call_id,
            time.perf_counter() - started,
            recorder,
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
        return self._state.config

    @property
    def generation(self) -> int:
        """How many reloads have been swapped in."""
        return self._state.generation

    def method(self, interface: str, *, customer: str, version: int | None = None) -> Method:
        """The method as a callable for one tenant and version, resolved once.

        For callers that call the same method many times: ``quote = catalog.method(
        "price_quote", customer="c1")`` then ``quote(unit_price=1.0, quantity=2)``. It keeps
        the tenant's manager and version of the moment it was made (a reload does not move it).
        """
        state = self._state
        scope, declared = state.prepare(customer, interface, version)
        canary = version is None and interface in state.tenant_config(customer).canaries
        return Method(scope, declared, state, canary=canary)

    def new_context(self, interface: str, *, customer: str, version: int | None = None) -> Context:
        """A context for calling a tenant's hooks through pluggy directly."""
        scope, _declared = self._state.prepare(customer, interface, version)
        return Context(scope)

    def reload(self) -> None:
        """Re-read the catalog file and the tenant plugins, and swap them in atomically.

        The new catalog is loaded completely (every tenant built, plugins imported afresh and
        started) before the swap; calls in flight finish on the old managers, later calls use the
        new ones. If the file is invalid, or a tenant not known to fail would fail, nothing
        changes and ReloadError says why (a tenant new to the file just fails closed). The old
        plugins are shut down once no call or Method holds them.
        Built-in plugins and interface declarations are code of the catalog: they change with
        a restart, not a reload.
        """
        with self._reloading:
            old = self._state
            try:
                new = CatalogState(
                    read_config(self.path),
                    fresh=True,
                    generation=old.generation + 1,
                    interceptor_states=self._interceptor_states,
                )
            except CatalogError as exc:
                raise ReloadError(str(self.path), [exc]) from exc
            broken = []
            for tenant in new.config.tenants:
                outcome = new.tenant_outcome(tenant)
                # A tenant new to the file fails closed on its own; one that already failed
                # may still fail. Any other tenant must keep working, or nothing changes.
                if (
                    isinstance(outcome, CatalogError)
                    and tenant in old.config.tenants
                    and not isinstance(old.known_outcome(tenant), CatalogError)
                ):
                    broken.append(outcome)
            if broken:
                new.close()
                raise ReloadError(str(self.path), broken)
            self._state = new
        # In-flight calls hold the old state; shut its plugins down when the last one ends.
        weakref.finalize(old, CatalogState.stop_tenants, old.built_tenants(), old.config)

    def health(self, *, customer: str | None = None) -> list[HealthResult]:
        """Run every plugin's health check for each tenant (or one), with a deadline each.

        A tenant that fails closed is reported unhealthy, with the error that closed it.
        """
        state = self._state
        tenants = [customer] if customer is not None else list(state.config.tenants)
        results: list[HealthResult] = []
        for tenant in tenants:
            outcome = state.tenant_outcome(tenant)  # raises UnknownTenantError for a bad id
            if isinstance(outcome, CatalogError):
                plugin = outcome.plugin if isinstance(outcome, PluginError) else "-"
                results.append(
                    HealthResult(tenant, plugin, "unhealthy", str(outcome), 0.0, checked=False)
                )
                continue
            results.extend(
                lifecycle.check(
                    outcome.pm, tenant, outcome.plugin_settings(), state.config.health_timeout
                )
            )
        return results

    def close(self) -> list[tuple[str, str, BaseException]]:
        """Shut down every started tenant's plugins (reverse dependency order).

        Returns the failures as (tenant, plugin, exception); they are logged too. Calls made
        after close() build the tenants (and start their plugins) again.
        """
        return self._state.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def plugin_manager(self, customer: str) -> pluggy.PluginManager:
        """The tenant's own PluginManager (built on first use; raises if it fails closed)."""
        return self._state.tenant(customer).pm

    # -- describing ------------------------------------------------------------------------

    def call_plan(
        self, interface: str, *, customer: str, version: int | None = None
    ) -> tuple[StepPlan, ...]:
        """Who runs at each step of a call for ``customer``, in the order pluggy calls them."""
        choice = self._state.resolve(interface, customer, version)
        declared = self._state.interfaces[interface].versions[choice.version]
        return call_plan(self._state.tenant(customer).pm, declared)

    def error_policy(self, interface: str, point: str, *, customer: str, version: int) -> str:
        """What a plugin point does for ``customer`` when a plugin raises there: ``raise`` or
        ``isolate`` (the tenant's policy, else the catalog's, else the declaration's)."""
        declared = self._state.interface(interface).version(version)
        found = declared.points.get(point)
        if found is None:
            from .errors import UnknownPluginPointError

            raise UnknownPluginPointError(interface, version, point, sorted(declared.points))
        return self._state.error_policy(customer, found)

    @property
    def description(self) -> str:
        return self._state.config.description

    def interfaces(self) -> list[Interface]:
        return list(self._state.interfaces.values())

    def interface(self, name: str) -> Interface:
        return self._state.interface(name)

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
        return self._state.resolve(interface, customer, version, arguments)

    def default_version(self, interface: str) -> int:
        """The version a tenant without a pin runs: the catalog's default, else the latest."""
        found = self._state.interface(interface)
        return self._state.config.versions.get(interface, found.latest)

    def version_users(self, interface: str) -> dict[int, list[tuple[str, VersionSource]]]:
        """version -> the tenants that run it (without --version), with the rule that chose it."""
        users: dict[int, list[tuple[str, VersionSource]]] = {}
        for tenant in self._state.config.tenants:
            choice = self._state.resolve(interface, tenant)
            users.setdefault(choice.version, []).append((tenant, choice.source))
        return users

    def tenant_ids(self) -> list[str]:
        return list(self._state.config.tenants)

    def tenant(self, customer: str) -> TenantInfo:
        state = self._state
        config = state.tenant_config(customer)
        versions = tuple(state.resolve(name, customer) for name in state.interfaces)
        outcome = state.tenant_outcome(customer)
        settings = thaw(config.settings)
        if isinstance(outcome, CatalogError):
            return TenantInfo(
                customer,
                config.description,
                "failed",
                state.selections[customer],
                versions,
                settings=settings,
                error=str(outcome),
                error_type=type(outcome).__name__,
                canaries=dict(config.canaries),
            )
        return TenantInfo(
            customer,
            config.description,
            "ok",
            outcome.plugins,
            versions,
            dict(outcome.hooks),
            settings,
            canaries=dict(config.canaries),
            interceptors=outcome.interceptors,
        )

    def tenants(self) -> list[TenantInfo]:
        return [self.tenant(t) for t in self._state.config.tenants]

    def plugins(self, *, customer: str | None = None, available: bool = False) -> list[PluginInfo]:
        """Built-in and selected plugins (with ``available``, unselected ones too), with status.

        Unselected plugins are described without importing them.
        """
        state = self._state
        if customer is not None:
            state.tenant_config(customer)
        users: dict[str, list[str]] = {}
        for tenant, selected in state.selections.items():
            for name in selected:
                users.setdefault(name, []).append(tenant)
        infos = []
        for source in state.sources.values():
            tenants = (
                tuple(state.config.tenants)
                if source.kind == "builtin"
                else tuple(users.get(source.name, ()))
            )
            if customer is not None and customer not in tenants:
                continue
            if not tenants and not available:
                continue
            status: Literal["loaded", "failed", "not selected"] = "not selected"
            hooks: tuple[HookUse, ...] = ()
            error = None
            if tenants:
                try:
                    module = state.loader.load(source)
                    hooks = state.hook_uses(source.name, module, builtin=source.kind == "builtin")
                    status = "loaded"
                except PluginError as exc:
                    status, error = "failed", str(exc)
            infos.append(
                PluginInfo(
                    source.name,
                    source.kind,
                    source.location,
                    status,
                    tenants,
                    hooks,
                    error,
                    state.meta(source.name),
                    source.distribution,
                )
            )
        return infos

    def metrics(self) -> list[Series]:
        """What the metrics interceptor counted, per tenant, interface, version and version
        source (``canary`` for the canary's calls): calls, errors and a latency histogram.
        Counters live as long as this Catalog, across reloads.
        ``catalog_cli.interceptors.metrics.prometheus_text(catalog.metrics())`` renders them for
        Prometheus (extra ``prometheus``)."""
        from .interceptors.metrics import collect

        return collect(self._interceptor_states)

    def interceptors(self, *, available: bool = False) -> list[InterceptorInfo]:
        """The interceptors catalog.toml configures (with ``available``, every built-in too),
        in the order they wrap: lowest ``order`` outermost."""
        from ._config import InterceptorConfig, thaw
        from ._intercept import PREFIX
        from ._settings import describe_schema, is_schema
        from .errors import PluginError
        from .interceptors import BUILTIN, default_order

        state = self._state
        found = []
        names = list(state.config.interceptors)
        if available:
            names += [name for name in BUILTIN if name not in names]
        for name in names:
            configured = state.config.interceptors.get(name)
            source = state.source(PREFIX + name)
            config = configured or InterceptorConfig(name, enabled=False)
            order: int | None = config.order
            meta, error = None, None
            hooks: tuple[str, ...] = ()
            if not config.enabled and name not in BUILTIN:
                # A plugin that nothing runs is never imported (its code may act at import).
                meta = state.meta(source.name)
            else:
                try:
                    module = state.loader.load(source)
                    uses = state.hook_uses(source.name, module, builtin=False, interceptor=True)
                    hooks = tuple(dict.fromkeys(use.hook for use in uses))
                    meta = state.meta(source.name)
                    if order is None:
                        order = default_order(module)
                except PluginError as exc:
                    error = str(exc)
            tenants = tuple(
                t for t in state.config.tenants if config.enabled and config.covers_tenant(t)
            )
            found.append(
                InterceptorInfo(
                    name,
                    name in BUILTIN,
                    configured is not None,
                    config.enabled,
                    order,
                    config.include,
                    config.exclude,
                    tenants,
                    meta.description if meta is not None else "",
                    hooks,
                    thaw(config.settings),
                    describe_schema(meta.settings)
                    if meta is not None and is_schema(meta.settings)
                    else None,
                    error,
                )
            )
        return sorted(found, key=lambda i: (not i.configured, i.order or 0, i.name))

    def plugin(self, name: str) -> PluginInfo:
        for info in self.plugins(available=True):
            if info.name == name:
                return info
        raise UnknownPluginError(name, self._state.sources)

    def check(self) -> CheckReport:
        """Load every tenant and every selected plugin, run nothing, and report all problems."""
        tenants = tuple(self.tenants())
        plugins = tuple(self.plugins())
        problems: list[Problem] = []
        failed = {p.name for p in plugins if p.status == "failed"}
        for plugin in plugins:
            if plugin.status == "failed":
                problems.append(Problem("plugin", plugin.error or "", plugin=plugin.name))
        for tenant in tenants:
            if tenant.status == "failed":
                outcome = self._state.tenant_outcome(tenant.id)
                kind = "config" if isinstance(outcome, ConfigError) else "plugin"
                culprit = outcome.plugin if isinstance(outcome, PluginError) else None
                message = tenant.error or ""
                if culprit in failed:  # the plugin's own problem is already listed
                    message = f"tenant {tenant.id!r} fails closed: plugin {culprit!r} failed"
                problems.append(Problem(kind, message, tenant=tenant.id, plugin=culprit))
        return CheckReport(str(self.path), tenants, plugins, tuple(problems))
