"""Plugin startup, shutdown and health checks, per tenant."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from catalog_cli import Catalog
from catalog_cli.errors import PluginStartupError, PluginValidationError
from tests.conftest import Invoke, MakeCatalog, WriteCatalog

RECORDER = """
from catalog_cli import PluginMeta, hookimpl
import {log} as LOG

PLUGIN = PluginMeta(depends={depends})


@hookimpl
def catalog_startup(tenant, settings):
    LOG.EVENTS.append(("start", "{name}", tenant, dict(settings)))
    {startup}


@hookimpl
def catalog_shutdown(tenant):
    LOG.EVENTS.append(("stop", "{name}", tenant))
    {shutdown}


@hookimpl
def interface_a_v1_signature(ctx, name):
    return "{name}"
"""


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = ModuleType("lifecycle_event_log")
    module.EVENTS = []  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def _recorder(
    name: str, depends: list[str] | None = None, startup: str = "pass", shutdown: str = "pass"
) -> str:
    return RECORDER.format(
        log="lifecycle_event_log",
        name=name,
        depends=depends or [],
        startup=startup,
        shutdown=shutdown,
    )


TOML = """
[catalog]
plugin_dirs = ["plugins"]
versions = {{ interface_a = 1 }}
startup_timeout = 0.5
health_timeout = 0.3
[tenants.other]
[tenants.t]
plugins = {plugins}
"""
BASE_SETTINGS = """
[tenants.t.settings.base]
token = "abc"
"""


def test_startup_once_per_tenant_in_dependency_order_shutdown_reversed(
    make_catalog: MakeCatalog, log: ModuleType
) -> None:
    catalog = make_catalog(
        TOML.format(plugins='["top", "base"]') + BASE_SETTINGS,
        {"plugins/base.py": _recorder("base"), "plugins/top.py": _recorder("top", ["base"])},
    )
    catalog.run("interface_a", customer="t")
    catalog.run("interface_a", customer="t")
    assert log.EVENTS == [("start", "base", "t", {"token": "abc"}), ("start", "top", "t", {})]
    assert catalog.close() == []
    assert log.EVENTS[2:] == [("stop", "top", "t"), ("stop", "base", "t")]
    # After close, the next call starts the tenant's plugins again.
    catalog.run("interface_a", customer="t")
    assert log.EVENTS[4:] == [("start", "base", "t", {"token": "abc"}), ("start", "top", "t", {})]


def test_failing_startup_fails_the_tenant_closed_and_stops_the_started(
    make_catalog: MakeCatalog, log: ModuleType
) -> None:
    catalog = make_catalog(
        TOML.format(plugins='["top", "base"]'),
        {
            "plugins/base.py": _recorder("base"),
            "plugins/top.py": _recorder("top", ["base"], startup="raise OSError('no database')"),
        },
    )
    with pytest.raises(PluginStartupError) as info:
        catalog.run("interface_a", customer="t")
    assert (info.value.plugin, info.value.tenant) == ("top", "t")
    assert "OSError: no database" in str(info.value)
    assert ("stop", "base", "t") in log.EVENTS  # what had started is shut down again
    assert catalog.tenant("t").status == "failed"
    assert catalog.run("interface_a", customer="other") == "Hello, there!"


def test_startup_that_hangs_times_out(make_catalog: MakeCatalog, log: ModuleType) -> None:
    catalog = make_catalog(
        TOML.format(plugins='["base"]'),
        {"plugins/base.py": _recorder("base", startup="import time; time.sleep(3)")},
    )
    with pytest.raises(
        PluginStartupError, match=r"TimeoutError: startup did not finish within 0.5 s"
    ):
        catalog.plugin_manager("t")


def test_failing_shutdown_is_reported_not_raised(
    make_catalog: MakeCatalog, log: ModuleType
) -> None:
    catalog = make_catalog(
        TOML.format(plugins='["base"]'),
        {"plugins/base.py": _recorder("base", shutdown="raise RuntimeError('stuck')")},
    )
    catalog.plugin_manager("t")
    ((tenant, plugin, exc),) = catalog.close()
    assert (tenant, plugin, str(exc)) == ("t", "base", "stuck")


HEALTH = """
from catalog_cli import Health, hookimpl


@hookimpl
def catalog_health(tenant, settings):
    {body}


@hookimpl
def interface_a_v1_signature(ctx, name):
    return None
