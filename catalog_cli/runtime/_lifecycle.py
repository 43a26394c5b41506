"""Plugin startup, shutdown and health checks, run per tenant with deadlines.

These hooks are not broadcast like a method's plugin points: each plugin's implementation is
called on its own, in dependency order, so that one plugin's failure is that plugin's alone.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any, Final, Literal, NamedTuple

import pluggy

from .. import _interrupts
from .._deadline import Late, call_with_deadline
from ..errors import PluginStartupError

HealthStatus = Literal["healthy", "degraded", "unhealthy"]
STATUSES: Final = ("healthy", "degraded", "unhealthy")


class Health(NamedTuple):
    """What a health check found."""

    status: HealthStatus
    details: str = ""


class HealthResult(NamedTuple):
    """One plugin's health for one tenant."""

    tenant: str
    plugin: str
    status: HealthStatus
    details: str
    seconds: float
    #: False when the plugin has no health check and is healthy by default
    checked: bool = True

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


def _implementation(pm: pluggy.PluginManager, hook: str, plugin: str) -> Any:
    for impl in getattr(pm.hook, hook).get_hookimpls():
        if impl.plugin_name == plugin:
            return impl
    return None


def _run(impl: Any, tenant: str, settings: Mapping[str, Any]) -> Any:
    """Call one plugin's lifecycle hook with the parameters it takes."""
    arguments = {"tenant": tenant, "settings": settings}
    return impl.function(**{name: arguments[name] for name in impl.argnames})


def _call(impl: Any, tenant: str, settings: Mapping[str, Any], seconds: float) -> Any:
    return call_with_deadline(
        lambda: _run(impl, tenant, settings),
        seconds,
        f"catalog-{tenant}-{impl.plugin_name}",
        owner=tenant,
    )


def start(
    pm: pluggy.PluginManager,
    tenant: str,
    plugins: Mapping[str, Mapping[str, Any]],
    seconds: float,
) -> None:
    """Call each plugin's startup in order (``plugins``: name -> settings, dependencies first).

    On the first failure, the plugins already started are shut down again, and
    PluginStartupError is raised.
    """
    started: dict[str, Mapping[str, Any]] = {}
    for name, settings in plugins.items():
        impl = _implementation(pm, "catalog_startup", name)
        if impl is None:
            started[name] = settings
            continue
        try:
            _call(impl, tenant, settings, seconds)
        except BaseException as exc:
            if _interrupts.is_real(exc):
                raise
            if isinstance(exc, Late):
                exc = TimeoutError(f"startup {exc}")
            stop(pm, tenant, started, seconds)
            raise PluginStartupError(name, tenant, exc) from exc
        started[name] = settings


def stop(
    pm: pluggy.PluginManager,
    tenant: str,
    plugins: Mapping[str, Mapping[str, Any]],
    seconds: float,
) -> list[tuple[str, BaseException]]:
    """Call each plugin's shutdown in reverse order; return the failures (also logged)."""
    failures: list[tuple[str, BaseException]] = []
    for name, settings in reversed(list(plugins.items())):
        impl = _implementation(pm, "catalog_shutdown", name)
        if impl is None:
            continue
        try:
            _call(impl, tenant, settings, seconds)
        except BaseException as exc:
            if _interrupts.is_real(exc):
                raise
            import logging

            logging.getLogger("catalog.lifecycle").warning(
                "plugin %r failed to shut down for tenant %r: %r", name, tenant, exc
            )
            failures.append((name, exc))
    return failures


def _as_health(value: Any) -> Health:
    if value is None or value is True:
        return Health("healthy")
    if value is False:
        return Health("unhealthy")
    if isinstance(value, Health):
        if value.status not in STATUSES:
            return Health(
                "unhealthy",
                f"the health check returned status {value.status!r}, not one of "
                f"{', '.join(STATUSES)}",
            )
        return Health(value.status, str(value.details))
    if isinstance(value, str) and value in STATUSES:
        return Health(value)  # type: ignore[arg-type]
    if isinstance(value, tuple) and len(value) == 2 and value[0] in STATUSES:
        return Health(value[0], str(value[1]))
    return Health("unhealthy", f"the health check returned {value!r}, not a health status")


#: manager -> plugin -> the thread of a health check that has not returned yet
_running: weakref.WeakKeyDictionary[pluggy.PluginManager, dict[str, threading.Thread]] = (
    weakref.WeakKeyDictionary()
)


def _outcome(impl: Any, tenant: str, settings: Mapping[str, Any]) -> Health:
    try:
        return _as_health(_run(impl, tenant, settings))
    except BaseException as exc:
        if _interrupts.is_real(exc):
            raise
        return Health("unhealthy", f"the health check raised {type(exc).__name__}: {exc}")


def check(
    pm: pluggy.PluginManager,
    tenant: str,
    plugins: Mapping[str, Mapping[str, Any]],
    seconds: float,
) -> list[HealthResult]:
    """Run the plugins' health checks at once, each with its own deadline.

    An exception or a timeout counts as unhealthy. A check still running from an earlier call
    is not started again (it is reported unhealthy), so a hung check costs one thread, once.
    """
    results: dict[str, HealthResult] = {}
    pending = []
    for name, settings in plugins.items():
        impl = _implementation(pm, "catalog_health", name)
        if impl is None:
            results[name] = HealthResult(
                tenant, name, "healthy", "no health check: healthy by default", 0.0, checked=False
            )
            continue
        running = _running.setdefault(pm, {})
        earlier = running.get(name)
        if earlier is not None and earlier.is_alive():
            results[name] = HealthResult(
                tenant, name, "unhealthy", "the previous health check is still running", 0.0
            )
            continue
        box: list[Health] = []
        thread = threading.Thread(
            target=lambda impl=impl, settings=settings, box=box: box.append(
                _outcome(impl, tenant, settings)
            ),
            name=f"catalog-health-{tenant}-{name}",
            daemon=True,
        )
        running[name] = thread
        pending.append((name, running, thread, box, time.perf_counter()))
        thread.start()
    for name, running, thread, box, began in pending:
        thread.join(max(0.0, began + seconds - time.perf_counter()))
        if box:
            running.pop(name, None)
            health = box[0]
        else:
            health = Health("unhealthy", f"the health check did not finish within {seconds:g} s")
        results[name] = HealthResult(
            tenant, name, health.status, health.details, time.perf_counter() - began
        )
    return [results[name] for name in plugins if name in results]
