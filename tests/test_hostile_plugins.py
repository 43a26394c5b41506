"""Fault injection: a plugin that throws anything, anywhere, fails its own tenants alone.

Each test gives one tenant (``bad``) a hostile plugin and another (``good``) a well-behaved
one, then checks that the hostile plugin is reported as that plugin's failure, with its
documented exit code or HTTP status, while ``good`` works on. "Anything" is what ``except
Exception`` lets through: ``KeyboardInterrupt`` and ``SystemExit`` raised by plugin code (not a
real Ctrl-C), and a subclass of ``BaseException`` of the plugin's own.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog_cli import CallRequest, Catalog
from catalog_cli.errors import (
    PluginCallError,
    PluginLoadError,
    PluginStartupError,
    ReloadError,
)
from tests.conftest import Invoke, WriteCatalog

#: The exceptions a hostile plugin raises: what ``except Exception`` does not catch.
THROWN = {
    "KeyboardInterrupt": "raise KeyboardInterrupt('stray')",
    "SystemExit": "raise SystemExit(3)",
    "Boom": "raise Boom('boom')",
}

PRELUDE = """
from catalog_cli import hookimpl


class Boom(BaseException):
    '''Neither an Exception nor one of Python's own.'''
"""

#: The one interface of the catalogs here, their own: what the example declares may change.
DECLARATIONS = {
    "hookspecs/quote.py": """
        from catalog_cli import Context, entrypoint, plugin_point


        @entrypoint
        def quote_v1(ctx: Context, unit_price: float, quantity: int) -> dict[str, float]:
            '''The price of ``quantity`` units at ``unit_price``.'''


        @plugin_point(quote_v1, policy="collect")
        def quote_v1_discounts(ctx: Context, subtotal: float, quantity: int) -> float | None:
            '''A discount, as a fraction of the subtotal; all of them add up.'''
        """,
    "builtin_plugins/quote.py": """
        from catalog_cli import Context, hookimpl


        @hookimpl
        def quote_v1(ctx: Context, unit_price: float, quantity: int) -> dict[str, float]:
            subtotal = unit_price * quantity
            discount = min(sum(ctx.points.discounts(subtotal=subtotal, quantity=quantity)), 0.5)
            return {"subtotal": subtotal, "total": round(subtotal * (1 - discount), 2)}
        """,
}

GOOD = """
from catalog_cli import hookimpl


@hookimpl
def quote_v1_discounts(ctx, subtotal, quantity):
    return 0.1
"""

TOML = """
[catalog]
plugin_dirs = ["plugins"]
import_timeout = {import_timeout}
startup_timeout = 5
health_timeout = 5
{extra}
[tenants.good]
plugins = ["fine"]
[tenants.bad]
plugins = ["evil"]
{after}
"""

RUN = ("run", "quote", "-a", "unit_price=10", "-a", "quantity=1")
GOOD_TOTAL = 9.0  # 10 less the good plugin's 10 % discount


def hook(body: str) -> str:
    """A plugin whose discount hook runs ``body``."""
    return PRELUDE + (
        f"\n\n@hookimpl\ndef quote_v1_discounts(ctx, subtotal, quantity):\n    {body}\n"
    )


@pytest.fixture
def hostile(write_catalog: WriteCatalog) -> Iterator[HostileCatalog]:
    yield HostileCatalog(write_catalog)


class HostileCatalog:
    """Writes the catalog of ``good`` and ``bad`` with ``evil`` as given."""

    def __init__(self, write_catalog: WriteCatalog) -> None:
        self._write = write_catalog

    def __call__(
        self, evil: str, *, extra: str = "", after: str = "", import_timeout: float = 5
    ) -> Path:
        """``extra``: tables after ``[catalog]``; ``after``: tables after the tenants'."""
        return self._write(
            TOML.format(extra=extra, after=after, import_timeout=import_timeout),
            {**DECLARATIONS, "plugins/fine.py": GOOD, "plugins/evil.py": evil},
            example=False,
        )


