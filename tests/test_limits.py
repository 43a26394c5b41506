"""[limits]: each tenant's calls running at once (its bulkhead) and every call's deadline, in
a Catalog that asks for them and in the server, where a tenant that hangs must not take
threads, answers or the operator's reload from anyone else."""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog_cli import Catalog, _deadline
from catalog_cli.cli._exits import exit_code
from catalog_cli.config._keys import hash_key
from catalog_cli.errors import CallTimeoutError, ConcurrencyLimitError, ConfigError
from catalog_cli.execution._limits import Bulkheads, CallLimits
from tests.conftest import MakeCatalog, WriteCatalog

pytest.importorskip("fastapi")

from starlette.exceptions import StarletteDeprecationWarning

from catalog_cli.http import ServeSettings, create_app

with warnings.catch_warnings():
    # starlette 1.x asks for httpx2 in its test client; the test extra has httpx, which works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

KEYS = {tenant: f"key-of-{tenant}-0123456789" for tenant in ("slow", "quick", "stuck")}
ADMIN = "admin-key-0123456789abcdef"

#: a plugin that sleeps as long as the tenant's settings say (the tenant's own slowness)
SLEEPY = """
    import time

    from catalog_cli import hookimpl

    @hookimpl
    def interface_a_v2_greeting(ctx, name):
        time.sleep(ctx.settings.get("seconds", 0))
        return None
    """


def _toml(limits: str = "", slow: str = "") -> str:
    return f"""
        [catalog]
        plugin_dirs = ["plugins"]

        [serve]
        admin_keys = ["{hash_key(ADMIN)}"]

        {limits}

        [tenants.slow]
        plugins = ["sleepy"]
        api_keys = ["{hash_key(KEYS["slow"])}"]
        {slow}
        [tenants.slow.settings.sleepy]
        seconds = 0.6

        [tenants.stuck]
        plugins = ["sleepy"]
        api_keys = ["{hash_key(KEYS["stuck"])}"]
        [tenants.stuck.settings.sleepy]
        seconds = 3

        [tenants.quick]
        api_keys = ["{hash_key(KEYS["quick"])}"]
        """


def bearer(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}


# -- configuration -----------------------------------------------------------------------------


