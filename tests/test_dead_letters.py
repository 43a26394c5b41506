"""Dead letters: failed jobs retried per [jobs.retry] (idempotent versions, refusals before the
call), dead once out of attempts with every run kept, and retry, requeue and purge from Python,
the command line and HTTP, each for a tenant's own jobs only; a store of schema 1 upgraded."""

from __future__ import annotations

import json
import sqlite3
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.config import read_config
from catalog_cli.config._jobs import RetryPolicy, RetryRule, parse_duration
from catalog_cli.config._keys import hash_key
from catalog_cli.errors import ConfigError, ErrorRecord, JobStateError, UnknownJobError
from catalog_cli.execution._jobs import SCHEMA_VERSION, Job, JobStore, JobWorker, WorkerId
from catalog_cli.execution._requests import CallAnswer, CallRequest
from tests.conftest import Invoke, WriteCatalog

ME = WorkerId("here", 1, "t", "here|ns")


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _no_jobs_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)


def store_at(tmp_path: Path, rule: RetryRule | None = None, **kwargs: Any) -> JobStore:
    policy = RetryPolicy(rule or RetryRule(attempts=3, backoff=2.0, jitter=0.0))
    return JobStore(tmp_path / "jobs.sqlite3", retry=policy, **kwargs)


def fail(store: JobStore, job: Job, kind: str, *, idempotent: bool = False) -> Job:
    claimed = store.claim(ME)
    assert claimed is not None and claimed.id == job.id
    answer = CallAnswer(False, error=ErrorRecord(kind, f"{kind} happened", "Error"), version=1)
    done = store.finish(claimed, ME, answer, idempotent=idempotent)
    assert done is not None
    return done


def dead_job(store: JobStore, tenant: str = "a", interface: str = "price_quote") -> Job:
    job = store.submit(CallRequest(tenant, interface, None, {}))
    store.retry_policy = RetryPolicy(RetryRule(attempts=1))
    try:
        return fail(store, job, "overloaded")
    finally:
        store.retry_policy = RetryPolicy()


# -- the retry policy ------------------------------------------------------------------------


def test_an_idempotent_version_is_retried_with_exponential_backoff_then_dead(
    tmp_path: Path,
) -> None:
    clock = Clock()
    rule = RetryRule(attempts=3, backoff=2.0, multiplier=3.0, backoff_max=100.0, jitter=0.0)
    store = store_at(tmp_path, rule, clock=clock)
    job = store.submit(CallRequest("a", "price_quote", None, {}))
    first = fail(store, job, "plugin_call", idempotent=True)
    assert first.status == "queued" and first.run_after == clock.now + 2.0
    assert store.claim(ME) is None  # its backoff is not over
    clock.now += 2.0
    second = fail(store, job, "plugin_call", idempotent=True)
    assert second.status == "queued" and second.run_after == clock.now + 6.0
    clock.now += 6.0
    third = fail(store, job, "plugin_call", idempotent=True)
    assert third.status == "dead" and third.run_after is None
    assert [run["attempt"] for run in third.history] == [1, 2, 3]
    assert [run["outcome"] for run in third.history] == ["failed"] * 3
    assert all(run["error"]["kind"] == "plugin_call" for run in third.history)
    assert [run["finished_at"] for run in third.history] == [
        1_000_000.0,
        1_000_002.0,
        1_000_008.0,
    ]
    assert third.history[-1]["retry_at"] is None and third.finished_at == clock.now


def test_a_version_that_is_not_idempotent_fails_at_once_unless_refused_before_it_ran(
    tmp_path: Path,
) -> None:
    store = store_at(tmp_path)
    job = store.submit(CallRequest("a", "price_quote", None, {}))
    assert fail(store, job, "plugin_call").status == "failed"
    assert fail(store, store.submit(job.request), "call_timeout").status == "failed"
    for kind in ("overloaded", "concurrency_limited", "circuit_open", "rate_limited"):
        assert fail(store, store.submit(job.request), kind).status == "queued", kind


def test_invalid_arguments_and_unknown_names_are_never_retried(tmp_path: Path) -> None:
    store = store_at(tmp_path, RetryRule(on=frozenset({"plugin_call"})))
    for kind in ("invalid_arguments", "unknown_interface", "unknown_tenant", "config"):
        job = store.submit(CallRequest("a", "price_quote", None, {}))
        assert fail(store, job, kind, idempotent=True).status == "failed", kind


