"""Interceptors: registration, order, scope, settings, steering, and failures (built-ins aside)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog_cli.errors import ConfigError, PluginCallError, PluginLoadError, PluginValidationError
from catalog_cli.runtime._intercept import Chain
from tests.conftest import MakeCatalog, prepared

#: An interceptor that writes what it sees into the ``sink`` module; {name} tells them apart.
RECORDER = """
from catalog_cli import hookimpl
import sink

ORDER = {order}


@hookimpl(wrapper=True)
def catalog_call(ctx, call):
    sink.SEEN.append(("enter", "{name}", call.tenant, call.interface, call.version_source))
    ctx.state["calls"] = ctx.state.get("calls", 0) + 1
    try:
        result = yield
    except Exception as exc:
        sink.SEEN.append(("error", "{name}", type(exc).__name__))
        raise
    sink.SEEN.append(("leave", "{name}", dict(ctx.settings)))
    return result
"""


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = ModuleType("sink")
    module.SEEN = []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sink", module)
    return module


def recorder(name: str, order: int = 1000) -> str:
    return RECORDER.format(name=name, order=order)


def files(**sources: str) -> dict[str, str]:
    return {f"plugins/{name}.py": source for name, source in sources.items()}


def entered(sink: ModuleType) -> list[str]:
    return [item[1] for item in sink.SEEN if item[0] == "enter"]


def test_order_from_catalog_toml_wins_and_ties_go_by_name(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.a]
        order = 30
        [interceptors.b]
        [interceptors.c]
        order = 10
        [interceptors.d]
        order = 30
        [tenants.t]
        """,
        files(a=recorder("a"), b=recorder("b", order=20), c=recorder("c"), d=recorder("d")),
    )
    catalog.run("interface_a", customer="t")
    # c (10), b (its own ORDER 20), then a and d (30, by name): outermost first
    assert entered(sink) == ["c", "b", "a", "d"]
    leaves = [item[1] for item in sink.SEEN if item[0] == "leave"]
    assert leaves == ["d", "a", "b", "c"]
    assert [use.name for use in catalog.tenant("t").interceptors] == ["c", "b", "a", "d"]


def test_interceptors_wrap_tenant_wrappers_even_tryfirst_ones(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    wrapper = """
    from catalog_cli import hookimpl
    import sink

    @hookimpl(wrapper=True, tryfirst=True)
    def interface_a_v2(ctx):
        sink.SEEN.append(("enter", "tenant-wrapper"))
        return (yield)
    """
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.outer]
        [tenants.t]
        plugins = ["wrapper"]
        """,
        files(outer=recorder("outer"), wrapper=wrapper),
    )
    catalog.run("interface_a", customer="t", version=2)
    assert [item[1] for item in sink.SEEN if item[0] == "enter"] == ["outer", "tenant-wrapper"]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("", {"t1", "t2", "t3"}),
        ('include = { tenants = ["t1", "t2"] }', {"t1", "t2"}),
        ('include = { tenants = ["t*"] }\nexclude = { tenants = ["t2"] }', {"t1", "t3"}),
        ('exclude = { tenants = ["t1"] }', {"t2", "t3"}),
        ('include = { tenants = ["t1"] }\nexclude = { tenants = ["t1"] }', set()),
    ],
)
def test_tenant_scope_and_exclude_wins(
    make_catalog: MakeCatalog, sink: ModuleType, scope: str, expected: set[str]
) -> None:
    catalog = make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rec]
        {scope}
        [tenants.t1]
        [tenants.t2]
        [tenants.t3]
        """,
        files(rec=recorder("rec")),
    )
    for tenant in ("t1", "t2", "t3"):
        catalog.run("interface_a", customer=tenant)
    assert {item[2] for item in sink.SEEN if item[0] == "enter"} == expected
    for tenant in ("t1", "t2", "t3"):
        wrapped = [use.name for use in catalog.tenant(tenant).interceptors]
        assert wrapped == (["rec"] if tenant in expected else [])


