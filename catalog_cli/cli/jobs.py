"""``catalog jobs``: background jobs (list, show, stats), the worker that runs them, and dead
letters (retry, requeue, purge)."""

from __future__ import annotations

import signal
import sys
import threading
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._exits import code_of, with_exit_code
from ._group import Group
from ._options import customer_option, limit_option
from ._session import JsonOption, Session, session

if TYPE_CHECKING:
    from types import FrameType

    from ..declarations import Version
    from ..execution._jobs import Job, JobStore, JobWorker


class Status(str, Enum):
    """The statuses of ``catalog_cli._jobs.JobStatus``, here so ``--help`` imports no store."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    dead = "dead"


class Rerunnable(str, Enum):
    """The statuses a job is queued again from by hand."""

    failed = "failed"
    dead = "dead"


class Finished(str, Enum):
    """The statuses of jobs that may be purged."""

    succeeded = "succeeded"
    failed = "failed"
    dead = "dead"


STATUSES = tuple(status.value for status in Status)
#: The most jobs `catalog jobs list` shows at once (a bound, not a page: use --tenant/--status).
MAX_LIMIT = 1_000_000

_TenantOption = Annotated[str | None, customer_option("Only this tenant's jobs.", "--tenant")]

app = typer.Typer(
    cls=Group,
    help="Background jobs: list them, show one, run a worker; retry, requeue and purge them.",
    no_args_is_help=True,
)


def open_store(current: Session) -> JobStore:
    """The job store of the session's catalog file, found from its ``[jobs]`` section alone."""
    from ..config import read_config
    from ..execution._jobs import JobStore

    path, _why = current.locate()
    return JobStore.for_config(path, read_config(path).jobs)


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    import datetime

    return datetime.datetime.fromtimestamp(stamp).isoformat(sep=" ", timespec="seconds")


def _took(job: Job) -> str:
    if job.started_at is None or job.finished_at is None:
        return "-"
    return f"{(job.finished_at - job.started_at) * 1000:.1f} ms"


def _version(job: Job) -> str:
    if job.ran_version is not None:
        return f"v{job.ran_version} ({job.version_source})"
    return f"v{job.version}" if job.version is not None else "-"


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    tenant: _TenantOption = None,
    status: Annotated[
        Status | None,
        typer.Option("--status", help="Only jobs in this status.", show_default=False),
    ] = None,
    limit: Annotated[int, limit_option("At most this many jobs.", max=MAX_LIMIT)] = 100,
    as_json: JsonOption = False,
) -> None:
    """List background jobs, newest first."""
    current = session(ctx, as_json=as_json)
    with open_store(current) as store:
        jobs = store.list(
            tenant=tenant, status=status.value if status is not None else None, limit=limit
        )
    if as_json:
        current.json([_job_json(job) for job in jobs])
        return
    from ._render import status as status_text
    from ._render import table

    current.out.print(
        table(
            "Jobs (newest first)",
            ("id", "tenant", "interface", "version", "status", "attempts", "submitted", "took"),
            (
                (
                    job.id,
                    job.tenant,
                    job.interface,
                    _version(job),
                    status_text(job.status),
                    job.attempts,
                    _when(job.submitted_at),
                    _took(job),
                )
                for job in jobs
            ),
        )
    )