def assert_good_works(catalog: Catalog) -> None:
    assert catalog.run("quote", customer="good", unit_price=10, quantity=1)["total"] == (GOOD_TOTAL)


def no_traceback(output: str) -> None:
    assert "Traceback" not in output


# -- at import -----------------------------------------------------------------------------


@pytest.mark.parametrize("thrown", THROWN)
def test_a_plugin_raising_at_import_fails_its_tenants_alone(
    hostile: HostileCatalog, invoke: Invoke, thrown: str
) -> None:
    path = hostile(PRELUDE + THROWN[thrown] + "\n")
    check = invoke("check", catalog=path)
    assert check.exit_code == 10, check.output
    no_traceback(check.output)
    assert f"plugin 'evil' from file {path.parent / 'plugins' / 'evil.py'} failed to import" in (
        check.output
    )
    assert f"{thrown}:" in check.output
    assert "good    ok" in check.output
    listed = invoke("plugins", "list", "--json", catalog=path)
    assert listed.exit_code == 0, listed.output
    status = {p["name"]: p["status"] for p in json.loads(listed.stdout)}
    assert status["evil"] == "failed" and status["fine"] == "loaded"
    bad = invoke(*RUN, "-C", "bad", catalog=path)
    assert bad.exit_code == 6, bad.output
    assert "fails closed" in bad.stderr and f"{thrown}:" in bad.stderr
    good = invoke(*RUN, "-C", "good", "--json", catalog=path)
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["result"]["total"] == GOOD_TOTAL
    with pytest.raises(PluginLoadError, match=thrown):
        Catalog(path).plugin_manager("bad")


def test_check_in_worker_processes_reports_a_plugin_raising_at_import(
    hostile: HostileCatalog, invoke: Invoke
) -> None:
    path = hostile(PRELUDE + THROWN["KeyboardInterrupt"] + "\n")
    check = invoke("check", "--jobs", "2", "--json", catalog=path)
    assert check.exit_code == 10, check.output
    report = json.loads(check.stdout)
    tenants = {t["id"]: t["status"] for t in report["tenants"]}
    assert tenants == {"good": "ok", "bad": "failed"}
    assert any("KeyboardInterrupt" in p["message"] for p in report["problems"])


GETATTR = {
    "RuntimeError": "raise RuntimeError('boom')",
    **THROWN,
}


@pytest.mark.parametrize("thrown", GETATTR)
def test_a_module_getattr_that_raises_is_that_plugins_failure(
    hostile: HostileCatalog, invoke: Invoke, thrown: str
) -> None:
    # PEP 562: the catalog asks the module for PLUGIN, and this one answers with anything
    # but the AttributeError it should raise.
    evil = hook("return None") + f"\n\ndef __getattr__(name):\n    {GETATTR[thrown]}\n"
    path = hostile(evil)
    check = invoke("check", catalog=path)
    assert check.exit_code == 10, check.output
    no_traceback(check.output)
    assert f"plugin 'evil': could not be checked: {thrown}" in check.output
    assert "good    ok" in check.output  # the rest of the report is there
    assert "builtin_plugins.quote" in check.output
    for command in (("plugins", "list"), ("tenants", "list"), ("health",)):
        result = invoke(*command, catalog=path)
        assert result.exit_code in (0, 11), (command, result.output)
        no_traceback(result.output)
    bad = invoke(*RUN, "-C", "bad", catalog=path)
    assert bad.exit_code == 6, bad.output
    assert_good_works(Catalog(path))


