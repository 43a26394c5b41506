"""The job store never loses jobs without a word: a store that is not there whole is refused
(never replaced by an empty one), and a store that fails in use (a full disk, a read-only
file) is one line and exit 3 on the command line, a 500 without internals over HTTP."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from catalog_cli import Catalog
from catalog_cli.cli._exits import exit_code
from catalog_cli.config._keys import hash_key
from catalog_cli.errors import InvalidArgumentsError, JobStoreError
from catalog_cli.execution import _jobs
from catalog_cli.execution._jobs import JobStore, JobWorker, WorkerId
from catalog_cli.execution._requests import CallRequest
from tests.conftest import Invoke, WriteCatalog

TRACEBACK = "Traceback (most recent call last)"
KEY = "key-of-c1-0123456789"
TOML = f"""
[tenants.c1]
api_keys = ["{hash_key(KEY)}"]
"""


@pytest.fixture(autouse=True)
def _no_store_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CATALOG_JOBS_DB", raising=False)


@pytest.fixture
def catalog_file(write_catalog: WriteCatalog) -> Path:
    return write_catalog(TOML)


@pytest.fixture
def database(catalog_file: Path) -> Path:
    return catalog_file.with_name("catalog.jobs.sqlite3")


def request(name: str = "Ada") -> CallRequest:
    return CallRequest("c1", "interface_a", None, {"name": name})


def fill(database: Path, count: int) -> list[str]:
    with JobStore(database) as store:
        return [store.submit(request(f"n{i}")).id for i in range(count)]


def one_error_line(stderr: str, *fragments: str) -> str:
    """The one error line of a command's stderr, which names every fragment; no traceback."""
    assert TRACEBACK not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    text = " ".join(stderr.split())  # rich may wrap a long line
    for fragment in fragments:
        assert fragment in text, (fragment, stderr)
    return errors[0]


# -- refused files ------------------------------------------------------------------------------


def test_a_store_truncated_to_zero_bytes_is_refused_not_recreated(
    invoke: Invoke, catalog_file: Path, database: Path
) -> None:
    fill(database, 200)
    with JobStore(database) as store:
        assert len(store.list(limit=1000)) == 200
    database.write_bytes(b"")
    for leftover in (
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ):
        leftover.unlink(missing_ok=True)
    for args in (("jobs", "list"), ("jobs", "show", "x"), ("jobs", "work", "--drain")):
        result = invoke(*args, catalog=catalog_file)
        assert result.exit_code == 3, (args, result.stdout, result.stderr)
        one_error_line(result.stderr, str(database), "empty (0 bytes)")
    background = invoke(
        "run", "interface_a", "-C", "c1", "-a", "name=Ada", "--background", catalog=catalog_file
    )
    assert background.exit_code == 3 and background.stdout == ""  # no job id: not accepted
    assert database.stat().st_size == 0  # nothing was written over it


def test_the_refusal_is_a_config_error_with_its_own_kind(database: Path) -> None:
    database.write_bytes(b"")
    with pytest.raises(JobStoreError) as caught:
        JobStore(database)
    assert caught.value.kind == "job_store" and exit_code(caught.value) == 3
    assert str(caught.value).startswith(f"{database}: job store: the file is empty (0 bytes)")
    assert "[jobs] database or $CATALOG_JOBS_DB" in str(caught.value)


@pytest.mark.parametrize("keep", [0.5, 0.25, 12_388 / 200_000, 50 / 200_000])
def test_a_truncated_store_is_refused(database: Path, keep: float) -> None:
    fill(database, 300)
    data = database.read_bytes()
    database.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(JobStoreError, match=r"job store: the file is truncated \(\d+ bytes"):
        JobStore(database)