def test_backoff_is_capped_and_jitter_only_shortens_it() -> None:
    rule = RetryRule(backoff=1.0, multiplier=2.0, backoff_max=10.0, jitter=0.5)
    assert [rule.delay(n, 0.0) for n in (1, 2, 3, 4, 5, 50, 5000)] == [
        1.0,
        2.0,
        4.0,
        8.0,
        10.0,
        10.0,
        10.0,
    ]
    assert rule.delay(3, 0.999) == pytest.approx(2.002)
    assert rule.delay(3, 0.5) == 3.0


def test_an_interface_rule_overrides_the_default(write_catalog: WriteCatalog) -> None:
    path = write_catalog(
        """
        [jobs.retry]
        attempts = 5
        backoff = 0.5
        on = ["plugin_call"]
        [jobs.retry.interfaces.price_quote]
        attempts = 2
        [jobs]
        keep_dead = "30d"
        keep_succeeded = 3600
        """
    )
    jobs = read_config(path).jobs
    assert jobs.retry.rule("interface_a") == RetryRule(5, 0.5, on=frozenset({"plugin_call"}))
    assert jobs.retry.rule("price_quote").attempts == 2
    assert jobs.retry.rule("price_quote").backoff == 0.5  # inherited
    assert jobs.retention() == {"succeeded": 3600.0, "dead": 30 * 86400.0}


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[jobs.retry]\non = ["invalid_arguments"]', "jobs.retry.on: 'invalid_arguments' is never"),
        ('[jobs.retry]\non = ["unknown_tenant"]', "'unknown_tenant' is never retried"),
        ('[jobs.retry]\non = ["nope"]', "jobs.retry.on: 'nope' is not an error kind"),
        ("[jobs.retry]\nattempts = 0", "jobs.retry.attempts: expected an integer from 1 to 100"),
        ("[jobs.retry]\njitter = 2", "jobs.retry.jitter: expected a number from 0 to 1"),
        ("[jobs.retry]\nbackoff = 50\nbackoff_max = 10", "jobs.retry.backoff: is above"),
        ("[jobs.retry.interfaces.x]\ntries = 2", "jobs.retry.interfaces.x.tries: unknown key"),
        ('[jobs]\nkeep_dead = "soon"', "jobs.keep_dead: expected a duration"),
    ],
)
def test_a_bad_retry_or_retention_key_is_named(
    write_catalog: WriteCatalog, section: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        read_config(write_catalog(section))


def test_durations() -> None:
    assert parse_duration("90s") == 90 and parse_duration("15m") == 900
    assert parse_duration("7d") == 7 * 86400 and parse_duration(12) == 12
    for bad in ("", "7 days", -1, True, "1e9w"):
        with pytest.raises(ValueError, match="expected a duration"):
            parse_duration(bad)


# -- the worker: idempotent declarations, dead jobs ------------------------------------------

FLAKY = """\
    import os

    from catalog_cli import hookimpl


    @hookimpl
    def interface_a_v2_greeting(ctx, name, language):
        raise RuntimeError("the greeting service is down")
    """

IDEMPOTENT_DECLARATION = """\
    from catalog_cli import entrypoint


    @entrypoint(idempotent=True)
    def safe_v1(ctx, name: str) -> str:
        \"\"\"Greets: running it twice greets twice, harmlessly.\"\"\"
    """

SAFE_BUILTIN = """\
    from catalog_cli import hookimpl


    @hookimpl
    def safe_v1(ctx, name):
        raise RuntimeError(f"not today, {name}")
    """


@pytest.fixture
def worker_catalog(write_catalog: WriteCatalog) -> Iterator[Catalog]:
    path = write_catalog(
        """
        [catalog]
        plugin_dirs = ["plugins"]
        [jobs.retry]
        attempts = 3
        backoff = 0
        [tenants.a]
        plugins = ["flaky"]
        versions = { interface_a = 2 }
        [tenants.b]
        """,
        {
            "plugins/flaky.py": FLAKY,
            "hookspecs/safe.py": IDEMPOTENT_DECLARATION,
            "builtin_plugins/safe.py": SAFE_BUILTIN,
        },
    )
    with Catalog(path) as catalog:
        yield catalog


def test_the_declaration_says_idempotent(worker_catalog: Catalog) -> None:
    assert worker_catalog.interface("safe").versions[1].idempotent is True
    assert worker_catalog.interface("interface_a").versions[2].idempotent is False
    assert worker_catalog.interface("safe").versions[1].to_dict()["idempotent"] is True


def test_a_worker_retries_an_idempotent_job_until_dead_and_emits_it(
    worker_catalog: Catalog,
) -> None:
    seen: list[Any] = []
    worker_catalog.subscribe(seen.append)
    with JobStore.for_catalog(worker_catalog) as store:
        safe = store.submit(CallRequest("b", "safe", None, {"name": "Ada"}))
        plain = store.submit(CallRequest("a", "interface_a", None, {"name": "Ada"}))
        JobWorker(worker_catalog, store, threads=1).drain()
        safe_job, plain_job = store.get(safe.id), store.get(plain.id)
    assert safe_job.status == "dead" and safe_job.attempts == 3
    assert len(safe_job.history) == 3
    assert all("not today, Ada" in run["error"]["message"] for run in safe_job.history)
    assert plain_job.status == "failed" and plain_job.attempts == 1  # not idempotent
    assert worker_catalog.events.flush()
    dead = [e for e in seen if e.kind == "job_dead"]
    assert len(dead) == 1 and dead[0].tenant == "b"
    assert dead[0].details["job"] == safe.id and dead[0].details["attempts"] == 3


# -- retry, requeue, purge: the library ------------------------------------------------------


def test_retry_requeues_a_dead_job_keeping_its_history(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    job = dead_job(store)
    again = store.retry(job.id)
    assert again.status == "queued" and again.attempts == 0 and len(again.history) == 1
    with pytest.raises(JobStateError, match="is queued: only failed or dead jobs"):
        store.retry(job.id)
    with pytest.raises(UnknownJobError):
        store.retry(job.id, tenant="someone-else")
    done = store.finish(store.claim(ME), ME, CallAnswer(True, result=1, version=1))  # type: ignore[arg-type]
    assert done is not None and done.status == "succeeded" and done.error is None
    assert [run["outcome"] for run in done.history] == ["failed", "succeeded"]
    assert [run["attempt"] for run in done.history] == [1, 2]


def test_requeue_and_purge_by_status_tenant_and_interface(tmp_path: Path) -> None:
    clock = Clock()
    store = store_at(tmp_path, clock=clock)
    a1, a2 = dead_job(store, "a"), dead_job(store, "a", "interface_a")
    b1 = dead_job(store, "b")
    assert store.requeue("dead", tenant="a", interface="interface_a") == [a2.id]
    assert store.counts()["dead"] == 2
    assert store.requeue("dead", tenant="b") == [b1.id]
    assert store.get(a1.id).status == "dead"
    with pytest.raises(ValueError, match="only failed and dead"):
        store.requeue("succeeded")
    clock.now += 3600
    assert store.purge("dead", older_than=7200) == 0
    assert store.purge("dead", older_than=60, tenant="b") == 0
    assert store.purge("dead", older_than=60, dry_run=True) == 1
    assert store.get(a1.id).status == "dead"
    assert store.purge("dead", older_than=60) == 1
    with pytest.raises(UnknownJobError):
        store.get(a1.id)
    with pytest.raises(ValueError, match="only succeeded, failed, dead"):
        store.purge("queued", older_than=0)


def test_retention_purges_what_keep_no_longer_keeps(tmp_path: Path) -> None:
    clock = Clock()
    store = store_at(tmp_path, clock=clock, retention={"dead": 100.0})
    old = dead_job(store)
    clock.now += 50
    young = dead_job(store)
    clock.now += 60
    assert store.apply_retention() == {"dead": 1}
    assert store.get(young.id).status == "dead"
    with pytest.raises(UnknownJobError):
        store.get(old.id)


def test_a_worker_applies_retention(worker_catalog: Catalog, tmp_path: Path) -> None:
    store = JobStore(tmp_path / "kept.sqlite3", retention={"dead": 0.001})
    old = dead_job(store)
    worker = JobWorker(worker_catalog, store, threads=1)
    worker.drain()
    time.sleep(0.01)  # older than it keeps
    worker._next_retention = 0.0  # the heartbeat's next pass, now
    worker._retain()
    with pytest.raises(UnknownJobError):
        store.get(old.id)
    store.close()


# -- schema 1 is upgraded in place -----------------------------------------------------------

SCHEMA_1 = """
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL,
    interface TEXT NOT NULL, version INTEGER, arguments TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0, submitted_at REAL NOT NULL, started_at REAL,
    finished_at REAL, result TEXT, error TEXT, ran_version INTEGER, version_source TEXT,
    call_id TEXT, worker TEXT, worker_space TEXT, lease_until REAL
);
CREATE INDEX jobs_by_status ON jobs (status, seq);
CREATE INDEX jobs_by_tenant ON jobs (tenant, seq);
CREATE TABLE turns (tenant TEXT PRIMARY KEY, last_claim INTEGER NOT NULL);
CREATE INDEX jobs_queued_by_tenant ON jobs (status, tenant, seq);
INSERT INTO jobs (id, tenant, interface, arguments, status, attempts, submitted_at, finished_at,
    error) VALUES ('old-failed', 'a', 'price_quote', '{"q": 1}', 'failed', 1, 10, 11,
    '{"kind": "plugin_call", "message": "boom"}');
INSERT INTO jobs (id, tenant, interface, arguments, status, attempts, submitted_at)
    VALUES ('old-queued', 'b', 'price_quote', '{}', 'queued', 0, 12);
PRAGMA user_version = 1;
"""


def test_a_schema_1_store_is_upgraded_in_place_keeping_its_jobs(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(database)
    conn.executescript(SCHEMA_1)
    conn.close()
    with JobStore(database) as store:
        failed = store.get("old-failed")
        assert failed.status == "failed" and failed.arguments == {"q": 1}
        assert failed.error == {"kind": "plugin_call", "message": "boom"}
        assert failed.history == () and failed.run_after is None
        assert store.claim(ME) is not None  # the queued one
        assert store.retry("old-failed").status == "queued"
        rerun = store.claim(ME)
        assert rerun is not None and rerun.id == "old-failed"
        store.finish(rerun, ME, CallAnswer(True, result=2, version=1))
        dead = dead_job(store)
        assert store.get(dead.id).status == "dead"  # the new CHECK takes it
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"jobs", "turns"}
    finally:
        conn.close()


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def cli_catalog(write_catalog: WriteCatalog, tmp_path: Path) -> Path:
    return write_catalog("[tenants.a]\n[tenants.b]\n")


def test_cli_retry_requeue_purge_and_stats(invoke: Invoke, cli_catalog: Path) -> None:
    with Catalog(cli_catalog) as catalog, JobStore.for_catalog(catalog) as store:
        a1, a2, b1 = dead_job(store, "a"), dead_job(store, "a"), dead_job(store, "b")
    result = invoke("jobs", "stats", "--json", catalog=cli_catalog)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["total"]["dead"] == 3 and stats["tenants"]["a"]["dead"] == 2

    result = invoke("jobs", "retry", a1.id, catalog=cli_catalog)
    assert result.exit_code == 0 and result.stdout.strip() == a1.id
    result = invoke("jobs", "retry", a1.id, catalog=cli_catalog)
    assert result.exit_code == 2 and "is queued: only failed or dead" in result.output
    assert invoke("jobs", "retry", "nope", catalog=cli_catalog).exit_code == 4

    result = invoke("jobs", "requeue", "--status", "dead", "-C", "b", "--json", catalog=cli_catalog)
    assert result.exit_code == 0 and json.loads(result.stdout) == {"requeued": 1, "jobs": [b1.id]}

    result = invoke(
        "jobs", "purge", "--status", "dead", "--older-than", "0s", "--dry-run", catalog=cli_catalog
    )
    assert result.exit_code == 0 and result.stdout.strip() == "1"
    result = invoke(
        "jobs", "purge", "--status", "dead", "--older-than", "0", "--json", catalog=cli_catalog
    )
    assert json.loads(result.stdout) == {"purged": 1, "matched": 1, "dry_run": False}
    result = invoke("jobs", "list", "--status", "dead", "--json", catalog=cli_catalog)
    assert json.loads(result.stdout) == []
    with (
        JobStore.for_config(cli_catalog, read_config(cli_catalog).jobs) as store,
        pytest.raises(UnknownJobError),
    ):
        store.get(a2.id)
    result = invoke(
        "jobs", "purge", "--status", "dead", "--older-than", "soon", catalog=cli_catalog
    )
    assert result.exit_code == 2 and "expected a duration" in result.output
    result = invoke(
        "jobs", "purge", "--status", "queued", "--older-than", "1d", catalog=cli_catalog
    )
    assert result.exit_code == 2


# -- HTTP: a tenant's key acts on its own jobs only -------------------------------------------

KEY_A, KEY_B, ADMIN_KEY = "key-of-a-0123456789", "key-of-b-0123456789", "admin-key-0123456789"


@pytest.fixture
def http(write_catalog: WriteCatalog) -> Iterator[tuple[Any, JobStore]]:
    from catalog_cli.http import ServeSettings, create_app

    path = write_catalog(
        f"""
        [serve]
        admin_keys = ["{hash_key(ADMIN_KEY)}"]
        [tenants.a]
        api_keys = ["{hash_key(KEY_A)}"]
        [tenants.b]
        api_keys = ["{hash_key(KEY_B)}"]
        """
    )
    with warnings.catch_warnings():
        from starlette.exceptions import StarletteDeprecationWarning

        warnings.simplefilter("ignore", StarletteDeprecationWarning)
        from starlette.testclient import TestClient

    app = create_app(path, settings=ServeSettings(job_threads=0))
    with TestClient(app) as client, JobStore.for_config(path, read_config(path).jobs) as store:
        yield client, store


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_http_retry_is_for_the_keys_own_jobs(http: tuple[Any, JobStore]) -> None:
    client, store = http
    a, b = dead_job(store, "a"), dead_job(store, "b")
    answer = client.post(f"/v1/jobs/{b.id}/retry", headers=_as(KEY_A))
    assert answer.status_code == 404  # another tenant's job is unknown
    assert store.get(b.id).status == "dead"
    answer = client.post(f"/v1/jobs/{a.id}/retry", headers=_as(KEY_A))
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "queued" and job["history"][0]["worker"] is None
    assert job["history"][0]["error"]["kind"] == "overloaded"
    assert client.post(f"/v1/jobs/{a.id}/retry", headers=_as(KEY_A)).status_code == 409
    answer = client.post(f"/v1/jobs/{b.id}/retry", headers=_as(ADMIN_KEY))
    assert answer.status_code == 200 and answer.json()["history"][0]["worker"] == str(ME)


def test_http_requeue_and_purge_never_touch_another_tenants_jobs(
    http: tuple[Any, JobStore],
) -> None:
    client, store = http
    a, b = dead_job(store, "a"), dead_job(store, "b")
    answer = client.post("/v1/jobs/requeue?status=dead", headers=_as(KEY_A))
    assert answer.status_code == 200 and answer.json() == {"requeued": 1, "jobs": [a.id]}
    assert store.get(b.id).status == "dead"
    assert client.post("/v1/jobs/requeue?tenant=b", headers=_as(KEY_A)).status_code == 403
    answer = client.delete("/v1/jobs?status=dead&older_than=0s", headers=_as(KEY_A))
    assert answer.status_code == 200 and answer.json()["purged"] == 0
    assert store.get(b.id).status == "dead"
    assert (
        client.delete("/v1/jobs?status=dead&older_than=0&tenant=b", headers=_as(KEY_A)).status_code
        == 403
    )
    answer = client.delete(
        "/v1/jobs?status=dead&older_than=0&dry_run=true&tenant=b", headers=_as(ADMIN_KEY)
    )
    assert answer.json() == {"purged": 0, "matched": 1, "dry_run": True}
    answer = client.delete("/v1/jobs?status=dead&older_than=0", headers=_as(ADMIN_KEY))
    assert answer.json()["purged"] == 1
    with pytest.raises(UnknownJobError):
        store.get(b.id)
    answer = client.delete("/v1/jobs?status=dead&older_than=later", headers=_as(ADMIN_KEY))
    assert answer.status_code == 422
    assert (
        client.delete("/v1/jobs?status=queued&older_than=0", headers=_as(KEY_A)).status_code == 422
    )


def test_http_metrics_count_dead_and_failed_jobs_per_tenant(http: tuple[Any, JobStore]) -> None:
    pytest.importorskip("prometheus_client")
    client, store = http
    dead_job(store, "a")
    dead_job(store, "b")
    text = client.get("/v1/metrics", headers=_as(KEY_A)).text
    assert 'catalog_jobs{status="dead",tenant="a"} 1.0' in text
    assert 'tenant="b"' not in text
    text = client.get("/v1/metrics", headers=_as(ADMIN_KEY)).text
    assert 'catalog_jobs{status="dead",tenant="b"} 1.0' in text
