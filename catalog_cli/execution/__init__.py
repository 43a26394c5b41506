"""Running a catalog: the Catalog object, the one path of a call, batches and jobs."""

from __future__ import annotations

from ._catalog import CallOutcome, Catalog, Method
from ._requests import CallAnswer, CallRequest
from ._views import CheckReport, InterceptorInfo, PluginInfo, Problem, TenantInfo, TenantStatus

__all__ = [
    "CallAnswer",
    "CallOutcome",
    "CallRequest",
    "Catalog",
    "CheckReport",
    "InterceptorInfo",
    "Method",
    "PluginInfo",
    "Problem",
    "TenantInfo",
    "TenantStatus",
]
