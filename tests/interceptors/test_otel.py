"""OpenTelemetry: traced calls exported as spans (``catalog_cli.runtime._otel``), and the
``opentelemetry`` interceptor's live spans.

Spans go to a TracerProvider made per test with an in-memory exporter. The global provider is
never set (OpenTelemetry allows that once per process): ``export_trace`` is given the tracer,
and the interceptor's ``_tracer_provider`` seam is pointed at the test's provider.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from catalog_cli import Catalog
from catalog_cli.errors import (
    CatalogError,
    ConfigError,
    PluginCallError,
    PluginLoadError,
)
from catalog_cli.runtime._otel import export_trace
from catalog_cli.runtime._trace import Trace, TraceNode
from tests.conftest import REPO, MakeCatalog

Tree = tuple[str, list[Any]]


class Spans:
    """What a test's tracer provider exported."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = self.provider.get_tracer("test")

    @property
    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()

    def roots(self) -> list[ReadableSpan]:
        ids = {s.context.span_id for s in self.finished}
        return [s for s in self.finished if s.parent is None or s.parent.span_id not in ids]

    def children(self, span: ReadableSpan) -> list[ReadableSpan]:
        # Spans finish in the order steps end: siblings (which run one after another) in the
        # order they ran.
        return [
            s
            for s in self.finished
            if s.parent is not None and s.parent.span_id == span.context.span_id
        ]

    def tree(self, span: ReadableSpan) -> Tree:
        return (span.name, [self.tree(child) for child in self.children(span)])

    def only_root(self) -> ReadableSpan:
        roots = self.roots()
        assert len(roots) == 1, [s.name for s in roots]
        return roots[0]

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished if s.name == name]

    def parent_of(self, span: ReadableSpan) -> ReadableSpan:
        assert span.parent is not None
        return next(s for s in self.finished if s.context.span_id == span.parent.span_id)


@pytest.fixture
def spans() -> Iterator[Spans]:
    found = Spans()
    yield found
    found.provider.shutdown()


@pytest.fixture
def live(spans: Spans, monkeypatch: pytest.MonkeyPatch) -> Spans:
    """The interceptor's spans go to this test's provider."""
    otel = importlib.import_module("catalog_cli.interceptors.otel")
    monkeypatch.setattr(otel, "_tracer_provider", spans.provider)
    return spans


def _shipped_plugins() -> dict[str, str]:
    return {
        str(path.relative_to(REPO)): path.read_text(encoding="utf-8")
        for path in (REPO / "plugins").rglob("*.py")
    }


SHIPPED_TENANTS = """
[tenants.c1]
plugins = ["customer_1.interface_a", "customer_1.price_quote"]
[tenants.c1.settings."customer_1.interface_a"]
team = "T"
[tenants.c2]
plugins = ["customer_2.*"]
versions = { interface_a = 2 }
[tenants.c3]
"""


def _with_interceptor(make_catalog: MakeCatalog, interceptor: str = "", **files: str) -> Catalog:
    """The shipped tenants (and plugins, plus ``files``) with the interceptor configured."""
    toml = f"""
    [catalog]
    plugin_dirs = ["plugins"]
    versions = {{ interface_a = 1 }}
    [interceptors.opentelemetry]
    {interceptor}
    {SHIPPED_TENANTS}
    """
    sources = _shipped_plugins()
    sources.update({f"plugins/{name}.py": source for name, source in files.items()})
    return make_catalog(toml, sources)


def _walk_pairs(spans: Spans, span: ReadableSpan, node: TraceNode) -> Iterator[tuple[Any, Any]]:
    yield span, node
    children = spans.children(span)
    assert len(children) == len(node.children), (span.name, [c.name for c in children])
    for child_span, child_node in zip(children, node.children, strict=True):
        yield from _walk_pairs(spans, child_span, child_node)


def _assert_times_nest(spans: Spans) -> None:
    for span in spans.finished:
        assert span.start_time is not None and span.end_time is not None
        assert span.start_time <= span.end_time, span.name
        if span.parent is None or span.parent.span_id not in {
            s.context.span_id for s in spans.finished
        }:
            continue
        parent = spans.parent_of(span)
        assert parent.start_time is not None and parent.end_time is not None
        assert parent.start_time <= span.start_time, (parent.name, span.name)
        assert span.end_time <= parent.end_time, (parent.name, span.name)


