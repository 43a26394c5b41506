"""Background jobs: calls stored durably in SQLite and run by workers, also across restarts.

A job is a :class:`~catalog_cli._requests.CallRequest` (tenant, interface, optional version,
JSON arguments) plus what became of it. The store is one SQLite file in WAL mode, shared by
every process that submits or runs jobs:

- ``submit`` commits before it returns, so an accepted job survives any crash after that.
- A store is created only where no file is, and never half made; an existing file that is
  not a whole job store (empty, truncated, another program's) is refused, never replaced.
- A worker claims a job inside ``BEGIN IMMEDIATE`` (one writer at a time, in every process),
  so two workers never run the same job. The claim takes a lease that a heartbeat renews.
- Claims are fair between tenants: round-robin over the tenants with queued jobs (the one
  whose last job was claimed longest ago goes next), oldest first within a tenant.
- A job whose worker died (its lease ran out, or its process is gone from this host) is
  recovered by the next worker that looks: queued again or failed, per ``[jobs] interrupted``.
  A write by a worker that lost its job is fenced off by (worker, attempt).
- A job that failed is queued again after a backoff per ``[jobs.retry]`` when its error may
  be retried (a refusal before the call ran, or any retried kind for an idempotent version);
  one that runs out of attempts is ``dead``. Every run's outcome and timing stay in
  ``history``. Dead and failed jobs can be queued again by hand, and finished jobs purged.

Imported only by the job commands and the HTTP app: sqlite3 stays out of ``catalog --help``.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, get_args

from .. import _interrupts
from ..config._jobs import BEFORE_THE_CALL, RetryPolicy
from ..errors import (
    CatalogError,
    ErrorRecord,
    InvalidArgumentsError,
    JobStateError,
    JobStoreError,
    UnknownJobError,
    record_of,
)
from ._requests import CallAnswer, CallRequest

if TYPE_CHECKING:
    import sqlite3

    from ..config import JobsConfig
    from ._catalog import Catalog

JobStatus = Literal["queued", "running", "succeeded", "failed", "dead"]
STATUSES: Final[tuple[str, ...]] = get_args(JobStatus)
#: The statuses of a job that will not run again by itself.
FINISHED: Final = ("succeeded", "failed", "dead")
#: The statuses a job is run again from by hand (``retry``, ``requeue``).
RERUNNABLE: Final = ("failed", "dead")

#: The job store's path, over ``[jobs] database`` and the default next to the catalog file.
ENV_VAR: Final = "CATALOG_JOBS_DB"
#: The schema this code reads and writes (``PRAGMA user_version``); 1 is upgraded in place.
SCHEMA_VERSION: Final = 2
#: Seconds a claim holds a job without a heartbeat; a worker renews it every third of that.
LEASE_SECONDS: Final = 30.0
#: Seconds an idle worker thread waits before it looks for queued jobs again.
POLL_SECONDS: Final = 0.5
#: Seconds a connection waits for another process's write transaction before giving up.
_BUSY_SECONDS: Final = 30.0
#: Idle connections kept for reuse; more threads at once open more, closed when returned.
_POOL_SIZE: Final = 8
#: Seconds between two passes of a worker that purge the jobs ``[jobs] keep_*`` lets go.
RETENTION_SECONDS: Final = 60.0

_log = logging.getLogger("catalog.jobs")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tenant TEXT NOT NULL,
    interface TEXT NOT NULL,
    version INTEGER,
    arguments TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    submitted_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    result TEXT,
    error TEXT,
    ran_version INTEGER,
    version_source TEXT,
    call_id TEXT,
    worker TEXT,
    worker_space TEXT,
    lease_until REAL,
    run_after REAL,
    history TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs (tenant, seq);
"""

#: Schema 1 to 2: a new status (``dead``) needs a new CHECK, which SQLite changes only by
#: building the table anew; the rows are copied as they are, inside the opening transaction.
_UPGRADE_1: Final = (
    """
ALTER TABLE jobs RENAME TO jobs_v1;
DROP INDEX IF EXISTS jobs_by_status;
DROP INDEX IF EXISTS jobs_by_tenant;
DROP INDEX IF EXISTS jobs_queued_by_tenant;
"""
    + _SCHEMA
    + """
INSERT INTO jobs (seq, id, tenant, interface, version, arguments, status, attempts, submitted_at,
    started_at, finished_at, result, error, ran_version, version_source, call_id, worker,
    worker_space, lease_until)
SELECT seq, id, tenant, interface, version, arguments, status, attempts, submitted_at,
    started_at, finished_at, result, error, ran_version, version_source, call_id, worker,
    worker_space, lease_until FROM jobs_v1;
DROP TABLE jobs_v1;
"""
)

#: Added to schema 1 without a new version: code that does not know them ignores them (it
#: claims oldest first), and opening a store adds them if they are missing.
_FAIRNESS: Final = """
CREATE TABLE IF NOT EXISTS turns (
    tenant TEXT PRIMARY KEY,
    last_claim INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_queued_by_tenant ON jobs (status, tenant, seq);
"""

#: A queued job whose backoff is over (``:now``).
_DUE: Final = "status = 'queued' AND (run_after IS NULL OR run_after <= :now)"

#: The tenant whose last job was claimed longest ago (never: first), among the tenants with
#: due queued jobs; ties by their oldest due job. The tenants with queued jobs are found by
#: jumping through the index, one lookup per tenant, however many jobs are queued.
_NEXT_TENANT: Final = f"""
WITH RECURSIVE waiting(tenant) AS (
    SELECT (SELECT MIN(tenant) FROM jobs WHERE {_DUE})
    UNION ALL
    SELECT (SELECT MIN(tenant) FROM jobs WHERE {_DUE} AND tenant > waiting.tenant)
    FROM waiting WHERE waiting.tenant IS NOT NULL
)
SELECT waiting.tenant FROM waiting LEFT JOIN turns ON turns.tenant = waiting.tenant
WHERE waiting.tenant IS NOT NULL
ORDER BY COALESCE(turns.last_claim, 0),
    (SELECT MIN(seq) FROM jobs WHERE {_DUE} AND tenant = waiting.tenant)
LIMIT 1
"""

