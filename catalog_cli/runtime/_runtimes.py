"""The tenants of one registry at run time, each built (and started) when first needed."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, final

from .. import _interrupts
from ..errors import CatalogError, ConfigError, PluginError, PluginValidationError
from ..registry import Registry, VersionChoice
from . import _canary as canary
from . import _lifecycle as lifecycle
from ._context import next_serial
from ._prepared import PreparedCall
from ._tenant import TenantRuntime

if TYPE_CHECKING:
    from .._catalog_events import EventBus

#: tenant -> interceptor -> the state the interceptor keeps for the tenant
States = dict[str, dict[str, dict[str, Any]]]


@final
class CanaryCall:
    """A tenant's calls of an interface with a canary: each call's arguments choose the
    version (the key argument's value, or chance), then that version's prepared call runs."""

    __slots__ = ("_runtimes", "interface", "tenant")

    def __init__(self, runtimes: Runtimes, tenant: str, interface: str) -> None:
        # Weakly: the runtimes hold this call, and whoever calls it holds them.
        self._runtimes = weakref.ref(runtimes)
        self.tenant = tenant
        self.interface = interface

    def call(self, **arguments: Any) -> Any:
        """Check ``arguments``, then run the version they choose (a live canary's call
        counted; a shadow canary's candidate started after the live call answers)."""
        runtimes = self._runtimes()
        assert runtimes is not None, "a canary call outlived its catalog"
        tenant = self.tenant
        choice = runtimes.registry.resolve(self.interface, tenant, None, arguments)
        prepared = runtimes.get(tenant).prepared(choice)
        if choice.source == "canary":
            return canary.run_live(runtimes, tenant, choice, lambda: prepared.call(**arguments))
        shadow = canary.shadow_of(runtimes, tenant, choice, arguments)
        if shadow is None:
            return prepared.call(**arguments)
        return canary.run_shadowed(prepared, shadow, arguments)

    async def acall(self, **arguments: Any) -> Any:
        """``call`` awaited: the chosen version runs on the async path if it runs async def
        implementations for the tenant."""
        runtimes = self._runtimes()
        assert runtimes is not None, "a canary call outlived its catalog"
        tenant = self.tenant
        choice = runtimes.registry.resolve(self.interface, tenant, None, arguments)
        prepared = runtimes.get(tenant).prepared(choice)
        if choice.source == "canary":
            import asyncio

            try:
                result = await prepared.acall(**arguments)
            except asyncio.CancelledError:
                raise  # the caller stopped waiting: nothing to say of the candidate
            except BaseException as exc:
                canary.observe_live(runtimes, tenant, choice, exc, getattr(exc, "call_id", None))
                raise
            canary.observe_live(runtimes, tenant, choice, None, None)
            return result
        shadow = canary.shadow_of(runtimes, tenant, choice, arguments)
        if shadow is None:
            return await prepared.acall(**arguments)
        serial = next_serial()
        result = await prepared.ainvoke(prepared.declared.bind(dict(arguments)), serial)
        shadow.submit(result, serial)
        return result

    def __call__(self, arguments: dict[str, Any]) -> Any:
        return self.call(**arguments)


class Runtimes:
    """Every tenant of one registry, built on first use; a tenant that fails closed keeps its
    error, and the others are unaffected."""

    def __init__(
        self,
        registry: Registry,
        states: States,
        *,
        generation: int = 0,
        events: EventBus | None = None,
    ) -> None:
        self.registry = registry
        self.generation = generation
        #: the catalog's events: a tenant that fails closed is told there (see ``announce``)
        self.events = events
        #: whether a tenant that fails closed is an event now (not while a reload tries)
        self.announce = True
        self._states = states
        self._lock = threading.Lock()
        self._tenant_locks: dict[str, threading.Lock] = {}
        self._built: dict[str, TenantRuntime | CatalogError] = {}
        #: (tenant, interface, requested version) -> what ``Catalog.run`` calls
        self.calls: dict[tuple[str, str, int | None], Callable[..., Any]] = {}
        #: the same for ``Catalog.arun``
        self.acalls: dict[tuple[str, str, int | None], Callable[..., Any]] = {}

    def get(self, tenant: str) -> TenantRuntime:
        """The tenant's runtime; raises the error that makes it fail closed, if any."""
        outcome = self._built.get(tenant)
        if outcome is None:
            self.registry.tenant_config(tenant)  # UnknownTenantError for an unknown id
            with self._lock:
                lock = self._tenant_locks.setdefault(tenant, threading.Lock())
            with lock:
                outcome = self._built.get(tenant)
                if outcome is None:
                    outcome = self._build(tenant)
                    self._built[tenant] = outcome
                    if self.announce:
                        if isinstance(outcome, CatalogError):
                            self.tell_failed(tenant, outcome)
                        else:
                            self.tell_loaded(outcome)
            # Built: later callers find it without a lock (one waiting now holds this one).
            with self._lock:
                self._tenant_locks.pop(tenant, None)
        if isinstance(outcome, CatalogError):
            raise outcome
        return outcome

    def outcome(self, tenant: str) -> TenantRuntime | CatalogError:
        """The runtime, or the error that makes the tenant fail closed (never raised)."""
        try:
            return self.get(tenant)
        except (ConfigError, PluginError) as exc:
            return exc

    def successor(
        self, registry: Registry, kept: Mapping[str, TenantRuntime | CatalogError]
    ) -> Runtimes:
        """The Runtimes that takes this one's place when a plugin changes at run time: of
        ``registry``, the next generation, the same interceptor states and events, with the
        tenants in ``kept`` (built here, from plans the change leaves as they were) taken
        over as they are: their very managers serve on."""
        following = Runtimes(
            registry, self._states, generation=self.generation + 1, events=self.events
        )
        following._built.update(kept)
        return following

    def known(self, tenant: str) -> TenantRuntime | CatalogError | None:
        """The tenant as built so far, without building it (None if it never was)."""
        return self._built.get(tenant)

    def _build(self, tenant: str) -> TenantRuntime | CatalogError:
        registry = self.registry
        try:
            plan = registry.plan(tenant)
            runtime = TenantRuntime(
                registry, plan, self._states, generation=self.generation, catalog_events=self.events
            )
            pool = runtime.workers
            try:
                if pool is not None:  # isolated plugins: their workers start them
                    pool.start()
                lifecycle.start(
                    runtime.pm, tenant, runtime.plugin_settings(), registry.config.startup_timeout
                )
            except BaseException:
                if pool is not None:
                    pool.close(registry.config.startup_timeout)
                raise
        except PluginValidationError as exc:
            return exc.for_tenant(tenant)
        except (ConfigError, PluginError) as exc:
            return exc
        except BaseException as exc:
            # The last line for plugin code that runs while a tenant is built: it fails this
            # tenant alone. Anything else is a bug of the catalog's, reported as one.
            if _interrupts.is_real(exc):
                raise
            culprit = _culprit(registry, tenant, exc)
            if culprit is not None:
                return PluginValidationError(
                    culprit,
                    f"raised {type(exc).__name__} while its tenant was built: {exc}",
                    tenant=tenant,
                )
            if isinstance(exc, Exception):
                raise
            # Never let a stray SystemExit end the program, nor an interrupt pass for Ctrl-C.
            raise RuntimeError(
                f"{type(exc).__name__} while tenant {tenant!r} was built: {exc}"
            ) from exc
        return runtime

    def tell_loaded(self, runtime: TenantRuntime) -> None:
        """Emit that each of the tenant's plugins loaded (imported, checked and started)."""
        events = self.events
        if events is None:
            return
        for plugin in runtime.plugins:
            events.emit(
                "plugin_loaded", runtime.id, {"plugin": plugin, "generation": self.generation}
            )

    def tell_failed(self, tenant: str, error: CatalogError) -> None:
        """Emit that ``tenant`` fails closed, and first, if a plugin is why, that it failed."""
        events = self.events
        if events is None:
            return
        plugin = getattr(error, "plugin", None)
        facts = {"error": {"kind": error.kind, "message": str(error)}}
        if plugin is not None and isinstance(error, PluginError):
            events.emit("plugin_failed", tenant, {"plugin": plugin, **facts})
        events.emit(
            "tenant_failed", tenant, {"plugin": plugin, "generation": self.generation, **facts}
        )

    def built(self) -> list[TenantRuntime]:
        return [found for found in list(self._built.values()) if isinstance(found, TenantRuntime)]

    def call(
        self, tenant: str, interface: str, requested: int | None, arguments: Mapping[str, Any]
    ) -> Callable[..., Any]:
        """What ``Catalog.run`` calls for this tenant, interface and version, with the
        arguments as keywords (kept for later calls). ``arguments`` are checked first (by the
        version they would run), so bad ones never build the tenant."""
        found = self._checked(tenant, interface, requested, arguments).call
        self.calls[(tenant, interface, requested)] = found
        return found

    def acall(
        self, tenant: str, interface: str, requested: int | None, arguments: Mapping[str, Any]
    ) -> Callable[..., Any]:
        """``call`` for ``Catalog.arun``: the ``acall`` of the same (kept for later calls)."""
        found = self._checked(tenant, interface, requested, arguments).acall
        self.acalls[(tenant, interface, requested)] = found
        return found

    def _checked(
        self, tenant: str, interface: str, requested: int | None, arguments: Mapping[str, Any]
    ) -> PreparedCall | CanaryCall:
        registry = self.registry
        choice = registry.resolve(interface, tenant, requested, arguments)
        registry.version(choice).bind(dict(arguments))
        return self.callable(tenant, interface, requested, choice)

    def callable(
        self, tenant: str, interface: str, requested: int | None, choice: VersionChoice
    ) -> PreparedCall | CanaryCall:
        """The tenant's calls of ``interface``: one version's, or those a canary splits."""
        canary = requested is None and interface in self.registry.tenant_config(tenant).canaries
        if canary:
            return CanaryCall(self, tenant, interface)
        return self.get(tenant).prepared(choice)

    def prepared(self, tenant: str, choice: VersionChoice, *, traced: bool = False) -> PreparedCall:
        """The call of a version already chosen."""
        runtime = self.get(tenant)
        if traced:
            runtime = runtime.traced_runtime()
        return runtime.prepared(choice)

    def close(self) -> list[tuple[str, str, BaseException]]:
        """Shut down the plugins of every built tenant and forget the tenants."""
        with self._lock:
            built = self.built()
            self._built.clear()
            self.calls.clear()
            self.acalls.clear()
        return stop(built, self.registry.config.startup_timeout)


def _culprit(registry: Registry, tenant: str, exc: BaseException) -> str | None:
    """The tenant's plugin whose module's code raised ``exc`` (its innermost such frame)."""
    modules = {}
    for name in registry.selected(tenant):
        status = registry.loader.status(name)
        if isinstance(status, ModuleType):
            modules[status.__name__] = name
    culprit = None
    tb = exc.__traceback__
    while tb is not None:
        found = modules.get(tb.tb_frame.f_globals.get("__name__", ""))
        if found is not None:
            culprit = found
        tb = tb.tb_next
    return culprit


def stop(runtimes: list[TenantRuntime], seconds: float) -> list[tuple[str, str, BaseException]]:
    """Shut down the plugins of ``runtimes``; return the failures as (tenant, plugin, error)."""
    failures = []
    for runtime in runtimes:
        for plugin, exc in lifecycle.stop(
            runtime.pm, runtime.id, runtime.plugin_settings(), seconds
        ):
            failures.append((runtime.id, plugin, exc))
        if runtime.workers is not None:  # isolated plugins shut down in their workers
            failures.extend((runtime.id, p, e) for p, e in runtime.workers.close(seconds))
    return failures
