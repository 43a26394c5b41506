"""task-catalog: versioned business methods with per-tenant pluggy plugins.

Names are imported on first use, so ``catalog --help`` does not pay for the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._catalog import CallOutcome, Catalog, Method
    from ._context import Context, Points
    from ._declare import Policy, entrypoint, plugin_point
    from ._events import CallEvent
    from ._intercept import Call, PointCall
    from ._interfaces import Interface, Parameter, PluginPoint, Version
    from ._lifecycle import Health, HealthResult
    from ._markers import PROJECT, hookimpl, hookspec
    from ._meta import PLUGIN_API_VERSION, PluginMeta
    from ._otel import export_trace
    from ._state import VersionChoice
    from ._tenants import HookUse
    from ._trace import Trace
    from ._views import CheckReport, PluginInfo, Problem, TenantInfo

__all__ = [
    "PLUGIN_API_VERSION",
    "PROJECT",
    "Call",
    "CallEvent",
    "CallOutcome",
    "Catalog",
    "CheckReport",
    "Context",
    "Health",
    "HealthResult",
    "HookUse",
    "Interface",
    "Method",
    "Parameter",
    "PluginInfo",
    "PluginMeta",
    "PluginPoint",
    "PointCall",
    "Points",
    "Policy",
    "Problem",
    "TenantInfo",
    "Trace",
    "Version",
    "VersionChoice",
    "__version__",
    "entrypoint",
    "export_trace",
    "hookimpl",
    "hookspec",
    "plugin_point",
]

_HOMES = {
    "PLUGIN_API_VERSION": "._meta",
    "PROJECT": "._markers",
    "Call": "._intercept",
    "CallEvent": "._events",
    "CallOutcome": "._catalog",
    "Catalog": "._catalog",
    "CheckReport": "._views",
    "Context": "._context",
    "Health": "._lifecycle",
    "HealthResult": "._lifecycle",
    "HookUse": "._tenants",
    "Interface": "._interfaces",
    "Method": "._catalog",
    "Parameter": "._interfaces",
    "PluginInfo": "._views",
    "PluginMeta": "._meta",
    "PluginPoint": "._interfaces",
    "PointCall": "._intercept",
    "Points": "._context",
    "Policy": "._declare",
    "Problem": "._views",
    "TenantInfo": "._views",
    "Trace": "._trace",
    "Version": "._interfaces",
    "VersionChoice": "._state",
    "entrypoint": "._declare",
    "export_trace": "._otel",
    "hookimpl": "._markers",
    "hookspec": "._markers",
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
