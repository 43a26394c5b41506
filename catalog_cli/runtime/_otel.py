"""Export a traced call (``Catalog.execute(..., trace=True)``) as OpenTelemetry spans.

Needs the ``otel`` extra (``pip install 'task-catalog[otel]'``); OpenTelemetry is imported only
when a trace is exported, so the catalog and the CLI start without it.

One span per step of the trace, in the same tree. Span names are ``catalog.<kind> <subject>``:
the kind with its space made an underscore, and the subject what a reader looks for at that step:

- call: interface and version, ``catalog.call interface_a v2``
- interceptor: its name in catalog.toml, ``catalog.interceptor logging``
- entry point: interface and version, ``catalog.entry_point interface_a v2``
- plugin point: the point's name, ``catalog.plugin_point greeting``
- implementation: the plugin whose code it is, ``catalog.implementation customer_1.interface_a``
- wrapper: the plugin whose code it is, ``catalog.wrapper customer_2.price_quote``

The ``opentelemetry`` interceptor names its spans the same way, so live and exported spans of
the same step look alike. Attributes all start with ``catalog.``: every span carries the call's
``tenant``, ``interface``, ``version`` and ``call_id`` (so a backend finds every span of a call or
a tenant) and its ``kind``; then ``plugin`` and ``hook`` (implementations and wrappers),
``plugin_point`` (implementations at a point), ``policy`` (points), ``version_source`` and
``arguments.<name>`` (the call), ``result`` (the summary the trace kept), ``isolated`` (the
step failed and its error policy left its result out). A step with an error gets status ERROR
with the error as description, an ``exception`` event and ``error.type`` (OpenTelemetry's own
names, as the interceptor records them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import CatalogError
from ._trace import TRACER_NAME, Kind, Trace, TraceNode, span_name

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer


_INSTALL = "pip install 'task-catalog[otel]'"

#: steps whose span is named after the plugin whose code they are, not after the step
_BY_PLUGIN: frozenset[Kind] = frozenset({"implementation", "wrapper"})


def node_span_name(node: TraceNode) -> str:
    subject = node.plugin if node.kind in _BY_PLUGIN and node.plugin else node.name
    return span_name(node.kind, subject)


def export_trace(trace: Trace, tracer: Tracer | None = None) -> None:
    """Emit ``trace`` as spans through ``tracer`` (default: the global provider's
    ``task-catalog`` tracer), one per step, with the times the steps ran.

    The call's span is a child of the span current in the caller, if any. Raises CatalogError
    if OpenTelemetry is not installed.
    """
    try:
        from opentelemetry import trace as api
    except ImportError as exc:
        raise CatalogError(
            f"exporting a trace as OpenTelemetry spans needs OpenTelemetry: {_INSTALL}"
        ) from exc
    if tracer is None:
        tracer = api.get_tracer(TRACER_NAME)
    root = trace.root
    end = _ns(root.ended, root)
    _Exporter(tracer, root).emit(root, None, None, _now_ns(root) if end is None else end)


def _now_ns(root: TraceNode) -> int:
    # Only for a trace exported before its call finished: end the call now.
    return root.wall_ns + round(root.seconds * 1e9)


def _ns(moment: float | None, root: TraceNode) -> int | None:
    """A perf_counter reading as wall-clock nanoseconds.

    Every time is the call's wall-clock start plus a monotonic offset from it, rather than each
    step's own ``wall_ns``: the wall clock may be stepped during a call, which would put a
    step outside its parent; offsets of one monotonic clock always nest.
    """
    if moment is None:
        return None
    return root.wall_ns + round((moment - root.started) * 1e9)


class _Exporter:
    def __init__(self, tracer: Tracer, root: TraceNode) -> None:
        self.tracer = tracer
        self.root = root
        interface, version = _interface_version(root)
        self.common: dict[str, Any] = {
            "catalog.tenant": root.detail.get("tenant"),
            "catalog.interface": interface,
            "catalog.version": version,
            "catalog.call_id": root.detail.get("call_id"),
        }

    def emit(
        self, node: TraceNode, parent: Span | None, parent_node: TraceNode | None, end_cap: int
    ) -> None:
        from opentelemetry.trace import set_span_in_context

        start = _ns(node.started, self.root)
        assert start is not None
        end = _ns(node.ended, self.root)
        # A step still running when the call ended (abandoned at a timeout) ends with its
        # parent, marked unfinished.
        unfinished = end is None
        if end is None or end > end_cap:
            end = end_cap
        attributes = self._attributes(node, parent_node)
        if unfinished:
            attributes["catalog.unfinished"] = True
        span = self.tracer.start_span(
            node_span_name(node),
            context=set_span_in_context(parent) if parent is not None else None,
            attributes=attributes,
            start_time=start,
        )
        try:
            for child in node.children:
                self.emit(child, span, node, end)
            if node.error is not None:
                _mark_error(span, node.error, end)
        finally:
            span.end(end_time=end)

    def _attributes(self, node: TraceNode, parent: TraceNode | None) -> dict[str, Any]:
        attributes = {k: v for k, v in self.common.items() if v is not None}
        attributes["catalog.kind"] = node.kind
        if node.plugin is not None:
            attributes["catalog.plugin"] = node.plugin
        if node.kind in _BY_PLUGIN:
            attributes["catalog.hook"] = node.name
            if parent is not None and parent.kind == "plugin point":
                attributes["catalog.plugin_point"] = parent.name
        elif node.kind == "interceptor":
            attributes["catalog.interceptor"] = node.name
        elif node.kind == "plugin point":
            attributes["catalog.plugin_point"] = node.name
        for key, value in node.detail.items():
            _flatten(attributes, f"catalog.{key}", value)
        if node.result is not None:
            attributes["catalog.result"] = node.result
        if node.isolated:
            attributes["catalog.isolated"] = True
        return attributes


def _flatten(into: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, Mapping):
        for sub, item in value.items():
            _flatten(into, f"{key}.{sub}", item)
    elif isinstance(value, (str, bool, int, float)):
        into[key] = value
    elif value is not None:
        into[key] = str(value)


def _interface_version(root: TraceNode) -> tuple[str | None, int | None]:
    """The call's interface and version: the root step is named ``"<interface> v<version>"``."""
    interface, found, number = root.name.rpartition(" v")
    if found and number.isdigit():
        return interface, int(number)
    return root.detail.get("interface"), root.detail.get("version")


def _mark_error(span: Span, error: str, when: int) -> None:
    from opentelemetry.trace import Status, StatusCode

    # The trace keeps an error as "Type: message"; an exception event wants them apart.
    kind, sep, message = error.partition(": ")
    if not sep or not kind.isidentifier():
        kind, message = "", error
    span.set_status(Status(StatusCode.ERROR, error))
    event = {"exception.message": message}
    if kind:
        event["exception.type"] = kind
        span.set_attribute("error.type", kind)
    span.add_event("exception", event, timestamp=when)