def test_a_whole_store_written_by_sqlite_itself_is_taken(database: Path) -> None:
    ids = fill(database, 50)
    copy = database.with_name("copy.sqlite3")
    copy.write_bytes(database.read_bytes())
    with JobStore(copy) as store:
        assert {job.id for job in store.list(limit=100)} == set(ids)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello, not a database\n" * 10, "not a job store (not an SQLite database)"),
        (b"SQLite format 3\x00", "truncated"),
    ],
)
def test_a_file_that_is_no_store_is_left_alone(
    database: Path, content: bytes, message: str
) -> None:
    database.write_bytes(content)
    with pytest.raises(JobStoreError, match=re_escape(message)):
        JobStore(database)
    assert database.read_bytes() == content


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        ("CREATE TABLE users (name TEXT)", "it has the tables users"),
        ("", "it has no tables"),
        (
            "CREATE TABLE jobs (x); PRAGMA user_version = 7",
            "schema version 7 was written by a newer",
        ),
        ("CREATE TABLE turns (x); PRAGMA user_version = 1", "it has the tables turns"),
    ],
)
def test_another_programs_database_is_refused_and_not_switched_to_wal(
    database: Path, tables: str, message: str
) -> None:
    conn = sqlite3.connect(database)
    conn.executescript(tables or "CREATE TABLE t (x); DROP TABLE t;")
    conn.close()
    with pytest.raises(JobStoreError, match=re_escape(message)):
        JobStore(database)
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()


def test_a_store_is_made_only_where_no_file_is_and_once(tmp_path: Path) -> None:
    target = tmp_path / "new.sqlite3"
    opened: list[JobStore] = []
    failed: list[BaseException] = []
    start = threading.Barrier(8)

    def open_one() -> None:
        start.wait()
        try:
            store = JobStore(target)
            store.submit(request())
            opened.append(store)
        except BaseException as exc:
            failed.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert len(opened[0].list()) == 8  # one store, shared by all
    for store in opened:
        store.close()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("new.sqlite3")) == []


def test_a_store_deleted_while_open_is_not_made_again(database: Path) -> None:
    with JobStore(database) as store:
        store.submit(request())
        store.close()  # no idle connection keeps the deleted file readable
        for name in (database.name, database.name + "-wal", database.name + "-shm"):
            database.with_name(name).unlink(missing_ok=True)
        with pytest.raises(JobStoreError, match="unable to open database file"):
            store.list()
    assert not database.exists()


def test_a_missing_folder_says_so(tmp_path: Path) -> None:
    target = tmp_path / "no" / "folder" / "jobs.sqlite3"
    with pytest.raises(JobStoreError) as caught:
        JobStore(target)
    assert str(caught.value).startswith(f"{target}: job store: cannot open it")
    assert "the folder must exist and be writable" in str(caught.value)
    assert not (tmp_path / "no").exists()


def test_numbers_sqlite_cannot_hold_are_refused_before_a_query(database: Path) -> None:
    with JobStore(database) as store:
        with pytest.raises(InvalidArgumentsError, match="version: expected a version number"):
            store.submit(CallRequest("c1", "interface_a", 10**30, {}))
        with pytest.raises(ValueError, match="limit must be from 1 to"):
            store.list(limit=10**30)
        deep: Any = []
        for _ in range(5000):
            deep = [deep]
        with pytest.raises(InvalidArgumentsError, match="a job's arguments must be JSON data"):
            store.submit(CallRequest("c1", "interface_a", None, {"name": deep}))


