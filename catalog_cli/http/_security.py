"""Who is calling: the API key decides the tenant, and nothing in the request can change it.

A key is taken from ``Authorization: Bearer <key>`` or ``X-API-Key``. A request may name a
tenant (query ``tenant``/``customer``, header ``X-Tenant``/``X-Customer``, body field
``tenant``/``customer``), but for a tenant's key only its own: any other is refused (403) and
logged as a spoofing attempt. The admin key names the tenant it wants to look at that way.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Final, NamedTuple

from fastapi import Depends, Request

from .._auth import Identity
from ._problems import ProblemError, unauthenticated
from ._server import Server, config_of

log = logging.getLogger("catalog.serve")

_PARAMS: Final = ("tenant", "customer")
_HEADERS: Final = ("x-tenant", "x-customer")

#: The security schemes of the OpenAPI document. The key is read from the headers directly
#: (not through FastAPI's security dependencies, which cost more per request than the rest of
#: the authentication together); ``_openapi`` declares them for every /v1 operation.
SCHEMES: Final[dict[str, dict[str, Any]]] = {
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A tenant's API key (its calls and its own view) or an admin key.",
    },
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same keys, in a header of their own.",
    },
}
SECURITY: Final[list[dict[str, list[str]]]] = [{"HTTPBearer": []}, {"APIKeyHeader": []}]


def _presented(request: Request) -> set[str]:
    """The keys the request presents (empty strings are no keys)."""
    keys = set()
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            keys.add(credentials.strip())
    header = request.headers.get("x-api-key")
    if header:
        keys.add(header)
    return keys


class Caller(NamedTuple):
    """The authenticated caller, and the tenant the request is about (None: every tenant,
    for the admin key)."""

    identity: Identity
    tenant: str | None


def server_of(request: Request) -> Server:
    server: Server = request.app.state.catalog_server
    return server


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "?"


def refuse_spoofing(request: Request, identity: Identity, named: str) -> ProblemError:
    """403 for a tenant's key that names another tenant; logged, as an attack may be under way."""
    log.warning(
        "spoofing attempt refused: %s asked for tenant %r (%s %s from %s)",
        identity.describe(),
        named,
        request.method,
        request.url.path,
        _client(request),
    )
    return ProblemError(
        "forbidden",
        "the API key authenticates one tenant; a request cannot name another",
        tenant=identity.tenant,
    )


def check_named(request: Request, caller: Caller, *named: str | None) -> None:
    """Refuse a request whose body names a tenant other than the key's."""
    tenant = caller.identity.tenant
    for name in named:
        if name is not None and tenant is not None and name != tenant:
            raise refuse_spoofing(request, caller.identity, name)


def _authenticate(request: Request) -> Caller:
    keys = _presented(request)
    if not keys:
        raise unauthenticated(
            "send an API key: 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    if len(keys) > 1:
        raise unauthenticated("two different API keys in one request", invalid=True)
    identity = server_of(request).keyring().identify(keys.pop())
    if identity is None:
        log.warning(
            "unknown API key (%s %s from %s)", request.method, request.url.path, _client(request)
        )
        raise unauthenticated("unknown API key", invalid=True)
    request.state.tenant = identity.tenant
    named = {
        value
        for value in [
            *(request.query_params.get(p) for p in _PARAMS),
            *(request.headers.get(h) for h in _HEADERS),
        ]
        if value
    }
    if identity.tenant is not None:
        for name in sorted(named):
            if name != identity.tenant:
                raise refuse_spoofing(request, identity, name)
        return Caller(identity, identity.tenant)
    if len(named) > 1:
        raise ProblemError("bad-request", f"the request names several tenants: {sorted(named)}")
    tenant = named.pop() if named else None
    if tenant is not None:
        known = config_of(server_of(request).catalog).tenants
        if tenant not in known:
            raise ProblemError("not-found", f"unknown tenant {tenant!r}")
        request.state.tenant = tenant
    return Caller(identity, tenant)


async def authenticate(request: Request) -> Caller:
    return _authenticate(request)


async def _tenant_only(request: Request) -> Caller:
    caller = _authenticate(request)
    if caller.identity.admin:
        raise ProblemError(
            "forbidden",
            "admin keys do not run methods: call with the tenant's own API key",
        )
    return caller


async def _admin_only(request: Request) -> Caller:
    caller = _authenticate(request)
    if not caller.identity.admin:
        raise ProblemError(
            "forbidden", "this endpoint needs an admin key", tenant=caller.identity.tenant
        )
    return caller


#: any valid key (a tenant's sees its own tenant only)
AnyCaller = Annotated[Caller, Depends(authenticate)]
#: a tenant's key: runs methods as that tenant
TenantCaller = Annotated[Caller, Depends(_tenant_only)]
#: an admin key
AdminCaller = Annotated[Caller, Depends(_admin_only)]
