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
from starlette.datastructures import Headers, QueryParams
from starlette.types import Scope

from ..config._keys import Identity
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


#: where the guard leaves the authenticated caller, in the request's scope state
_CALLER: Final = "catalog_caller"


class Caller(NamedTuple):
    """The authenticated caller, and the tenant the request is about (None: every tenant,
    for the admin key)."""

    identity: Identity
    tenant: str | None


def server_of(request: Request) -> Server:
    server: Server = request.app.state.catalog_server
    return server


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "?"


def _where(scope: Scope) -> str:
    return f"{scope.get('method', '?')} {scope.get('path', '?')} from {_client(scope)}"


def _presented(headers: Headers) -> str | None:
    """The one key the request presents, or None. Two different keys, also in one header
    repeated with another value, are refused: which one counts would be a guess."""
    authorizations = set(headers.getlist("authorization"))
    api_keys = set(headers.getlist("x-api-key"))
    if len(authorizations) > 1 or len(api_keys) > 1:
        raise unauthenticated(
            "a key header is repeated with different values: send one key", invalid=True
        )
    keys = {key for key in api_keys if key}
    for authorization in authorizations:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            keys.add(credentials.strip())
    if len(keys) > 1:
        raise unauthenticated("two different API keys in one request", invalid=True)
    return keys.pop() if keys else None


def _named(scope: Scope, headers: Headers) -> set[str]:
    """Every tenant the request names, in every repetition of each parameter and header."""
    query = QueryParams(scope.get("query_string", b""))
    values = [v for p in _PARAMS for v in query.getlist(p)]
    values += [v for h in _HEADERS for v in headers.getlist(h)]
    return {value for value in values if value}


def refuse_spoofing(scope: Scope, identity: Identity, named: str) -> ProblemError:
    """403 for a tenant's key that names another tenant; logged, as an attack may be under way."""
    log.warning(
        "spoofing attempt refused: %s asked for tenant %r (%s)",
        identity.describe(),
        named,
        _where(scope),
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
            raise refuse_spoofing(request.scope, caller.identity, name)


def identify(server: Server, scope: Scope) -> Caller:
    """Who sends the request in ``scope``, from its headers and query alone (the body is not
    read yet); raises ProblemError (401, 403, 400, 404). The caller is kept in the scope."""
    headers = Headers(scope=scope)
    key = _presented(headers)
    if key is None:
        raise unauthenticated(
            "send an API key: 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )
    identity = server.keyring().identify(key)
    if identity is None:
        log.warning("unknown API key (%s)", _where(scope))
        raise unauthenticated("unknown API key", invalid=True)
    state = scope.setdefault("state", {})
    state["tenant"] = identity.tenant
    named = _named(scope, headers)
    if identity.tenant is not None:
        for name in sorted(named):
            if name != identity.tenant:
                raise refuse_spoofing(scope, identity, name)
        caller = Caller(identity, identity.tenant)
    else:
        if len(named) > 1:
            raise ProblemError("bad-request", f"the request names several tenants: {sorted(named)}")
        tenant = named.pop() if named else None
        if tenant is not None:
            if tenant not in config_of(server.catalog).tenants:
                raise ProblemError("not-found", f"unknown tenant {tenant!r}")
            state["tenant"] = tenant
        caller = Caller(identity, tenant)
    state[_CALLER] = caller
    return caller


def _authenticate(request: Request) -> Caller:
    # The guard (``_guard``) has identified the caller before the body was read.
    caller = request.scope.get("state", {}).get(_CALLER)
    if isinstance(caller, Caller):
        return caller
    return identify(server_of(request), request.scope)


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