# -- failures in use: a full disk, a read-only file -----------------------------------------------


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every connection of a store opened from now on may not grow its file: SQLite's own
    "database or disk is full" (SQLITE_FULL), as on a full disk."""
    opened = JobStore._open

    def open_full(self: JobStore) -> sqlite3.Connection:
        conn = opened(self)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(JobStore, "_open", open_full)
    yield


def make_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stores opened from now on cannot write once open: SQLite's own "attempt to write a
    readonly database" (a file's mode would not stop the root user the tests may run as)."""
    opened, prepared = JobStore._open, JobStore._prepare
    writable = threading.local()

    def open_read_only(self: JobStore) -> sqlite3.Connection:
        conn = opened(self)
        if not getattr(writable, "now", False):
            conn.execute("PRAGMA query_only = 1")
        return conn

    def prepare(self: JobStore, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA query_only = 0")  # as if it was opened before it went read-only
        prepared(self, conn)
        conn.execute("PRAGMA query_only = 1")

    monkeypatch.setattr(JobStore, "_open", open_read_only)
    monkeypatch.setattr(JobStore, "_prepare", prepare)


BIG = "x" * 20_000  # arguments that need new pages


@pytest.mark.usefixtures("full_disk")
def test_a_full_disk_refuses_the_job_with_exit_3(
    invoke: Invoke, catalog_file: Path, database: Path
) -> None:
    fill(database, 1)
    with JobStore(database) as store, pytest.raises(JobStoreError) as caught:
        store.submit(request(BIG))
    assert "database or disk is full" in str(caught.value)
    assert "free space on its disk" in str(caught.value)
    result = invoke(
        "run", "interface_a", "-C", "c1", "-a", f"name={BIG}", "--background", catalog=catalog_file
    )
    assert result.exit_code == 3 and result.stdout == ""
    one_error_line(result.stderr, str(database), "database or disk is full")
    with JobStore(database) as store:
        assert len(store.list()) == 1


@pytest.mark.parametrize("drain", [True, False])
def test_jobs_work_on_a_store_it_cannot_write_says_so_once(
    invoke: Invoke,
    catalog_file: Path,
    database: Path,
    drain: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fill(database, 20)
    make_read_only(monkeypatch)
    args = ("jobs", "work", "--threads", "4", *(("--drain",) if drain else ()))
    result = invoke(*args, catalog=catalog_file)
    assert result.exit_code == 3, result.stderr
    one_error_line(result.stderr, str(database), "readonly database", "must be writable")
    assert "job worker thread stopped" not in result.stderr
    with JobStore(database) as store:
        assert store.counts()["queued"] == 20


def test_a_server_worker_reports_a_failing_store_once_and_goes_on(
    catalog_file: Path, database: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    fill(database, 3)
    claim = JobStore.claim
    failures = {"left": 40}

    def failing_claim(self: JobStore, worker: WorkerId, *, lease: float = 30.0) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise _jobs._store_error(
                self.path, "use it", sqlite3.OperationalError("disk I/O error")
            )
        return claim(self, worker, lease=lease)

    monkeypatch.setattr(JobStore, "claim", failing_claim)
    caplog.set_level(logging.INFO, logger="catalog.jobs")
    with Catalog(catalog_file) as catalog, JobStore(database) as store:
        worker = JobWorker(catalog, store, threads=4, poll=0.005)
        worker.start()
        try:
            deadline = time.monotonic() + 20
            while worker.ran < 3:
                assert time.monotonic() < deadline, "the worker did not recover"
                time.sleep(0.01)
        finally:
            worker.stop()
    assert worker.errors == []
    records = [r for r in caplog.records if r.name == "catalog.jobs"]
    failed = [r for r in records if "the job store failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is None
    assert "disk I/O error" in failed[0].getMessage()
    assert any("works again" in r.getMessage() for r in records)


def test_a_worker_told_to_stop_on_store_errors_stops_all_its_threads(
    catalog_file: Path, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(database, 3)

    def failing_claim(self: JobStore, worker: WorkerId, *, lease: float = 30.0) -> Any:
        raise _jobs._store_error(self.path, "use it", sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(JobStore, "claim", failing_claim)
    with Catalog(catalog_file) as catalog, JobStore(database) as store:
        worker = JobWorker(catalog, store, threads=4, poll=0.005, on_store_error="stop")
        worker.start()
        assert worker.join(timeout=20)
    assert worker.errors and all(isinstance(e, JobStoreError) for e in worker.errors)


def test_a_store_locked_by_another_process_is_tried_again_even_when_told_to_stop() -> None:
    error = _jobs._store_error(Path("x"), "use it", sqlite3.OperationalError("database is locked"))
    assert error.transient
    assert not _jobs._store_error(
        Path("x"), "use it", sqlite3.OperationalError("database or disk is full")
    ).transient


# -- over HTTP ----------------------------------------------------------------------------------


def test_a_store_failure_over_http_is_a_500_without_internals(
    catalog_file: Path, database: Path, full_disk: None, caplog: Any
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        from catalog_cli.http import ServeSettings, create_app

    fill(database, 1)
    app = create_app(catalog_file, settings=ServeSettings(job_threads=0))
    caplog.set_level(logging.ERROR, logger="catalog.serve")
    with TestClient(app) as client:
        response = client.post(
            "/v1/interfaces/interface_a/jobs",
            json={"arguments": {"name": BIG}},
            headers={"Authorization": f"Bearer {KEY}"},
        )
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:task-catalog:problem:internal"
    assert "full" not in response.text and str(database) not in response.text
    assert "sqlite" not in response.text.lower()
    assert any("database or disk is full" in r.getMessage() for r in caplog.records)
