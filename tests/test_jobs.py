"""Background jobs: a durable SQLite store and workers that never run a job twice at once,
and that leave no job "running" forever when a worker process dies."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from catalog_cli import Catalog
from catalog_cli.cli._exits import exit_code
from catalog_cli.errors import ConfigError, InvalidArgumentsError, UnknownJobError
from catalog_cli.execution._jobs import (
    STATUSES,
    Job,
    JobStore,
    JobWorker,
    WorkerId,
    _release,
    database_path,
)
from catalog_cli.execution._requests import CallAnswer, CallRequest
from tests.conftest import REPO, WriteCatalog

#: A catalog whose tenants run interface_a v2 with plugins that count, fail, block or
#: return what JSON cannot hold. ``{jobs}`` is the [jobs] section; paths point into the
#: test's folder.
TOML = """\
[catalog]
plugin_dirs = ["plugins"]
{jobs}
[tenants.t1]
plugins = ["acme.count"]
versions = {{ interface_a = 2 }}
[tenants.t1.settings."acme.count"]
log = {log}
go = {go}

[tenants.t2]
plugins = ["acme.count"]
versions = {{ interface_a = 2 }}
[tenants.t2.settings."acme.count"]
log = {log}
go = {go}

[tenants.boom]
plugins = ["acme.boom"]
versions = {{ interface_a = 2 }}

[tenants.slow]
plugins = ["acme.blocks"]
versions = {{ interface_a = 2 }}
[tenants.slow.settings."acme.blocks"]
marks = {marks}
release = {release}

