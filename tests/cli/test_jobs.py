"""``catalog jobs list|show|work`` and ``catalog run --background``."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.cli import jobs as jobs_cli
from catalog_cli.execution._jobs import STATUSES, Job, JobStore
from catalog_cli.execution._requests import CallRequest
from tests.conftest import Invoke
from tests.test_jobs import (
    DEADLINE,
    Files,
    cli,
    cli_env,
    files,  # noqa: F401  (a fixture)
    jobs_catalog,  # noqa: F401  (a fixture)
    processes,  # noqa: F401  (a fixture)
)

JobsCatalog = Callable[..., Path]


@pytest.fixture(autouse=True)
def _setup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)
    monkeypatch.setenv("COLUMNS", "250")  # job ids on one line in tables


@pytest.fixture
def path(jobs_catalog: JobsCatalog) -> Path:  # noqa: F811
    return jobs_catalog()


@pytest.fixture
def store(path: Path) -> Iterator[JobStore]:
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as opened:
        yield opened


def submit(store: JobStore, tenant: str, name: str, version: int | None = None) -> Job:
    return store.submit(CallRequest(tenant, "interface_a", version, {"name": name}))


def listed(invoke: Invoke, path: Path, *args: str) -> list[dict[str, Any]]:
    result = invoke("jobs", "list", "--json", *args, catalog=path)
    assert result.exit_code == 0, result.stderr
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def test_cli_statuses_are_the_stores() -> None:
    assert jobs_cli.STATUSES == STATUSES


def test_list_filters_by_tenant_status_and_limit(
    invoke: Invoke, path: Path, store: JobStore
) -> None:
    a = submit(store, "t1", "a")
    b = submit(store, "t2", "b")
    c = submit(store, "t1", "c")
    assert [job["id"] for job in listed(invoke, path)] == [c.id, b.id, a.id]
    assert [job["id"] for job in listed(invoke, path, "--tenant", "t1")] == [c.id, a.id]
    assert [job["id"] for job in listed(invoke, path, "-C", "t2")] == [b.id]
    assert [job["id"] for job in listed(invoke, path, "--limit", "1")] == [c.id]
    assert listed(invoke, path, "--status", "succeeded") == []
    assert len(listed(invoke, path, "--status", "queued")) == 3
    first = listed(invoke, path, "--tenant", "t2")[0]
    assert first == {**b.to_dict(), "arguments": {"name": "b"}}
    table = invoke("jobs", "list", catalog=path)
    assert table.exit_code == 0, table.stderr
    assert all(job.id in table.stdout for job in (a, b, c))
    assert "queued" in table.stdout


def test_list_rejects_an_unknown_status(invoke: Invoke, path: Path) -> None:
    result = invoke("jobs", "list", "--status", "done", catalog=path)
    assert result.exit_code == 2
    assert "'done' is not one of 'queued', 'running', 'succeeded', 'failed'" in " ".join(
        result.stderr.split()
    )


def test_work_drain_runs_the_queued_jobs_and_show_reports_them(
    invoke: Invoke, path: Path, store: JobStore
) -> None:
    ok = submit(store, "t1", "Ada")
    bad = submit(store, "boom", "Bo")
    result = invoke("jobs", "work", "--drain", "--threads", "2", catalog=path)
    assert result.exit_code == 0, result.stderr
    assert "ran 2 job(s)" in result.stderr
    assert f"job {ok.id} succeeded (interface_a v2 for t1" in result.stderr
    assert f"job {bad.id} failed (interface_a v2 for boom" in result.stderr
    assert "the greeting exploded for Bo" in result.stderr

    shown = invoke("jobs", "show", ok.id, "--json", catalog=path)
    assert shown.exit_code == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["status"] == "succeeded"
    assert data["result"].endswith("counted Ada")
    assert (data["ran_version"], data["version_source"], data["attempts"]) == (2, "tenant", 1)
    assert data["started_at"] <= data["finished_at"]

    people = invoke("jobs", "show", ok.id, catalog=path)
    assert people.exit_code == 0, people.stderr
    assert f"job {ok.id}" in people.stdout and "succeeded" in people.stdout
    assert "counted Ada" in people.stdout
    assert "v2 (tenant)" in people.stdout

    failed = invoke("jobs", "show", bad.id, catalog=path)
    assert failed.exit_code == 0, failed.stderr  # showing a failed job succeeds
    assert "PluginCallError: plugin 'acme.boom' raised ValueError" in failed.stdout
    assert "(exit code 7)" in failed.stdout


def test_show_unknown_job_exits_4(invoke: Invoke, path: Path, tmp_path: Path) -> None:
    result = invoke("jobs", "show", "f00d", catalog=path)
    assert result.exit_code == 4
    database = tmp_path / "catalog.jobs.sqlite3"
    assert f"unknown job 'f00d' in the job store {database}" in " ".join(result.stderr.split())
    as_json = invoke("jobs", "show", "f00d", "--json", catalog=path)
    assert as_json.exit_code == 4
    assert json.loads(as_json.stderr)["error"] == {
        "message": f"unknown job 'f00d' in the job store {database}; "
        "`catalog jobs list` lists the jobs",
        "kind": "unknown_job",
        "exit_code": 4,
    }


def test_bad_jobs_config_exits_3_with_the_key(
    invoke: Invoke,
    jobs_catalog: JobsCatalog,  # noqa: F811
) -> None:
    path = jobs_catalog('[jobs]\ninterrupted = "maybe"\n')
    result = invoke("jobs", "list", "--json", catalog=path)
    assert result.exit_code == 3
    assert json.loads(result.stderr)["error"]["message"] == (
        f"{path}:4: jobs.interrupted: expected one of retry, fail, got 'maybe'"
    )


def test_unwritable_store_exits_3_naming_the_path(
    invoke: Invoke,
    jobs_catalog: JobsCatalog,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = tmp_path / "missing" / "jobs.sqlite3"
    monkeypatch.setenv("CATALOG_JOBS_DB", str(target))
    result = invoke("jobs", "list", "--json", catalog=jobs_catalog())
    assert result.exit_code == 3
    message = json.loads(result.stderr)["error"]["message"]
    assert message.startswith(f"{target}: job store: cannot open it: unable to open database")


# -- catalog run --background -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--trace",), "cannot be combined with --trace"),
        (("--timeout", "5"), "cannot be combined with --timeout"),
    ],
)
def test_background_refuses_trace_and_timeout(
    invoke: Invoke, path: Path, store: JobStore, extra: tuple[str, ...], message: str
) -> None:
    result = invoke("run", "interface_a", "-C", "t1", "--background", *extra, catalog=path)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert store.list() == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("-C", "t1", "--arg", "vip=maybe"), 5, "vip"),
        (("-C", "t1", "--args", '{"nam": "Ada"}'), 5, "nam"),
        (("-C", "nobody"), 4, "unknown tenant 'nobody'"),
        (("-C", "t1", "--version", "9"), 4, "unknown version 9"),
    ],
)
def test_background_checks_the_call_before_queueing_it(
    invoke: Invoke, path: Path, store: JobStore, args: tuple[str, ...], code: int, message: str
) -> None:
    result = invoke("run", "interface_a", *args, "--background", catalog=path)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr
    assert store.list() == []


@pytest.mark.parametrize(
    ("section", "code", "message"),
    [
        # A problem in the tenant's own section: a configuration error for this tenant.
        ('plugins = ["acme.nosuch"]', 3, "acme.nosuch"),
        # A plugin that fails to import.
        ('plugins = ["acme.crash"]', 6, "acme.crash"),
    ],
)
def test_background_refuses_a_tenant_that_fails_closed_as_a_run_would(
    invoke: Invoke,
    path: Path,
    store: JobStore,
    section: str,
    code: int,
    message: str,
) -> None:
    (path.parent / "plugins" / "acme" / "crash.py").write_text(
        'raise RuntimeError("cannot import")\n', encoding="utf-8"
    )
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n[tenants.bad]\n{section}\n")
    direct = invoke("run", "interface_a", "-C", "bad", catalog=path)
    assert direct.exit_code == code, direct.stderr
    assert message in direct.stderr
    queued = invoke("run", "interface_a", "-C", "bad", "--background", catalog=path)
    assert (queued.exit_code, queued.stderr, queued.stdout) == (code, direct.stderr, "")
    as_json = invoke("run", "interface_a", "-C", "bad", "--background", "--json", catalog=path)
    assert as_json.exit_code == code
    assert json.loads(as_json.stderr)["error"]["exit_code"] == code
    assert store.list() == []


def _run_background(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(path, "run", "interface_a", *args, "--background"),
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def _wait_until_done(invoke: Invoke, path: Path, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        shown = invoke("jobs", "show", job_id, "--json", catalog=path)
        assert shown.exit_code == 0, shown.stderr
        data: dict[str, Any] = json.loads(shown.stdout)
        if data["status"] in ("succeeded", "failed"):
            return data
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {data['status']} at the deadline")
        time.sleep(0.05)


def test_run_background_returns_a_job_that_a_detached_worker_runs(
    invoke: Invoke,
    path: Path,
    files: Files,  # noqa: F811
) -> None:
    # Held at the plugin until "go" exists: the command must have returned before the job ran.
    done = _run_background(path, "-C", "t1", "--arg", "name=gated-bg", "--json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)["job"]
    assert job["status"] == "queued"
    assert (job["tenant"], job["interface"], job["version"]) == ("t1", "interface_a", None)
    assert job["arguments"] == {"name": "gated-bg"}
    files.go.touch()
    data = _wait_until_done(invoke, path, job["id"])
    assert data["status"] == "succeeded", data
    assert data["result"].endswith("counted gated-bg")
    assert (data["ran_version"], data["version_source"]) == (2, "tenant")

    plain = _run_background(path, "-C", "t2", "--version", "1", "--arg", "name=Cy")
    assert plain.returncode == 0, plain.stderr
    job_id = plain.stdout.strip()
    assert len(job_id) == 32 and int(job_id, 16) >= 0
    assert f"job {job_id} queued: interface_a for t2" in " ".join(plain.stderr.split())
    data = _wait_until_done(invoke, path, job_id)
    assert (data["status"], data["ran_version"], data["version_source"]) == (
        "succeeded",
        1,
        "requested",
    )
    tenants = {job["tenant"] for job in listed(invoke, path, "--tenant", "t2")}
    assert tenants == {"t2"}


def test_show_names_the_worker_of_a_running_job(
    invoke: Invoke, path: Path, store: JobStore
) -> None:
    from catalog_cli.execution._jobs import WorkerId

    job = submit(store, "t1", "Ada")
    store.claim(WorkerId("elsewhere", 4242, "w-1", "elsewhere|ns"))
    people = invoke("jobs", "show", job.id, catalog=path)
    assert people.exit_code == 0, people.stderr
    assert "running" in people.stdout
    assert "elsewhere:4242:w-1 (lease until" in people.stdout
    data = json.loads(invoke("jobs", "show", job.id, "--json", catalog=path).stdout)
    assert (data["status"], data["attempts"], data["result"]) == ("running", 1, None)
