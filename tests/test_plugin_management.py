"""Plugins changed at run time: disabled or enabled for one tenant or every tenant, one
plugin's code reloaded, each through an atomic swap of only the tenants it touches, kept in
the state file, told to the audit log; from Python, the command line and HTTP."""

from __future__ import annotations

import gc
import json
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.config._keys import hash_key
from catalog_cli.errors import (
    PluginChangeError,
    ReloadError,
    StateFileError,
    UnknownPluginError,
    UnknownTenantError,
)
from catalog_cli.http import ServeSettings, create_app
from tests.conftest import Invoke, WriteCatalog

with warnings.catch_warnings():
    # starlette 1.x asks for httpx2 in its test client; the test extra has httpx, which works.
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

ADMIN_KEY = "the-admin-key-0123456789"
KEYS = {tenant: f"key-of-{tenant}-0123456789" for tenant in ("a", "b", "c")}

TOML = f"""
[catalog]
plugin_dirs = ["plugins"]

[serve]
admin_keys = ["{hash_key(ADMIN_KEY)}"]

[tenants.a]
plugins = ["hello", "base", "needs_base"]
api_keys = ["{hash_key(KEYS["a"])}"]

[tenants.b]
plugins = ["hello"]
api_keys = ["{hash_key(KEYS["b"])}"]

[tenants.c]
plugins = ["other"]
api_keys = ["{hash_key(KEYS["c"])}"]
"""

#: the greeting plugin: ``{word}`` says which code answered
HELLO = """
from catalog_cli import hookimpl
import plugin_change_log as LOG

WORD = "{word}"


@hookimpl
def catalog_startup(tenant):
    LOG.EVENTS.append(("start", WORD, tenant))


@hookimpl
def catalog_shutdown(tenant):
    LOG.EVENTS.append(("stop", WORD, tenant))


@hookimpl
def interface_a_v2_greeting(name):
    if name == "slow":
        LOG.ENTERED.set()
        assert LOG.RELEASE.wait(10)
    return WORD + " " + name
"""

PLUGINS = {
    "plugins/hello.py": HELLO.format(word="hello"),
    "plugins/base.py": """
        from catalog_cli import hookimpl

        @hookimpl
        def interface_a_v2_extra_lines():
            return "base"
        """,
    "plugins/needs_base.py": """
        from catalog_cli import PluginMeta, hookimpl

        PLUGIN = PluginMeta(depends=["base"])

        @hookimpl
        def interface_a_v2_extra_lines():
            return "needs base"
        """,
    "plugins/other.py": """
        from catalog_cli import hookimpl

        @hookimpl
        def interface_a_v2_greeting(name):
            return "other " + name
        """,
}