@pytest.mark.parametrize("thrown", THROWN)
def test_a_settings_schema_that_raises_fails_its_tenant(
    hostile: HostileCatalog, invoke: Invoke, thrown: str
) -> None:
    evil = hook("return None") + (
        "\n\nfrom pydantic import BaseModel, field_validator\n"
        "from catalog_cli import PluginMeta\n\n\n"
        "class Settings(BaseModel):\n"
        "    level: int = 1\n\n"
        "    @field_validator('level')\n"
        "    @classmethod\n"
        "    def _check(cls, value):\n"
        f"        {THROWN[thrown]}\n\n\n"
        "PLUGIN = PluginMeta(settings=Settings)\n"
    )
    path = hostile(evil, after="[tenants.bad.settings.evil]\nlevel = 2\n")
    check = invoke("check", catalog=path)
    assert check.exit_code == 10, check.output
    assert f"plugin 'evil': its settings schema raised {thrown}" in check.output
    bad = invoke(*RUN, "-C", "bad", catalog=path)
    assert bad.exit_code == 6, bad.output
    assert_good_works(Catalog(path))


# -- start-up and health -------------------------------------------------------------------


@pytest.mark.parametrize("thrown", THROWN)
def test_a_startup_hook_that_raises_fails_its_tenant(
    hostile: HostileCatalog, invoke: Invoke, thrown: str
) -> None:
    evil = (
        hook("return None") + f"\n\n@hookimpl\ndef catalog_startup(tenant):\n    {THROWN[thrown]}\n"
    )
    path = hostile(evil)
    catalog = Catalog(path)
    with pytest.raises(PluginStartupError, match=f"plugin 'evil' failed to start .*{thrown}"):
        catalog.run("quote", customer="bad", unit_price=1, quantity=1)
    assert_good_works(catalog)
    check = invoke("check", catalog=path)
    assert check.exit_code == 10, check.output
    bad = invoke(*RUN, "-C", "bad", catalog=path)
    assert bad.exit_code == 6, bad.output


@pytest.mark.parametrize("thrown", THROWN)
def test_a_health_check_that_raises_is_unhealthy(
    hostile: HostileCatalog, invoke: Invoke, thrown: str
) -> None:
    evil = hook("return None") + f"\n\n@hookimpl\ndef catalog_health():\n    {THROWN[thrown]}\n"
    path = hostile(evil)
    results = {(r.tenant, r.plugin): r for r in Catalog(path).health()}
    assert results["bad", "evil"].status == "unhealthy"
    assert thrown in results["bad", "evil"].details
    assert results["good", "fine"].status == "healthy"
    health = invoke("health", catalog=path)
    assert health.exit_code == 11, health.output
    no_traceback(health.output)


# -- during a call -------------------------------------------------------------------------

#: interceptors around the call: none, then the ones that run it elsewhere or again
AROUND = {
    "plain": "",
    "interceptors": (
        "[interceptors.logging]\n[interceptors.metrics]\n[interceptors.retry]\n"
        "[interceptors.timeout]\nsettings = { seconds = 5 }\n"
    ),
}


@pytest.mark.parametrize("around", AROUND)
@pytest.mark.parametrize("thrown", THROWN)
def test_a_plugin_raising_during_a_call_is_a_plugin_call_error_on_every_path(
    hostile: HostileCatalog, invoke: Invoke, thrown: str, around: str
) -> None:
    path = hostile(hook(THROWN[thrown]), extra=AROUND[around])
    catalog = Catalog(path)
    with pytest.raises(PluginCallError, match=f"plugin 'evil' raised {thrown}"):
        catalog.run("quote", customer="bad", unit_price=1, quantity=1)
    method = catalog.method("quote", customer="bad")
    with pytest.raises(PluginCallError, match=f"plugin 'evil' raised {thrown}"):
        method(unit_price=1, quantity=1)
    for timeout in (None, 5.0):
        answer = catalog.call(
            CallRequest("bad", "quote", None, {"unit_price": 1, "quantity": 1}),
            timeout=timeout,
        )
        assert not answer.ok and answer.error is not None
        assert answer.error.kind == "plugin_call" and answer.error.plugin == "evil"
        assert answer.call_id is not None
    traced = catalog.call(
        CallRequest("bad", "quote", None, {"unit_price": 1, "quantity": 1}), trace=True
    )
    assert traced.error is not None and traced.error.kind == "plugin_call"
    assert_good_works(catalog)
    for options in ((), ("--timeout", "5"), ("--trace",), ("--json",)):
        result = invoke(*RUN, "-C", "bad", *options, catalog=path)
        assert result.exit_code == 7, (options, result.output)
        no_traceback(result.output)
    answers = catalog.map("quote", [{"unit_price": 1, "quantity": 1}] * 2, customer="bad")
    assert [a.error.kind if a.error else None for a in answers] == ["plugin_call"] * 2