_COLUMNS: Final = (
    "id, tenant, interface, version, arguments, status, attempts, submitted_at, started_at, "
    "finished_at, result, error, ran_version, version_source, call_id, run_after, history"
)


class Job(NamedTuple):
    """One background call and what became of it (timestamps in seconds since the epoch)."""

    id: str
    tenant: str
    interface: str
    #: the version asked for; None: resolved where it runs (pin, canary, default, latest)
    version: int | None
    arguments: dict[str, Any]
    status: JobStatus
    #: runs started so far (a run interrupted by a dying worker counts)
    attempts: int
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    result: Any
    #: for a failed job: its error record (``ErrorRecord.to_dict()``: kind, message, ...)
    error: dict[str, Any] | None
    #: the version that ran and which rule chose it (None until it ran, or when it failed early)
    ran_version: int | None
    version_source: str | None
    call_id: str | None
    #: for a job queued again after a failure: when its backoff ends (seconds since the epoch)
    run_after: float | None = None
    #: every run that ended, oldest first: ``attempt`` (1, 2, ... over the job's whole life),
    #: ``started_at``, ``finished_at``, ``outcome`` (succeeded, failed, interrupted), ``error``
    #: (its error record, or None), ``retry_at`` (when it was to run again, or None), ``worker``
    history: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self._fields}
        data["history"] = [dict(run) for run in self.history]
        return data

    @property
    def request(self) -> CallRequest:
        """The call this job runs."""
        return CallRequest(self.tenant, self.interface, self.version, self.arguments)


def _job(row: tuple[Any, ...]) -> Job:
    (
        job_id,
        tenant,
        interface,
        version,
        arguments,
        status,
        attempts,
        submitted_at,
        started_at,
        finished_at,
        result,
        error,
        ran_version,
        version_source,
        call_id,
        run_after,
        history,
    ) = row
    return Job(
        job_id,
        tenant,
        interface,
        version,
        json.loads(arguments),
        status,
        attempts,
        submitted_at,
        started_at,
        finished_at,
        json.loads(result) if result is not None else None,
        json.loads(error) if error is not None else None,
        ran_version,
        version_source,
        call_id,
        run_after,
        tuple(json.loads(history)) if history else (),
    )


# -- who is running a job ------------------------------------------------------------------


def _pid_namespace() -> str:
    # Two containers may share a host name; a pid means something only in its own namespace.
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _host() -> str:
    import socket

    return socket.gethostname()


class WorkerId(NamedTuple):
    """A worker thread: host, process and thread; ``space`` is where its pid can be checked."""

    host: str
    pid: int
    thread: str
    #: host name and pid namespace: a pid is checked only by a process in the same space
    space: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.thread}"

    @classmethod
    def current(cls) -> WorkerId:
        host = _host()
        return cls(host, os.getpid(), threading.current_thread().name, f"{host}|{_pid_namespace()}")

    @classmethod
    def parse(cls, text: str, space: str | None) -> WorkerId:
        host, _, rest = text.partition(":")
        pid, _, thread = rest.partition(":")
        return cls(host, int(pid) if pid.isdigit() else -1, thread, space or "")


def _pid_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs here (a zombie counts as gone: it runs nothing)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # another user's process: alive
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            state = handle.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


#: Jobs this process runs right now. A job claimed under this process's pid that is not here
#: was left by an earlier process that had the same pid (a restarted container's pid 1).
_IN_FLIGHT: set[str] = set()
_IN_FLIGHT_LOCK = threading.Lock()


def _hold(job_id: str) -> None:
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.add(job_id)


def _release(job_id: str) -> None:
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.discard(job_id)


def _held(job_id: str) -> bool:
    with _IN_FLIGHT_LOCK:
        return job_id in _IN_FLIGHT


# -- where the store is ----------------------------------------------------------------------


def database_path(catalog_path: Path, jobs: JobsConfig) -> Path:
    """$CATALOG_JOBS_DB, else ``[jobs] database``, else ``<stem>.jobs.sqlite3`` beside the
    catalog file; for the example catalog inside the installed package (nothing is written
    there), ``example.jobs.sqlite3`` in the user's data folder."""
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env).absolute()
    if jobs.database is not None:
        return jobs.database.absolute()
    from ..config._locate import data_dir, is_installed_example

    if is_installed_example(catalog_path):
        return data_dir() / "example.jobs.sqlite3"
    return catalog_path.absolute().with_name(f"{catalog_path.stem}.jobs.sqlite3")


#: The first bytes of every SQLite database file.
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
#: Where to point instead, for messages that refuse a file.
_ELSEWHERE: Final = f"point [jobs] database or ${ENV_VAR} at another file"
#: Times a file that looks truncated is looked at again: a checkpoint of another process
#: writes the header (with the new size) before the pages that grow the file to it.
_RECHECKS: Final = 5
#: Largest integer SQLite stores: versions and limits beyond it are refused before a query.
_SQLITE_MAX_INT: Final = 2**63 - 1


def _store_error(path: Path, doing: str, exc: BaseException) -> JobStoreError:
    text = str(exc)
    lowered = text.lower()
    hint = ""
    move = f"move the store with [jobs] database in catalog.toml or ${ENV_VAR}"
    if "unable to open" in lowered:
        hint = f" (the folder must exist and be writable; {move})"
    elif any(word in lowered for word in ("readonly", "read-only", "permission")):
        hint = f" (the file and its folder must be writable; {move})"
    elif "full" in lowered:
        hint = " (free space on its disk, or move the store with [jobs] database)"
    elif "malformed" in lowered or "not a database" in lowered:
        hint = f" (restore it from a backup, or {_ELSEWHERE})"
    # Another process held the store's lock past the busy timeout: a later try may work.
    transient = "locked" in lowered or "busy" in lowered
    return JobStoreError(path, f"cannot {doing}: {text}{hint}", transient=transient)


