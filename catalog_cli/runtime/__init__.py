"""One tenant at run time: its PluginManager, its plugins' contexts, interceptors, calls."""

from __future__ import annotations

from .._deadline import Late, Overloaded, call_with_deadline
from .._redact import SECRET_NAMES, folded, redact
from ._async import bounded, contained, future_safe, unpacked
from ._context import Context, Points, current_call_id, new_call_id
from ._events import CallEvent
from ._intercept import Call, Chain, InterceptorContext, PointCall
from ._isolated import run_entry_point
from ._lifecycle import Health, HealthResult
from ._plan import StepPlan, call_plan
from ._prepared import PreparedCall
from ._runtimes import CanaryCall, Runtimes, States, stop
from ._tenant import TenantRuntime
from ._trace import TRACER_NAME, Trace, TraceNode, span_name, summarize

__all__ = [
    "SECRET_NAMES",
    "TRACER_NAME",
    "Call",
    "CallEvent",
    "CanaryCall",
    "Chain",
    "Context",
    "Health",
    "HealthResult",
    "InterceptorContext",
    "Late",
    "Overloaded",
    "PointCall",
    "Points",
    "PreparedCall",
    "Runtimes",
    "States",
    "StepPlan",
    "TenantRuntime",
    "Trace",
    "TraceNode",
    "bounded",
    "call_plan",
    "call_with_deadline",
    "contained",
    "current_call_id",
    "folded",
    "future_safe",
    "new_call_id",
    "redact",
    "run_entry_point",
    "span_name",
    "stop",
    "summarize",
    "unpacked",
]