def test_interface_scope(make_catalog: MakeCatalog, sink: ModuleType) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.quotes]
        include = { interfaces = ["price_*"] }
        [interceptors.rest]
        exclude = { interfaces = ["price_quote"] }
        [tenants.t]
        """,
        files(quotes=recorder("quotes"), rest=recorder("rest")),
    )
    catalog.run("interface_a", customer="t")
    assert entered(sink) == ["rest"]
    sink.SEEN.clear()
    catalog.run("price_quote", customer="t", unit_price=2.0, quantity=1)
    assert entered(sink) == ["quotes"]


def test_tenants_without_interceptors_call_the_entry_point_directly(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rec]
        include = { tenants = ["watched"], interfaces = ["price_quote"] }
        [tenants.watched]
        [tenants.plain]
        """,
        files(rec=recorder("rec")),
    )
    plain = prepared(catalog, "plain", "price_quote")
    other = prepared(catalog, "watched", "interface_a")
    watched = prepared(catalog, "watched", "price_quote")
    assert not isinstance(plain.entry, Chain)
    assert not isinstance(other.entry, Chain)  # out of the interface scope: no cost either
    assert isinstance(watched.entry, Chain)
    assert "interceptor.rec" not in [
        n for n, _ in catalog.plugin_manager("plain").list_name_plugin()
    ]


def test_settings_shared_with_tenant_overrides(make_catalog: MakeCatalog, sink: ModuleType) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rec.settings]
        level = "info"
        limit = 3
        [tenants.t1]
        [tenants.t2.interceptors.rec]
        limit = 9
        """,
        files(rec=recorder("rec")),
    )
    catalog.run("interface_a", customer="t1")
    catalog.run("interface_a", customer="t2")
    leaves = [item[2] for item in sink.SEEN if item[0] == "leave"]
    assert leaves == [{"level": "info", "limit": 3}, {"level": "info", "limit": 9}]


SCHEMA_INTERCEPTOR = """
from pydantic import BaseModel
from catalog_cli import PluginMeta, hookimpl


class Settings(BaseModel):
    limit: int = 1


PLUGIN = PluginMeta(settings=Settings)


@hookimpl(wrapper=True)
def catalog_call(ctx, call):
    return (yield)
"""


def test_bad_settings_fail_only_the_tenants_in_scope_naming_the_key(
    make_catalog: MakeCatalog,
) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.checked]
        exclude = { tenants = ["free"] }
        [tenants.bad.interceptors.checked]
        limit = "many"
        [tenants.good]
        [tenants.free]
        """,
        files(checked=SCHEMA_INTERCEPTOR),
    )
    with pytest.raises(ConfigError) as caught:
        catalog.run("interface_a", customer="bad")
    assert "tenants.bad.interceptors.checked.limit" in str(caught.value)
    assert catalog.run("interface_a", customer="good", name="Bo") == "Hello, Bo!"
    assert catalog.run("interface_a", customer="free", name="Bo") == "Hello, Bo!"


