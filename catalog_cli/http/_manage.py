"""Managing plugins at run time (admin key), and each tenant's hooks in call order.

``PUT``/``DELETE /v1/admin/plugins/{name}/disabled`` disable and enable a plugin, for the
tenant named with ``?tenant=`` or for every tenant; ``POST /v1/admin/plugins/{name}/reload``
imports its code afresh. Each is ``Catalog.disable_plugin`` (and so on): only the tenants
the change touches are built anew and swapped in atomically, a refused change changes
nothing (409), and each is written to the audit log with the admin key that asked (by a
prefix of its hash, never the key). With several worker processes, the others reload the
catalog (and with it the state file) as after ``POST /v1/admin/reload``.

``GET /v1/tenants/{id}/hooks`` lists, per interface, the implementations of each hook in
pluggy's call order, as ``catalog tenants show`` does: a tenant's key for its own tenant
only (another is 403), the admin key for any.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Body, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers

from ..config._keys import hash_key
from ..errors import PluginChangeError, StateFileError, UnknownNameError
from ._models import DisablingModel, _Response
from ._openapi import problems
from ._problems import ProblemError
from ._security import AdminCaller, AnyCaller, Caller, _presented, refuse_spoofing, server_of
from ._server import config_of

if TYPE_CHECKING:
    from ..execution._management import PluginChange

log = logging.getLogger("catalog.serve")

router = APIRouter(prefix="/v1", tags=["plugins at run time"])


class ChangeRequest(BaseModel):
    """Why, for the state file and the audit log (optional)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=1000, description="why, for the audit log")


class PluginChangeReport(_Response):
    action: Literal["disable", "enable", "reload"]
    plugin: str
    tenant: str | None = Field(description="null: every tenant")
    outcome: Literal["applied", "unchanged"] = Field(
        description="unchanged: it was so already, nothing was rebuilt"
    )
    rebuilt: list[str] = Field(description="the tenants built anew for it")
    by: str = Field(description="the admin key that asked, by a prefix of its hash")
    reason: str
    at: str = Field(description="when, ISO 8601 in UTC")
    generation: int = Field(description="the catalog generation after the change")


class DisabledList(_Response):
    disabled: list[DisablingModel]


class StepModel(_Response):
    hook: str
    plugin_point: str | None = Field(description="null for the entry point")
    policy: str
    wrappers: list[str] = Field(description="outermost first")
    implementations: list[str] = Field(description="in the order pluggy calls them")


class InterfaceHooks(_Response):
    interface: str
    version: int = Field(description="the version the tenant runs (without a canary's share)")
    version_source: str
    steps: list[StepModel]


class TenantHooks(_Response):
    tenant: str
    interfaces: list[InterfaceHooks]


Reason = Annotated[ChangeRequest | None, Body()]


def _actor(request: Request) -> str:
    """The admin key that asks, by the first 12 hex digits of its SHA-256: enough to tell
    the configured keys apart, nothing to log in with."""
    key = _presented(Headers(scope=request.scope)) or ""
    digest = hash_key(key).partition(":")[2]
    client = request.client.host if request.client is not None else "?"
    return f"admin key sha256:{digest[:12]} from {client}"


def _apply(request: Request, caller: Caller, action: str, name: str, body: Any) -> dict[str, Any]:
    server = server_of(request)
    catalog = server.catalog
    reason = body.reason if body is not None else ""
    actor = _actor(request)
    try:
        done: PluginChange
        if action == "disable":
            done = catalog.disable_plugin(name, customer=caller.tenant, reason=reason, actor=actor)
        elif action == "enable":
            done = catalog.enable_plugin(name, customer=caller.tenant, reason=reason, actor=actor)
        else:
            done = catalog.reload_plugin(name, reason=reason, actor=actor)
    except UnknownNameError as exc:
        raise ProblemError("not-found", str(exc)) from None
    except PluginChangeError as exc:
        log.warning("plugin change refused: %s", exc)
        raise ProblemError("conflict", str(exc)) from None
    except StateFileError as exc:
        log.error("plugin change failed: %s", exc)
        raise ProblemError("internal", str(exc)) from None
    if done.outcome == "applied":
        log.info("plugin change: %s %s (%s) by %s", action, name, caller.tenant or "*", actor)
        server.reloaded()
    data = done.to_dict()
    data["generation"] = server.generation()
    return data


