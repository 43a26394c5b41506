"""Background jobs: listing and showing them, and dead letters (retry one, requeue many,
purge finished ones), each for the caller's tenant only (the admin key: any, or ``?tenant=``).
Submitting is in ``_run``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ..config._jobs import parse_duration
from ..errors import JobStateError, UnknownNameError
from ._jobviews import job_view
from ._models import (
    FinishedStatusName,
    JobList,
    JobModel,
    JobPurge,
    JobRequeue,
    JobStatusName,
    RerunnableStatusName,
)
from ._openapi import problems
from ._problems import ProblemError
from ._security import AnyCaller, server_of

router = APIRouter(prefix="/v1", tags=["jobs"])


@router.get("/jobs", response_model=JobList, responses=problems(400, 401, 403, 404, 422, 503))
def list_jobs(
    caller: AnyCaller,
    request: Request,
    status: JobStatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The caller's jobs, newest first (the admin key: every tenant's, or ``?tenant=``)."""
    jobs = server_of(request).store().list(tenant=caller.tenant, status=status, limit=limit)
    return {"jobs": [job_view(job, admin=caller.identity.admin) for job in jobs]}


def _unknown(job_id: str, tenant: str | None) -> ProblemError:
    return ProblemError("not-found", f"unknown job {job_id!r}", tenant=tenant)


@router.get("/jobs/{job_id}", response_model=JobModel, responses=problems(401, 403, 404, 503))
def show_job(job_id: str, caller: AnyCaller, request: Request) -> dict[str, Any]:
    """One job: status, result or error, timings. Another tenant's job is unknown (404)."""
    try:
        job = server_of(request).store().get(job_id)
    except UnknownNameError:
        job = None
    if job is None or (caller.tenant is not None and job.tenant != caller.tenant):
        raise _unknown(job_id, caller.tenant)
    return job_view(job, admin=caller.identity.admin)


@router.post(
    "/jobs/{job_id}/retry",
    response_model=JobModel,
    responses=problems(401, 403, 404, 409, 503),
    summary="Run a failed or dead job again",
)
def retry_job(job_id: str, caller: AnyCaller, request: Request) -> dict[str, Any]:
    """Queue a failed or dead job again at once, with a fresh count of attempts (its
    ``history`` keeps every run). Another tenant's job is unknown (404); a job in another
    status is a conflict (409)."""
    try:
        job = server_of(request).store().retry(job_id, tenant=caller.tenant)
    except UnknownNameError:
        raise _unknown(job_id, caller.tenant) from None
    except JobStateError as exc:
        raise ProblemError("conflict", str(exc), tenant=caller.tenant) from None
    return job_view(job, admin=caller.identity.admin)


@router.post(
    "/jobs/requeue",
    response_model=JobRequeue,
    responses=problems(401, 403, 404, 422, 503),
    summary="Queue every dead (or failed) job again",
)
def requeue_jobs(
    caller: AnyCaller,
    request: Request,
    status: RerunnableStatusName = "dead",
    interface: str | None = None,
) -> dict[str, Any]:
    """Queue the caller's jobs in ``status`` again (of one interface, if given), as a retry
    does for one; the admin key: every tenant's, or ``?tenant=``."""
    ids = server_of(request).store().requeue(status, tenant=caller.tenant, interface=interface)
    return {"requeued": len(ids), "jobs": ids}


@router.delete(
    "/jobs",
    response_model=JobPurge,
    responses=problems(401, 403, 404, 422, 503),
    summary="Purge finished jobs older than a duration",
)
def purge_jobs(
    caller: AnyCaller,
    request: Request,
    status: FinishedStatusName,
    older_than: Annotated[
        str, Query(description='a duration: "90s", "15m", "12h", "7d", or seconds')
    ],
    interface: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Delete the caller's ``status`` jobs that finished more than ``older_than`` ago (of
    one interface, if given); with ``dry_run``, count them only. The admin key: every
    tenant's, or ``?tenant=``."""
    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        raise ProblemError(
            "invalid-arguments", f"older_than: {exc}", errors={"older_than": str(exc)}
        ) from None
    count = (
        server_of(request)
        .store()
        .purge(
            status, older_than=seconds, tenant=caller.tenant, interface=interface, dry_run=dry_run
        )
    )
    return {"purged": 0 if dry_run else count, "matched": count, "dry_run": dry_run}