def test_settings_for_an_interceptor_that_leaves_the_tenant_out(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rec]
        exclude = { tenants = ["t"] }
        [tenants.t.interceptors.rec]
        limit = 1
        [tenants.t.interceptors.nosuch]
        limit = 1
        """,
        files(rec=recorder("rec")),
    )
    info = catalog.tenant("t")
    assert info.status == "failed"
    assert "whose scope leaves this tenant out" in (info.error or "")
    assert "tenants.t.interceptors.nosuch" in (info.error or "")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("[interceptors.logginq]", "no interceptor named 'logginq'"),
        ("[interceptors.logginq]", "did you mean 'logging'?"),
        ('[interceptors.rec]\ninclude = { tenants = ["tx"] }', "unknown tenant 'tx'"),
        ('[interceptors.rec]\nexclude = { interfaces = ["price"] }', "unknown interface 'price'"),
        ("[interceptors.rec]\norder = 1.5", "interceptors.rec.order: expected an integer"),
        ("[interceptors.rec]\nenabled = 'yes'", "expected a boolean"),
        ("[interceptors.rec]\ncolour = 1", "unknown key (allowed: enabled, order, include"),
    ],
)
def test_config_mistakes_are_reported_with_their_key(
    make_catalog: MakeCatalog, section: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        make_catalog(
            f"""
            [catalog]
            plugin_dirs = ["plugins"]
            {section}
            [tenants.t]
            """,
            files(rec=recorder("rec")),
        )
    assert message in str(caught.value)


def test_disabled_interceptor_does_not_run(make_catalog: MakeCatalog, sink: ModuleType) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rec]
        enabled = false
        [tenants.t]
        """,
        files(rec=recorder("rec")),
    )
    catalog.run("interface_a", customer="t")
    assert sink.SEEN == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "from catalog_cli import hookimpl\n@hookimpl\n"
            "def catalog_call(ctx, call):\n    return 1\n",
            "must be a new-style wrapper",
        ),
        (
            "from catalog_cli import hookimpl\n@hookimpl(wrapper=True, tryfirst=True)\n"
            "def catalog_call(ctx, call):\n    return (yield)\n",
            "ordered by `order` in catalog.toml",
        ),
        (
            "from catalog_cli import hookimpl\n@hookimpl(wrapper=True)\n"
            "def interface_a_v2(ctx):\n    return (yield)\n",
            "an interceptor implements only catalog_call and catalog_point_call",
        ),
        ("raise ImportError('no such thing')\n", "failed to import"),
    ],
)
def test_a_broken_interceptor_fails_its_tenants_closed_and_no_others(
    make_catalog: MakeCatalog, source: str, message: str
) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.broken]
        include = { tenants = ["hit"] }
        [tenants.hit]
        [tenants.spared]
        """,
        files(broken=source),
    )
    with pytest.raises((PluginValidationError, PluginLoadError)) as caught:
        catalog.run("interface_a", customer="hit")
    assert message in str(caught.value)
    assert "interceptor.broken" in str(caught.value)
    assert caught.value.tenant == "hit"
    assert catalog.run("interface_a", customer="spared", name="Al") == "Hello, Al!"


def test_a_tenant_plugin_may_not_implement_interceptor_hooks(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [tenants.t]
        plugins = ["sneaky"]
        """,
        files(sneaky=recorder("sneaky")),
    )
    with pytest.raises(PluginValidationError, match=r"configure the plugin as an interceptor"):
        catalog.run("interface_a", customer="t")


def test_an_interceptor_that_raises_is_named(make_catalog: MakeCatalog) -> None:
    raiser = """
    from catalog_cli import hookimpl

    @hookimpl(wrapper=True)
    def catalog_call(ctx, call):
        raise RuntimeError("refused")
        yield
    """
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.raiser]
        [tenants.t]
        """,
        files(raiser=raiser),
    )
    with pytest.raises(PluginCallError) as caught:
        catalog.run("interface_a", customer="t")
    assert caught.value.plugin == "interceptor.raiser"


STEERING = """
from catalog_cli import hookimpl
import sink


@hookimpl(wrapper=True)
def catalog_call(ctx, call):
    mode = ctx.settings["mode"]
    if mode == "respond":
        call.respond("from the interceptor")
        return (yield)
    if mode == "again":
        first = yield
        return [first, call.again(ctx)]
    if mode == "runner":
        call.run_with(lambda method: ("ran", method()))
        return (yield)
    return (yield)