@pytest.mark.parametrize("thrown", THROWN)
def test_a_job_whose_plugin_raises_fails_alone(hostile: HostileCatalog, thrown: str) -> None:
    from catalog_cli import JobStore, JobWorker

    path = hostile(hook(THROWN[thrown]))
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as store:
        bad = store.submit(CallRequest("bad", "quote", None, {"unit_price": 1, "quantity": 1}))
        good = store.submit(CallRequest("good", "quote", None, {"unit_price": 10, "quantity": 1}))
        assert JobWorker(catalog, store, threads=1).drain() == 2
        failed, done = store.get(bad.id), store.get(good.id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error["kind"] == "plugin_call" and failed.error["plugin"] == "evil"
    assert done.status == "succeeded" and done.result["total"] == GOOD_TOTAL


@pytest.mark.parametrize("thrown", THROWN)
def test_a_job_whose_plugin_cannot_be_checked_fails_alone(
    hostile: HostileCatalog, thrown: str
) -> None:
    # Checked when the job builds its tenant, in the worker's thread: the thread goes on.
    from catalog_cli import JobStore, JobWorker

    evil = hook("return None") + f"\n\ndef __getattr__(name):\n    {THROWN[thrown]}\n"
    path = hostile(evil)
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as store:
        bad = store.submit(CallRequest("bad", "quote", None, {"unit_price": 1, "quantity": 1}))
        good = store.submit(CallRequest("good", "quote", None, {"unit_price": 10, "quantity": 1}))
        worker = JobWorker(catalog, store, threads=1)
        assert worker.drain() == 2
        assert worker.errors == []
        failed, done = store.get(bad.id), store.get(good.id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error["kind"] == "plugin_validation" and failed.error["plugin"] == "evil"
    assert done.status == "succeeded"


# -- over HTTP -----------------------------------------------------------------------------

KEYS = {"good": "good-key-0123456789abcdef", "bad": "bad-key-0123456789abcdef"}
ADMIN_KEY = "admin-key-0123456789abcdef"
SERVED = """
[serve]
admin_keys = ["${env:HOSTILE_ADMIN_KEY}"]
[tenants.good]
plugins = ["fine"]
api_keys = ["${env:HOSTILE_GOOD_KEY}"]
[tenants.bad]
plugins = ["evil"]
api_keys = ["${env:HOSTILE_BAD_KEY}"]
"""


@pytest.fixture
def served(write_catalog: WriteCatalog, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedCatalog]:
    monkeypatch.setenv("HOSTILE_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("HOSTILE_GOOD_KEY", KEYS["good"])
    monkeypatch.setenv("HOSTILE_BAD_KEY", KEYS["bad"])
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)
    yield ServedCatalog(write_catalog)


class ServedCatalog:
    """Serves a catalog of ``good`` and ``bad`` (with ``evil`` as given) in a test client."""

    def __init__(self, write_catalog: WriteCatalog) -> None:
        self._write = write_catalog

    def __call__(self, evil: str, *, catalog: str = "") -> Iterator[Any]:
        from catalog_cli.http import ServeSettings, create_app

        with warnings.catch_warnings():
            # starlette asks for httpx2 in its test client; the test extra has httpx (works).
            from starlette.exceptions import StarletteDeprecationWarning

            warnings.simplefilter("ignore", StarletteDeprecationWarning)
            from starlette.testclient import TestClient

        toml = f'[catalog]\nplugin_dirs = ["plugins"]\n{catalog}\n{SERVED}'
        files = {**DECLARATIONS, "plugins/fine.py": GOOD, "plugins/evil.py": evil}
        path = self._write(toml, files, example=False)
        app = create_app(path, settings=ServeSettings(max_timeout=5.0, job_threads=0))
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client


def run_as(client: Any, tenant: str, **headers: str) -> Any:
    return client.post(
        "/v1/interfaces/quote/run",
        json={"arguments": {"unit_price": 10, "quantity": 1}},
        headers={"X-API-Key": KEYS[tenant], **headers},
    )


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    data: dict[str, Any] = response.json()
    return data


@pytest.mark.parametrize("thrown", THROWN)
def test_the_server_starts_and_serves_the_others_whatever_a_plugin_throws(
    served: ServedCatalog, thrown: str
) -> None:
    for evil in (
        PRELUDE + THROWN[thrown] + "\n",  # at import
        hook("return None") + f"\n\ndef __getattr__(name):\n    {THROWN[thrown]}\n",
        hook("return None") + f"\n\n@hookimpl\ndef catalog_startup():\n    {THROWN[thrown]}\n",
    ):
        for client in served(evil):
            assert run_as(client, "good").json()["result"]["total"] == GOOD_TOTAL
            problem(run_as(client, "bad"), 503)
            health = client.get("/v1/health", headers={"X-API-Key": ADMIN_KEY})
            assert health.status_code == 200 and health.json()["ok"] is False


@pytest.mark.parametrize("thrown", THROWN)
def test_a_plugin_raising_during_a_call_over_http_is_a_500_with_a_call_id(
    served: ServedCatalog, thrown: str
) -> None:
    for client in served(hook(THROWN[thrown])):
        for headers in ({}, {"X-Timeout": "5"}):
            data = problem(run_as(client, "bad", **headers), 500)
            assert data["type"].endswith(":internal") and data["call_id"]
            assert run_as(client, "good", **headers).status_code == 200


# -- reload --------------------------------------------------------------------------------

#: A plugin whose import hangs until the test creates ``release`` beside the catalog.
HANGS = """
import os
import time

_release = os.path.join(os.path.dirname(__file__), os.pardir, "release")
_until = time.monotonic() + 60  # never longer than the test
while not os.path.exists(_release) and time.monotonic() < _until:
    time.sleep(0.01)
"""


def hung_imports() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "catalog-import-evil")


@pytest.fixture
def released(tmp_path: Path) -> Iterator[None]:
    yield
    (tmp_path / "release").touch()
    deadline = time.monotonic() + 10
    while hung_imports() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_reload_is_never_blocked_by_a_plugin_whose_import_hangs(
    served: ServedCatalog, released: None
) -> None:
    for client in served(HANGS, catalog="import_timeout = 0.1"):
        assert run_as(client, "good").status_code == 200
        data = problem(run_as(client, "bad"), 503)
        assert data["type"].endswith(":tenant-unavailable")
        assert hung_imports() == 1
        for _ in range(70):
            reload = client.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY})
            assert reload.status_code == 200, reload.text
            assert run_as(client, "good", **{"X-Timeout": "5"}).status_code == 200
            problem(run_as(client, "bad", **{"X-Timeout": "5"}), 503)
            assert hung_imports() == 1  # never imported again while it hangs


