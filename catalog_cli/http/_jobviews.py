"""A job as the API shows it: its error says no more than the same direct call would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ErrorRecord
from ._problems import public_problem

if TYPE_CHECKING:
    from ..execution._jobs import Job


def _error(job: Job, *, admin: bool, record: dict[str, Any] | None = None) -> dict[str, Any] | None:
    found = job.error if record is None else record
    if found is None:
        return None
    error = ErrorRecord.from_dict(found)
    error = error._replace(
        tenant=job.tenant,
        interface=error.interface or job.interface,
        version=error.version or job.ran_version or job.version,
        call_id=error.call_id or job.call_id,
    )
    problem = public_problem(error)
    if problem is not None:
        status, detail = problem.status, problem.detail
    elif error.kind == "interrupted":
        # Its message names the worker's host and process.
        status, detail = 500, "the job was interrupted: the worker running it stopped"
    else:
        status = 500
        detail = f"the job failed inside the server; the operator has the error under job {job.id}"
        if job.call_id:
            detail += f" (call {job.call_id})"
    # The operator (admin key) sees the error itself, as the job store has it.
    return {
        "kind": error.kind,
        "type": error.type,
        "status": status,
        "detail": error.message if admin else detail,
    }


def job_view(job: Job, *, admin: bool) -> dict[str, Any]:
    """``job`` as JSON data; its error is shown to a tenant's key as a direct call's problem
    would be: what the caller can act on, else only the kind of error and the call id."""
    return {
        "id": job.id,
        "tenant": job.tenant,
        "interface": job.interface,
        "version": job.version,
        "arguments": dict(job.arguments),
        "status": job.status,
        "attempts": job.attempts,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "result": job.result,
        "error": _error(job, admin=admin),
        "ran_version": job.ran_version,
        "version_source": job.version_source,
        "call_id": job.call_id,
        "run_after": job.run_after,
        "history": [_run(job, run, admin=admin) for run in job.history],
    }


def _run(job: Job, run: dict[str, Any], *, admin: bool) -> dict[str, Any]:
    """One run of ``job`` as the API shows it: its error as the job's is shown; which worker
    ran it (host and process) only to the operator."""
    error = run.get("error")
    return {
        "attempt": run.get("attempt"),
        "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"),
        "outcome": run.get("outcome"),
        "error": _error(job, admin=admin, record=error) if error else None,
        "retry_at": run.get("retry_at"),
        "worker": run.get("worker") if admin else None,
    }


def jobs_metrics_text(counts: dict[str, dict[str, int]]) -> str:
    """``catalog_jobs{tenant, status}``: the jobs in each status, per tenant, in the
    Prometheus text format (tenant -> status -> count, as ``JobStore.tenant_counts`` gives)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector

    class _Collector(Collector):
        def collect(self) -> list[Metric]:
            gauge = GaugeMetricFamily(
                "catalog_jobs", "Background jobs in each status", labels=("tenant", "status")
            )
            for tenant in sorted(counts):
                for status, count in counts[tenant].items():
                    gauge.add_metric([tenant, status], count)
            return [gauge]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    text: str = generate_latest(registry).decode()
    return text