def _refuse(path: Path, why: str, *, damaged: bool = False) -> JobStoreError:
    # Deleting is advice only for a file that was a store: another program's file is kept.
    fix = f"restore it from a backup, delete it to start a new store, or {_ELSEWHERE}"
    return JobStoreError(path, f"{why}; {fix if damaged else _ELSEWHERE}")


def _header_problem(path: Path) -> tuple[str, bool] | None:
    """What is wrong with the file at ``path`` as an SQLite database, and whether it looks
    like a damaged store, read from its size and header alone (cheap, however large the
    store): None when it looks whole."""
    with open(path, "rb") as handle:
        header = handle.read(100)
        size = os.fstat(handle.fileno()).st_size
    if size == 0:
        # SQLite would take it for a new database, and the jobs it held would be gone.
        return "the file is empty (0 bytes): truncated, or never a job store", True
    if not header.startswith(_SQLITE_MAGIC):
        return "the file is not a job store (not an SQLite database)", False
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The size in the header counts only when SQLite marked it current (bytes 24 and 92).
    counted = pages > 0 and header[24:28] == header[92:96]
    if (
        len(header) < 100
        or page_size < 512
        or size % page_size
        or (counted and pages * page_size > size)
    ):
        expected = f" of {pages * page_size} bytes" if counted else ""
        return f"the file is truncated ({size} bytes of a database{expected})", True
    return None


def _sync_folder(folder: Path) -> None:
    # A new file's name is durable once its folder is synced (POSIX; elsewhere a no-op).
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


