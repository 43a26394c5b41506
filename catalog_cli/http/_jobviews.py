"""A job as the API shows it: its error says no more than the same direct call would."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from ._problems import ErrorFacts, error_class, public_problem

if TYPE_CHECKING:
    from .._jobs import Job

#: how CallTimeoutError writes its deadline (the only fact of it a job keeps in its message)
_WITHIN: Final = re.compile(r" did not finish within ([0-9][0-9.e+-]*) s ")


def _seconds(message: str) -> float | None:
    found = _WITHIN.search(message)
    try:
        return float(found.group(1)) if found else None
    except ValueError:
        return None


def _error(job: Job, *, admin: bool) -> dict[str, Any] | None:
    error = job.error
    if error is None:
        return None
    kind = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    exit_code = int(error.get("exit_code", 1))
    facts = ErrorFacts(
        job.tenant,
        job.interface,
        job.ran_version or job.version,
        job.call_id,
        message,
        seconds=_seconds(message),
    )
    cls = error_class(kind)
    problem = public_problem(cls, facts) if cls is not None else None
    if problem is not None:
        status, detail = problem.status, problem.detail
    elif kind == "JobInterrupted":
        # Its message names the worker's host and process.
        status, detail = 500, "the job was interrupted: the worker running it stopped"
    else:
        status = 500
        detail = f"the job failed inside the server; the operator has the error under job {job.id}"
        if job.call_id:
            detail += f" (call {job.call_id})"
    # The operator (admin key) sees the error itself, as the job store has it.
    return {
        "type": kind,
        "status": status,
        "detail": message if admin else detail,
        "exit_code": exit_code,
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