@pytest.fixture(autouse=True)
def log(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = ModuleType("plugin_change_log")
    module.EVENTS = []  # type: ignore[attr-defined]
    module.ENTERED = threading.Event()  # type: ignore[attr-defined]
    module.RELEASE = threading.Event()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


@pytest.fixture
def path(write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CATALOG_STATE", raising=False)
    return write_catalog(TOML, PLUGINS)


@pytest.fixture
def catalog(path: Path) -> Iterator[Catalog]:
    with Catalog(path) as loaded:
        yield loaded


def greet(catalog: Catalog, tenant: str, name: str = "Ada") -> str:
    result: str = catalog.run("interface_a", customer=tenant, version=2, name=name)
    return result


def audit(catalog: Catalog) -> list[dict[str, Any]]:
    text = catalog.plugin_audit_path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def state(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_name("catalog.state.json").read_text("utf-8"))
    return data


def write_hello(path: Path, text: str) -> None:
    (path.parent / "plugins" / "hello.py").write_text(text, encoding="utf-8")


# -- disable and enable ------------------------------------------------------------------------


def test_disabling_for_one_tenant_leaves_every_other_tenant_as_it_was(catalog: Catalog) -> None:
    assert greet(catalog, "a").startswith("hello Ada")
    managers = {t: catalog.plugin_manager(t) for t in ("a", "b", "c")}
    change = catalog.disable_plugin("hello", customer="a", reason="flaky upstream")
    assert (change.action, change.outcome, change.rebuilt) == ("disable", "applied", ("a",))
    assert change.tenant == "a" and change.reason == "flaky upstream"
    assert greet(catalog, "a") == "Hello, Ada!\nneeds base\nbase"  # the built-in greets
    assert greet(catalog, "b") == "hello Ada"
    assert greet(catalog, "c") == "other Ada"
    assert catalog.plugin_manager("a") is not managers["a"]
    assert catalog.plugin_manager("b") is managers["b"]  # the very same managers
    assert catalog.plugin_manager("c") is managers["c"]
    assert catalog.plugin_manager("a").get_plugin("hello") is None
    assert catalog.tenant("a").plugins == ("needs_base", "base")
    [record] = catalog.plugin_changes()
    assert (record.plugin, record.tenant, record.reason) == ("hello", "a", "flaky upstream")
    assert record.by.startswith("python (")


def test_disabling_for_every_tenant_then_enabling(catalog: Catalog) -> None:
    greet(catalog, "c")
    other = catalog.plugin_manager("c")
    change = catalog.disable_plugin("hello")
    assert change.tenant is None and change.rebuilt == ("a", "b")
    assert greet(catalog, "a").startswith("Hello, Ada!")
    assert greet(catalog, "b") == "Hello, Ada!"
    assert catalog.plugin_manager("c") is other
    assert catalog.disable_plugin("hello", customer="b").outcome == "unchanged"
    with pytest.raises(PluginChangeError, match="disabled for every tenant"):
        catalog.enable_plugin("hello", customer="b")
    back = catalog.enable_plugin("hello")
    assert back.rebuilt == ("a", "b") and not catalog.plugin_changes()
    assert greet(catalog, "a").startswith("hello Ada") and greet(catalog, "b") == "hello Ada"
    assert catalog.plugin_manager("c") is other


def test_enabling_for_one_tenant_keeps_the_others_disabled(catalog: Catalog) -> None:
    catalog.disable_plugin("hello", customer="a")
    catalog.disable_plugin("hello", customer="b")
    assert catalog.enable_plugin("hello", customer="b").rebuilt == ("b",)
    assert greet(catalog, "b") == "hello Ada"
    assert greet(catalog, "a").startswith("Hello, Ada!")
    assert [(r.plugin, r.tenant) for r in catalog.plugin_changes()] == [("hello", "a")]
    assert catalog.enable_plugin("hello", customer="b").outcome == "unchanged"


def test_disabling_what_another_plugin_depends_on_is_refused_naming_both(
    catalog: Catalog,
) -> None:
    before = catalog.plugin_manager("a")
    with pytest.raises(PluginChangeError) as info:
        catalog.disable_plugin("base", customer="a")
    text = str(info.value)
    assert "'needs_base'" in text and "'base'" in text and "serves on" in text
    assert catalog.plugin_manager("a") is before
    assert not catalog.plugin_changes()
    assert not catalog.plugin_state_path.exists()  # nothing written
    # Disabling the dependent first, then what it depends on, works; enabling in the wrong
    # order is refused the same way.
    catalog.disable_plugin("needs_base", customer="a")
    catalog.disable_plugin("base", customer="a")
    with pytest.raises(PluginChangeError, match=r"depends on plugin 'base'.*enable 'base' first"):
        catalog.enable_plugin("needs_base", customer="a")
    catalog.enable_plugin("base", customer="a")
    catalog.enable_plugin("needs_base", customer="a")
    assert greet(catalog, "a") == "hello Ada\nneeds base\nbase"


def test_what_cannot_be_disabled_is_refused(catalog: Catalog) -> None:
    with pytest.raises(UnknownPluginError, match="Did you mean 'hello'"):
        catalog.disable_plugin("helo")
    with pytest.raises(UnknownTenantError):
        catalog.disable_plugin("hello", customer="nobody")
    with pytest.raises(PluginChangeError, match="built-in"):
        catalog.disable_plugin("builtin_plugins.interface_a")
    with pytest.raises(PluginChangeError, match="does not select it"):
        catalog.disable_plugin("other", customer="a")
    with pytest.raises(PluginChangeError, match="tenant 'c' does not select it"):
        catalog.enable_plugin("hello", customer="c")
    assert len(audit(catalog)) == 5  # each refusal told


def test_a_tenant_that_would_fail_refuses_the_change(catalog: Catalog, path: Path) -> None:
    catalog.disable_plugin("hello", customer="b")
    write_hello(path, "raise ImportError('broken on disk')\n")
    with pytest.raises(PluginChangeError, match="broken on disk"):
        catalog.enable_plugin("hello", customer="b")
    assert greet(catalog, "b") == "Hello, Ada!"  # as it was: still disabled
    assert [(r.plugin, r.tenant) for r in catalog.plugin_changes()] == [("hello", "b")]


def test_disabling_a_broken_plugin_brings_its_tenant_back(
    write_catalog: WriteCatalog,
) -> None:
    files = {**PLUGINS, "plugins/hello.py": "raise ImportError('cannot reach the db')\n"}
    with Catalog(write_catalog(TOML, files)) as catalog:
        assert catalog.tenant("b").status == "failed"
        assert catalog.disable_plugin("hello", customer="b").rebuilt == ("b",)
        assert catalog.tenant("b").status == "ok"
        assert greet(catalog, "b") == "Hello, Ada!"


# -- reloading one plugin ----------------------------------------------------------------------


def test_reloading_a_plugin_rebuilds_only_the_tenants_that_run_it(
    catalog: Catalog, path: Path, log: ModuleType
) -> None:
    for tenant in "abc":
        greet(catalog, tenant)
    before = {t: catalog.plugin_manager(t) for t in "abc"}
    old_module = sys.modules[type(before["a"].get_plugin("hello")).__module__]
    write_hello(path, HELLO.format(word="howdy"))
    change = catalog.reload_plugin("hello", reason="fix")
    assert change.rebuilt == ("a", "b") and change.generation == catalog.generation == 1
    assert greet(catalog, "a").startswith("howdy Ada") and greet(catalog, "b") == "howdy Ada"
    assert greet(catalog, "c") == "other Ada"
    assert catalog.plugin_manager("c") is before["c"]
    assert catalog.plugin_manager("a") is not before["a"]
    # the new code's startup hooks ran for its tenants; the old code's shutdown runs once
    # nothing holds the old managers
    assert {("start", "howdy", "a"), ("start", "howdy", "b")} <= set(log.EVENTS)
    del before, old_module
    gc.collect()
    assert {("stop", "hello", "a"), ("stop", "hello", "b")} <= set(log.EVENTS)
    assert not any(e[0] == "stop" and e[2] == "c" for e in log.EVENTS)


def test_a_reload_whose_import_fails_is_refused_and_the_old_code_serves_on(
    catalog: Catalog, path: Path
) -> None:
    assert greet(catalog, "b") == "hello Ada"
    manager = catalog.plugin_manager("b")
    module_name = type(manager.get_plugin("hello")).__module__
    old_module = sys.modules.get(module_name)
    write_hello(path, "raise RuntimeError('half deployed')\n")
    with pytest.raises(PluginChangeError, match="half deployed") as info:
        catalog.reload_plugin("hello")
    assert isinstance(info.value, ReloadError)
    assert greet(catalog, "b") == "hello Ada"
    assert catalog.plugin_manager("b") is manager and catalog.generation == 0
    assert sys.modules.get(module_name) is old_module
    # Fixed on disk, it reloads.
    write_hello(path, HELLO.format(word="fixed"))
    catalog.reload_plugin("hello")
    assert greet(catalog, "b") == "fixed Ada"


def test_reloading_what_no_tenant_runs_or_a_built_in_is_refused(catalog: Catalog) -> None:
    catalog.disable_plugin("other")
    with pytest.raises(PluginChangeError, match="no tenant runs it"):
        catalog.reload_plugin("other")
    with pytest.raises(PluginChangeError, match="reload the catalog"):
        catalog.reload_plugin("builtin_plugins.interface_a")


def test_calls_in_flight_finish_on_the_old_code(
    catalog: Catalog, path: Path, log: ModuleType
) -> None:
    answers: dict[str, str] = {}

    def slow() -> None:
        answers["slow"] = greet(catalog, "b", "slow")

    greet(catalog, "b")
    caller = threading.Thread(target=slow)
    caller.start()
    assert log.ENTERED.wait(10)
    write_hello(path, HELLO.format(word="new"))
    catalog.reload_plugin("hello")
    assert greet(catalog, "b") == "new Ada"
    catalog.disable_plugin("hello", customer="b")
    assert greet(catalog, "b") == "Hello, Ada!"
    log.RELEASE.set()
    caller.join(10)
    assert answers["slow"] == "hello slow"  # started on the old code, finished there


# -- the state file and the audit log -------------------------------------------------------


def test_disablings_survive_a_new_catalog_and_a_reload(path: Path) -> None:
    with Catalog(path) as first:
        first.disable_plugin("hello", customer="a", reason="why not")
        first.disable_plugin("other")
    data = state(path)
    assert data["format"] == 1
    assert [(d["plugin"], d["tenant"], d["reason"]) for d in data["disabled"]] == [
        ("hello", "a", "why not"),
        ("other", None, ""),
    ]
    with Catalog(path) as second:
        assert [(r.plugin, r.tenant) for r in second.plugin_changes()] == [
            ("hello", "a"),
            ("other", None),
        ]
        assert greet(second, "a").startswith("Hello, Ada!")
        assert greet(second, "c") == "Hello, Ada!"
        # Another process enables one (the command line, say): a reload applies it here.
        with Catalog(path) as third:
            third.enable_plugin("other")
        assert greet(second, "c") == "Hello, Ada!"
        second.reload()
        assert greet(second, "c") == "other Ada"
        assert [(r.plugin, r.tenant) for r in second.plugin_changes()] == [("hello", "a")]


def test_a_plugin_disabled_everywhere_is_not_imported(path: Path) -> None:
    with Catalog(path) as first:
        first.disable_plugin("other")
    before = set(sys.modules)
    with Catalog(path) as second:
        greet(second, "c")
        assert second.plugins(customer="c")[-1].status == "disabled"
    assert not [m for m in set(sys.modules) - before if m.endswith(".other")]


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("{", "is not JSON"),
        ("", "is not JSON"),
        ("[]", 'no "format" number'),
        ('{"format": 9, "disabled": []}', "newer task-catalog"),
        ('{"format": 1, "disabled": [{"plugin": 3}]}', r"entry disabled\[0\] whose plugin, by"),
        ('{"format": 1, "disabled": {}}', "not a list"),
    ],
)
def test_a_corrupt_state_file_is_refused_naming_it(path: Path, text: str, why: str) -> None:
    broken = path.with_name("catalog.state.json")
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(StateFileError, match=why) as info:
        Catalog(path)
    assert str(broken) in str(info.value)
    assert broken.read_text(encoding="utf-8") == text  # never overwritten