[tenants.nan]
plugins = ["acme.nan"]
"""

PLUGINS = {
    # Every run appends "start <name> <pid>" and "done <name> <pid>" to one file (O_APPEND:
    # lines from many processes never mix); with ``go`` set to a file, it waits for that file
    # between the two, so a test can hold jobs running in several workers at once.
    "plugins/acme/count.py": """\
        import os
        import time

        from catalog_cli import hookimpl


        def _append(path, line):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, (line + "\\n").encode())
            finally:
                os.close(fd)


        @hookimpl
        def interface_a_v2_extra_lines(ctx, name, vip):
            _append(ctx.settings["log"], f"start {name} {os.getpid()}")
            gate = ctx.settings["go"]
            if name.startswith("gated"):
                deadline = time.monotonic() + 120
                while not os.path.exists(gate) and time.monotonic() < deadline:
                    time.sleep(0.01)
            _append(ctx.settings["log"], f"done {name} {os.getpid()}")
            return f"counted {name}"
        """,
    "plugins/acme/boom.py": """\
        from catalog_cli import hookimpl


        @hookimpl
        def interface_a_v2_greeting(ctx, name, language):
            raise ValueError(f"the greeting exploded for {name}")
        """,
    # The first run marks itself and waits for a release file; later runs succeed at once.
    "plugins/acme/blocks.py": """\
        import os
        import time

        from catalog_cli import hookimpl


        @hookimpl
        def interface_a_v2_greeting(ctx, name, language):
            fd = os.open(ctx.settings["marks"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, f"{os.getpid()}\\n".encode())
            finally:
                os.close(fd)
            with open(ctx.settings["marks"], encoding="utf-8") as handle:
                runs = len(handle.read().splitlines())
            if runs > 1:
                return f"second time lucky, {name}"
            deadline = time.monotonic() + 120
            while not os.path.exists(ctx.settings["release"]) and time.monotonic() < deadline:
                time.sleep(0.02)
            return f"released, {name}"
        """,
    "plugins/acme/nan.py": """\
        from catalog_cli import hookimpl


        @hookimpl
        def price_quote_v1_tax_rate(ctx, country):
            return float("nan")
        """,
}

#: Generous: only a broken test (or machine) waits this long.
DEADLINE = 60.0


def toml_string(path: Path) -> str:
    return json.dumps(str(path))  # a TOML basic string, escapes and all


def wait_for(what: str, check: Callable[[], bool], timeout: float = DEADLINE) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class Files:
    """The files the test plugins use, in the test's folder."""

    def __init__(self, root: Path) -> None:
        self.log = root / "runs.log"
        self.go = root / "go"
        self.marks = root / "marks.log"
        self.release = root / "release"

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines() if self.log.exists() else []

    def marks_count(self) -> int:
        if not self.marks.exists():
            return 0
        return len(self.marks.read_text(encoding="utf-8").splitlines())


@pytest.fixture(autouse=True)
def _no_jobs_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


@pytest.fixture
def jobs_catalog(write_catalog: WriteCatalog, files: Files) -> Callable[..., Path]:
    """Write the jobs test catalog (with an optional ``[jobs]`` section); return its path."""

    def write(jobs: str = "") -> Path:
        return write_catalog(
            TOML.format(
                jobs=jobs,
                log=toml_string(files.log),
                go=toml_string(files.go),
                marks=toml_string(files.marks),
                release=toml_string(files.release),
            ),
            PLUGINS,
        )

    return write


@pytest.fixture
def catalog(jobs_catalog: Callable[..., Path]) -> Iterator[Catalog]:
    with Catalog(jobs_catalog()) as loaded:
        yield loaded


@pytest.fixture
def store(catalog: Catalog) -> Iterator[JobStore]:
    with JobStore.for_catalog(catalog) as opened:
        yield opened


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def cli(catalog_path: Path, *args: str) -> list[str]:
    """The command line of ``catalog --catalog PATH *args`` in a fresh interpreter."""
    return [
        sys.executable,
        "-c",
        "from catalog_cli.cli import main; main()",
        "--catalog",
        str(catalog_path),
        *args,
    ]


def start_cli(catalog_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli(catalog_path, *args),
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=DEADLINE)
    return process.returncode, out, err


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Subprocesses a test starts; any still running at its end are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def request(tenant: str = "t1", name: str = "Ada", **extra: object) -> CallRequest:
    return CallRequest(tenant, "interface_a", None, {"name": name, **extra})


# -- the store ------------------------------------------------------------------------------


def test_submit_get_and_list(store: JobStore) -> None:
    first = store.submit(request("t1", "one"))
    second = store.submit(CallRequest("t2", "interface_a", 2, {"name": "two", "vip": True}))
    assert first.status == "queued" and first.attempts == 0
    assert first.result is None and first.error is None and first.started_at is None
    assert store.get(first.id) == first
    got = store.get(second.id)
    assert (got.tenant, got.interface, got.version) == ("t2", "interface_a", 2)
    assert got.arguments == {"name": "two", "vip": True}
    assert [job.id for job in store.list()] == [second.id, first.id]  # newest first
    assert [job.id for job in store.list(tenant="t1")] == [first.id]
    assert [job.id for job in store.list(tenant="t2", status="queued")] == [second.id]
    assert store.list(status="succeeded") == []
    assert [job.id for job in store.list(limit=1)] == [second.id]
    assert store.counts()["queued"] == 2
    assert json.loads(json.dumps(got.to_dict()))["arguments"] == {"name": "two", "vip": True}
    assert got.request == CallRequest("t2", "interface_a", 2, {"name": "two", "vip": True})


def test_list_rejects_unknown_status_and_bad_limit(store: JobStore) -> None:
    with pytest.raises(ValueError, match="unknown job status 'done'"):
        store.list(status="done")
    with pytest.raises(ValueError, match="limit"):
        store.list(limit=0)
    assert STATUSES == ("queued", "running", "succeeded", "failed", "dead")


def test_unknown_job_is_an_unknown_name_with_exit_code_4(store: JobStore) -> None:
    with pytest.raises(UnknownJobError) as caught:
        store.get("no-such-job")
    assert exit_code(caught.value) == 4
    assert isinstance(caught.value, LookupError)
    assert str(caught.value) == (
        f"unknown job 'no-such-job' in the job store {store.path}; "
        "`catalog jobs list` lists the jobs"
    )


def test_arguments_must_be_json_data(store: JobStore) -> None:
    with pytest.raises(InvalidArgumentsError, match="a job's arguments must be JSON data"):
        store.submit(CallRequest("t1", "interface_a", None, {"name": {1, 2}}))
    with pytest.raises(InvalidArgumentsError, match="arguments"):
        store.submit(CallRequest("t1", "interface_a", None, {"x": float("nan")}))
    assert store.list() == []


def test_submitted_job_is_durable_when_submit_returns(
    jobs_catalog: Callable[..., Path], processes: list[subprocess.Popen[str]]
) -> None:
    # A process submits, prints the id, and is killed -9 at once: no close, no checkpoint.
    path = jobs_catalog()
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from catalog_cli import Catalog\n"
        "from catalog_cli.execution._jobs import JobStore\n"
        "from catalog_cli.execution._requests import CallRequest\n"
        "store = JobStore.for_catalog(Catalog(Path(sys.argv[1])))\n"
        "job = store.submit(CallRequest('t1', 'interface_a', None, {'name': 'kept'}))\n"
        "print(job.id, flush=True)\n"
        "time.sleep(120)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(process)
    assert process.stdout is not None
    job_id = process.stdout.readline().strip()
    assert job_id, process.stderr.read() if process.stderr else ""
    process.kill()
    process.wait()
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as store:
        assert store.get(job_id).status == "queued"
        assert JobWorker(catalog, store, threads=1).drain() == 1
        done = store.get(job_id)
    assert done.status == "succeeded"
    assert done.result.endswith("counted kept")


# -- where the store is, and when it cannot be used -------------------------------------------


def test_database_path_default_config_and_environment(
    jobs_catalog: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = jobs_catalog()
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as store:
        assert store.path == tmp_path / "catalog.jobs.sqlite3"
        assert (store.interrupted, store.attempts) == ("retry", 3)
    (tmp_path / "state").mkdir()
    path = jobs_catalog('[jobs]\ndatabase = "state/j.db"\ninterrupted = "fail"\nattempts = 5\n')
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as store:
        assert store.path == tmp_path / "state" / "j.db"
        assert (store.interrupted, store.attempts) == ("fail", 5)
        monkeypatch.setenv("CATALOG_JOBS_DB", str(tmp_path / "env.db"))
        assert database_path(catalog.path, catalog.config.jobs) == tmp_path / "env.db"
        with JobStore.for_catalog(catalog) as from_env:
            assert from_env.path == tmp_path / "env.db"
            assert from_env.interrupted == "fail"
    assert (tmp_path / "env.db").is_file()


def test_unusable_location_is_a_config_error_naming_the_path(
    jobs_catalog: Callable[..., Path], tmp_path: Path
) -> None:
    path = jobs_catalog('[jobs]\ndatabase = "no/such/folder/jobs.sqlite3"\n')
    with Catalog(path) as catalog, pytest.raises(ConfigError) as caught:
        JobStore.for_catalog(catalog)
    target = tmp_path / "no" / "such" / "folder" / "jobs.sqlite3"
    assert exit_code(caught.value) == 3
    assert str(caught.value).startswith(f"{target}: job store: cannot open it")
    assert "[jobs] database" in str(caught.value) and "$CATALOG_JOBS_DB" in str(caught.value)


def test_a_file_that_is_no_database_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("not a database, just text\n" * 100, encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"notes\.txt: job store: the file is not a job store \(not an SQLite"
    ):
        JobStore(target)


def test_another_sqlite_database_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "app.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    conn.close()
    with pytest.raises(ConfigError, match=r"not a job store .*tables users"):
        JobStore(target)


def test_a_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    target = tmp_path / "jobs.sqlite3"
    JobStore(target).close()
    conn = sqlite3.connect(target)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ConfigError) as caught:
        JobStore(target)
    assert "schema version 99 was written by a newer task-catalog" in str(caught.value)
    assert "reads version 2" in str(caught.value)


def test_store_is_wal_and_versioned(store: JobStore) -> None:
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('interrupted = "maybe"', "jobs.interrupted: expected one of retry, fail, got 'maybe'"),
        ("attempts = 0", "jobs.attempts: expected an integer from 1 to 100, got 0"),
        ("database = 7", "jobs.database: expected a file path, got 7"),
        (
            "workers = 2",
            "jobs.workers: unknown key (allowed: database, interrupted, attempts, retry, "
            "keep_succeeded, keep_failed, keep_dead)",
        ),
    ],
)
def test_bad_jobs_section_is_a_config_error(
    jobs_catalog: Callable[..., Path], section: str, message: str
) -> None:
    path = jobs_catalog(f"[jobs]\n{section}\n")
    with pytest.raises(ConfigError) as caught:
        Catalog(path)
    assert str(caught.value) == f"{path}:4: {message}"


