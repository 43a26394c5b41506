"""Background jobs: ``GET /v1/jobs`` and ``GET /v1/jobs/{id}`` (submitting is in ``_run``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from ..errors import UnknownNameError
from ._jobviews import job_view
from ._models import JobList, JobModel, JobStatusName
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


@router.get("/jobs/{job_id}", response_model=JobModel, responses=problems(401, 403, 404, 503))
def show_job(job_id: str, caller: AnyCaller, request: Request) -> dict[str, Any]:
    """One job: status, result or error, timings. Another tenant's job is unknown (404)."""
    try:
        job = server_of(request).store().get(job_id)
    except UnknownNameError:
        job = None
    if job is None or (caller.tenant is not None and job.tenant != caller.tenant):
        raise ProblemError("not-found", f"unknown job {job_id!r}", tenant=caller.tenant)
    return job_view(job, admin=caller.identity.admin)
