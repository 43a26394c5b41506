"""What the catalog offers: interfaces and plugins, as the caller's tenant sees them.

A tenant's key sees the interfaces (the catalog's own declarations), which version its tenant
runs, and only the plugins its tenant uses plus the built-ins: never another tenant's plugins,
settings or who else runs what. The admin key sees everything.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request

from ._models import InterfaceDetail, InterfaceList, PluginList, PluginModel
from ._openapi import problems
from ._problems import ProblemError
from ._security import AnyCaller, Caller, server_of
from ._server import config_of

if TYPE_CHECKING:
    from ..execution._catalog import Catalog
    from ..execution._views import PluginInfo

log = logging.getLogger("catalog.serve")

router = APIRouter(prefix="/v1", tags=["catalog"])


def _runs(catalog: Catalog, interface: str, tenant: str | None) -> dict[str, Any] | None:
    if tenant is None:
        return None
    choice = catalog.resolve_version(interface, customer=tenant)
    config = config_of(catalog).tenants.get(tenant)  # gone if a reload just removed it
    canary = config.canaries.get(interface) if config is not None else None
    return {
        "version": choice.version,
        "source": choice.source,
        "canary": canary.to_dict() if canary is not None else None,
    }


@router.get("/interfaces", response_model=InterfaceList, responses=problems(401, 403))
def list_interfaces(caller: AnyCaller, request: Request) -> dict[str, Any]:
    """Every interface with its versions; for a tenant, the version it runs and why."""
    catalog = server_of(request).catalog
    rows = []
    for interface in catalog.interfaces():
        rows.append(
            {
                "name": interface.name,
                "summary": interface.summary,
                "versions": list(interface.versions),
                "latest": interface.latest,
                "default": catalog.default_version(interface.name),
                "deprecated": [v.number for v in interface.versions.values() if v.deprecated],
                "runs": _runs(catalog, interface.name, caller.tenant),
            }
        )
    return {"interfaces": rows}


@router.get("/interfaces/{name}", response_model=InterfaceDetail, responses=problems(401, 403, 404))
def show_interface(name: str, caller: AnyCaller, request: Request) -> dict[str, Any]:
    """Each version's parameters and plugin points; for a tenant, the version it runs."""
    catalog = server_of(request).catalog
    data = catalog.interface(name).to_dict()
    if caller.tenant is None:
        users = catalog.version_users(name)
        for version in data["versions"]:
            version["tenants"] = [
                {"tenant": t, "source": s} for t, s in users.get(version["version"], [])
            ]
    data["runs"] = _runs(catalog, name, caller.tenant)
    return data


def _plugin(info: PluginInfo, caller: Caller) -> dict[str, Any]:
    data = info.to_dict()
    if caller.identity.admin:
        return data
    data["tenants"] = [caller.tenant] if info.tenants else []
    data["location"] = None  # a path on the server
    # Who disabled it and why are the operator's notes (an admin key's hash, a user name).
    data["disabled"] = [{**record, "by": None, "reason": None} for record in data["disabled"]]
    if data["error"] is not None:
        log.warning("plugin %r failed to load: %s", info.name, info.error)
        data["error"] = "the plugin failed to load; the operator has the details in the server log"
    return data


def _visible(caller: Caller, request: Request) -> list[PluginInfo]:
    return server_of(request).catalog.plugins(customer=caller.tenant)


@router.get("/plugins", response_model=PluginList, responses=problems(401, 403))
def list_plugins(caller: AnyCaller, request: Request) -> dict[str, Any]:
    """The built-ins and the plugins the tenant selects, with their status."""
    return {"plugins": [_plugin(info, caller) for info in _visible(caller, request)]}


@router.get("/plugins/{name}", response_model=PluginModel, responses=problems(401, 403, 404))
def show_plugin(name: str, caller: AnyCaller, request: Request) -> dict[str, Any]:
    """One plugin; a plugin the tenant does not use is unknown to it (404)."""
    if caller.identity.admin and caller.tenant is None:
        infos = server_of(request).catalog.plugins(available=True)
    else:
        infos = _visible(caller, request)
    for info in infos:
        if info.name == name:
            return _plugin(info, caller)
    raise ProblemError("not-found", f"unknown plugin {name!r}", tenant=caller.tenant)
