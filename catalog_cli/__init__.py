"""task-catalog: versioned business methods with per-tenant pluggy plugins.

Names are imported on first use, so ``catalog --help`` does not pay for the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._lazy import attribute

if TYPE_CHECKING:
    from ._catalog_events import CatalogEvent, EventBus
    from .config import Option, Options
    from .declarations import (
        PROJECT,
        Interface,
        Parameter,
        PluginPoint,
        Policy,
        Version,
        VersionChange,
        entrypoint,
        hookimpl,
        hookspec,
        plugin_point,
        version_change,
    )
    from .errors import ErrorRecord
    from .execution import (
        CallAnswer,
        CallOutcome,
        CallRequest,
        Catalog,
        CheckReport,
        Method,
        PluginInfo,
        Problem,
        TenantInfo,
        TenantStatus,
    )
    from .execution._batch import ProcessPool, map_calls
    from .execution._contract import PluginReport
    from .execution._jobs import Job, JobStore, JobWorker
    from .execution._replay import (
        Difference,
        MalformedLine,
        RecordedCall,
        ReplayedCall,
        ReplayReport,
        read_recording,
        replay,
    )
    from .execution._views import InterceptorInfo
    from .interceptors.metrics import Series
    from .registry import PLUGIN_API_VERSION, HookUse, PluginMeta, VersionChoice
    from .registry._versions import VersionSource
    from .runtime import (
        Call,
        CallEvent,
        Context,
        Health,
        HealthResult,
        InterceptorContext,
        PointCall,
        Points,
        Trace,
    )
    from .runtime._otel import export_trace
    from .runtime._plan import StepPlan

__all__ = [
    "PLUGIN_API_VERSION",
    "PROJECT",
    "Call",
    "CallAnswer",
    "CallEvent",
    "CallOutcome",
    "CallRequest",
    "Catalog",
    "CatalogEvent",
    "CheckReport",
    "Context",
    "Difference",
    "ErrorRecord",
    "EventBus",
    "Health",
    "HealthResult",
    "HookUse",
    "InterceptorContext",
    "InterceptorInfo",
    "Interface",
    "Job",
    "JobStore",
    "JobWorker",
    "MalformedLine",
    "Method",
    "Option",
    "Options",
    "Parameter",
    "PluginInfo",
    "PluginMeta",
    "PluginPoint",
    "PluginReport",
    "PointCall",
    "Points",
    "Policy",
    "Problem",
    "ProcessPool",
    "RecordedCall",
    "ReplayReport",
    "ReplayedCall",
    "Series",
    "StepPlan",
    "TenantInfo",
    "TenantStatus",
    "Trace",
    "Version",
    "VersionChange",
    "VersionChoice",
    "VersionSource",
    "__version__",
    "entrypoint",
    "export_trace",
    "hookimpl",
    "hookspec",
    "map_calls",
    "plugin_point",
    "read_recording",
    "replay",
    "version_change",
]

_HOMES = {
    "Call": ".runtime",
    "CallAnswer": ".execution",
    "CallEvent": ".runtime",
    "CallOutcome": ".execution",
    "CallRequest": ".execution",
    "Catalog": ".execution",
    "CatalogEvent": "._catalog_events",
    "CheckReport": ".execution",
    "Context": ".runtime",
    "Difference": ".execution._replay",
    "ErrorRecord": ".errors",
    "EventBus": "._catalog_events",
    "Health": ".runtime",
    "HealthResult": ".runtime",
    "HookUse": ".registry",
    "InterceptorContext": ".runtime",
    "InterceptorInfo": ".execution._views",
    "Interface": ".declarations",
    "Job": ".execution._jobs",
    "JobStore": ".execution._jobs",
    "JobWorker": ".execution._jobs",
    "MalformedLine": ".execution._replay",
    "Method": ".execution",
    "Option": ".config",
    "Options": ".config",
    "PLUGIN_API_VERSION": ".registry",
    "PROJECT": ".declarations",
    "Parameter": ".declarations",
    "PluginInfo": ".execution",
    "PluginMeta": ".registry",
    "PluginPoint": ".declarations",
    "PluginReport": ".execution._contract",
    "PointCall": ".runtime",
    "Points": ".runtime",
    "Policy": ".declarations",
    "Problem": ".execution",
    "ProcessPool": ".execution._batch",
    "RecordedCall": ".execution._replay",
    "ReplayReport": ".execution._replay",
    "ReplayedCall": ".execution._replay",
    "Series": ".interceptors.metrics",
    "StepPlan": ".runtime._plan",
    "TenantInfo": ".execution",
    "TenantStatus": ".execution",
    "Trace": ".runtime",
    "Version": ".declarations",
    "VersionChange": ".declarations",
    "VersionChoice": ".registry",
    "VersionSource": ".registry._versions",
    "entrypoint": ".declarations",
    "export_trace": ".runtime._otel",
    "hookimpl": ".declarations",
    "hookspec": ".declarations",
    "map_calls": ".execution._batch",
    "plugin_point": ".declarations",
    "read_recording": ".execution._replay",
    "replay": ".execution._replay",
    "version_change": ".declarations",
}


def _installed_version() -> str:
    """The version of the installed task-catalog, read from its metadata file where
    ``importlib.metadata`` would find it (the first ``sys.path`` entry holding it): importing
    that module (it brings the email parser) would make ``catalog --version`` take a quarter
    longer."""
    import os
    import sys

    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                base, headers = name[: -len(".dist-info")], "METADATA"
            elif name.endswith(".egg-info"):
                base, headers = name[: -len(".egg-info")], "PKG-INFO"
            else:
                continue
            if base.partition("-")[0].lower().replace(".", "_") != "task_catalog":
                continue
            try:
                with open(os.path.join(entry, name, headers), encoding="utf-8") as lines:
                    for line in lines:
                        if not line.strip():
                            break  # the end of the headers
                        if line.startswith("Version:"):
                            return line.partition(":")[2].strip()
            except OSError:
                pass
    from importlib.metadata import version  # not found as expected: the thorough way

    return version("task-catalog")


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _installed_version()
    return attribute(globals(), _HOMES, name)


def __dir__() -> list[str]:
    return sorted(__all__)