# -- export_trace -----------------------------------------------------------------------------


def test_exported_tree_matches_the_trace(shipped: Catalog, spans: Spans) -> None:
    outcome = shipped.execute(
        "interface_a", customer="c1", version=2, arguments={"name": "Ada"}, trace=True
    )
    assert outcome.trace is not None
    export_trace(outcome.trace, spans.tracer)

    root = spans.only_root()
    impl = "catalog.implementation customer_1.interface_a"
    assert spans.tree(root) == (
        "catalog.call interface_a v2",
        [
            (
                "catalog.entry_point interface_a v2",
                [
                    (
                        "catalog.implementation builtin_plugins.interface_a",
                        [
                            ("catalog.plugin_point greeting", [(impl, [])]),
                            ("catalog.plugin_point extra_lines", [(impl, [])]),
                        ],
                    )
                ],
            )
        ],
    )
    assert len(spans.finished) == len(list(outcome.trace.root.walk()))
    _assert_times_nest(spans)


def test_wrappers_nest_around_what_they_wrap(shipped: Catalog, spans: Spans) -> None:
    outcome = shipped.execute(
        "price_quote", customer="c2", arguments={"unit_price": 10.0, "quantity": 2}, trace=True
    )
    assert outcome.trace is not None
    export_trace(outcome.trace, spans.tracer)

    (entry,) = spans.children(spans.only_root())
    (quote,) = spans.children(entry)
    tree = spans.tree(quote)
    assert tree[0] == "catalog.implementation builtin_plugins.price_quote"
    assert dict(tree[1])["catalog.plugin_point tax_rate"] == [
        ("catalog.implementation customer_2.price_quote", []),
        ("catalog.implementation builtin_plugins.price_quote", []),
    ]
    assert dict(tree[1])["catalog.plugin_point total"] == [
        (
            "catalog.wrapper customer_2.price_quote",
            [("catalog.implementation builtin_plugins.price_quote", [])],
        )
    ]
    _assert_times_nest(spans)


def test_span_times_are_the_steps_times(shipped: Catalog, spans: Spans) -> None:
    outcome = shipped.execute(
        "price_quote", customer="c1", arguments={"unit_price": 3.0, "quantity": 12}, trace=True
    )
    assert outcome.trace is not None
    export_trace(outcome.trace, spans.tracer)

    root = outcome.trace.root
    assert spans.only_root().start_time == root.wall_ns
    for span, node in _walk_pairs(spans, spans.only_root(), root):
        assert node.ended is not None
        # Each span starts where its step did, relative to the call, and lasts as long.
        offset = round((node.started - root.started) * 1e9)
        assert abs(span.start_time - (root.wall_ns + offset)) <= 1
        assert abs((span.end_time - span.start_time) - node.seconds * 1e9) <= 2


def test_attributes(shipped: Catalog, spans: Spans) -> None:
    outcome = shipped.execute(
        "interface_a", customer="c1", version=2, arguments={"name": "Ada"}, trace=True
    )
    assert outcome.trace is not None
    export_trace(outcome.trace, spans.tracer)

    common = {
        "catalog.tenant": "c1",
        "catalog.interface": "interface_a",
        "catalog.version": 2,
        "catalog.call_id": outcome.call_id,
    }
    for span in spans.finished:
        assert span.attributes is not None
        assert {k: span.attributes.get(k) for k in common} == common, span.name
        assert span.status.status_code is StatusCode.UNSET

    root = spans.only_root()
    assert root.attributes is not None
    assert root.attributes["catalog.kind"] == "call"
    assert root.attributes["catalog.version_source"] == "requested"
    assert root.attributes["catalog.arguments.name"] == "'Ada'"
    assert root.attributes["catalog.result"] == repr(outcome.result)

    (point,) = spans.named("catalog.plugin_point greeting")
    assert point.attributes is not None
    assert point.attributes["catalog.kind"] == "plugin point"
    assert point.attributes["catalog.policy"] == "first"
    (greeting,) = spans.children(point)
    assert greeting.attributes is not None
    assert dict(greeting.attributes) == {
        **common,
        "catalog.kind": "implementation",
        "catalog.plugin": "customer_1.interface_a",
        "catalog.hook": "interface_a_v2_greeting",
        "catalog.plugin_point": "greeting",
        "catalog.result": "'Hi Ada, welcome back!'",
    }