def test_the_most_specific_limit_wins(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog(
        """
        [limits]
        concurrent_calls = 5
        call_timeout = 20
        [limits.interfaces.price_quote]
        call_timeout = 2
        [tenants.a]
        [tenants.b.limits]
        concurrent_calls = 1
        call_timeout = 9
        [tenants.b.limits.interfaces.interface_a]
        call_timeout = 0.5
        """
    )
    assert catalog.limits("a", "interface_a") == CallLimits(5, 20.0)
    assert catalog.limits("a", "price_quote") == CallLimits(5, 2.0)
    assert catalog.limits("b", "interface_a") == CallLimits(1, 0.5)
    assert catalog.limits("b", "price_quote") == CallLimits(1, 9.0)
    assert catalog.limits("nobody", "price_quote") == CallLimits(5, 2.0)


def test_the_default_limits_are_documented_values(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog("[tenants.a]\n")
    assert catalog.limits("a", "interface_a") == CallLimits(8, 30.0)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[limits]\nconcurrent_calls = -1", "limits.concurrent_calls"),
        ("[limits]\nconcurrent_calls = true", "limits.concurrent_calls"),
        ("[limits]\ncall_timeout = 0", "limits.call_timeout"),
        ('[limits]\ncall_timeout = "soon"', "limits.call_timeout"),
        ("[limits]\nqueue = 3", "limits.queue"),
        ("[limits.interfaces.price_quote]\ncall_timeout = -2", "limits.interfaces.price_quote"),
        ("[limits.interfaces.price_quote]\nconcurrent_calls = 2", "limits.interfaces.price_quote"),
    ],
)
def test_bad_limits_name_their_key(write_catalog: WriteCatalog, toml: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Catalog(write_catalog(toml + "\n[tenants.a]\n"))
    assert key in str(caught.value)
    assert exit_code(caught.value) == 3


def test_a_tenants_bad_limits_fail_only_that_tenant(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog("[tenants.a]\n[tenants.b.limits]\ncall_timeout = -1\n")
    assert catalog.run("interface_a", customer="a", version=1, name="Ada").startswith("Hello")
    assert catalog.tenant("b").status == "failed"
    assert "tenants.b.limits.call_timeout" in str(catalog.tenant("b").error)


# -- in a Catalog that asks for them -----------------------------------------------------------


def test_bulkheads_count_each_tenant_apart() -> None:
    heads = Bulkheads()
    heads.enter("a", 2, "i", 1)
    heads.enter("a", 2, "i", 1)
    with pytest.raises(ConcurrencyLimitError) as refused:
        heads.enter("a", 2, "i", 1)
    assert refused.value.tenant == "a" and refused.value.retry_after == 1.0
    assert exit_code(refused.value) == 12
    heads.enter("b", 2, "i", 1)  # another tenant: its own allowance
    heads.enter("c", 0, "i", 1)  # 0: no limit
    assert heads.running() == {"a": 2, "b": 1, "c": 1}
    heads.leave("a")
    heads.enter("a", 2, "i", 1)
    for tenant in ("a", "a", "b", "c"):
        heads.leave(tenant)
    assert heads.running() == {}


def test_a_catalog_with_limits_refuses_a_tenants_call_beyond_its_own(
    write_catalog: WriteCatalog,
) -> None:
    path = write_catalog(_toml("[limits]\nconcurrent_calls = 1"), {"plugins/sleepy.py": SLEEPY})
    catalog = Catalog(path, limits=True)
    started = threading.Event()
    outcome: list[Any] = []

    def slow_call() -> None:
        started.set()
        outcome.append(catalog.run("interface_a", customer="slow", version=2, name="A"))

    worker = threading.Thread(target=slow_call)
    worker.start()
    started.wait()
    time.sleep(0.2)
    with pytest.raises(ConcurrencyLimitError, match="tenant 'slow' already has 1 calls"):
        catalog.run("interface_a", customer="slow", version=2, name="B")
    # Another tenant meanwhile: untouched.
    assert catalog.run("interface_a", customer="quick", version=2, name="C") == "Hello, C!"
    worker.join()
    assert outcome and outcome[0] == "Hello, A!"


def test_a_catalog_with_limits_gives_every_call_the_configured_deadline(
    write_catalog: WriteCatalog, make_catalog: MakeCatalog
) -> None:
    path = write_catalog(_toml("[limits]\ncall_timeout = 0.1"), {"plugins/sleepy.py": SLEEPY})
    catalog = Catalog(path, limits=True)
    began = time.perf_counter()
    with pytest.raises(CallTimeoutError) as late:
        catalog.execute("interface_a", customer="stuck", version=2, arguments={"name": "A"})
    assert time.perf_counter() - began < 5
    assert late.value.tenant == "stuck" and "0.1 s" in str(late.value)
    method = catalog.method("interface_a", customer="stuck", version=2)
    with pytest.raises(CallTimeoutError):
        method(name="A")
    # A catalog that did not ask: no deadline of its own (the call is not bounded here).
    assert make_catalog("[tenants.a]\n")._bulkheads is None


# -- in the server -----------------------------------------------------------------------------


@pytest.fixture
def server_toml(write_catalog: WriteCatalog) -> Iterator[Path]:
    yield write_catalog(
        _toml("[limits]\nconcurrent_calls = 2\ncall_timeout = 0.3"),
        {"plugins/sleepy.py": SLEEPY},
    )


def _run(client: TestClient, tenant: str, **headers: str) -> Any:
    return client.post(
        "/v1/interfaces/interface_a/run",
        json={"version": 2, "arguments": {"name": tenant}},
        headers={**bearer(tenant), **headers},
    )


def test_a_tenant_beyond_its_limit_gets_429_and_the_others_are_untouched(
    server_toml: Path,
) -> None:
    app = create_app(server_toml, settings=ServeSettings(job_threads=0))
    with TestClient(app) as client:
        answers: list[Any] = []
        threads = [
            threading.Thread(
                target=lambda: answers.append(_run(client, "slow", **{"X-Timeout": "5"}))
            )
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        time.sleep(0.25)  # both are running now
        refused = _run(client, "slow", **{"X-Timeout": "5"})
        assert refused.status_code == 429, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["type"].endswith("too-many-calls")
        began = time.perf_counter()
        quick = _run(client, "quick")
        assert quick.status_code == 200 and quick.json()["result"] == "Hello, quick!"
        assert client.get("/v1/interfaces", headers=bearer("quick")).status_code == 200
        assert time.perf_counter() - began < 0.3  # it did not wait for the slow ones
        for thread in threads:
            thread.join()
        assert [a.status_code for a in answers] == [200, 200]


def test_a_hanging_call_gets_504_and_its_thread_is_replaced(server_toml: Path) -> None:
    app = create_app(server_toml, settings=ServeSettings(job_threads=0))
    before = _deadline.abandoned("stuck")
    with TestClient(app) as client:
        pool = app.state.catalog_server.calls
        late = _run(client, "stuck")  # the catalog's call_timeout: 0.3 s
        assert late.status_code == 504
        data = late.json()
        assert data["call_id"] and "0.3 s" in data["detail"]
        assert _deadline.abandoned("stuck") == before + 1
        # The pool still has all its threads for everyone else.
        assert len(pool._workers) == pool.size
        assert _run(client, "quick").status_code == 200


def test_a_tenant_out_of_abandoned_threads_is_refused_alone(
    server_toml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATALOG_MAX_ABANDONED", "2")
    # Counted afresh: threads abandoned by earlier tests are still sleeping.
    monkeypatch.setattr(_deadline, "_abandoned", _deadline._Counts())
    app = create_app(server_toml, settings=ServeSettings(job_threads=0))
    with TestClient(app) as client:
        statuses = [_run(client, "stuck", **{"X-Timeout": "0.05"}).status_code for _ in range(4)]
        assert statuses[:2] == [504, 504] and set(statuses[2:]) == {503}
        refused = _run(client, "stuck")
        assert refused.headers["Retry-After"] == "1"
        assert refused.status_code == 503
        # Others: their calls, with a deadline too, and the operator's reload.
        assert _run(client, "quick", **{"X-Timeout": "1"}).status_code == 200
        reload = client.post("/v1/admin/reload", headers={"Authorization": f"Bearer {ADMIN}"})
        assert reload.status_code == 200, reload.text


def test_a_job_runs_under_the_configured_deadline(write_catalog: WriteCatalog) -> None:
    from catalog_cli.execution._jobs import JobStore, JobWorker
    from catalog_cli.execution._requests import CallRequest

    path = write_catalog(_toml("[limits]\ncall_timeout = 0.2"), {"plugins/sleepy.py": SLEEPY})
    catalog = Catalog(path)
    store = JobStore(path.parent / "jobs.sqlite3")
    try:
        stuck = store.submit(CallRequest("stuck", "interface_a", 2, {"name": "S"}))
        after = store.submit(CallRequest("quick", "interface_a", 2, {"name": "Q"}))
        began = time.perf_counter()
        assert JobWorker(catalog, store, threads=1).drain() == 2
        assert time.perf_counter() - began < 2.5  # not the 3 s the stuck plugin sleeps
        failed = store.get(stuck.id)
        assert failed.status == "failed" and failed.error is not None
        assert failed.error["kind"] == "call_timeout"
        assert store.get(after.id).result == "Hello, Q!"
    finally:
        store.close()
        catalog.close()


def test_limits_for_an_unknown_interface_are_named(
    write_catalog: WriteCatalog, make_catalog: MakeCatalog
) -> None:
    with pytest.raises(ConfigError) as caught:
        Catalog(write_catalog("[limits.interfaces.price_qoute]\ncall_timeout = 1\n[tenants.a]\n"))
    assert "limits.interfaces.price_qoute" in str(caught.value)
    assert "did you mean 'price_quote'" in str(caught.value)
    catalog = make_catalog("[tenants.a]\n[tenants.b.limits.interfaces.nope]\ncall_timeout = 1\n")
    assert catalog.tenant("a").status != "failed"
    assert "tenants.b.limits.interfaces.nope" in str(catalog.tenant("b").error)