# -- workers ----------------------------------------------------------------------------------


def test_worker_records_result_timings_and_version_facts(catalog: Catalog, store: JobStore) -> None:
    job = store.submit(request("t1", "Ada"))
    pinned = store.submit(CallRequest("t2", "interface_a", 1, {"name": "Bo"}))
    seen: list[Job] = []
    worker = JobWorker(catalog, store, threads=1, on_finish=seen.append)
    assert worker.drain() == 2
    assert worker.ran == 2
    done = store.get(job.id)
    assert done.status == "succeeded"
    assert done.result == catalog.run("interface_a", customer="t1", name="Ada")
    assert done.result.endswith("counted Ada")
    assert done.error is None
    assert (done.ran_version, done.version_source, done.attempts) == (2, "tenant", 1)
    assert done.call_id
    assert done.started_at is not None and done.finished_at is not None
    assert done.submitted_at <= done.started_at <= done.finished_at
    other = store.get(pinned.id)
    assert (other.status, other.ran_version, other.version_source) == ("succeeded", 1, "requested")
    assert [j.id for j in seen] == [job.id, pinned.id]  # first in, first out
    assert worker.drain() == 0


def test_failing_plugin_makes_a_failed_job_with_the_error(
    catalog: Catalog, store: JobStore
) -> None:
    job = store.submit(request("boom", "Ada"))
    JobWorker(catalog, store, threads=1).drain()
    failed = store.get(job.id)
    assert failed.status == "failed"
    assert failed.result is None
    assert failed.error is not None
    assert failed.error["type"] == "PluginCallError"
    assert failed.error["kind"] in ("plugin_call", "result_validation")
    assert failed.error["message"].startswith(
        "plugin 'acme.boom' raised ValueError in interface_a v2 for tenant 'boom' (call "
    )
    assert failed.error["message"].endswith("): the greeting exploded for Ada")
    assert failed.attempts == 1  # a plugin's error is an outcome: never retried
    assert failed.finished_at is not None