@router.put(
    "/admin/plugins/{name}/disabled",
    response_model=PluginChangeReport,
    responses=problems(401, 403, 404, 409),
)
def disable_plugin(
    name: str, caller: AdminCaller, request: Request, body: Reason = None
) -> dict[str, Any]:
    """Stop running plugin ``name`` for the tenant named (``?tenant=ID``) or for every tenant
    that selects it, until it is enabled; kept in the state file across restarts. Refused
    (409, nothing changed) for a built-in or an interceptor, a tenant that does not select
    it, a plugin another one depends on, or a tenant that would then fail."""
    return _apply(request, caller, "disable", name, body)


@router.delete(
    "/admin/plugins/{name}/disabled",
    response_model=PluginChangeReport,
    responses=problems(401, 403, 404, 409),
)
def enable_plugin(
    name: str, caller: AdminCaller, request: Request, body: Reason = None
) -> dict[str, Any]:
    """Run plugin ``name`` again for the tenant named (``?tenant=ID``), or, without one,
    remove every disabling of it. Refused (409) as a disabling is."""
    return _apply(request, caller, "enable", name, body)


@router.post(
    "/admin/plugins/{name}/reload",
    response_model=PluginChangeReport,
    responses=problems(401, 403, 404, 409),
)
def reload_plugin(
    name: str, caller: AdminCaller, request: Request, body: Reason = None
) -> dict[str, Any]:
    """Import plugin ``name``'s code afresh and build anew only the tenants that run it
    (requests in flight finish on the old code). If it does not import or a tenant would
    fail: 409, and the old code serves on."""
    if caller.tenant is not None:
        raise ProblemError(
            "bad-request", "a plugin's code is reloaded for every tenant: name no tenant"
        )
    return _apply(request, caller, "reload", name, body)


@router.get("/admin/plugins/disabled", response_model=DisabledList, responses=problems(401, 403))
def disabled_plugins(caller: AdminCaller, request: Request) -> dict[str, Any]:
    """The plugins disabled at run time in this server process (for the tenant named, with
    ``?tenant=ID``), oldest first."""
    records = server_of(request).catalog.plugin_changes()
    tenant = caller.tenant
    return {
        "disabled": [r.to_dict() for r in records if tenant is None or r.tenant in (None, tenant)]
    }


@router.get(
    "/tenants/{tenant}/hooks", response_model=TenantHooks, responses=problems(401, 403, 404, 503)
)
def tenant_hooks(tenant: str, caller: AnyCaller, request: Request) -> dict[str, Any]:
    """Per interface, the version the tenant runs and, for its entry point and each plugin
    point, the wrappers and implementations in the order pluggy calls them. A tenant's key
    sees its own tenant only (another: 403)."""
    own = caller.identity.tenant
    if own is not None and tenant != own:
        raise refuse_spoofing(request.scope, caller.identity, tenant)
    if caller.tenant is not None and caller.tenant != tenant:
        raise ProblemError("bad-request", f"the request names two tenants: {caller.tenant!r}")
    catalog = server_of(request).catalog
    if tenant not in config_of(catalog).tenants:
        raise ProblemError("not-found", f"unknown tenant {tenant!r}")
    request.state.tenant = tenant
    plans = catalog.call_plans(customer=tenant)
    rows = []
    for interface, steps in plans.items():
        choice = catalog.resolve_version(interface, customer=tenant)
        rows.append(
            {
                "interface": interface,
                "version": choice.version,
                "version_source": choice.source,
                "steps": [step.to_dict() for step in steps],
            }
        )
    return {"tenant": tenant, "interfaces": rows}