@app.command("show")
def show_job(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job id.", metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """Show one job: its call, status, attempts, timings, and its result or error."""
    current = session(ctx, as_json=as_json)
    with open_store(current) as store:
        job = store.get(job_id)
        worker, lease = store.holder(job_id) if job.status == "running" else (None, None)
    if as_json:
        current.json(_job_json(job))
        return
    from rich.text import Text

    from ._render import print_value, status, table

    out = current.out
    out.print(Text(f"job {job.id}", style="bold"), status(job.status))
    rows: list[tuple[str, Any]] = [
        ("tenant", job.tenant),
        ("interface", job.interface),
        ("version", _version(job)),
        ("arguments", _compact_json(job.arguments)),
        ("attempts", job.attempts),
        ("runs in all", len(job.history)),
        ("retries at", _when(job.run_after) if job.run_after is not None else "-"),
        ("submitted", _when(job.submitted_at)),
        ("started", _when(job.started_at)),
        ("finished", _when(job.finished_at)),
        ("took", _took(job)),
        ("call id", job.call_id or "-"),
    ]
    if worker is not None:
        rows.append(("worker", f"{worker} (lease until {_when(lease)})"))
    out.print(table(None, ("field", "value"), rows))
    if job.error is not None:
        out.print(
            Text(
                f"{job.error.get('type')}: {job.error.get('message')} "
                f"(exit code {code_of(str(job.error.get('kind')))})",
                style="red",
            ),
            soft_wrap=True,
        )
    elif job.status == "succeeded":
        print_value(out, job.result)


def _job_json(job: Job) -> dict[str, Any]:
    """A job as JSON, its error with the exit code it stands for."""
    from ..errors import ErrorRecord

    data = job.to_dict()
    if job.error is not None:
        data["error"] = with_exit_code(ErrorRecord.from_dict(job.error))
    return data


def _compact_json(value: Any) -> str:
    from ._session import dumps

    return dumps(value)


_InterfaceOption = Annotated[
    str | None,
    typer.Option("--interface", metavar="NAME", help="Only jobs of this interface."),
]


@app.command("stats")
def stats(ctx: typer.Context, tenant: _TenantOption = None, as_json: JsonOption = False) -> None:
    """How many jobs are in each status, per tenant (dead and failed ones included)."""
    current = session(ctx, as_json=as_json)
    with open_store(current) as store:
        found = store.tenant_counts()
    if tenant is not None:
        found = {tenant: found.get(tenant, dict.fromkeys(STATUSES, 0))}
    totals = dict.fromkeys(STATUSES, 0)
    for counts in found.values():
        for status, count in counts.items():
            totals[status] += count
    if as_json:
        current.json({"tenants": found, "total": totals})
        return
    from ._render import table

    rows = [(name, *(found[name][s] for s in STATUSES)) for name in sorted(found)]
    rows.append(("total", *(totals[s] for s in STATUSES)))
    current.out.print(table("Jobs per status", ("tenant", *STATUSES), rows))


@app.command("retry")
def retry(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(help="The job id.", metavar="ID")],
    as_json: JsonOption = False,
) -> None:
    """Run a failed or dead job again: queued at once, with a fresh count of attempts (its
    history keeps every earlier run). A worker runs it (`catalog jobs work`)."""
    current = session(ctx, as_json=as_json)
    with open_store(current) as store:
        job = store.retry(job_id)
    if as_json:
        current.json({"job": _job_json(job)})
        return
    sys.stdout.write(job.id + "\n")
    current.err.print(f"[dim]job {job.id} queued again ({job.interface} for {job.tenant})[/]")


@app.command("requeue")
def requeue(
    ctx: typer.Context,
    status: Annotated[
        Rerunnable,
        typer.Option("--status", help="Queue the jobs in this status again."),
    ] = Rerunnable.dead,
    tenant: _TenantOption = None,
    interface: _InterfaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue every dead (or failed) job again, of one tenant or interface if given, as
    `catalog jobs retry` does for one; prints their ids."""
    current = session(ctx, as_json=as_json)
    with open_store(current) as store:
        ids = store.requeue(status.value, tenant=tenant, interface=interface)
    if as_json:
        current.json({"requeued": len(ids), "jobs": ids})
        return
    for job_id in ids:
        sys.stdout.write(job_id + "\n")
    current.err.print(f"[dim]{len(ids)} {status.value} job(s) queued again[/]")


@app.command("purge")
def purge(
    ctx: typer.Context,
    status: Annotated[
        Finished,
        typer.Option("--status", help="Delete jobs in this status.", show_default=False),
    ],
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="DURATION",
            help='Only jobs that finished longer ago than this ("90s", "15m", "12h", "7d").',
        ),
    ],
    tenant: _TenantOption = None,
    interface: _InterfaceOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Count the jobs it would delete; delete nothing."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete finished jobs (succeeded, failed or dead) older than a duration; prints how many."""
    from ..config._jobs import parse_duration

    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--older-than") from None
    current = session(ctx, as_json=as_json)
    with open_store(current) as store:
        count = store.purge(
            status.value, older_than=seconds, tenant=tenant, interface=interface, dry_run=dry_run
        )
    if as_json:
        current.json({"purged": 0 if dry_run else count, "matched": count, "dry_run": dry_run})
        return
    sys.stdout.write(f"{count}\n")
    verb = "would be deleted (dry run)" if dry_run else "deleted"
    current.err.print(f"[dim]{count} {status.value} job(s) {verb}[/]")