FAILING = """
from catalog_cli import hookimpl

@hookimpl
def interface_a_v2_greeting(ctx, name, language):
    raise RuntimeError("no greeting today")
"""


def test_a_failing_call_is_exported_with_error_status(
    make_catalog: MakeCatalog, spans: Spans
) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["failing"]
        """,
        {"plugins/failing.py": FAILING},
    )
    with pytest.raises(PluginCallError) as caught:
        catalog.execute(
            "interface_a", customer="t", version=2, arguments={"name": "Ada"}, trace=True
        )
    assert isinstance(caught.value.trace, Trace)
    export_trace(caught.value.trace, spans.tracer)

    root = spans.only_root()
    assert root.status.status_code is StatusCode.ERROR
    assert root.status.description is not None
    assert root.status.description.startswith("PluginCallError: ")
    (failing,) = spans.named("catalog.implementation failing")
    assert failing.status.status_code is StatusCode.ERROR
    assert failing.status.description == "RuntimeError: no greeting today"
    assert (failing.attributes or {})["error.type"] == "RuntimeError"
    (event,) = failing.events
    assert event.name == "exception"
    assert dict(event.attributes or {}) == {
        "exception.type": "RuntimeError",
        "exception.message": "no greeting today",
    }
    # Every step the error passed through failed; none that ran before it did.
    failed = {s.name for s in spans.finished if s.status.status_code is StatusCode.ERROR}
    assert failed == {
        "catalog.call interface_a v2",
        "catalog.entry_point interface_a v2",
        "catalog.implementation builtin_plugins.interface_a",
        "catalog.plugin_point greeting",
        "catalog.implementation failing",
    }
    _assert_times_nest(spans)


ISOLATED_CATALOG = """
[catalog]
plugin_dirs = ["plugins"]
[catalog.errors]
"interface_a.v2.extra_lines" = "isolate"
{interceptors}
[tenants.c1]
plugins = ["customer_1.interface_a", "boom"]
[tenants.c1.settings."customer_1.interface_a"]
team = "T"
"""

AUDIT = """
from catalog_cli import hookimpl

ORDER = 60

@hookimpl(wrapper=True)
def catalog_call(ctx, call):
    return (yield)
"""

BOOM = """
from catalog_cli import hookimpl