class JobStore:
    """Jobs in one SQLite file, safe to share between threads and processes.

    ``interrupted`` and ``attempts`` are the ``[jobs]`` policy for a job whose worker stopped
    while running it: ``"retry"`` queues it again until it has started ``attempts`` times,
    ``"fail"`` marks it failed at once. ``retry`` is the ``[jobs.retry]`` policy for a job
    whose call failed; ``retention`` says how many seconds finished jobs of each status are
    kept (``[jobs] keep_*``; applied by :meth:`apply_retention`). ``clock`` (seconds since
    the epoch) and ``draw`` (a random number in [0, 1), the backoff's jitter) are for tests.
    """

    def __init__(
        self,
        path: Path,
        *,
        interrupted: str = "retry",
        attempts: int = 3,
        retry: RetryPolicy | None = None,
        retention: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.time,
        draw: Callable[[], float] = random.random,
    ) -> None:
        if interrupted not in ("retry", "fail"):
            raise ValueError(f"interrupted must be 'retry' or 'fail', not {interrupted!r}")
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        for status in retention or {}:
            if status not in FINISHED:
                raise ValueError(f"retention is for {', '.join(FINISHED)}, not {status!r}")
        self.path = Path(path)
        self.interrupted = interrupted
        self.attempts = attempts
        self.retry_policy = retry if retry is not None else RetryPolicy()
        self.retention = dict(retention or {})
        self._clock = clock
        self._draw = draw
        self._idle: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._closed = False
        if not self._exists():
            self._create()
        self._check_file()
        with self._connection() as conn:
            self._prepare(conn)

    @classmethod
    def for_catalog(cls, catalog: Catalog) -> JobStore:
        """The store of ``catalog``'s jobs, with its ``[jobs]`` policy."""
        return cls.for_config(catalog.path, catalog.config.jobs)

    @classmethod
    def for_config(cls, catalog_path: Path, jobs: JobsConfig) -> JobStore:
        """The store for a catalog file and its ``[jobs]`` section, without loading the catalog."""
        return cls(
            database_path(catalog_path, jobs),
            interrupted=jobs.interrupted,
            attempts=jobs.attempts,
            retry=jobs.retry,
            retention=jobs.retention(),
        )

    # -- connections -----------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        import sqlite3

        try:
            # Autocommit: every transaction here is explicit (BEGIN IMMEDIATE ... COMMIT).
            # mode=rw: a store that went away is an error, never silently a new empty one.
            conn = sqlite3.connect(
                self.path.absolute().as_uri() + "?mode=rw",
                timeout=_BUSY_SECONDS,
                isolation_level=None,
                check_same_thread=False,
                uri=True,
            )
            try:
                # FULL: a commit is on disk when submit() returns, power loss included.
                conn.execute("PRAGMA synchronous = FULL")
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:
            raise _store_error(self.path, "open it", exc) from None
        return conn

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        import sqlite3

        with self._pool_lock:
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        except sqlite3.Error as exc:
            conn.close()  # it may be mid-transaction: never hand it out again
            raise _store_error(self.path, "use it", exc) from None
        except BaseException:
            conn.close()
            raise
        with self._pool_lock:
            if not self._closed and len(self._idle) < _POOL_SIZE:
                self._idle.append(conn)
                return
        conn.close()

    @staticmethod
    @contextlib.contextmanager
    def _write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock now, not at the first write: two claims cannot both
        # read the same queued job before either marks it.
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            # SQLite rolls back by itself on some errors (a full disk): a ROLLBACK then fails,
            # and its error must not hide the one that matters.
            if conn.in_transaction:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _exists(self) -> bool:
        try:
            os.stat(self.path)
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
            raise _store_error(self.path, "open it", exc) from None
        return True

    def _create(self) -> None:
        """Make a new store where no file is: built under a temporary name beside it, then
        linked to its name only if that is still free (another process may have made it in the
        meantime: then theirs is the store). A store never exists half made."""
        import sqlite3

        temporary = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:12]}.new")
        try:
            conn = sqlite3.connect(temporary, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                with self._write(conn):
                    for statement in (_SCHEMA + _FAIRNESS).split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            finally:
                conn.close()  # the last connection: its WAL is written into the file
            with open(temporary, "rb+") as handle:
                os.fsync(handle.fileno())
            self._publish(temporary)
        except sqlite3.Error as exc:
            raise _store_error(self.path, "open it", exc) from None
        except OSError as exc:
            raise _store_error(self.path, "create it", exc) from None
        finally:
            for leftover in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{temporary}{leftover}")
        _sync_folder(self.path.parent)

    def _publish(self, temporary: Path) -> None:
        try:
            os.link(temporary, self.path)
        except FileExistsError:
            return  # made by another process first: that one is the store
        except OSError:
            # A file system without hard links: an exclusive create, then the bytes.
            try:
                target = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                return
            with os.fdopen(target, "wb") as out, open(temporary, "rb") as source:
                out.write(source.read())
                out.flush()
                os.fsync(out.fileno())

    def _check_file(self) -> None:
        """Refuse a file SQLite would take for a new, empty database (0 bytes) or would read
        as far as it goes (a truncated one): either would lose jobs without a word."""
        problem: tuple[str, bool] | None = None
        for attempt in range(_RECHECKS):
            try:
                problem = _header_problem(self.path)
            except OSError as exc:
                raise _store_error(self.path, "open it", exc) from None
            if problem is None or "truncated" not in problem[0]:
                break
            time.sleep(0.02 * (attempt + 1))
        if problem is not None:
            raise _refuse(self.path, problem[0], damaged=problem[1])

    def _prepare(self, conn: sqlite3.Connection) -> None:
        import sqlite3

        try:
            with self._write(conn):
                found = conn.execute("PRAGMA user_version").fetchone()[0]
                tables = {
                    name
                    for (name,) in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' "
                        "AND name NOT LIKE 'sqlite_%'"
                    )
                }
                if found > SCHEMA_VERSION:
                    raise JobStoreError(
                        self.path,
                        f"schema version {found} was written by a newer task-catalog (this one "
                        f"reads version {SCHEMA_VERSION}); upgrade task-catalog, or " + _ELSEWHERE,
                    )
                if found == 1 and "jobs" in tables:
                    self._upgrade_from_1(conn)
                    found = SCHEMA_VERSION
                if found != SCHEMA_VERSION or "jobs" not in tables:
                    others = ", ".join(sorted(tables))
                    raise _refuse(
                        self.path,
                        f"this SQLite file is not a job store (it has the tables {others})"
                        if others
                        else "this SQLite file is not a job store (it has no tables)",
                    )
                for statement in _FAIRNESS.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            # Only now, a job store for sure: never switch another program's database to WAL.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, "open it as a job store", exc) from None
        if str(mode).lower() != "wal":
            _log.warning("job store %s: journal mode is %s, not WAL", self.path, mode)

    def _upgrade_from_1(self, conn: sqlite3.Connection) -> None:
        """Schema 1 to 2 in the transaction that opens the store: all of it, or nothing."""
        for statement in _UPGRADE_1.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        _log.warning("job store %s: upgraded from schema 1 to %d", self.path, SCHEMA_VERSION)

    def close(self) -> None:
        """Close the idle connections. A thread still using the store (a worker's, say)
        goes on with connections of its own, each closed after use."""
        with self._pool_lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- submitting and reading ----------------------------------------------------------

    def submit(self, request: CallRequest) -> Job:
        """Store ``request`` as a queued job; it is committed to disk when this returns."""
        problems: dict[str, str] = {}
        if not isinstance(request.tenant, str) or not request.tenant:
            problems["tenant"] = "expected a tenant id"
        if not isinstance(request.interface, str) or not request.interface:
            problems["interface"] = "expected an interface name"
        version = request.version
        if version is not None and (
            isinstance(version, bool)
            or not isinstance(version, int)
            or not 1 <= version <= _SQLITE_MAX_INT
        ):
            problems["version"] = f"expected a version number, got {version!r:.40}"
        try:
            arguments = json.dumps(dict(request.arguments), allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError) as exc:
            problems["arguments"] = f"a job's arguments must be JSON data: {exc}"
            arguments = "{}"
        if problems:
            number = version if "version" not in problems and isinstance(version, int) else 0
            raise InvalidArgumentsError(str(request.interface), number, problems)
        job = Job(
            uuid.uuid4().hex,
            request.tenant,
            request.interface,
            request.version,
            json.loads(arguments),
            "queued",
            0,
            time.time(),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )
        with self._connection() as conn:
            conn.execute(
                "INSERT INTO jobs (id, tenant, interface, version, arguments, status, attempts, "
                "submitted_at) VALUES (?, ?, ?, ?, ?, 'queued', 0, ?)",
                (job.id, job.tenant, job.interface, job.version, arguments, job.submitted_at),
            )
        return job

    def get(self, job_id: str) -> Job:
        """The job ``job_id``; UnknownJobError if there is none."""
        with self._connection() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise UnknownJobError(job_id, self.path)
        return _job(row)

    def list(
        self, *, tenant: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Job]:
        """Jobs, newest first, optionally of one tenant and in one status."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"unknown job status {status!r} (statuses: {', '.join(STATUSES)})")
        if not 1 <= limit <= _SQLITE_MAX_INT:
            raise ValueError(f"limit must be from 1 to {_SQLITE_MAX_INT}, not {limit}")
        where: list[str] = []
        values: list[Any] = []
        if tenant is not None:
            where.append("tenant = ?")
            values.append(tenant)
        if status is not None:
            where.append("status = ?")
            values.append(status)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs {clause}ORDER BY seq DESC LIMIT ?",
                (*values, limit),
            ).fetchall()
        return [_job(row) for row in rows]

    def holder(self, job_id: str) -> tuple[str | None, float | None]:
        """The worker ("host:pid:thread") holding a running job, and when its lease ends."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT worker, lease_until FROM jobs WHERE id = ? AND status = 'running'",
                (job_id,),
            ).fetchone()
        return (row[0], row[1]) if row is not None else (None, None)

    def counts(self, *, tenant: str | None = None) -> dict[str, int]:
        """How many jobs are in each status (of one tenant, if given)."""
        found = dict.fromkeys(STATUSES, 0)
        clause, values = ("WHERE tenant = ? ", (tenant,)) if tenant is not None else ("", ())
        with self._connection() as conn:
            for status, count in conn.execute(
                f"SELECT status, COUNT(*) FROM jobs {clause}GROUP BY status", values
            ):
                found[status] = count
        return found

    # -- what workers do -----------------------------------------------------------------

    def claim(self, worker: WorkerId, *, lease: float = LEASE_SECONDS) -> Job | None:
        """Take a queued job for ``worker`` (status running, one more attempt).

        Fair between tenants: the oldest queued job of the tenant whose last job was claimed
        longest ago (round-robin over the tenants with queued jobs), so a tenant that queues
        many jobs does not hold up the others; each tenant's jobs go oldest first.
        """
        held = None
        due = {"now": self._clock()}
        try:
            with self._connection() as conn, self._write(conn):
                found = conn.execute(_NEXT_TENANT, due).fetchone()
                if found is None:
                    return None
                (tenant,) = found
                seq, held = conn.execute(
                    f"SELECT seq, id FROM jobs WHERE {_DUE} AND tenant = :tenant "
                    "ORDER BY seq LIMIT 1",
                    {**due, "tenant": tenant},
                ).fetchone()
                conn.execute(
                    "INSERT OR REPLACE INTO turns (tenant, last_claim) "
                    "VALUES (?, (SELECT COALESCE(MAX(last_claim), 0) + 1 FROM turns))",
                    (tenant,),
                )
                # Held before the commit: a recovery in this process, serialized after this
                # transaction, must see the job as ours.
                _hold(held)
                now = time.time()
                conn.execute(
                    "UPDATE jobs SET status = 'running', attempts = attempts + 1, "
                    "started_at = ?, finished_at = NULL, worker = ?, worker_space = ?, "
                    "lease_until = ?, run_after = NULL WHERE seq = ?",
                    (now, str(worker), worker.space, now + lease, seq),
                )
                claimed = conn.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE seq = ?", (seq,)
                ).fetchone()
        except BaseException:
            if held is not None:
                _release(held)
            raise
        return _job(claimed)

    def renew(
        self, leases: Mapping[str, tuple[int, WorkerId]], *, lease: float
    ) -> builtins.list[str]:
        """Extend the leases of jobs (id -> (attempt, worker)); returns the ids no longer held."""
        if not leases:
            return []
        lost = []
        until = time.time() + lease
        with self._connection() as conn, self._write(conn):
            for job_id, (attempt, worker) in leases.items():
                done = conn.execute(
                    "UPDATE jobs SET lease_until = ? WHERE id = ? AND status = 'running' "
                    "AND attempts = ? AND worker = ?",
                    (until, job_id, attempt, str(worker)),
                )
                if done.rowcount == 0:
                    lost.append(job_id)
        return lost

    def finish(
        self, job: Job, worker: WorkerId, reply: CallAnswer, *, idempotent: bool = False
    ) -> Job | None:
        """Record how the run of ``job`` (as claimed by ``worker``) ended.

        A failure is retried per ``[jobs.retry]`` when its kind is retried and either the
        method never ran (a refusal) or ``idempotent`` (the version says running it again is
        harmless): the job is queued again after a backoff, or, its attempts used up, dead.
        Any other failure fails the job. Returns the job as stored, or None when ``worker``
        no longer held it (its lease ran out and another worker recovered it): then nothing
        is written.
        """
        now = self._clock()
        status: JobStatus = "succeeded" if reply.ok else "failed"
        result = None
        record: dict[str, Any] | None = None
        if reply.ok:
            try:
                result = json.dumps(reply.result, allow_nan=False, ensure_ascii=False)
            except (TypeError, ValueError, RecursionError) as exc:
                status = "failed"
                record = ErrorRecord(
                    "result_validation",
                    f"the result of {job.interface} v{reply.version} for tenant "
                    f"{job.tenant!r} (call {reply.call_id}) is not JSON data, so the job "
                    f"cannot keep it: {type(exc).__name__}: {exc}",
                    "ResultValidationError",
                    tenant=job.tenant,
                    interface=job.interface,
                    version=reply.version,
                    call_id=reply.call_id,
                ).to_dict()
        else:
            record = reply.error.to_dict() if reply.error is not None else {}
        error = json.dumps(record, default=str, ensure_ascii=False) if record is not None else None
        retry_at = None
        if status == "failed":
            status, retry_at = self._after_failure(
                job, str((record or {}).get("kind")), idempotent, now
            )
        run = {
            "attempt": len(job.history) + 1,
            "started_at": job.started_at,
            "finished_at": now,
            "outcome": "succeeded" if reply.ok and record is None else "failed",
            "error": json.loads(error) if error is not None else None,
            "retry_at": retry_at,
            "worker": str(worker),
        }
        history = json.dumps([*job.history, run], default=str, ensure_ascii=False)
        with self._connection() as conn:
            done = conn.execute(
                "UPDATE jobs SET status = ?, finished_at = ?, result = ?, error = ?, "
                "ran_version = ?, version_source = ?, call_id = ?, lease_until = NULL, "
                "run_after = ?, history = ? "
                "WHERE id = ? AND status = 'running' AND attempts = ? AND worker = ?",
                (
                    status,
                    None if status == "queued" else now,
                    result,
                    error,
                    reply.version,
                    reply.version_source,
                    reply.call_id,
                    retry_at,
                    history,
                    job.id,
                    job.attempts,
                    str(worker),
                ),
            )
            if done.rowcount == 0:
                return None
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job.id,)).fetchone()
        return _job(row)

    def _after_failure(
        self, job: Job, kind: str, idempotent: bool, now: float
    ) -> tuple[JobStatus, float | None]:
        """What becomes of ``job`` whose run failed with an error of ``kind``: failed, queued
        again (and when it may run), or dead."""
        rule = self.retry_policy.rule(job.interface)
        if kind not in rule.on or not (idempotent or kind in BEFORE_THE_CALL):
            return "failed", None
        if job.attempts >= rule.attempts:
            return "dead", None
        return "queued", now + rule.delay(job.attempts, self._draw())

    def _abandoned(
        self,
        job_id: str,
        worker: WorkerId,
        lease_until: float | None,
        now: float,
        here: WorkerId,
    ) -> str | None:
        """Why the worker running ``job_id`` is gone, or None while it may still run it."""
        if worker.space == here.space:
            if worker.pid == here.pid:
                return None if _held(job_id) else "left by an earlier process with its pid"
            if _pid_gone(worker.pid):
                return "its process is gone"
            # Alive here: only its lease can say otherwise (a pid taken over by another
            # program after the worker died).
        if lease_until is None or lease_until < now:
            return "its lease ran out"
        return None

    def recover(self, *, now: float | None = None) -> builtins.list[Job]:
        """Requeue or fail the running jobs whose worker stopped; returns them as changed."""
        now = time.time() if now is None else now
        here = WorkerId.current()
        query = (
            "SELECT id, attempts, worker, worker_space, lease_until FROM jobs "
            "WHERE status = 'running'"
        )
        with self._connection() as conn:
            # A read first: most of the time nothing is abandoned and no write lock is taken.
            if not any(
                self._abandoned(i, WorkerId.parse(w or "", s), lease, now, here)
                for i, _a, w, s, lease in conn.execute(query).fetchall()
            ):
                return []
            changed = []
            with self._write(conn):
                for job_id, attempts, text, space, lease in conn.execute(query).fetchall():
                    worker = WorkerId.parse(text or "", space)
                    why = self._abandoned(job_id, worker, lease, now, here)
                    if why is not None:
                        self._interrupted(conn, job_id, attempts, worker, why, now)
                        changed.append(job_id)
                rows = [
                    conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (i,)).fetchone()
                    for i in changed
                ]
        jobs = [_job(row) for row in rows]
        for job in jobs:
            _log.warning(
                "job %s (%s for tenant %r) was interrupted; now %s",
                job.id,
                job.interface,
                job.tenant,
                job.status,
            )
        return jobs

    def _interrupted(
        self,
        conn: sqlite3.Connection,
        job_id: str,
        attempts: int,
        worker: WorkerId,
        why: str,
        now: float,
    ) -> None:
        where = f"{worker.host}, pid {worker.pid}: {why}"
        started, history = conn.execute(
            "SELECT started_at, history FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        runs = json.loads(history) if history else []
        run: dict[str, Any] = {
            "attempt": len(runs) + 1,
            "started_at": started,
            "finished_at": now,
            "outcome": "interrupted",
            "error": ErrorRecord(
                "interrupted", f"the worker running it stopped ({where})", "JobInterrupted"
            ).to_dict(),
            "retry_at": None,
            "worker": str(worker),
        }
        if self.interrupted == "retry" and attempts < self.attempts:
            run["retry_at"] = now
            conn.execute(
                "UPDATE jobs SET status = 'queued', started_at = NULL, worker = NULL, "
                "worker_space = NULL, lease_until = NULL, history = ? WHERE id = ?",
                (json.dumps([*runs, run], default=str, ensure_ascii=False), job_id),
            )
            return
        if self.interrupted == "retry":
            message = (
                f"interrupted {attempts} times: the worker running it stopped each time "
                f"(last {where}); [jobs] attempts = {self.attempts}"
            )
        else:
            message = (
                f"interrupted: the worker running it stopped ({where}); "
                '[jobs] interrupted = "fail" does not run it again'
            )
        error = ErrorRecord("interrupted", message, "JobInterrupted").to_dict()
        conn.execute(
            "UPDATE jobs SET status = 'failed', finished_at = ?, error = ?, lease_until = NULL, "
            "history = ? WHERE id = ?",
            (
                now,
                json.dumps(error, ensure_ascii=False),
                json.dumps([*runs, run], default=str, ensure_ascii=False),
                job_id,
            ),
        )

    # -- dead letters: running failed jobs again, purging finished ones ---------------------

    def retry(self, job_id: str, *, tenant: str | None = None) -> Job:
        """Queue the failed or dead job ``job_id`` again, at once, with a fresh count of
        attempts (its history keeps every run). With ``tenant``, only that tenant's job: any
        other is unknown. UnknownJobError, or JobStateError for a job in another status."""
        with self._connection() as conn, self._write(conn):
            row = conn.execute("SELECT tenant, status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or (tenant is not None and row[0] != tenant):
                raise UnknownJobError(job_id, self.path)
            if row[1] not in RERUNNABLE:
                raise JobStateError(job_id, row[1], "retried", RERUNNABLE)
            conn.execute(f"UPDATE jobs SET {_AGAIN} WHERE id = ?", (job_id,))
            found = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(found)

    def requeue(
        self,
        status: str = "dead",
        *,
        tenant: str | None = None,
        interface: str | None = None,
    ) -> builtins.list[str]:
        """Queue every ``status`` (failed or dead) job again, of one tenant and interface if
        given, as :meth:`retry` does; returns their ids, oldest first."""
        if status not in RERUNNABLE:
            raise ValueError(
                f"only {' and '.join(RERUNNABLE)} jobs are queued again, not {status!r}"
            )
        clause, values = _where(status, tenant, interface)
        with self._connection() as conn, self._write(conn):
            ids = [i for (i,) in conn.execute(f"SELECT id FROM jobs {clause} ORDER BY seq", values)]
            conn.execute(f"UPDATE jobs SET {_AGAIN} {clause}", values)
        return ids

    def purge(
        self,
        status: str,
        *,
        older_than: float,
        tenant: str | None = None,
        interface: str | None = None,
        dry_run: bool = False,
        now: float | None = None,
    ) -> int:
        """Delete the ``status`` jobs (succeeded, failed or dead) that finished more than
        ``older_than`` seconds ago, of one tenant and interface if given; how many (with
        ``dry_run``, how many would be, and nothing is deleted)."""
        if status not in FINISHED:
            raise ValueError(f"only {', '.join(FINISHED)} jobs are purged, not {status!r}")
        if not older_than >= 0:
            raise ValueError(f"older_than must be 0 or more seconds, not {older_than!r}")
        before = (self._clock() if now is None else now) - older_than
        clause, values = _where(status, tenant, interface)
        clause += " AND finished_at < ?"
        values = (*values, before)
        with self._connection() as conn:
            if dry_run:
                (count,) = conn.execute(f"SELECT COUNT(*) FROM jobs {clause}", values).fetchone()
                return int(count)
            with self._write(conn):
                return int(conn.execute(f"DELETE FROM jobs {clause}", values).rowcount)

    def apply_retention(self, *, now: float | None = None) -> dict[str, int]:
        """Purge the finished jobs kept longer than ``retention`` allows; status -> how many."""
        return {
            status: self.purge(status, older_than=seconds, now=now)
            for status, seconds in self.retention.items()
        }

    def next_due(self) -> float | None:
        """When the first queued job waiting out a backoff may run (None: none waits)."""
        with self._connection() as conn:
            (found,) = conn.execute(
                "SELECT MIN(run_after) FROM jobs WHERE status = 'queued' AND run_after > ?",
                (self._clock(),),
            ).fetchone()
        return float(found) if found is not None else None

    def tenant_counts(self) -> dict[str, dict[str, int]]:
        """tenant -> status -> how many of its jobs are in it (every status listed)."""
        found: dict[str, dict[str, int]] = {}
        with self._connection() as conn:
            rows = conn.execute("SELECT tenant, status, COUNT(*) FROM jobs GROUP BY tenant, status")
            for tenant, status, count in rows:
                found.setdefault(tenant, dict.fromkeys(STATUSES, 0))[status] = count
        return found


#: What running a job again by hand resets: a fresh count of attempts, no backoff; the last
#: error stays until the next run ends (its history has every run's).
_AGAIN: Final = (
    "status = 'queued', attempts = 0, run_after = NULL, started_at = NULL, finished_at = NULL, "
    "result = NULL, worker = NULL, worker_space = NULL, lease_until = NULL"
)


def _where(status: str, tenant: str | None, interface: str | None) -> tuple[str, tuple[Any, ...]]:
    clause = "WHERE status = ?"
    values: list[Any] = [status]
    if tenant is not None:
        clause += " AND tenant = ?"
        values.append(tenant)
    if interface is not None:
        clause += " AND interface = ?"
        values.append(interface)
    return clause, tuple(values)


class JobWorker:
    """Threads that claim queued jobs from ``store`` and run them on ``catalog``.

    ``start()`` runs ``threads`` of them in the background until ``stop()``; ``drain()`` runs
    jobs in the calling thread until none is queued. A heartbeat thread renews the leases of
    the jobs running here and recovers jobs whose worker stopped, while any of this runs.

    When the store fails (a full disk, an I/O error, a read-only file), ``on_store_error``
    decides: ``"retry"`` (a server's worker) logs it once and tries again every few seconds
    until it works; ``"stop"`` stops every thread, the error in ``errors``. A store locked by
    another process past the busy timeout is always tried again; with ``until_empty`` (and
    ``drain()``) a failure always stops.
    """

    def __init__(
        self,
        catalog: Catalog,
        store: JobStore,
        *,
        threads: int = 4,
        lease: float = LEASE_SECONDS,
        poll: float = POLL_SECONDS,
        on_finish: Callable[[Job], None] | None = None,
        on_store_error: Literal["retry", "stop"] = "retry",
    ) -> None:
        if on_store_error not in ("retry", "stop"):
            raise ValueError(f"on_store_error must be 'retry' or 'stop', not {on_store_error!r}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        if lease <= 0 or poll <= 0:
            raise ValueError("lease and poll must be positive")
        self.catalog = catalog
        self.store = store
        self.threads = threads
        self.lease = lease
        self.poll = poll
        self.on_finish = on_finish
        self.on_store_error = on_store_error
        #: jobs run to the end (their outcome recorded) by this worker so far
        self.ran = 0
        #: what stopped its threads: the store's failure (with ``until_empty``, or
        #: ``on_store_error="stop"``), or a bug
        self.errors: list[BaseException] = []
        #: the store's failure being retried now (logged once, when it began), else None
        self._failing: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        #: job id -> (attempt, worker): the leases the heartbeat renews
        self._leases: dict[str, tuple[int, WorkerId]] = {}
        self._users = 0
        self._heartbeat: threading.Thread | None = None
        self._wake = threading.Event()
        #: when the heartbeat next applies ``[jobs] keep_*`` (``time.monotonic()``; 0: at once)
        self._next_retention = 0.0

    # -- running -----------------------------------------------------------------------

    def start(self, *, until_empty: bool = False) -> None:
        """Start the worker threads (each stops when no job is queued, with ``until_empty``)."""
        with self._lock:
            if any(t.is_alive() for t in self._threads):
                raise RuntimeError("this worker is already running")
            self._threads = []
        self._stop.clear()
        self.store.recover()  # a restart picks up what the last run left at once
        for _ in range(self.threads):
            thread = threading.Thread(
                target=self._thread_main,
                args=(until_empty,),
                name=f"catalog-jobs-{next(_thread_numbers)}",
                daemon=True,  # a hung plugin must not keep the process alive; see stop()
            )
            self._threads.append(thread)
            self._enter()
            thread.start()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker threads to end; whether they all did within ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self._threads):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(left)
        return not any(t.is_alive() for t in self._threads)

    def stop(self, timeout: float = 10.0) -> None:
        """Take no more jobs; wait up to ``timeout`` for the running ones to finish.

        A job still running after that goes on in its daemon thread, its lease renewed; if the
        process exits first, the next worker recovers it per the ``[jobs]`` policy.
        """
        self._stop.set()
        self.join(timeout)

    def drain(self) -> int:
        """Run queued jobs in this thread until none is left; how many ran."""
        self._stop.clear()
        before = len(self.errors)
        self._enter()
        try:
            self.store.recover()
            ran = self._loop(until_empty=True)
        finally:
            self._leave()
        if len(self.errors) > before:  # the heartbeat gave up on the store
            raise self.errors[before]
        return ran

    @property
    def running(self) -> int:
        """Jobs running here now."""
        with self._lock:
            return len(self._leases)

    def _thread_main(self, until_empty: bool) -> None:
        try:
            self._loop(until_empty=until_empty)
        except BaseException as exc:
            # Every thread of a worker meets the same broken store: its error is reported
            # once, by whoever reads ``errors`` (the command line, as one line), not as a
            # traceback per thread.
            if isinstance(exc, CatalogError):
                _log.debug("job worker thread stopped: %s", exc)
            else:
                _log.error("job worker thread stopped", exc_info=exc)
            self._give_up(exc)
        finally:
            self._leave()

    def _give_up(self, exc: BaseException) -> None:
        """Stop every thread of this worker for ``exc``."""
        with self._lock:
            self.errors.append(exc)
        self._stop.set()

    def _store_failed(self, me: WorkerId, exc: CatalogError) -> bool:
        """Note a failure of the store; whether to try again (else: raise it)."""
        transient = getattr(exc, "transient", False)
        if self.on_store_error == "stop" and not transient:
            return False
        with self._lock:
            first = self._failing is None
            self._failing = str(exc)
        if first:
            # Once per streak of failures, not once per thread and poll.
            _log.error(
                "job worker %s: the job store failed; trying again every %g s: %s",
                me,
                self.poll * 4,
                exc,
            )
        return True

    def _store_works(self, me: WorkerId) -> None:
        if self._failing is None:
            return
        with self._lock:
            was, self._failing = self._failing, None
        if was is not None:
            _log.warning("job worker %s: the job store works again", me)

    def _loop(self, *, until_empty: bool) -> int:
        me = WorkerId.current()
        count = 0
        while not self._stop.is_set():
            try:
                job = self.store.claim(me, lease=self.lease)
                self._store_works(me)
                if job is None:
                    if until_empty:
                        if self.store.recover():
                            continue
                        due = self.store.next_due()
                        if due is None:
                            break
                        # A job waits out its backoff: a draining worker waits with it.
                        self._stop.wait(min(max(0.0, due - time.time()), self.poll) or 0.01)
                        continue
                    self._stop.wait(self.poll)
                    continue
                    self._stop.wait(self.poll)
                    continue
                self._run(job, me)
            except CatalogError as exc:
                if until_empty or not self._store_failed(me, exc):
                    raise
                self._stop.wait(self.poll * 4)
                continue
            count += 1
        return count

    def _run(self, job: Job, me: WorkerId) -> None:
        with self._lock:
            self._leases[job.id] = (job.attempts, me)
        try:
            try:
                # A job runs under the deadline of [limits], as a call in a server does: a
                # plugin that hangs must not hold a job thread (and every job after it) for ever.
                request = job.request
                deadline = self.catalog.limits(request.tenant, request.interface).call_timeout
                reply = self.catalog.call(request, timeout=deadline)
            except BaseException as exc:
                # A bug outside the call itself, or a stray SystemExit: still the job's
                # outcome, and never the end of this worker thread (a real Ctrl-C goes on).
                if _interrupts.is_real(exc):
                    raise
                _log.exception("job %s failed outside its call", job.id)
                reply = CallAnswer(False, error=record_of(exc))
            with self._lock:
                # Out of the heartbeat's hands first: a renewal that finds the job finished
                # must not take it for a lost lease.
                self._leases.pop(job.id, None)
            done = self.store.finish(job, me, reply, idempotent=self._idempotent(job, reply))
        finally:
            with self._lock:
                self._leases.pop(job.id, None)
            _release(job.id)
        if done is None:
            _log.warning(
                "job %s: its outcome was not recorded, another worker recovered it first "
                "(this worker's lease ran out)",
                job.id,
            )
            return
        with self._lock:
            self.ran += 1
        if done.status == "dead":
            _log.warning(
                "job %s (%s for tenant %r) is dead after %d attempt(s): %s",
                done.id,
                done.interface,
                done.tenant,
                done.attempts,
                (done.error or {}).get("message"),
            )
            self.catalog.events.emit(
                "job_dead",
                done.tenant,
                {
                    "job": done.id,
                    "interface": done.interface,
                    "attempts": done.attempts,
                    "error": {
                        "kind": (done.error or {}).get("kind"),
                        "message": (done.error or {}).get("message"),
                    },
                },
            )
        if self.on_finish is not None:
            self.on_finish(done)

    def _idempotent(self, job: Job, reply: CallAnswer) -> bool:
        """Whether the version that ran (or was asked for) declares itself idempotent."""
        number = reply.version if reply.version is not None else job.version
        if number is None:
            return False
        try:
            version = self.catalog.interface(job.interface).versions.get(number)
        except CatalogError:
            return False
        return bool(version is not None and version.idempotent)

    # -- heartbeat ---------------------------------------------------------------------

    def _enter(self) -> None:
        with self._lock:
            self._users += 1
            if self._heartbeat is None:
                self._heartbeat = threading.Thread(
                    target=self._beat, name="catalog-jobs-heartbeat", daemon=True
                )
                self._heartbeat.start()

    def _leave(self) -> None:
        with self._lock:
            self._users -= 1
        self._wake.set()

    def _retain(self) -> None:
        """Purge what ``[jobs] keep_*`` no longer keeps, once every RETENTION_SECONDS."""
        now = time.monotonic()
        if not self.store.retention or now < self._next_retention:
            return
        self._next_retention = now + RETENTION_SECONDS
        purged = self.store.apply_retention()
        if any(purged.values()):
            _log.info(
                "job retention: purged %s",
                ", ".join(f"{n} {status}" for status, n in purged.items() if n),
            )

    def _beat(self) -> None:
        tick = min(self.lease / 3, 2.0)
        while True:
            with self._lock:
                if self._users <= 0 and not self._leases:
                    self._heartbeat = None
                    return
                leases = dict(self._leases)
            try:
                lost = self.store.renew(leases, lease=self.lease)
                with self._lock:
                    lost = [job_id for job_id in lost if job_id in self._leases]
                for job_id in lost:
                    _log.warning(
                        "job %s: lease lost: another worker recovered it while it ran here",
                        job_id,
                    )
                # Not "works again" on success here: a recovery that found nothing wrote nothing,
                # and a full disk still lets it read.
                self.store.recover()
                self._retain()
            except CatalogError as exc:
                # Renewals that fail for long let other workers recover the jobs running here:
                # reported as the threads' own failures are (once, or by stopping the worker).
                if not self._store_failed(WorkerId.current(), exc):
                    self._give_up(exc)
            except Exception:
                _log.exception("job heartbeat failed; trying again")
            self._wake.wait(tick)
            self._wake.clear()


_thread_numbers = itertools.count(1)
