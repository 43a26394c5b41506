"""Catalog events: each kind, told to operators (Catalog.subscribe) and to the plugins of the
event's own tenant only (catalog_event); a subscriber that raises or hangs changes nothing."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from catalog_cli import Catalog, CatalogEvent, EventBus
from catalog_cli._catalog_events import KINDS
from catalog_cli.errors import CircuitOpenError, PluginCallError, ReloadError
from catalog_cli.interceptors import breaker
from tests.conftest import WriteCatalog

#: Writes each catalog event it is told about to the file in its settings, one line each.
LISTENER = """\
    from catalog_cli import hookimpl

    SEEN = []


    @hookimpl
    def catalog_event(event):
        SEEN.append(event)
    """

FLAKY = """\
    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v2_greeting(ctx, name, language):
        if name == "fail":
            raise RuntimeError("down")
        return "Hi"
    """

BROKEN = "raise ImportError('no such client library')\n"

TOML = """
[catalog]
plugin_dirs = ["plugins"]

[interceptors.circuit_breaker]
include = {{ tenants = ["a", "b"] }}
settings = {{ failures = 1, reset_seconds = 10 }}

[tenants.a]
plugins = ["listen_a", "flaky"]
versions = {{ interface_a = 2 }}

[tenants.b]
plugins = ["listen_b", "flaky"]
versions = {{ interface_a = 2 }}

