"""task-catalog: versioned business methods with per-tenant pluggy plugins.

Names are imported on first use, so ``catalog --help`` does not pay for the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._batch import ProcessPool, map_calls
    from ._catalog import CallOutcome, Catalog, Method
    from ._context import Context, Points
    from ._declare import Policy, entrypoint, plugin_point
    from ._events import CallEvent
    from ._intercept import Call, PointCall
    from ._interfaces import Interface, Parameter, PluginPoint, Version
    from ._jobs import Job, JobStore, JobWorker
    from ._lifecycle import Health, HealthResult
    from ._markers import PROJECT, hookimpl, hookspec
    from ._meta import PLUGIN_API_VERSION, PluginMeta
    from ._otel import export_trace
    from ._requests import CallAnswer, CallRequest
    from ._state import VersionChoice
    from ._tenants import HookUse
    from ._trace import Trace
    from ._views import CheckReport, PluginInfo, Problem, TenantInfo

__all__ = [
    "PLUGIN_API_VERSION",
    "PROJECT",
    "Call",
    "CallAnswer",
    "CallEvent",
    "CallOutcome",
    "CallRequest",
    "Catalog",
    "CheckReport",
    "Context",
    "Health",
    "HealthResult",
    "HookUse",
    "Interface",
    "Job",
    "JobStore",
    "JobWorker",
    "Method",
    "Parameter",
    "PluginInfo",
    "PluginMeta",
    "PluginPoint",
    "PointCall",
    "Points",
    "Policy",
    "Problem",
    "ProcessPool",
    "TenantInfo",
    "Trace",
    "Version",
    "VersionChoice",
    "__version__",
    "entrypoint",
    "export_trace",
    "hookimpl",
    "hookspec",
    "map_calls",
    "plugin_point",
]

_HOMES = {
    "Call": "._intercept",
    "CallAnswer": "._requests",
    "CallEvent": "._events",
    "CallOutcome": "._catalog",
    "CallRequest": "._requests",
    "Catalog": "._catalog",
    "CheckReport": "._views",
    "Context": "._context",
    "Health": "._lifecycle",
    "HealthResult": "._lifecycle",
    "HookUse": "._tenants",
    "Interface": "._interfaces",
    "Job": "._jobs",
    "JobStore": "._jobs",
    "JobWorker": "._jobs",
    "Method": "._catalog",
    "PLUGIN_API_VERSION": "._meta",
    "PROJECT": "._markers",
    "Parameter": "._interfaces",
    "PluginInfo": "._views",
    "PluginMeta": "._meta",
    "PluginPoint": "._interfaces",
    "PointCall": "._intercept",
    "Points": "._context",
    "Policy": "._declare",
    "Problem": "._views",
    "ProcessPool": "._batch",
    "TenantInfo": "._views",
    "Trace": "._trace",
    "Version": "._interfaces",
    "VersionChoice": "._state",
    "entrypoint": "._declare",
    "export_trace": "._otel",
    "hookimpl": "._markers",
    "hookspec": "._markers",
    "map_calls": "._batch",
    "plugin_point": "._declare",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("task-catalog")
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
