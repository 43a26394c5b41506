"""The ``opentelemetry`` interceptor: a span for every call, and one per plugin implementation
at the call's plugin points.

The call's span is the current span while the method runs, so spans that plugin code starts
nest under it (and under the implementation's span, at a plugin point). Spans go to the global
tracer provider (``opentelemetry.trace.set_tracer_provider``), through the ``task-catalog``
tracer; names and attributes are those of exported traces (see ``catalog_cli._otel``).

OpenTelemetry is imported with this module: the catalog imports an interceptor only for the
tenants that use it, so without the ``otel`` extra exactly those tenants fail closed, with a
PluginLoadError that says what to install.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator
from typing import Any

try:
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the opentelemetry interceptor needs OpenTelemetry: pip install 'task-catalog[otel]'"
    ) from exc

from catalog_cli import Call, InterceptorContext, PluginMeta, PointCall, hookimpl
from catalog_cli.config import Option, Options
from catalog_cli.runtime import TRACER_NAME, span_name, summarize

PLUGIN = PluginMeta(
    description="OpenTelemetry spans: one per call, and one per plugin implementation at its "
    "plugin points",
    settings=Options(
        Option(
            "points",
            "bool",
            True,
            "also a span per plugin implementation at each plugin point of the call",
        ),
        Option(
            "arguments",
            "bool",
            False,
            "record the call's arguments (their repr, cut short) as catalog.arguments.<name>: "
            "off by default, arguments may be personal data",
        ),
    ),
)

#: outermost by default: the span covers the time every other interceptor takes
ORDER = 50

#: The tracer provider spans go to; None means the global one. A seam for tests and for hosts
#: that keep a provider of their own (the global provider can be set only once per process).
_tracer_provider: trace.TracerProvider | None = None

# A proxy: it follows a global provider that is set after this module is imported.
_global_tracer = trace.get_tracer(TRACER_NAME)
_tracers: weakref.WeakKeyDictionary[trace.TracerProvider, trace.Tracer] = (
    weakref.WeakKeyDictionary()
)


def _tracer() -> trace.Tracer:
    provider = _tracer_provider
    if provider is None:
        return _global_tracer
    found = _tracers.get(provider)
    if found is None:
        # Two threads may both make one: they are equivalent, either may stay.
        found = _tracers[provider] = provider.get_tracer(TRACER_NAME)
    return found


def _failed(span: trace.Span, exc: BaseException) -> None:
    span.record_exception(exc)
    span.set_attribute("error.type", type(exc).__qualname__)
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    attributes: dict[str, Any] = {
        "catalog.kind": "call",
        "catalog.tenant": call.tenant,
        "catalog.interface": call.interface,
        "catalog.version": call.version,
        "catalog.version_source": call.version_source,
        "catalog.canary": call.canary,
        "catalog.call_id": call.call_id,
        "catalog.generation": call.generation,
    }
    if ctx.settings["arguments"]:
        for name, value in call.arguments.items():
            attributes[f"catalog.arguments.{name}"] = summarize(value)
    # Exceptions are recorded here, not by the context manager: it would also record a
    # GeneratorExit of a call pluggy abandons as the call failing.
    with _tracer().start_as_current_span(
        span_name("call", f"{call.interface} v{call.version}"),
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            return (yield)
        except GeneratorExit:
            raise
        except BaseException as exc:
            _failed(span, exc)
            raise


@hookimpl(wrapper=True)
def catalog_point_call(
    ctx: InterceptorContext, call: Call, point: PointCall
) -> Generator[None, Any, Any]:
    if point.wrapper or not ctx.settings["points"]:
        return (yield)  # a wrapper's value is ready: there is nothing left to time
    attributes: dict[str, str | int] = {
        "catalog.kind": "implementation",
        "catalog.tenant": call.tenant,
        "catalog.interface": call.interface,
        "catalog.version": call.version,
        "catalog.call_id": call.call_id,
        "catalog.plugin": point.plugin,
        "catalog.hook": point.hook,
        "catalog.plugin_point": point.point,
    }
    with _tracer().start_as_current_span(
        span_name("implementation", point.plugin),
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            return (yield)
        except GeneratorExit:
            raise
        except BaseException as exc:
            # The point's error policy may still leave this out and let the call go on: the
            # span shows the implementation failed, the call's span whether the call did.
            _failed(span, exc)
            raise