@app.command("work")
def work(
    ctx: typer.Context,
    threads: Annotated[
        int,
        typer.Option("--threads", metavar="N", min=1, max=256, help="Jobs run at once."),
    ] = 4,
    drain: Annotated[
        bool,
        typer.Option("--drain", help="Stop when no job is queued (instead of waiting for more)."),
    ] = False,
) -> None:
    """Run queued jobs until stopped (Ctrl-C or SIGTERM: the running jobs finish first).

    A second Ctrl-C quits at once; the jobs it leaves running are recovered by the next
    worker, per [jobs] interrupted in catalog.toml.
    """
    from ..execution._jobs import JobStore, JobWorker, WorkerId

    current = session(ctx)
    catalog = current.catalog

    def finished(job: Job) -> None:
        ran = f" v{job.ran_version}" if job.ran_version is not None else ""
        what = f"{job.interface}{ran} for {job.tenant}"
        tail = f": {job.error.get('message')}" if job.error else ""
        sys.stderr.write(f"job {job.id} {job.status} ({what}, {_took(job)}){tail}\n")

    with JobStore.for_catalog(catalog) as store:
        # A store that fails stops the command with its error, as one line and exit 3; a
        # service manager restarts it (a server's worker tries again instead).
        worker = JobWorker(
            catalog, store, threads=threads, on_finish=finished, on_store_error="stop"
        )
        me = WorkerId.current()
        sys.stderr.write(
            f"worker {me.host}:{me.pid}: {threads} thread(s) on {store.path}"
            + (", until no job is queued\n" if drain else " (Ctrl-C or SIGTERM stops it)\n")
        )
        _run_until_stopped(worker, drain=drain)
        if worker.errors:
            raise worker.errors[0]
        sys.stderr.write(f"ran {worker.ran} job(s)\n")


def _run_until_stopped(worker: JobWorker, *, drain: bool) -> None:
    """Run ``worker``'s threads; the first SIGINT/SIGTERM stops it gracefully, a second at once."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()
        worker.stop(timeout=0)
        sys.stderr.write(
            f"stopping: waiting for {worker.running} running job(s) to finish "
            "(Ctrl-C again to quit now)\n"
        )

    main = threading.current_thread() is threading.main_thread()
    previous: dict[int, Any] = {}
    if main:
        for number in (int(signal.SIGINT), int(signal.SIGTERM)):
            previous[number] = signal.signal(number, on_signal)
    try:
        worker.start(until_empty=drain)
        # join() with a timeout: the main thread stays free to run the signal handlers.
        while not worker.join(timeout=0.5):
            pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


# -- catalog run --background ---------------------------------------------------------------

#: The detached workers started by this process: kept so their Popen objects are not
#: collected (with a warning) while they run on after the command has returned.
_DETACHED: list[Any] = []


def check_background(*, trace: bool, timeout: float | None) -> None:
    """``--background`` takes neither ``--trace`` nor ``--timeout``: both belong to a call
    this process would run and watch, and a job runs in another process."""
    if trace:
        raise typer.BadParameter(
            "cannot be combined with --trace: a job runs in a worker process, which shows no "
            "trace; run the call in the foreground to trace it",
            param_hint="--background",
        )
    if timeout is not None:
        raise typer.BadParameter(
            "cannot be combined with --timeout: a job is a call as data (tenant, interface, "
            "version, arguments), without a deadline of its own; bound the calls of an "
            "interface with the timeout interceptor ([interceptors.timeout] in catalog.toml), "
            "which applies in the worker too",
            param_hint="--background",
        )


def submit_background(
    current: Session,
    interface: str,
    customer: str,
    version: int | None,
    declared: Version,
    arguments: dict[str, Any],
) -> None:
    """Store the call as a job, print its id (or ``{"job": ...}``), start a worker for it."""
    from ..execution._jobs import JobStore
    from ..execution._requests import CallRequest

    catalog = current.catalog
    # What would fail a run now fails the command, with the run's error and exit code, not
    # later a job nobody watches: a tenant that fails closed (its plugins are built and
    # started here, as a run would), then arguments that do not fit. The version still
    # resolves where the job runs: pins and canaries apply then.
    catalog.plugin_manager(customer)
    declared.bind(dict(arguments))
    with JobStore.for_catalog(catalog) as store:
        job = store.submit(CallRequest(customer, interface, version, arguments))
        database = store.path
    if current.as_json:
        current.json({"job": _job_json(job)})
    else:
        sys.stdout.write(job.id + "\n")
        current.err.print(
            f"[dim]job {job.id} queued: {interface} for {customer} · catalog jobs show {job.id}[/]",
            soft_wrap=True,
        )
    sys.stdout.flush()
    problem = start_worker(catalog.path, database)
    if problem is not None:
        sys.stderr.write(
            f"warning: could not start a worker ({problem}); the job stays queued until "
            "`catalog jobs work` runs\n"
        )


def start_worker(catalog_path: Path, database: Path) -> str | None:
    """Start ``catalog jobs work --drain`` detached from this process; what failed, if it did.

    It gets its own session (no Ctrl-C or hang-up of this terminal reaches it) and the job
    store's path in $CATALOG_JOBS_DB, so it drains the store the job went to.
    """
    import os
    import subprocess

    from ..execution._jobs import ENV_VAR

    command = [
        sys.executable,
        "-c",
        "from catalog_cli.cli import main; main()",
        "--catalog",
        str(catalog_path.absolute()),
        "jobs",
        "work",
        "--drain",
    ]
    env = {**os.environ, ENV_VAR: str(database)}
    try:
        if sys.platform == "win32":
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                creationflags=subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP,
            )
        else:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    _DETACHED.append(process)
    return None