[tenants.broken]
plugins = ["listen_c", "{broken}"]
"""


def files() -> dict[str, str]:
    return {
        "plugins/listen_a.py": LISTENER,
        "plugins/listen_b.py": LISTENER,
        "plugins/listen_c.py": LISTENER,
        "plugins/flaky.py": FLAKY,
        "plugins/broken.py": BROKEN,
        "plugins/fine.py": "",
    }


@pytest.fixture
def path(write_catalog: WriteCatalog) -> Path:
    return write_catalog(TOML.format(broken="broken"), files())


@pytest.fixture
def catalog(path: Path) -> Any:
    with Catalog(path) as found:
        yield found


def seen_by(catalog: Catalog, tenant: str, plugin: str) -> list[CatalogEvent]:
    assert catalog.events.flush()
    module = catalog.plugin_manager(tenant).get_plugin(plugin)
    return list(module.SEEN) if module is not None else []


def _kinds(events: list[CatalogEvent]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.tenant) for e in events]


def test_every_kind_is_documented_in_the_hook_reference_and_operations() -> None:
    repo = Path(__file__).resolve().parents[1]
    hooks = (repo / "docs" / "reference" / "hooks.md").read_text("utf-8")
    operations = (repo / "docs" / "operations.md").read_text("utf-8")
    for kind in KINDS:
        assert f"`{kind}`" in hooks, kind
        assert f"`{kind}`" in operations, kind


def test_a_plugin_that_fails_to_load_is_told_per_tenant_with_the_tenant_failing(
    catalog: Catalog,
) -> None:
    seen: list[CatalogEvent] = []
    catalog.subscribe(seen.append)
    assert catalog.tenant("broken").status == "failed"
    assert catalog.events.flush()
    assert _kinds(seen) == [("plugin_failed", "broken"), ("tenant_failed", "broken")]
    failed = seen[0]
    assert failed.details["plugin"] == "broken"
    assert failed.details["error"]["kind"] == "plugin_load"
    assert "no such client library" in failed.details["error"]["message"]
    assert seen[1].details["plugin"] == "broken" and seen[1].details["generation"] == 0
    assert failed.to_dict()["tenant"] == "broken" and failed.time > 0


def test_breaker_events_reach_the_operator_and_that_tenants_plugins_only(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    monkeypatch.setattr(breaker, "_now", lambda: now[0])
    seen: list[CatalogEvent] = []
    catalog.subscribe(seen.append)
    catalog.run("interface_a", customer="b", name="ok")  # b's plugins are built
    with pytest.raises(PluginCallError):
        catalog.run("interface_a", customer="a", name="fail")
    with pytest.raises(CircuitOpenError):
        catalog.run("interface_a", customer="a", name="ok")
    now[0] += 11  # half-open: the trial succeeds
    catalog.run("interface_a", customer="a", name="ok")
    assert catalog.events.flush()
    seen = [e for e in seen if e.kind != "plugin_loaded"]  # as the tenants were built
    assert _kinds(seen) == [("breaker_opened", "a"), ("breaker_closed", "a")]
    opened = seen[0].details
    assert opened["interface"] == "interface_a" and opened["version"] == 2
    assert opened["failures"] == 1 and "down" in opened["last_error"]
    told_a = [e for e in seen_by(catalog, "a", "listen_a") if e.kind != "plugin_loaded"]
    assert _kinds(told_a) == _kinds(seen)
    # never another tenant's events (b was told its own plugins loaded, nothing of a's)
    assert {e.tenant for e in seen_by(catalog, "b", "listen_b")} == {"b"}


def test_reloads_and_refused_reloads(path: Path, catalog: Catalog) -> None:
    seen: list[CatalogEvent] = []
    catalog.subscribe(seen.append)
    catalog.run("interface_a", customer="a", name="ok")
    assert catalog.tenant("broken").status == "failed"  # known to fail: the reload may go on
    seen.clear()
    catalog.reload()
    assert catalog.events.flush()
    reloaded = [e for e in seen if e.kind == "reloaded"]
    assert len(reloaded) == 1 and reloaded[0].tenant is None
    assert reloaded[0].details["generation"] == 1
    assert set(reloaded[0].details["tenants"]) == {"a", "b", "broken"}
    # the tenant failing before fails again in the new generation: told again
    assert ("tenant_failed", "broken") in _kinds(seen)
    assert seen_by(catalog, "a", "listen_a") == []  # catalog-wide events are the operator's

    seen.clear()
    text = path.read_text("utf-8").replace('plugins = ["listen_b", "flaky"]', 'plugins = ["x"]')
    path.write_text(text, "utf-8")
    with pytest.raises(ReloadError):
        catalog.reload()
    assert catalog.events.flush()
    assert [e.kind for e in seen] == ["reload_refused"]
    assert seen[0].details["generation"] == 1 and seen[0].details["causes"]


def test_a_subscriber_that_raises_is_logged_and_skipped(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    after: list[CatalogEvent] = []

    def raises(event: CatalogEvent) -> None:
        raise RuntimeError("subscriber bug")

    catalog.subscribe(raises)
    catalog.subscribe(after.append)
    with caplog.at_level(logging.WARNING, logger="catalog.events"):
        assert catalog.tenant("broken").status == "failed"
        assert catalog.events.flush()
    assert [e.kind for e in after] == ["plugin_failed", "tenant_failed"]
    assert "subscriber bug" in caplog.text and "plugin_failed" in caplog.text


def test_a_subscriber_that_hangs_never_slows_what_happened() -> None:
    bus = EventBus(capacity=3)
    release = threading.Event()
    bus.subscribe(lambda event: release.wait(10))
    started = time.monotonic()
    for number in range(10):  # beyond the capacity: dropped, and logged
        bus.emit("breaker_opened", "a", {"n": number})
    assert time.monotonic() - started < 1.0
    assert not bus.flush(timeout=0.05)
    release.set()
    assert bus.flush()


def test_unsubscribe_and_tenant_plugins_that_raise(catalog: Catalog) -> None:
    seen: list[CatalogEvent] = []
    stop = catalog.subscribe(seen.append)
    stop()
    catalog.events.emit("breaker_opened", "a", {"interface": "interface_a"})
    assert catalog.events.flush()
    assert seen == []


def test_each_plugin_loaded_for_a_tenant_is_told(catalog: Catalog) -> None:
    seen: list[CatalogEvent] = []
    catalog.subscribe(seen.append)
    catalog.run("interface_a", customer="a", name="x")
    assert catalog.events.flush()
    loaded = [(e.tenant, e.details["plugin"]) for e in seen if e.kind == "plugin_loaded"]
    assert loaded == [("a", "listen_a"), ("a", "flaky")]
    # The tenant's own plugins are told too (and no other tenant's).
    assert ("plugin_loaded", "a") in _kinds(seen_by(catalog, "a", "listen_a"))
    assert all(e.tenant == "b" for e in seen_by(catalog, "b", "listen_b"))


def test_a_plugin_managed_at_run_time_is_told_to_each_rebuilt_tenant(catalog: Catalog) -> None:
    catalog.run("interface_a", customer="a", name="x")
    catalog.run("interface_a", customer="b", name="x")
    seen: list[CatalogEvent] = []
    catalog.subscribe(seen.append)
    catalog.disable_plugin("flaky", customer="a", reason="noisy")
    assert catalog.events.flush()
    changed = [e for e in seen if e.kind == "plugin_changed"]
    assert [(e.tenant, e.details["action"], e.details["plugin"]) for e in changed] == [
        ("a", "disable", "flaky")
    ]
    assert changed[0].details["reason"] == "noisy" and "by" not in changed[0].details


def test_a_traced_call_tells_its_events_too(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(breaker, "_now", lambda: 100.0)
    seen: list[CatalogEvent] = []
    catalog.subscribe(seen.append)
    with pytest.raises(PluginCallError):
        catalog.execute("interface_a", customer="a", arguments={"name": "fail"}, trace=True)
    assert catalog.events.flush()
    assert ("breaker_opened", "a") in _kinds(seen)