def test_catalog_errors_become_failed_jobs(catalog: Catalog, store: JobStore) -> None:
    unknown = store.submit(request("nobody", "Ada"))
    bad = store.submit(CallRequest("t1", "interface_a", None, {"name": 3}))
    JobWorker(catalog, store, threads=1).drain()
    error = store.get(unknown.id).error
    assert error is not None
    assert (error["kind"], error["type"], error["tenant"]) == (
        "unknown_tenant",
        "UnknownTenantError",
        None,
    )
    assert "nobody" in store.get(unknown.id).error["message"]  # type: ignore[index]
    assert store.get(bad.id).error["type"] == "InvalidArgumentsError"  # type: ignore[index]


def test_a_failed_job_says_which_version_it_ran_and_why_or_neither(
    catalog: Catalog, store: JobStore
) -> None:
    raised = store.submit(request("boom", "Ada"))  # a plugin raises in v2, the tenant's pin
    asked = store.submit(CallRequest("boom", "interface_a", 2, {"name": "Bo"}))
    unknown = store.submit(request("nobody", "Ada"))  # fails before any version is chosen
    JobWorker(catalog, store, threads=1).drain()
    failed = store.get(raised.id)
    assert failed.status == "failed"
    assert (failed.ran_version, failed.version_source) == (2, "tenant")
    assert failed.call_id and failed.call_id in failed.error["message"]  # type: ignore[index]
    assert (store.get(asked.id).ran_version, store.get(asked.id).version_source) == (
        2,
        "requested",
    )
    never = store.get(unknown.id)
    assert (never.status, never.ran_version, never.version_source) == ("failed", None, None)


