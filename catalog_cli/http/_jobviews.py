"""A job as the API shows it: its error says no more than the same direct call would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ErrorRecord
from ._problems import public_problem

if TYPE_CHECKING:
    from ..execution._jobs import Job


def _error(job: Job, *, admin: bool) -> dict[str, Any] | None:
    if job.error is None:
        return None
    error = ErrorRecord.from_dict(job.error)
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
    }