def test_a_state_file_broken_while_running_refuses_changes_and_reloads(
    catalog: Catalog, path: Path
) -> None:
    broken = path.with_name("catalog.state.json")
    broken.write_text("not json", encoding="utf-8")
    with pytest.raises(StateFileError, match="is not JSON"):
        catalog.disable_plugin("hello", customer="a")
    assert greet(catalog, "a").startswith("hello Ada")  # nothing changed
    with pytest.raises(ReloadError, match=r"catalog\.state\.json"):
        catalog.reload()
    assert broken.read_text(encoding="utf-8") == "not json"


def test_the_state_file_is_written_whole_and_merged_with_what_is_on_disk(
    path: Path,
) -> None:
    with Catalog(path) as one, Catalog(path) as two:
        one.disable_plugin("hello", customer="a")
        two.disable_plugin("other")  # did not reload: merges, never drops the first
    assert {(d["plugin"], d["tenant"]) for d in state(path)["disabled"]} == {
        ("hello", "a"),
        ("other", None),
    }
    leftovers = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers


def test_every_change_is_in_the_audit_log(catalog: Catalog, path: Path) -> None:
    catalog.disable_plugin("hello", customer="a", reason="r1", actor="ops (ada)")
    with pytest.raises(PluginChangeError):
        catalog.disable_plugin("base", customer="a", actor="ops (ada)")
    catalog.disable_plugin("hello", customer="a", actor="ops (ada)")
    catalog.reload_plugin("hello", actor="ops (bob)")
    lines = audit(catalog)
    assert [(e["action"], e["outcome"], e["by"]) for e in lines] == [
        ("disable", "applied", "ops (ada)"),
        ("disable", "refused", "ops (ada)"),
        ("disable", "unchanged", "ops (ada)"),
        ("reload", "applied", "ops (bob)"),
    ]
    first, refused = lines[0], lines[1]
    assert (first["plugin"], first["tenant"], first["reason"]) == ("hello", "a", "r1")
    assert first["rebuilt"] == ["a"] and first["at"].endswith("Z")
    assert refused["error_kind"] == "plugin_change" and "needs_base" in refused["error"]
    assert catalog.plugin_audit_path == path.with_name("catalog.audit.jsonl")