def test_a_value_that_is_no_data_fails_the_job_naming_the_plugin(
    catalog: Catalog, store: JobStore
) -> None:
    job = store.submit(CallRequest("nan", "price_quote", None, {"unit_price": 2, "quantity": 3}))
    JobWorker(catalog, store, threads=1).drain()
    failed = store.get(job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert (failed.error["type"], failed.error["kind"]) == (
        "ResultValidationError",
        "result_validation",
    )
    # NaN is no JSON number: caught where the plugin returned it, before the job stores it
    assert failed.error["plugin"] == "acme.nan"
    assert "expected float | None, got float nan" in failed.error["message"]
    assert failed.ran_version == 1 and failed.call_id


def test_unserializable_result_is_stored_as_failure_not_lost(store: JobStore) -> None:
    job = store.submit(request())
    me = WorkerId.current()
    claimed = store.claim(me)
    assert claimed is not None and claimed.id == job.id
    try:
        done = store.finish(claimed, me, CallAnswer(True, {1, 2}, None, 2, "tenant", "c-1"))
    finally:
        _release(claimed.id)
    assert done is not None and done.status == "failed"
    assert "TypeError: Object of type set is not JSON serializable" in done.error["message"]  # type: ignore[index]
    assert store.get(job.id) == done


def test_background_threads_run_jobs_until_stopped(catalog: Catalog, store: JobStore) -> None:
    worker = JobWorker(catalog, store, threads=3, poll=0.05)
    worker.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            worker.start()
        jobs = [store.submit(request("t1", f"n{i}")) for i in range(6)]
        wait_for(
            "six jobs to succeed",
            lambda: all(store.get(j.id).status == "succeeded" for j in jobs),
        )
    finally:
        worker.stop()
    assert worker.join(0)
    assert worker.ran == 6
    late = store.submit(request("t1", "late"))
    time.sleep(0.2)  # a stopped worker takes nothing more: the job must still be queued
    assert store.get(late.id).status == "queued"


def test_busy_heartbeat_neither_loses_nor_recovers_jobs_that_run_here(
    catalog: Catalog, store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    # A lease this short runs out between renewals: the jobs still run here, so this
    # process must not recover them, and a renewal racing a finish is no lost lease.
    jobs = [store.submit(request("t1", f"n{i}")) for i in range(100)]
    worker = JobWorker(catalog, store, threads=3, lease=0.03, poll=0.01)
    with caplog.at_level("WARNING", logger="catalog.jobs"):
        worker.start(until_empty=True)
        assert worker.join(DEADLINE)
    assert worker.errors == []
    assert [store.get(job.id).attempts for job in jobs] == [1] * len(jobs)
    assert store.counts()["succeeded"] == len(jobs)
    assert [r.getMessage() for r in caplog.records] == []


def test_workers_in_threads_and_another_process_never_run_a_job_twice(
    jobs_catalog: Callable[..., Path],
    files: Files,
    processes: list[subprocess.Popen[str]],
) -> None:
    path = jobs_catalog()
    names = [f"gated{i}" for i in range(30)]
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as store:
        jobs = [
            store.submit(request("t1" if i % 2 else "t2", name)) for i, name in enumerate(names)
        ]
        other = start_cli(path, "jobs", "work", "--drain", "--threads", "2")
        processes.append(other)
        worker = JobWorker(catalog, store, threads=2, poll=0.05)
        worker.start()
        try:
            # Gated jobs wait for the "go" file: hold until both processes run some at once.
            def running_pids() -> set[str]:
                return {line.split()[2] for line in files.lines() if line.startswith("start")}

            wait_for(
                "both processes to run jobs",
                lambda: {str(os.getpid()), str(other.pid)} <= running_pids(),
            )
            files.go.touch()
            wait_for(
                "every job to finish",
                lambda: store.counts()["succeeded"] + store.counts()["failed"] == len(jobs),
            )
        finally:
            worker.stop()
        code, _out, err = finished(other)
        results = [store.get(job.id) for job in jobs]
    assert code == 0, err
    assert [job.status for job in results] == ["succeeded"] * len(jobs)
    assert all(job.attempts == 1 for job in results)
    starts = sorted(line.split()[1] for line in files.lines() if line.startswith("start"))
    dones = sorted(line.split()[1] for line in files.lines() if line.startswith("done"))
    assert starts == sorted(names)  # each job ran exactly once, in one of the workers
    assert dones == sorted(names)
    in_other = sum(
        1
        for line in files.lines()
        if line.startswith("done gated") and line.endswith(f" {other.pid}")
    )
    assert worker.ran + in_other == len(names)
    assert worker.ran > 0 and in_other > 0
    assert f"ran {in_other} job(s)" in err


# -- fairness between tenants ------------------------------------------------------------------


def _claim_tenants(store: JobStore, count: int) -> list[str]:
    me = WorkerId.current()
    tenants = []
    for _ in range(count):
        job = store.claim(me)
        assert job is not None
        _release(job.id)
        tenants.append(job.tenant)
    return tenants


def test_a_tenant_that_floods_the_queue_does_not_starve_another(tmp_path: Path) -> None:
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        for i in range(100):
            store.submit(request("a", f"a{i}"))
        late = store.submit(request("b", "b0"))
        first_two = [store.claim(WorkerId.current()) for _ in range(2)]
        for job in first_two:
            assert job is not None
            _release(job.id)
        assert late.id in {job.id for job in first_two if job is not None}
        assert [job.arguments["name"] for job in first_two if job is not None] == ["a0", "b0"]


def test_claims_go_round_robin_over_tenants_and_oldest_first_within_each(
    tmp_path: Path,
) -> None:
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        names: dict[str, list[str]] = {}
        for tenant, count in (("a", 5), ("b", 2), ("c", 3)):
            for i in range(count):
                store.submit(request(tenant, f"{tenant}{i}"))
        me = WorkerId.current()
        claimed = []
        while (job := store.claim(me)) is not None:
            _release(job.id)
            claimed.append(job.arguments["name"])
            names.setdefault(job.tenant, []).append(job.arguments["name"])
        # Never claimed: by their oldest job; then whoever waited longest since its last.
        assert claimed == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "c2", "a3", "a4"]
        assert names == {
            "a": [f"a{i}" for i in range(5)],
            "b": ["b0", "b1"],
            "c": ["c0", "c1", "c2"],
        }
        # A tenant that comes back waits behind those that have waited longer than it.
        store.submit(request("a", "a5"))
        store.submit(request("c", "c3"))
        store.submit(request("b", "b2"))
        assert _claim_tenants(store, 3) == ["b", "c", "a"]


def test_a_store_without_the_turns_table_gets_it_when_opened(tmp_path: Path) -> None:
    database = tmp_path / "jobs.sqlite3"
    with JobStore(database) as store:
        store.submit(request("a", "a0"))
        store.submit(request("a", "a1"))
        store.submit(request("b", "b0"))
    with sqlite3.connect(database) as conn:  # as an earlier task-catalog left it
        conn.execute("DROP TABLE turns")
        conn.execute("DROP INDEX jobs_queued_by_tenant")
    conn.close()
    with JobStore(database) as store:
        assert _claim_tenants(store, 3) == ["a", "b", "a"]


# -- interrupted jobs ------------------------------------------------------------------------


def test_expired_lease_requeues_then_fails_after_the_attempts(tmp_path: Path) -> None:
    elsewhere = WorkerId("elsewhere", 4242, "worker-1", "elsewhere|pid:[1]")
    with JobStore(tmp_path / "jobs.sqlite3", interrupted="retry", attempts=2) as store:
        job = store.submit(request())
        claimed = store.claim(elsewhere, lease=30)
        assert claimed is not None and claimed.status == "running" and claimed.attempts == 1
        assert store.recover() == []  # the lease holds: another host's pid is never checked
        now = time.time()
        assert [j.status for j in store.recover(now=now + 31)] == ["queued"]
        again = store.get(job.id)
        assert (again.status, again.attempts, again.started_at) == ("queued", 1, None)
        assert store.claim(elsewhere, lease=30) is not None
        [gave_up] = store.recover(now=now + 62)
    assert gave_up.status == "failed" and gave_up.attempts == 2
    assert gave_up.error is not None
    assert (gave_up.error["kind"], gave_up.error["type"], gave_up.error["message"]) == (
        "interrupted",
        "JobInterrupted",
        "interrupted 2 times: the worker running it stopped each time (last "
        "elsewhere, pid 4242: its lease ran out); [jobs] attempts = 2",
    )


def test_fail_policy_fails_an_interrupted_job_at_once(tmp_path: Path) -> None:
    elsewhere = WorkerId("elsewhere", 4242, "worker-1", "elsewhere|pid:[1]")
    with JobStore(tmp_path / "jobs.sqlite3", interrupted="fail", attempts=3) as store:
        job = store.submit(request())
        store.claim(elsewhere, lease=30)
        [failed] = store.recover(now=time.time() + 31)
        assert failed.id == job.id
    assert failed.status == "failed" and failed.finished_at is not None
    assert failed.error is not None
    assert failed.error["message"] == (
        "interrupted: the worker running it stopped (elsewhere, pid 4242: its lease ran out); "
        '[jobs] interrupted = "fail" does not run it again'
    )


def test_a_live_local_worker_keeps_its_job_a_gone_one_loses_it(tmp_path: Path) -> None:
    here = WorkerId.current()
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        alive = store.submit(request(name="alive"))
        store.claim(here._replace(pid=os.getppid(), thread="t"))  # our parent: alive
        assert store.recover() == []
        process = subprocess.Popen([sys.executable, "-c", "pass"])
        process.wait()
        gone = store.submit(request(name="gone"))
        store.claim(here._replace(pid=process.pid, thread="t"))
        [recovered] = store.recover()  # no lease to wait for: the pid is gone
        assert recovered.id == gone.id and recovered.status == "queued"
        assert store.get(alive.id).status == "running"


def test_a_job_left_under_our_own_pid_by_an_earlier_process_is_recovered(
    tmp_path: Path,
) -> None:
    # A job claimed under this process's pid that this process does not run was left by an
    # earlier process with the same pid (say, a container restarted as pid 1).
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        left = store.submit(request(name="left"))
        claimed = store.claim(WorkerId.current())
        assert claimed is not None and claimed.id == left.id
        assert store.recover() == []  # ours, and running here
        _release(left.id)
        [recovered] = store.recover()
    assert (recovered.id, recovered.status, recovered.attempts) == (left.id, "queued", 1)


def test_a_late_finish_after_recovery_is_dropped(tmp_path: Path) -> None:
    slowpoke = WorkerId("elsewhere", 4242, "w", "elsewhere|ns")
    with JobStore(tmp_path / "jobs.sqlite3") as store:
        job = store.submit(request())
        claimed = store.claim(slowpoke, lease=1)
        assert claimed is not None
        store.recover(now=time.time() + 2)  # queued again
        assert store.finish(claimed, slowpoke, CallAnswer(True, "late")) is None
        assert store.renew({job.id: (1, slowpoke)}, lease=30) == [job.id]
        assert store.get(job.id).status == "queued"


def _start_worker_and_wait_until_blocked(
    path: Path, files: Files, processes: list[subprocess.Popen[str]]
) -> subprocess.Popen[str]:
    worker = start_cli(path, "jobs", "work", "--threads", "1")
    processes.append(worker)

    def blocked() -> bool:
        if worker.poll() is not None:
            pytest.fail(f"the worker exited: {worker.communicate()}")
        return files.marks_count() == 1

    wait_for("the worker to run the blocking job", blocked)
    return worker


def test_restart_reruns_a_job_whose_worker_was_killed(
    jobs_catalog: Callable[..., Path], files: Files, processes: list[subprocess.Popen[str]]
) -> None:
    path = jobs_catalog('[jobs]\ninterrupted = "retry"\nattempts = 3\n')
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as store:
        job = store.submit(request("slow", "Ada"))
        worker = _start_worker_and_wait_until_blocked(path, files, processes)
        running = store.get(job.id)
        assert (running.status, running.attempts) == ("running", 1)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert store.get(job.id).status == "running"  # nobody has looked yet
        # A new worker process: it recovers the job at start (the pid is gone) and runs it.
        code, _out, err = finished(start_cli(path, "jobs", "work", "--drain"))
        assert code == 0, err
        done = store.get(job.id)
    assert done.status == "succeeded", done
    assert done.result.startswith("second time lucky, Ada")
    assert done.attempts == 2
    assert files.marks_count() == 2
    assert "ran 1 job(s)" in err


def test_restart_fails_a_job_whose_worker_was_killed_with_fail_policy(
    jobs_catalog: Callable[..., Path], files: Files, processes: list[subprocess.Popen[str]]
) -> None:
    path = jobs_catalog('[jobs]\ninterrupted = "fail"\n')
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as store:
        job = store.submit(request("slow", "Ada"))
        worker = _start_worker_and_wait_until_blocked(path, files, processes)
        killed_pid = worker.pid
        worker.kill()
        worker.wait()
        assert JobWorker(catalog, store, threads=1).drain() == 0
        failed = store.get(job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    message = failed.error["message"]
    assert message.startswith("interrupted: the worker running it stopped (")
    assert f"{WorkerId.current().host}, pid {killed_pid}: its process is gone" in message
    assert failed.error["kind"] == "interrupted"
    assert files.marks_count() == 1  # never run again


def test_sigterm_stops_the_worker_after_its_running_job(
    jobs_catalog: Callable[..., Path], files: Files, processes: list[subprocess.Popen[str]]
) -> None:
    path = jobs_catalog()
    with Catalog(path) as catalog, JobStore.for_catalog(catalog) as store:
        job = store.submit(request("slow", "Ada"))
        waiting = store.submit(request("t1", "after"))
        worker = _start_worker_and_wait_until_blocked(path, files, processes)
        worker.send_signal(signal.SIGTERM)
        stderr = worker.stderr
        assert stderr is not None
        wait_for("the worker to say it stops", lambda: "stopping" in stderr.readline())
        assert worker.poll() is None  # still finishing its job
        files.release.touch()
        code, _out, err = finished(worker)
        assert code == 0, err
        done = store.get(job.id)
        assert (done.status, done.result.startswith("released, Ada")) == ("succeeded", True)
        assert store.get(waiting.id).status == "queued"  # it took no new job after SIGTERM
