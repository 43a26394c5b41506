"""Operating the server: health checks, metrics and reload."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from fastapi import APIRouter, Request
from starlette.responses import Response

from ..errors import CatalogError, ReloadError
from ._models import HealthReport, ReloadReport
from ._openapi import problems
from ._problems import ProblemError, reload_refused
from ._security import AdminCaller, AnyCaller, Caller, server_of
from ._server import config_of

if TYPE_CHECKING:
    from ..execution import Catalog
    from ..runtime import HealthResult

log = logging.getLogger("catalog.serve")

router = APIRouter(prefix="/v1", tags=["operations"])

#: the Prometheus text exposition format
PROMETHEUS_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


def _check(result: HealthResult, caller: Caller) -> dict[str, Any]:
    data = result.to_dict()
    if caller.identity.admin or result.status != "unhealthy":
        return data
    # What made a check unhealthy is often an exception of the plugin (a DSN, a path, a
    # password): for the tenant, the status only; the operator finds the rest in the log.
    log.warning(
        "health of plugin %r for tenant %r: unhealthy: %s",
        result.plugin,
        result.tenant,
        data["details"],
    )
    if not result.checked:  # the tenant fails closed; the reason names files and modules
        data["details"] = "the tenant fails closed; the details are in the server log"
    else:
        data["details"] = "unhealthy; the details are in the server log"
    return data


def _health(caller: Caller, request: Request) -> list[HealthResult]:
    return server_of(request).catalog.health(customer=caller.tenant)


def _report(results: list[HealthResult], caller: Caller, request: Request) -> dict[str, Any]:
    return {
        "ok": not any(r.status == "unhealthy" for r in results),
        "generation": server_of(request).generation(),
        "checks": [_check(r, caller) for r in results],
    }


@router.get("/health", response_model=HealthReport, responses=problems(401, 403, 404))
def health(caller: AnyCaller, request: Request) -> dict[str, Any]:
    """Run the health checks of the tenant's plugins (the admin key: every tenant's)."""
    return _report(_health(caller, request), caller, request)


@router.get("/health/{plugin}", response_model=HealthReport, responses=problems(401, 403, 404))
def plugin_health(plugin: str, caller: AnyCaller, request: Request) -> dict[str, Any]:
    """Run one plugin's health check (for the tenant; the admin key: for every tenant)."""
    results = [r for r in _health(caller, request) if r.plugin == plugin]
    if not results:
        raise ProblemError("not-found", f"unknown plugin {plugin!r}", tenant=caller.tenant)
    return _report(results, caller, request)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The metrics interceptor's series and the canaries', in the "
            "Prometheus text format",
            "content": {PROMETHEUS_TYPE: {"schema": {"type": "string"}}},
        },
        **problems(401, 403, 404, 501),
    },
)
def metrics(caller: AnyCaller, request: Request) -> Response:
    """Calls, errors and latencies (the ``metrics`` interceptor's), and the canaries' calls,
    shares and rollbacks; a tenant's key gets its own tenant's series only."""
    from ..interceptors.metrics import prometheus_text
    from ..registry._rollout import prometheus_text as canary_text

    catalog = server_of(request).catalog
    series = catalog.metrics()
    canaries = catalog.canary_series()
    if caller.tenant is not None:
        series = [s for s in series if s.tenant == caller.tenant]
        canaries = [c for c in canaries if c.tenant == caller.tenant]
    try:
        text = prometheus_text(series)
    except CatalogError as exc:  # prometheus_client is not installed
        raise ProblemError("not-implemented", str(exc)) from None
    if canaries:
        text += canary_text(canaries)
    text += _isolation_text(catalog, caller.tenant)
    text += _jobs_text(caller, request)
    return Response(text, media_type=PROMETHEUS_TYPE)


def _isolation_text(catalog: Catalog, tenant: str | None) -> str:
    """The worker pools of isolated plugins (``catalog_isolation_*``): a tenant's key gets
    its own tenant's."""
    from ..runtime._workers import prometheus_text as isolation_text

    pools = [pool for pool in catalog.worker_pools() if tenant in (None, pool.tenant)]
    return isolation_text(pools) if pools else ""


def _jobs_text(caller: Caller, request: Request) -> str:
    """The jobs in each status per tenant (``catalog_jobs``): dead and failed ones are what an
    operator alerts on. Without a usable job store, nothing (the log has why)."""
    from ._jobviews import jobs_metrics_text

    try:
        counts = server_of(request).store().tenant_counts()
    except (CatalogError, ProblemError) as exc:
        log.warning("metrics: no job counts: %s", exc)
        return ""
    if caller.tenant is not None:
        counts = {t: c for t, c in counts.items() if t == caller.tenant}
    return jobs_metrics_text(counts)


@router.post("/admin/reload", response_model=ReloadReport, responses=problems(401, 403, 409))
def reload(caller: AdminCaller, request: Request) -> dict[str, Any]:
    """Re-read catalog.toml and the tenant plugins and swap them in atomically: requests in
    flight finish on the old catalog. A refused reload changes nothing (409). ``[jobs]`` is
    not reloaded (``notes`` says so when it changed): restart the server for it."""
    server = server_of(request)
    before = config_of(server.catalog)
    try:
        server.catalog.reload()
    except ReloadError as exc:
        raise reload_refused(exc) from None
    after = config_of(server.catalog)
    server.reloaded()
    ring = server.keyring()
    notes = []
    if server.jobs_outdated():
        # The worker threads run on the store opened at start; moving it under them (or
        # changing its policy) is a restart's job.
        notes.append(
            "[jobs] differs from the one the server started with: it keeps the job store "
            "and policy it started with; restart it to apply the change"
        )
        log.warning("reload: %s", notes[-1])
    return {
        "generation": server.generation(),
        "tenants": {
            "added": sorted(set(after.tenants) - set(before.tenants)),
            "removed": sorted(set(before.tenants) - set(after.tenants)),
            "changed": sorted(
                t
                for t in set(before.tenants) & set(after.tenants)
                if before.tenants[t] != after.tenants[t]
            ),
        },
        "key_problems": list(ring.problems),
        "notes": notes,
    }