def test_a_plugin_whose_earlier_import_still_hangs_is_reported_so(
    hostile: HostileCatalog, released: None
) -> None:
    path = hostile(HANGS, import_timeout=0.1)
    catalog = Catalog(path)
    with pytest.raises(PluginLoadError, match=r"did not finish within 0\.1 s"):
        catalog.plugin_manager("bad")
    catalog.reload()
    with pytest.raises(PluginLoadError) as caught:
        catalog.plugin_manager("bad")
    assert "plugin 'evil'" in str(caught.value)
    assert re.search(r"its earlier import, started \d+ s ago, still hangs", str(caught.value))
    report = Catalog(path).check()  # another catalog of the same file in this process too
    assert any("still hangs" in p.message for p in report.problems if p.plugin == "evil")
    assert hung_imports() == 1
    assert_good_works(catalog)


def test_reload_answers_409_with_the_reason_when_the_loading_allowance_is_used_up(
    served: ServedCatalog, released: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catalog_cli import _deadline

    for client in served(HANGS, catalog="import_timeout = 0.1"):
        problem(run_as(client, "bad"), 503)  # its import hangs: one abandoned thread
        monkeypatch.setenv("CATALOG_MAX_ABANDONED", str(_deadline.abandoned(_deadline.CATALOG)))
        for _ in range(3):
            data = problem(client.post("/v1/admin/reload", headers={"X-API-Key": ADMIN_KEY}), 409)
            assert "reload of" in data["detail"] and "refused" in data["detail"]
            assert "$CATALOG_MAX_ABANDONED" in data["detail"]
            assert run_as(client, "good", **{"X-Timeout": "5"}).status_code == 200
        assert hung_imports() == 1


def test_a_reload_never_imports_a_plugin_a_moment_after_another_import_of_it_began(
    hostile: HostileCatalog, released: None
) -> None:
    # The catalog being replaced imports the plugin right now: the reload's loader waits for
    # that import (within its own deadline) instead of starting a second one behind it.
    path = hostile(HANGS, import_timeout=0.5)
    catalog = Catalog(path)
    first = threading.Thread(target=catalog.check)
    first.start()
    deadline = time.monotonic() + 5
    while not hung_imports() and time.monotonic() < deadline:
        time.sleep(0.005)
    with contextlib.suppress(ReloadError):  # whether "bad" failed before depends on timing
        catalog.reload()
    first.join(5)
    with pytest.raises(PluginLoadError, match="still hangs"):
        catalog.plugin_manager("bad")
    assert hung_imports() == 1


# -- threads a plugin leaves behind --------------------------------------------------------

#: A plugin that starts a thread that is not a daemon, and leaves it running: it ends when
#: ``release`` exists beside the catalog (or after a minute), and ``then`` runs in the hook.
LINGERS = (
    PRELUDE
    + """
import os
import threading
import time

_release = os.path.join(os.path.dirname(__file__), os.pardir, "release")


def _linger():
    until = time.monotonic() + 60
    while not os.path.exists(_release) and time.monotonic() < until:
        time.sleep(0.01)


@hookimpl
def quote_v1_discounts(ctx, subtotal, quantity):
    threading.Thread(target=_linger, name="plugin-lingers", daemon=False).start()
    {then}
"""
)


def command(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "catalog_cli", "--catalog", str(path), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(("then", "code"), [("return 0.1", 0), ("raise Boom('late')", 7)])
def test_the_command_exits_after_its_output_though_a_plugin_left_a_thread_running(
    hostile: HostileCatalog, released: None, then: str, code: int
) -> None:
    path = hostile(LINGERS.replace("{then}", then))
    started = time.monotonic()
    done = command(path, *RUN, "-C", "bad", "--json")
    assert time.monotonic() - started < 20  # not the minute the thread lingers
    assert done.returncode == code, done.stderr
    if code == 0:
        assert json.loads(done.stdout)["result"]["total"] == GOOD_TOTAL
    else:
        assert json.loads(done.stderr)["error"]["kind"] == "plugin_call"


def test_in_process_the_command_leaves_the_threads_of_its_host_alone(
    hostile: HostileCatalog, invoke: Invoke, tmp_path: Path
) -> None:
    # The test runner is the host here: it must not be ended with the command.
    path = hostile(LINGERS.replace("{then}", "return 0.1"))
    result = invoke(*RUN, "-C", "bad", catalog=path)
    assert result.exit_code == 0, result.output
    lingering = [t for t in threading.enumerate() if t.name == "plugin-lingers"]
    assert lingering
    (tmp_path / "release").touch()
    for thread in lingering:
        thread.join(10)


# -- a plugin that ends its process, in a batch --------------------------------------------

#: A plugin that notes each call it starts (in ``calls`` beside the catalog), and ends the
#: process it runs in as it is imported (``{at_import}``) or when asked to quote 3 units.
ENDS = """
import os

from catalog_cli import hookimpl

_calls = os.path.join(os.path.dirname(__file__), os.pardir, "calls")
if {at_import}:
    os._exit(0)


@hookimpl
def quote_v1_discounts(ctx, subtotal, quantity):
    with open(_calls, "a", encoding="utf-8") as log:
        log.write(f"{{quantity}}\\n")
    if quantity == 3:
        os._exit(0)
    return None
"""

BATCH = "".join(f'{{"unit_price": 1, "quantity": {q}}}\n' for q in range(1, 7))


@pytest.mark.parametrize("fail_on_error", [False, True])
def test_a_batch_on_one_worker_survives_a_plugin_that_ends_its_process(
    hostile: HostileCatalog, invoke: Invoke, tmp_path: Path, fail_on_error: bool
) -> None:
    path = hostile(ENDS.format(at_import=False))
    out = tmp_path / "answers.jsonl"
    flags = ("--fail-on-error",) if fail_on_error else ()
    result = invoke(
        "run", "quote", "-C", "bad", "--batch", "-", "--workers", "1",
        "--out", str(out), *flags, catalog=path, input=BATCH,
    )  # fmt: skip
    assert result.exit_code == (13 if fail_on_error else 0), result.output
    assert "5 ok, 1 failed" in result.stderr and "(1 worker process" in result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [row["ok"] for row in rows] == [True, True, False, True, True, True]
    error = rows[2]["error"]
    assert error["kind"] == "worker_died" and error["exit_code"] == 7
    assert error["message"].startswith("item 2: the worker process running it died")
    assert not (tmp_path / "answers.jsonl.partial").exists()
    # No item ran twice: those before the one that ended the worker are kept, not run again.
    calls = (tmp_path / "calls").read_text(encoding="utf-8").split()
    assert sorted(calls) == ["1", "2", "3", "4", "5", "6"]


def test_a_batch_whose_plugin_ends_the_worker_at_import_fails_each_item_once(
    hostile: HostileCatalog, invoke: Invoke, tmp_path: Path
) -> None:
    path = hostile(ENDS.format(at_import=True))
    result = invoke(
        "run", "quote", "-C", "bad", "--batch", "-", "--workers", "1", "--json",
        catalog=path, input=BATCH,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.strip().splitlines()[-1])["batch"]
    assert (summary["ok"], summary["failed"]) == (0, 6)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {row["error"]["kind"] for row in rows} == {"worker_died"}
    assert "as it loaded the catalog or built the tenant" in rows[0]["error"]["message"]


def test_a_batch_of_one_item_runs_in_a_worker_process_unless_told_otherwise(
    hostile: HostileCatalog, invoke: Invoke
) -> None:
    path = hostile(ENDS.format(at_import=False))
    one = '{"unit_price": 1, "quantity": 3}\n'
    result = invoke("run", "quote", "-C", "bad", "--batch", "-", catalog=path, input=one)
    assert result.exit_code == 0, result.output
    assert "0 ok, 1 failed" in result.stderr and "(1 worker process" in result.stderr
    good = invoke(
        "run", "quote", "-C", "good", "--batch", "-", "--workers", "0", "--json",
        catalog=path, input=one,
    )  # fmt: skip
    assert json.loads(good.stderr.strip().splitlines()[-1])["batch"]["ran"] == "in this process"


@pytest.mark.parametrize("thrown", THROWN)
def test_checking_one_hostile_plugin_file_reports_it(
    hostile: HostileCatalog, invoke: Invoke, tmp_path: Path, thrown: str
) -> None:
    path = hostile(GOOD)
    hostile_files = {
        "at_import": PRELUDE + THROWN[thrown] + "\n",
        "getattr": hook("return None") + f"\n\ndef __getattr__(name):\n    {THROWN[thrown]}\n",
        "schema": hook("return None")
        + (
            "\n\nfrom pydantic import BaseModel, model_validator\n"
            "from catalog_cli import PluginMeta\n\n\n"
            "class Settings(BaseModel):\n"
            "    @model_validator(mode='before')\n"
            "    @classmethod\n"
            "    def _check(cls, values):\n"
            f"        {THROWN[thrown]}\n\n\n"
            "PLUGIN = PluginMeta(settings=Settings)\n"
        ),
        "shutdown": hook("return None")
        + f"\n\n@hookimpl\ndef catalog_shutdown():\n    {THROWN[thrown]}\n",
    }
    for name, source in hostile_files.items():
        plugin = tmp_path / "elsewhere" / f"{name}.py"
        plugin.parent.mkdir(exist_ok=True)
        plugin.write_text(source, encoding="utf-8")
        result = invoke("check", "--plugin", str(plugin), catalog=path)
        assert result.exit_code == 10, (name, result.output)
        assert thrown in result.output, (name, result.output)
        no_traceback(result.output)


@pytest.mark.parametrize("thrown", THROWN)
def test_a_shutdown_hook_that_raises_is_a_warning(
    hostile: HostileCatalog, invoke: Invoke, thrown: str
) -> None:
    path = hostile(
        hook("return None") + f"\n\n@hookimpl\ndef catalog_shutdown():\n    {THROWN[thrown]}\n"
    )
    result = invoke(*RUN, "-C", "bad", catalog=path)
    assert result.exit_code == 0, result.output
    assert f"warning: plugin 'evil' failed to shut down for tenant 'bad': {thrown}" in result.stderr


@pytest.mark.parametrize("thrown", THROWN)
def test_a_package_named_in_the_catalog_that_raises_as_it_is_found_is_a_config_error(
    write_catalog: WriteCatalog,
    invoke: Invoke,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    thrown: str,
) -> None:
    # Finding the module `package.declarations` imports `package` itself.
    package = f"_hostile_package_{thrown.lower()}"
    folder = tmp_path / "site" / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(PRELUDE + THROWN[thrown] + "\n", encoding="utf-8")
    (folder / "declarations.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    path = write_catalog(f'[catalog]\nhookspecs = ["{package}.declarations"]\n[tenants.t]\n')
    result = invoke("check", catalog=path)
    assert result.exit_code == 3, result.output
    assert f"importing the package of '{package}.declarations' raised {thrown}" in result.stderr
    no_traceback(result.output)


def test_a_plugin_folder_whose_package_hangs_holds_up_only_its_own_plugins(
    write_catalog: WriteCatalog, released: None
) -> None:
    # plugins/__init__.py runs before any plugin of its folder: it hangs. The folder of the
    # good tenant's plugin, and reloads, go on.
    path = write_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins", "others"]
        import_timeout = 0.2
        [tenants.good]
        plugins = ["fine"]
        [tenants.bad]
        plugins = ["evil"]
        """,
        {
            **DECLARATIONS,
            "plugins/__init__.py": HANGS,
            "plugins/evil.py": GOOD,
            "others/fine.py": GOOD,
        },
        example=False,
    )
    catalog = Catalog(path)
    with pytest.raises(PluginLoadError, match="did not finish"):
        catalog.plugin_manager("bad")
    assert_good_works(catalog)
    reloading = threading.Thread(target=catalog.reload, daemon=True)
    reloading.start()
    reloading.join(10)
    assert not reloading.is_alive(), "the reload waits for the hanging package"
    assert_good_works(catalog)
    with pytest.raises(PluginLoadError, match="still hangs"):
        catalog.plugin_manager("bad")
    assert hung_imports() == 1


def test_a_base_exception_that_gets_past_the_catalog_is_an_internal_error_not_a_traceback(
    invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Boom(BaseException):
        pass

    def tenants(self: Catalog) -> list[object]:
        raise Boom("past every check")

    monkeypatch.setattr(Catalog, "tenants", tenants)
    result = invoke("tenants", "list")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "internal error: Boom: past every check" in result.stderr
    no_traceback(result.output)
