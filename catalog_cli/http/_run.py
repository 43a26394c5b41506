"""Running a method: ``POST /v1/interfaces/{interface}/run``, and submitting it as a job."""

from __future__ import annotations

import math
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Request
from starlette.responses import Response

from ..execution._requests import CallRequest
from ..runtime import new_call_id
from ._jobviews import job_view
from ._json import encode
from ._models import JobModel, RunRequest, RunResponse
from ._openapi import problems
from ._problems import ProblemError
from ._security import TenantCaller, check_named, server_of

router = APIRouter(prefix="/v1", tags=["calls"])

#: the body may be left out: no arguments, the tenant's version
CallBody = Annotated[RunRequest, Body(default_factory=RunRequest)]

#: ``X-Timeout`` in the OpenAPI document (read from the headers directly, as it is cheaper)
_TIMEOUT_HEADER: Final = {
    "name": "X-Timeout",
    "in": "header",
    "required": False,
    "schema": {"type": "number", "exclusiveMinimum": 0},
    "description": "seconds the call may run (bounded by the server's maximum, "
    "$CATALOG_MAX_TIMEOUT; default: the catalog's [limits] call_timeout); then 504",
}


def _timeout(request: Request, most: float) -> float | None:
    text = request.headers.get("x-timeout")
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        problem = "expected a number of seconds above 0"
        raise ProblemError(
            "invalid-arguments", f"X-Timeout: {problem}", errors={"header.x-timeout": problem}
        )
    return min(seconds, most)


@router.post(
    "/interfaces/{interface}/run",
    response_model=RunResponse,
    responses=problems(400, 401, 403, 404, 415, 422, 429, 500, 503, 504),
    summary="Run a method as the key's tenant",
    openapi_extra={"parameters": [_TIMEOUT_HEADER]},
)
async def run(
    interface: str,
    caller: TenantCaller,
    request: Request,
    body: CallBody,
) -> Response:
    """Run ``interface`` (the tenant's version, or ``version``) with ``arguments``.

    The tenant is the API key's; the answer says which version ran and which rule chose it.
    The call runs within the tenant's limits: beyond its calls running at once, 429; past its
    deadline (``X-Timeout``, else the catalog's ``call_timeout``), 504.
    """
    check_named(request, caller, body.tenant, body.customer)
    server = server_of(request)
    tenant = caller.identity.tenant
    assert tenant is not None  # a TenantCaller
    asked = _timeout(request, server.settings.max_timeout)
    catalog = server.catalog
    arguments = body.arguments
    choice = catalog.resolve_version(
        interface, customer=tenant, version=body.version, arguments=arguments
    )
    limits = catalog.limits(tenant, interface)
    call_id = new_call_id()
    call = CallRequest(tenant, interface, body.version, arguments)
    # A tenant whose version runs async def plugins is awaited here and holds no thread while
    # they wait; plain code runs on the server's call threads (as does a tenant's first call,
    # which builds it: importing plugins must not block the event loop).
    facts: dict[str, Any] = {
        "tenant": tenant,
        "interface": interface,
        "version": choice.version,
        "limit": limits.concurrent_calls,
        "timeout": limits.call_timeout if asked is None else asked,
        "call_id": call_id,
    }
    if catalog.runs_async(interface, customer=tenant, choice=choice, build=False):
        answer = await server.calls.arun(
            lambda: catalog.acall(call, choice=choice, call_id=call_id, timeout=facts["timeout"]),
            **facts,
        )
    else:
        answer = await server.calls.run(
            lambda: catalog.call(call, choice=choice, call_id=call_id), **facts
        )
    if not answer.ok:
        answer.raise_error()
    data = {
        "result": answer.result,
        "interface": interface,
        "version": answer.version,
        "version_source": answer.version_source,
        "tenant": tenant,
        "call_id": answer.call_id,
        "seconds": answer.seconds,
    }
    # Written directly (not through response_model) because this is the hot path.
    return Response(encode(data), media_type="application/json")


@router.post(
    "/interfaces/{interface}/jobs",
    status_code=202,
    response_model=JobModel,
    responses=problems(400, 401, 403, 404, 415, 422, 500, 503),
    summary="Submit a method call as a background job",
    tags=["jobs"],
)
def submit_job(interface: str, caller: TenantCaller, request: Request, body: CallBody) -> Response:
    """Store the call durably and answer at once with the job (``Location``: where to poll).

    The interface, the tenant (one that fails closed: 503, as for a run), the version and
    the arguments are checked first (404, 503, 422), so a job that is accepted can run. The
    call interceptors (rate limit, circuit breaker, ...) are not: they apply when the job
    runs, and a call they refuse then fails the job with their error.
    """
    check_named(request, caller, body.tenant, body.customer)
    server = server_of(request)
    tenant = caller.identity.tenant
    assert tenant is not None
    catalog = server.catalog
    choice = catalog.resolve_version(
        interface, customer=tenant, version=body.version, arguments=body.arguments
    )
    # In the order a run checks: the arguments, then the tenant (built, or known to fail).
    catalog.interface(interface).version(choice.version).bind(dict(body.arguments))
    catalog.plugin_manager(tenant)
    job = server.store().submit(CallRequest(tenant, interface, body.version, body.arguments))
    return Response(
        encode(job_view(job, admin=False)),
        status_code=202,
        media_type="application/json",
        headers={"Location": f"/v1/jobs/{job.id}"},
    )