def test_the_state_file_may_be_named_by_the_environment(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "state" / "ops.state.json"
    monkeypatch.setenv("CATALOG_STATE", str(elsewhere))
    with Catalog(path) as catalog:
        catalog.disable_plugin("hello", customer="a")
        assert catalog.plugin_state_path == elsewhere
    assert elsewhere.is_file() and elsewhere.with_name("ops.audit.jsonl").is_file()


def test_the_example_catalogs_state_goes_to_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from catalog_cli.config import _locate
    from catalog_cli.execution._plugin_state import state_path

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(_locate, "is_installed_example", lambda found: True)
    assert state_path(Path("anywhere/catalog.toml")) == (
        tmp_path / "task-catalog" / "example.state.json"
    )


# -- descriptions ------------------------------------------------------------------------------


def test_listings_show_who_disabled_what(catalog: Catalog) -> None:
    catalog.disable_plugin("hello", customer="a", reason="flaky", actor="ops (ada)")
    info = {p.name: p for p in catalog.plugins()}["hello"]
    assert info.status == "loaded" and info.tenants == ("b",) and info.disabled_for == ("a",)
    [record] = info.disabled
    assert record.describe().startswith("disabled (by ops (ada), 'flaky', ")
    mine = {p.name: p for p in catalog.plugins(customer="a")}["hello"]
    assert mine.status == "disabled" and mine.tenants == ()
    theirs = {p.name: p for p in catalog.plugins(customer="b")}["hello"]
    assert theirs.status == "loaded" and theirs.disabled == () and theirs.disabled_for == ()
    assert [r.plugin for r in catalog.tenant("a").disabled] == ["hello"]
    assert catalog.tenant("b").disabled == ()
    plans = catalog.call_plans(customer="a")
    greeting = [s for s in plans["interface_a"] if s.point == "greeting"]
    assert greeting[0].implementations == ("builtin_plugins.interface_a",)


# -- the command line --------------------------------------------------------------------------


def test_the_command_line_disables_enables_and_reloads(
    invoke: Invoke, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "ada")
    done = invoke("plugins", "disable", "hello", "-C", "a", "--reason", "flaky", catalog=path)
    assert done.exit_code == 0, done.output
    assert "disabled plugin hello for tenant a" in done.stdout
    listed = invoke("plugins", "list", catalog=path)
    assert "disabled for a (by cli (ada), 'flaky'," in listed.stdout
    shown = invoke("tenants", "show", "a", "--json", catalog=path)
    assert json.loads(shown.stdout)["disabled"][0]["by"] == "cli (ada)"
    assert "hello: disabled (by cli (ada)" in invoke("tenants", "show", "a", catalog=path).stdout
    refused = invoke("plugins", "disable", "base", "-C", "a", catalog=path)
    assert refused.exit_code == 3 and "needs_base" in refused.output
    assert "Traceback" not in refused.output
    unknown = invoke("plugins", "disable", "nothing", catalog=path)
    assert unknown.exit_code == 4
    enabled = invoke("plugins", "enable", "hello", "--json", catalog=path)
    assert enabled.exit_code == 0, enabled.output
    data = json.loads(enabled.stdout)
    assert data["change"]["outcome"] == "applied" and data["change"]["rebuilt"] == ["a"]
    assert data["state_file"] == str(path.with_name("catalog.state.json"))
    reloaded = invoke("plugins", "reload", "hello", catalog=path)
    assert reloaded.exit_code == 0 and "tenants built anew: a, b" in reloaded.stdout
    write_hello(path, "raise ImportError('nope')\n")
    failed = invoke("plugins", "reload", "hello", "--json", catalog=path)
    assert failed.exit_code == 3
    assert json.loads(failed.stderr)["error"]["kind"] == "plugin_change"
    with Catalog(path) as loaded:
        by = {(e["action"], e["outcome"]) for e in audit(loaded)}
    assert ("reload", "refused") in by and ("disable", "refused") in by


def test_the_command_line_refuses_a_corrupt_state_file(invoke: Invoke, path: Path) -> None:
    broken = path.with_name("catalog.state.json")
    broken.write_text("{oops", encoding="utf-8")
    for args in (("plugins", "list"), ("plugins", "enable", "hello"), ("tenants", "show", "a")):
        result = invoke(*args, catalog=path)
        assert result.exit_code == 3, result.output
        assert str(broken) in result.output and "Traceback" not in result.output


# -- HTTP --------------------------------------------------------------------------------------

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def bearer(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


@pytest.fixture
def client(path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)
    app = create_app(path, settings=ServeSettings(max_timeout=5.0, job_threads=0))
    with TestClient(app) as test_client:
        yield test_client


def run(client: TestClient, tenant: str) -> str:
    response = client.post(
        "/v1/interfaces/interface_a/run",
        headers=bearer(tenant),
        json={"version": 2, "arguments": {"name": "Ada"}},
    )
    assert response.status_code == 200, response.text
    result: str = response.json()["result"]
    return result


def test_the_admin_key_disables_enables_and_reloads_over_http(
    client: TestClient, path: Path
) -> None:
    disabled = client.put(
        "/v1/admin/plugins/hello/disabled?tenant=a", headers=ADMIN, json={"reason": "flaky"}
    )
    assert disabled.status_code == 200, disabled.text
    body = disabled.json()
    assert (body["action"], body["tenant"], body["rebuilt"]) == ("disable", "a", ["a"])
    assert body["by"].startswith("admin key sha256:" + hash_key(ADMIN_KEY)[7:19])
    assert ADMIN_KEY not in json.dumps(body)
    assert run(client, "a").startswith("Hello, Ada!") and run(client, "b") == "hello Ada"
    listed = client.get("/v1/admin/plugins/disabled", headers=ADMIN).json()
    assert [(d["plugin"], d["tenant"]) for d in listed["disabled"]] == [("hello", "a")]
    again = client.put("/v1/admin/plugins/hello/disabled?tenant=a", headers=ADMIN)
    assert again.json()["outcome"] == "unchanged"
    # A tenant sees that its plugin is disabled, not who did it or why.
    mine = client.get("/v1/plugins/hello", headers=bearer("a")).json()
    assert mine["status"] == "disabled" and mine["disabled"][0]["reason"] is None
    assert mine["disabled"][0]["by"] is None and mine["disabled_for"] == ["a"]
    theirs = client.get("/v1/plugins/hello", headers=bearer("b")).json()
    assert theirs["status"] == "loaded" and theirs["disabled"] == []
    assert theirs["disabled_for"] == []
    enabled = client.delete("/v1/admin/plugins/hello/disabled", headers=ADMIN)
    assert enabled.status_code == 200 and enabled.json()["rebuilt"] == ["a"]
    assert run(client, "a").startswith("hello Ada")
    write_hello(path, HELLO.format(word="hey"))
    reloaded = client.post("/v1/admin/plugins/hello/reload", headers=ADMIN)
    assert reloaded.status_code == 200 and reloaded.json()["rebuilt"] == ["a", "b"]
    assert run(client, "b") == "hey Ada" and run(client, "c") == "other Ada"
    text = path.with_name("catalog.audit.jsonl").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    assert all(e["by"].startswith("admin key sha256:") for e in lines)


def test_refused_and_unknown_changes_over_http(client: TestClient, path: Path) -> None:
    refused = client.put("/v1/admin/plugins/base/disabled?tenant=a", headers=ADMIN)
    assert refused.status_code == 409 and "needs_base" in refused.json()["detail"]
    assert client.put("/v1/admin/plugins/nope/disabled", headers=ADMIN).status_code == 404
    assert (
        client.put("/v1/admin/plugins/hello/disabled?tenant=zz", headers=ADMIN).status_code == 404
    )
    write_hello(path, "raise ImportError('nope')\n")
    failed = client.post("/v1/admin/plugins/hello/reload", headers=ADMIN)
    assert failed.status_code == 409 and "nope" in failed.json()["detail"]
    assert run(client, "b") == "hello Ada"
    assert client.post("/v1/admin/plugins/hello/reload?tenant=a", headers=ADMIN).status_code == 400


def test_a_tenants_key_changes_no_plugin(client: TestClient) -> None:
    for method, url in (
        ("put", "/v1/admin/plugins/hello/disabled"),
        ("delete", "/v1/admin/plugins/hello/disabled"),
        ("post", "/v1/admin/plugins/hello/reload"),
        ("get", "/v1/admin/plugins/disabled"),
    ):
        response = client.request(method, url, headers=bearer("a"))
        assert response.status_code == 403, (method, url)
    assert run(client, "a").startswith("hello Ada")


def test_each_tenant_sees_its_own_hooks_in_call_order(client: TestClient) -> None:
    own = client.get("/v1/tenants/a/hooks", headers=bearer("a"))
    assert own.status_code == 200, own.text
    [interface] = [i for i in own.json()["interfaces"] if i["interface"] == "interface_a"]
    assert interface["version"] == 2 and interface["version_source"] == "latest"
    steps = {s["plugin_point"]: s for s in interface["steps"]}
    assert steps["greeting"]["implementations"] == ["hello", "builtin_plugins.interface_a"]
    assert steps["extra_lines"]["implementations"] == ["needs_base", "base"]
    assert "other" not in json.dumps(own.json())
    assert client.get("/v1/tenants/c/hooks", headers=bearer("a")).status_code == 403
    assert client.get("/v1/tenants/c/hooks?tenant=a", headers=bearer("a")).status_code == 403
    admin = client.get("/v1/tenants/c/hooks", headers=ADMIN)
    assert admin.status_code == 200 and "other" in json.dumps(admin.json())
    assert client.get("/v1/tenants/zz/hooks", headers=ADMIN).status_code == 404
    client.put("/v1/admin/plugins/hello/disabled?tenant=a", headers=ADMIN)
    after = client.get("/v1/tenants/a/hooks", headers=bearer("a")).json()
    [interface] = [i for i in after["interfaces"] if i["interface"] == "interface_a"]
    greeting = next(s for s in interface["steps"] if s["plugin_point"] == "greeting")
    assert greeting["implementations"] == ["builtin_plugins.interface_a"]