@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    raise RuntimeError("boom")
"""


def _isolating(make_catalog: MakeCatalog, interceptors: str) -> Catalog:
    files = {
        "plugins/customer_1/interface_a.py": (REPO / "plugins/customer_1/interface_a.py").read_text(
            encoding="utf-8"
        ),
        "plugins/boom.py": BOOM,
        "plugins/audit.py": AUDIT,
    }
    return make_catalog(ISOLATED_CATALOG.format(interceptors=interceptors), files)


def test_isolated_plugin_errors_are_visible(make_catalog: MakeCatalog, spans: Spans) -> None:
    catalog = _isolating(make_catalog, "[interceptors.audit]")
    outcome = catalog.execute(
        "interface_a", customer="c1", version=2, arguments={"name": "Ada"}, trace=True
    )
    assert outcome.result == "Hi Ada, welcome back!\n-- T"
    assert outcome.trace is not None
    export_trace(outcome.trace, spans.tracer)

    root = spans.only_root()
    (interceptor,) = spans.children(root)
    assert interceptor.name == "catalog.interceptor audit"
    assert interceptor.attributes is not None
    assert interceptor.attributes["catalog.interceptor"] == "audit"
    (boom,) = spans.named("catalog.implementation boom")
    assert boom.attributes is not None
    assert boom.attributes["catalog.isolated"] is True
    assert boom.status.status_code is StatusCode.ERROR
    assert boom.status.description == "RuntimeError: boom"
    assert [e.name for e in boom.events] == ["exception"]
    # The call went on without it.
    point = spans.parent_of(boom)
    assert point.name == "catalog.plugin_point extra_lines"
    assert point.status.status_code is StatusCode.UNSET
    assert root.status.status_code is StatusCode.UNSET
    (customer,) = [s for s in spans.children(point) if s is not boom]
    assert customer.attributes is not None
    assert "catalog.isolated" not in customer.attributes
    _assert_times_nest(spans)


def test_the_call_span_is_a_child_of_the_current_span(shipped: Catalog, spans: Spans) -> None:
    outcome = shipped.execute("interface_a", customer="c3", arguments={"name": "Bo"}, trace=True)
    assert outcome.trace is not None
    with spans.tracer.start_as_current_span("request") as request:
        export_trace(outcome.trace, spans.tracer)
    (call,) = spans.named("catalog.call interface_a v1")
    assert call.parent is not None
    assert call.parent.span_id == request.get_span_context().span_id


def test_the_default_tracer_is_the_global_task_catalog_one(
    shipped: Catalog, spans: Spans, monkeypatch: pytest.MonkeyPatch
) -> None:
    import opentelemetry.trace

    asked: list[str] = []

    def get_tracer(name: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(name)
        return spans.provider.get_tracer(name)

    monkeypatch.setattr(opentelemetry.trace, "get_tracer", get_tracer)
    outcome = shipped.execute("interface_a", customer="c3", arguments={"name": "Bo"}, trace=True)
    assert outcome.trace is not None
    export_trace(outcome.trace)
    assert asked == ["task-catalog"]
    assert spans.only_root().name == "catalog.call interface_a v1"


def test_steps_still_running_end_with_the_call_marked_unfinished(spans: Spans) -> None:
    # What a call abandoned at its timeout leaves: steps entered and never left.
    trace = Trace(TraceNode("call", "interface_a v2", None, {"tenant": "t", "call_id": "x-1"}))
    entry = trace.enter("entry point", "interface_a v2")
    trace.enter("implementation", "interface_a_v2", "builtin_plugins.interface_a")
    trace.finish(error=CatalogError("timed out"))
    assert entry.ended is None
    export_trace(trace, spans.tracer)

    root = spans.only_root()
    assert spans.tree(root) == (
        "catalog.call interface_a v2",
        [
            (
                "catalog.entry_point interface_a v2",
                [("catalog.implementation builtin_plugins.interface_a", [])],
            )
        ],
    )
    for span in spans.finished:
        assert span.end_time == root.end_time
        assert span.attributes is not None
        assert span.attributes.get("catalog.unfinished", False) is (span is not root)
    assert root.status.status_code is StatusCode.ERROR


def test_export_without_opentelemetry_says_what_to_install(
    shipped: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome = shipped.execute("interface_a", customer="c3", arguments={"name": "Bo"}, trace=True)
    assert outcome.trace is not None
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(CatalogError, match=r"pip install 'task-catalog\[otel\]'"):
        export_trace(outcome.trace)


# -- the interceptor ----------------------------------------------------------------------------


def test_interceptor_spans_a_call_and_its_plugin_implementations(
    make_catalog: MakeCatalog, live: Spans
) -> None:
    catalog = _with_interceptor(make_catalog)
    outcome = catalog.execute("interface_a", customer="c1", version=2, arguments={"name": "Ada"})
    assert outcome.result == "Hi Ada, welcome back!\n-- T"

    root = live.only_root()
    assert live.tree(root) == (
        "catalog.call interface_a v2",
        [
            ("catalog.implementation customer_1.interface_a", []),
            ("catalog.implementation customer_1.interface_a", []),
        ],
    )
    assert root.attributes is not None
    assert dict(root.attributes) == {
        "catalog.kind": "call",
        "catalog.tenant": "c1",
        "catalog.interface": "interface_a",
        "catalog.version": 2,
        "catalog.version_source": "requested",
        "catalog.canary": False,
        "catalog.call_id": outcome.call_id,
        "catalog.generation": 0,
    }
    assert [dict(s.attributes or {}) for s in live.children(root)] == [
        {
            "catalog.kind": "implementation",
            "catalog.tenant": "c1",
            "catalog.interface": "interface_a",
            "catalog.version": 2,
            "catalog.call_id": outcome.call_id,
            "catalog.plugin": "customer_1.interface_a",
            "catalog.hook": f"interface_a_v2_{point}",
            "catalog.plugin_point": point,
        }
        for point in ("greeting", "extra_lines")
    ]
    assert all(s.status.status_code is StatusCode.UNSET for s in live.finished)
    _assert_times_nest(live)


def test_interceptor_tells_why_the_version_ran(make_catalog: MakeCatalog, live: Spans) -> None:
    catalog = _with_interceptor(make_catalog)
    catalog.run("interface_a", customer="c2", name="Ada")
    catalog.run("interface_a", customer="c3", name="Ada")
    catalog.run("price_quote", customer="c3", unit_price=1.0, quantity=1)
    assert [
        (s.name, (s.attributes or {})["catalog.version_source"])
        for s in live.roots()  # in the order the calls ended
    ] == [
        ("catalog.call interface_a v2", "tenant"),
        ("catalog.call interface_a v1", "catalog"),
        ("catalog.call price_quote v1", "latest"),
    ]


def test_interceptor_marks_canary_calls(make_catalog: MakeCatalog, live: Spans) -> None:
    catalog = make_catalog(
        """
        [catalog]
        versions = { interface_a = 1 }
        [interceptors.opentelemetry]
        [tenants.t]
        [tenants.t.canary.interface_a]
        version = 2
        share = 0.5
        key = "name"
        """
    )
    sources = {}
    for i in range(100):
        outcome = catalog.execute("interface_a", customer="t", arguments={"name": f"u{i}"})
        sources[outcome.call_id] = outcome.version_source
        if len(set(sources.values())) == 2:
            break
    assert set(sources.values()) == {"canary", "catalog"}
    for span in live.roots():
        attributes = span.attributes or {}
        source = sources[str(attributes["catalog.call_id"])]
        assert attributes["catalog.version_source"] == source
        assert attributes["catalog.canary"] is (source == "canary")
        assert span.name == f"catalog.call interface_a v{2 if source == 'canary' else 1}"


SPY = """
from opentelemetry import trace
from catalog_cli import hookimpl