"""


@pytest.mark.parametrize(
    ("mode", "expected", "inner_calls"),
    [
        ("respond", "from the interceptor", 1),
        ("again", ["Hello, Al!", "Hello, Al!"], 2),
        ("runner", ("ran", "Hello, Al!"), 1),
    ],
)
def test_steering_the_call(
    make_catalog: MakeCatalog, sink: ModuleType, mode: str, expected: object, inner_calls: int
) -> None:
    counter = """
    from catalog_cli import hookimpl
    import sink

    @hookimpl
    def interface_a_v1_signature(ctx, name):
        sink.SEEN.append("method ran")
    """
    catalog = make_catalog(
        f"""
        [catalog]
        plugin_dirs = ["plugins"]
        versions = {{ interface_a = 1 }}
        [interceptors.steer]
        order = 1
        settings = {{ mode = "{mode}" }}
        [interceptors.inner]
        order = 2
        [tenants.t]
        plugins = ["counter"]
        """,
        files(steer=STEERING, inner=recorder("inner"), counter=counter),
    )
    assert catalog.run("interface_a", customer="t", name="Al") == expected
    # the interceptors inside see every run; the method is skipped when answered for
    assert entered(sink) == ["inner"] * inner_calls
    method_runs = sink.SEEN.count("method ran")
    assert method_runs == (0 if mode == "respond" else inner_calls)


def test_call_facts_include_the_canary(make_catalog: MakeCatalog, sink: ModuleType) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rec]
        [tenants.t]
        versions = { interface_a = 1 }
        [tenants.t.canary.interface_a]
        version = 2
        share = 0.5
        key = "name"
        """,
        files(rec=recorder("rec")),
    )
    seen = {}
    for index in range(60):
        name = f"user{index}"
        outcome = catalog.execute("interface_a", customer="t", arguments={"name": name})
        told = [item[4] for item in sink.SEEN if item[0] == "enter"][-1]
        seen[outcome.version_source] = told  # what the interceptor was told
    assert seen == {"canary": "canary", "tenant": "tenant"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=40))
def test_interceptor_state_is_per_tenant_under_threads(
    make_catalog: MakeCatalog, sink: ModuleType, calls: list[str]
) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rec]
        [tenants.a]
        [tenants.b]
        [tenants.c]
        """,
        files(rec=recorder("rec")),
    )
    sink.SEEN.clear()  # hypothesis runs many examples in one test
    barrier = threading.Barrier(4)

    def work(part: list[str]) -> None:
        barrier.wait()
        for tenant in part:
            catalog.run("interface_a", customer=tenant)

    threads = [threading.Thread(target=work, args=(calls[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = catalog.interceptor_states("rec")
    for tenant in ("a", "b", "c"):
        expected = calls.count(tenant)
        assert states.get(tenant, {}).get("calls", 0) == expected
        entries = [item for item in sink.SEEN if item[0] == "enter" and item[2] == tenant]
        assert len(entries) == expected


def test_state_survives_a_reload(make_catalog: MakeCatalog, sink: ModuleType) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rec]
        [tenants.t]
        """,
        files(rec=recorder("rec")),
    )
    catalog.run("interface_a", customer="t")
    catalog.reload()
    catalog.run("interface_a", customer="t")
    assert catalog.interceptor_states("rec")["t"]["calls"] == 2


def test_an_interceptor_of_plugin_points_only(make_catalog: MakeCatalog, sink: ModuleType) -> None:
    points_only = """
    from catalog_cli import hookimpl
    import sink

    @hookimpl(wrapper=True)
    def catalog_point_call(ctx, call, point):
        result = yield
        sink.SEEN.append((call.tenant, point.point, point.plugin, result, ctx.settings["tag"]))
        return result
    """
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.points]
        settings = { tag = "x" }
        [tenants.t]
        """,
        files(points=points_only),
    )
    catalog.run("price_quote", customer="t", unit_price=1.0, quantity=1)
    assert sink.SEEN == [
        ("t", "tax_rate", "builtin_plugins.price_quote", 0.21, "x"),
        ("t", "total", "builtin_plugins.price_quote", 1.21, "x"),
    ]


def test_tenants_do_not_select_interceptor_plugins(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rec]
        [tenants.glob]
        plugins = ["*"]
        [tenants.named]
        plugins = ["rec"]
        """,
        files(
            rec=recorder("rec"),
            other="from catalog_cli import hookimpl\n@hookimpl\n"
            "def interface_a_v2_extra_lines():\n    return 'other'\n",
        ),
    )
    assert catalog.run("interface_a", customer="glob", name="Al") == "Hello, Al!\nother"
    assert catalog.tenant("glob").plugins == ("other",)  # the interceptor is not selected
    info = catalog.tenant("named")
    assert info.status == "failed" and "'rec' is an interceptor" in (info.error or "")