"""


@pytest.mark.parametrize(
    ("body", "status", "details"),
    [
        ("return Health('healthy', 'all good')", "healthy", "all good"),
        ("return 'degraded'", "degraded", ""),
        ("return False", "unhealthy", ""),
        ("return None", "healthy", ""),
        ("raise ConnectionError('down')", "unhealthy", "raised ConnectionError: down"),
        ("import time; time.sleep(2)", "unhealthy", "the health check did not finish within 0.3 s"),
        ("return 42", "unhealthy", "returned 42, not a health status"),
    ],
)
def test_health_check_outcomes(
    make_catalog: MakeCatalog, body: str, status: str, details: str
) -> None:
    catalog = make_catalog(
        TOML.format(plugins='["probe"]'), {"plugins/probe.py": HEALTH.format(body=body)}
    )
    (result,) = [r for r in catalog.health(customer="t") if r.plugin == "probe"]
    assert (result.status, result.tenant, result.checked) == (status, "t", True)
    assert details in result.details


def test_plugins_without_checks_are_healthy_by_default(shipped: Catalog) -> None:
    results = shipped.health(customer="c1")
    assert {r.status for r in results} == {"healthy"}
    assert all(not r.checked and "healthy by default" in r.details for r in results)


def test_failed_tenant_is_unhealthy(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        TOML.format(plugins='["broken"]'), {"plugins/broken.py": "raise ValueError"}
    )
    (result,) = catalog.health(customer="t")
    assert (result.plugin, result.status) == ("broken", "unhealthy")
    assert "failed to import" in result.details


def test_health_command_exit_codes(invoke: Invoke, write_catalog: WriteCatalog) -> None:
    assert invoke("health").exit_code == 0
    path = write_catalog(
        TOML.format(plugins='["probe"]'),
        {"plugins/probe.py": HEALTH.format(body="raise ConnectionError('down')")},
    )
    result = invoke("health", "--json", catalog=path)
    assert result.exit_code == 11
    report = json.loads(result.stdout)
    assert report["ok"] is False
    (probe,) = [c for c in report["checks"] if c["plugin"] == "probe"]
    assert probe["status"] == "unhealthy"
    shown = invoke("health", "-C", "other", catalog=path)
    assert shown.exit_code == 0, shown.stderr


def test_async_lifecycle_hooks_are_refused(make_catalog: MakeCatalog) -> None:
    source = (
        "from catalog_cli import hookimpl\n"
        "@hookimpl\n"
        "async def catalog_startup(tenant):\n"
        "    pass\n"
        "@hookimpl\n"
        "def interface_a_v1_signature(ctx, name):\n"
        "    return None\n"
    )
    catalog = make_catalog(TOML.format(plugins='["later"]'), {"plugins/later.py": source})
    with pytest.raises(PluginValidationError, match="must be a plain def"):
        catalog.plugin_manager("t")


def test_made_up_health_status_is_unhealthy(make_catalog: MakeCatalog) -> None:
    body = "return Health('ok', {'db': 'up'})"
    catalog = make_catalog(
        TOML.format(plugins='["probe"]'), {"plugins/probe.py": HEALTH.format(body=body)}
    )
    (result,) = [r for r in catalog.health(customer="t") if r.plugin == "probe"]
    assert result.status == "unhealthy"
    assert "returned status 'ok'" in result.details


def test_cli_commands_shut_down_what_they_started(
    invoke: Invoke, write_catalog: WriteCatalog, tmp_path: Path
) -> None:
    marker = tmp_path / "stopped.txt"
    source = (
        "from catalog_cli import hookimpl\n"
        "@hookimpl\n"
        "def catalog_shutdown(tenant):\n"
        "    import pathlib\n"
        f"    pathlib.Path({str(marker)!r}).write_text(tenant + '\\n')\n"
        "@hookimpl\n"
        "def interface_a_v1_signature(ctx, name):\n"
        "    return 'signed'\n"
    )
    path = write_catalog(TOML.format(plugins='["closer"]'), {"plugins/closer.py": source})
    result = invoke("run", "interface_a", "-C", "t", catalog=path)
    assert result.exit_code == 0, result.stderr
    assert marker.read_text() == "t\n"


def test_health_checks_run_at_once_and_a_hung_one_is_not_started_twice(
    make_catalog: MakeCatalog,
) -> None:
    import threading
    import time

    hang = HEALTH.format(body="import time; time.sleep(1.5)")
    slow = [f"slow{i}" for i in range(4)]
    catalog = make_catalog(
        TOML.format(plugins=json.dumps(slow)), {f"plugins/{name}.py": hang for name in slow}
    )
    catalog.plugin_manager("t")
    began = time.perf_counter()
    first = {r.plugin: r for r in catalog.health(customer="t")}
    # Four 0.3 s deadlines one after another would take 1.2 s; at once, about 0.3 s.
    assert time.perf_counter() - began < 0.9
    assert {first[name].status for name in slow} == {"unhealthy"}
    threads = threading.active_count()
    second = {r.plugin: r for r in catalog.health(customer="t")}
    assert second["slow1"].details == "the previous health check is still running"
    assert threading.active_count() <= threads  # no new thread for a hung check