def _current():
    return format(trace.get_current_span().get_span_context().span_id, "016x")

@hookimpl(wrapper=True)
def interface_a_v2(ctx, name, language, vip):
    result = yield
    return result + "\\nentry:" + _current()

@hookimpl
def interface_a_v2_extra_lines(ctx, name, vip):
    return "point:" + _current()
"""


def test_plugin_code_runs_inside_the_spans(make_catalog: MakeCatalog, live: Spans) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.opentelemetry]
        [tenants.t]
        plugins = ["spy"]
        """,
        {"plugins/spy.py": SPY},
    )
    result = catalog.run("interface_a", customer="t", version=2, name="Ada")
    seen = dict(line.split(":") for line in result.splitlines() if ":" in line)

    root = live.only_root()
    (point,) = live.named("catalog.implementation spy")
    assert live.parent_of(point) is root
    assert seen["entry"] == format(root.context.span_id, "016x")
    assert seen["point"] == format(point.context.span_id, "016x")


def test_interceptor_records_a_failing_call(make_catalog: MakeCatalog, live: Spans) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.opentelemetry]
        [tenants.t]
        plugins = ["failing"]
        """,
        {"plugins/failing.py": FAILING},
    )
    with pytest.raises(PluginCallError):
        catalog.run("interface_a", customer="t", version=2, name="Ada")

    root = live.only_root()
    (failing,) = live.children(root)
    for span in (root, failing):
        assert span.status.status_code is StatusCode.ERROR, span.name
        assert span.status.description == "RuntimeError: no greeting today"
        assert (span.attributes or {})["error.type"] == "RuntimeError"
        (event,) = span.events
        assert event.name == "exception"
        assert (event.attributes or {})["exception.type"] == "RuntimeError"
        assert (event.attributes or {})["exception.message"] == "no greeting today"


def test_interceptor_shows_isolated_failures_while_the_call_succeeds(
    make_catalog: MakeCatalog, live: Spans
) -> None:
    catalog = _isolating(make_catalog, "[interceptors.opentelemetry]")
    assert catalog.run("interface_a", customer="c1", version=2, name="Ada") == (
        "Hi Ada, welcome back!\n-- T"
    )
    root = live.only_root()
    assert root.status.status_code is StatusCode.UNSET
    by_plugin = {(s.attributes or {})["catalog.plugin"]: s for s in live.children(root)}
    assert by_plugin["boom"].status.status_code is StatusCode.ERROR
    assert by_plugin["boom"].status.description == "RuntimeError: boom"
    assert by_plugin["customer_1.interface_a"].status.status_code is StatusCode.UNSET


def test_points_off_leaves_only_the_call_span(make_catalog: MakeCatalog, live: Spans) -> None:
    catalog = _with_interceptor(make_catalog, "settings = { points = false }")
    catalog.run("interface_a", customer="c1", version=2, name="Ada")
    assert [s.name for s in live.finished] == ["catalog.call interface_a v2"]


def test_arguments_only_when_asked(make_catalog: MakeCatalog, live: Spans) -> None:
    # Per-tenant override: only c1 records arguments.
    catalog = _with_interceptor(
        make_catalog,
        "[tenants.c1.interceptors.opentelemetry]\narguments = true",
    )
    catalog.run("interface_a", customer="c1", version=2, name="Ada")
    catalog.run("interface_a", customer="c2", version=2, name="Bob")
    c1, c2 = live.roots()
    assert (c1.attributes or {})["catalog.arguments.name"] == "'Ada'"
    assert (c1.attributes or {})["catalog.arguments.vip"] == "False"
    assert not any(k.startswith("catalog.arguments.") for k in c2.attributes or {})


def test_interceptor_scope(make_catalog: MakeCatalog, live: Spans) -> None:
    catalog = _with_interceptor(
        make_catalog, 'include = { tenants = ["c1"] }\nexclude = { interfaces = ["price_quote"] }'
    )
    catalog.run("interface_a", customer="c2", name="Ada")
    catalog.run("price_quote", customer="c1", unit_price=1.0, quantity=1)
    assert live.finished == []
    catalog.run("interface_a", customer="c1", name="Ada")
    assert [s.name for s in live.roots()] == ["catalog.call interface_a v1"]


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ('settings = { points = "yes" }', "interceptors.opentelemetry.settings.points"),
        ("settings = { spans = 1 }", "interceptors.opentelemetry.settings.spans"),
        (
            "[tenants.c1.interceptors.opentelemetry]\narguments = 1",
            "tenants.c1.interceptors.opentelemetry.arguments",
        ),
    ],
)
def test_bad_settings_fail_the_tenant_closed(
    make_catalog: MakeCatalog, live: Spans, config: str, key: str
) -> None:
    catalog = _with_interceptor(make_catalog, config)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        catalog.run("interface_a", customer="c1", name="Ada")
    assert live.finished == []


def test_without_opentelemetry_only_its_tenants_fail_closed(
    make_catalog: MakeCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "catalog_cli.interceptors.otel", raising=False)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    catalog = _with_interceptor(make_catalog, 'exclude = { tenants = ["c3"] }')
    with pytest.raises(PluginLoadError) as caught:
        catalog.run("interface_a", customer="c1", name="Ada")
    message = str(caught.value)
    assert "interceptor.opentelemetry" in message
    assert "pip install 'task-catalog[otel]'" in message
    assert "fails closed" in message
    assert catalog.run("interface_a", customer="c3", name="Ada") == "Hello, Ada!"


def test_concurrent_calls_keep_their_spans_apart(make_catalog: MakeCatalog, live: Spans) -> None:
    catalog = _with_interceptor(make_catalog)
    tenants = ("c1", "c2", "c3")

    def call(i: int) -> str:
        tenant = tenants[i % 3]
        return catalog.execute(
            "interface_a", customer=tenant, version=2, arguments={"name": f"u{i}"}
        ).call_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        call_ids = list(pool.map(call, range(120)))

    roots = live.roots()
    assert sorted(str((s.attributes or {})["catalog.call_id"]) for s in roots) == sorted(call_ids)
    children = [s for s in live.finished if s not in roots]
    assert children
    for child in children:
        parent = live.parent_of(child)
        assert (parent.attributes or {})["catalog.call_id"] == (child.attributes or {})[
            "catalog.call_id"
        ]
        assert (parent.attributes or {})["catalog.tenant"] == (child.attributes or {})[
            "catalog.tenant"
        ]
    _assert_times_nest(live)


def test_traced_call_with_the_interceptor_names_steps_alike(
    make_catalog: MakeCatalog, live: Spans
) -> None:
    catalog = _with_interceptor(make_catalog)
    outcome = catalog.execute(
        "interface_a", customer="c1", version=2, arguments={"name": "Ada"}, trace=True
    )
    assert outcome.trace is not None
    live_names = [s.name for s in live.finished]
    live.clear()
    export_trace(outcome.trace, live.tracer)

    root = live.only_root()
    (interceptor,) = live.children(root)
    assert interceptor.name == "catalog.interceptor opentelemetry"
    exported = {s.name for s in live.finished}
    assert set(live_names) <= exported
    assert sorted(live_names) == [
        "catalog.call interface_a v2",
        "catalog.implementation customer_1.interface_a",
        "catalog.implementation customer_1.interface_a",
    ]