def test_a_switched_off_interceptor_is_never_imported(
    make_catalog: MakeCatalog, tmp_path: Path
) -> None:
    marker = tmp_path / "imported"
    source = f"from pathlib import Path\nPath({str(marker)!r}).write_text('x')\n" + recorder("x")
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.sidefx]
        enabled = false
        [tenants.t]
        """,
        files(sidefx=source),
    )
    catalog.run("interface_a", customer="t")
    (info,) = catalog.interceptors()
    assert (info.name, info.enabled) == ("sidefx", False)
    assert not marker.exists()


def test_a_stopiteration_reaches_every_wrapper_as_in_pluggy(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    # A generator may not raise StopIteration (Python makes it a RuntimeError): pluggy hands a
    # StopIteration that a wrapper re-raised on to the outer wrappers as it was, and so must
    # the catalog's driver of the interceptors.
    stopper = """
    from catalog_cli import hookimpl

    @hookimpl
    def price_quote_v1_discounts(ctx, subtotal, quantity):
        raise StopIteration("no more discounts")

    @hookimpl(wrapper=True)
    def price_quote_v1(ctx):
        try:
            return (yield)
        except StopIteration:
            import sink
            sink.SEEN.append(("error", "tenant wrapper", "StopIteration"))
            raise
    """
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.outer]
        order = 1
        [interceptors.inner]
        order = 2
        [tenants.t]
        plugins = ["stopper"]
        """,
        files(outer=recorder("outer"), inner=recorder("inner"), stopper=stopper),
    )
    with pytest.raises(PluginCallError) as caught:
        catalog.run("price_quote", customer="t", unit_price=1.0, quantity=2)
    assert caught.value.plugin == "stopper"
    # What the tenant's wrapper (run by pluggy itself) passes on depends on the pluggy: the
    # interceptors see that, as pluggy would hand it on.
    passed = _what_pluggy_passes_on()
    assert type(caught.value.__cause__) is passed
    errors = [item for item in sink.SEEN if item[0] == "error"]
    assert errors == [
        ("error", "tenant wrapper", "StopIteration"),
        ("error", "inner", passed.__name__),
        ("error", "outer", passed.__name__),
    ]


def _what_pluggy_passes_on() -> type[BaseException]:
    """What an outer wrapper gets from plain pluggy when an inner one re-raises the
    StopIteration an implementation raised (pluggy 1.6 and later: the StopIteration)."""
    import pluggy

    spec, impl = pluggy.HookspecMarker("probe"), pluggy.HookimplMarker("probe")

    class Spec:
        @spec
        def hook(self) -> None: ...

    class Raiser:
        @impl
        def hook(self) -> None:
            raise StopIteration

    class Inner:
        @impl(wrapper=True)
        def hook(self) -> Iterator[None]:
            return (yield)

    seen: list[type[BaseException]] = []

    class Outer:
        @impl(wrapper=True)
        def hook(self) -> Iterator[None]:
            try:
                return (yield)
            except BaseException as exc:
                seen.append(type(exc))
                return None

    pm = pluggy.PluginManager("probe")
    pm.add_hookspecs(Spec)
    for plugin in (Raiser(), Inner(), Outer()):
        pm.register(plugin)
    pm.hook.hook()
    return seen[0]
