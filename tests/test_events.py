"""Observer plugins see each call start and end, for their own tenant only, and cannot change it."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from catalog_cli.errors import PluginCallError, RateLimitedError
from tests.conftest import MakeCatalog, prepared

OBSERVER = """
from catalog_cli import hookimpl
import event_sink


@hookimpl
def catalog_call_event(event):
    event_sink.EVENTS.append(event)
    {extra}
"""

RAISER = """
from catalog_cli import hookimpl


@hookimpl
def interface_a_v2_extra_lines(ctx):
    raise ValueError("no lines today")
"""

TOML = """
[catalog]
plugin_dirs = ["plugins"]
[tenants.watched]
plugins = {plugins}
[tenants.plain]
"""


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = ModuleType("event_sink")
    module.EVENTS = []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "event_sink", module)
    return module


def test_observer_sees_started_and_succeeded(make_catalog: MakeCatalog, sink: ModuleType) -> None:
    catalog = make_catalog(
        TOML.format(plugins='["observer"]'), {"plugins/observer.py": OBSERVER.format(extra="")}
    )
    outcome = catalog.execute("interface_a", customer="watched", arguments={"name": "Ada"})
    started, succeeded = sink.EVENTS
    assert (started.kind, succeeded.kind) == ("started", "succeeded")
    assert started[1:5] == ("watched", "interface_a", 2, outcome.call_id)
    assert succeeded.seconds >= 0 and succeeded.error is None
    catalog.run("interface_a", customer="plain")
    assert len(sink.EVENTS) == 2  # nothing for the tenant that does not select the observer


def test_observer_sees_failures_and_the_error_still_reaches_the_caller(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    catalog = make_catalog(
        TOML.format(plugins='["observer", "raiser"]'),
        {"plugins/observer.py": OBSERVER.format(extra=""), "plugins/raiser.py": RAISER},
    )
    with pytest.raises(PluginCallError) as info:
        catalog.run("interface_a", customer="watched")
    assert info.value.plugin == "raiser"
    assert [e.kind for e in sink.EVENTS] == ["started", "failed"]
    assert sink.EVENTS[1].error == "ValueError: no lines today"


def test_observer_cannot_change_or_break_the_call(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    source = OBSERVER.format(extra="raise RuntimeError('observer bug')\n    return 'ignored'")
    catalog = make_catalog(TOML.format(plugins='["observer"]'), {"plugins/observer.py": source})
    assert catalog.run("interface_a", customer="watched", name="Bo") == "Hello, Bo!"
    assert [e.kind for e in sink.EVENTS] == ["started", "succeeded"]


def test_tenants_without_observers_get_no_wrapper(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    catalog = make_catalog(
        TOML.format(plugins='["observer"]'), {"plugins/observer.py": OBSERVER.format(extra="")}
    )
    assert catalog.plugin_manager("watched").get_plugin("catalog.events") is not None
    assert catalog.plugin_manager("plain").get_plugin("catalog.events") is None
    from catalog_cli.runtime._intercept import Chain

    plain = prepared(catalog, "plain", "interface_a")
    assert not isinstance(plain.entry, Chain)  # no observer: the entry point is called directly


def test_observers_see_calls_as_their_callers_do(
    make_catalog: MakeCatalog, sink: ModuleType
) -> None:
    # Outside every interceptor: a refusal is a failed call, a retried one is one call.
    flaky = """
    from catalog_cli import hookimpl

    RUNS = []

    @hookimpl
    def interface_a_v2_extra_lines(ctx):
        RUNS.append(1)
        if len(RUNS) == 1:
            raise ConnectionError("first try fails")
    """
    catalog = make_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [interceptors.rate_limit]
        settings = { rate = 0.001, burst = 2 }
        [interceptors.retry]
        settings = { attempts = 2, backoff = 0 }
        [tenants.watched]
        plugins = ["observer", "flaky"]
        """,
        {"plugins/observer.py": OBSERVER.format(extra=""), "plugins/flaky.py": flaky},
    )
    catalog.run("interface_a", customer="watched")  # retried once inside: one call
    catalog.run("interface_a", customer="watched")
    with pytest.raises(RateLimitedError):
        catalog.run("interface_a", customer="watched")
    kinds = [e.kind for e in sink.EVENTS]
    assert kinds == ["started", "succeeded"] * 2 + ["started", "failed"]
    assert sink.EVENTS[-1].error.startswith("RateLimitedError: ")
