"""The OpenAPI document: problem responses documented as ``application/problem+json``."""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ._models import Problem
from ._problems import MEDIA_TYPE
from ._security import SCHEMES, SECURITY

_WHEN: Final = {
    400: "The request body is not valid JSON, or the admin key names several tenants",
    401: "No API key, an unknown one, or two different ones (`WWW-Authenticate: Bearer`)",
    403: "The key may not do this: another tenant named, an admin key running a method, "
    "or a tenant key on an admin endpoint",
    404: "Unknown interface, version, plugin or job (another tenant's is unknown too), or "
    "an unknown tenant named by the admin key",
    409: "The reload was refused (the catalog as loaded before serves on), or the job is "
    "neither failed nor dead",
    413: "The request body is larger than the server takes (`$CATALOG_MAX_BODY`)",
    415: "A body that is not sent as JSON (`Content-Type: application/json`)",
    422: "Invalid arguments for the method, or a body that does not fit the API",
    429: "The tenant is over its rate limit (`Retry-After`)",
    500: "A failure inside the server; `call_id` finds it in the server log",
    501: "The server lacks an optional package for this (e.g. prometheus_client)",
    503: "The tenant fails closed, the circuit breaker is open (`Retry-After`), or the server "
    "is shutting down",
    504: "The call did not finish in time (`X-Timeout`, or the `timeout` interceptor)",
}

#: what any /v1 operation may answer, whatever the route: the guard and the tenant named
_EVERY: Final = (400, 401, 403, 404, 413, 500)

#: the response headers of statuses that carry one
_HEADERS: Final[dict[str, dict[str, dict[str, Any]]]] = {
    "202": {
        "Location": {
            "description": "where to poll the job: `/v1/jobs/{id}`",
            "schema": {"type": "string"},
        }
    },
    "401": {
        "WWW-Authenticate": {
            "description": '`Bearer realm="catalog"`, with `error="invalid_token"` for a '
            "key that was sent but refused",
            "schema": {"type": "string"},
        }
    },
    "429": {
        "Retry-After": {
            "description": "seconds until a retry may succeed",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "503": {
        "Retry-After": {
            "description": "for an open circuit: seconds until a retry may succeed",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def _naming(name: str, where: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": False,
        "schema": {"type": "string"},
        "description": "a tenant: for a tenant's key only its own (else 403); the admin key "
        "narrows the view to this tenant (unknown: 404; two different ones: 400)",
    }


#: where a request may name a tenant (and the body fields `tenant` / `customer` of a call)
_TENANT_PARAMETERS: Final = [
    _naming("tenant", "query"),
    _naming("customer", "query"),
    _naming("X-Tenant", "header"),
    _naming("X-Customer", "header"),
]


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the problem statuses it may answer with (besides
    ``_EVERY``, which every /v1 operation gets)."""
    return {code: {"model": Problem, "description": _WHEN[code]} for code in codes}


def build(app: FastAPI) -> dict[str, Any]:
    """The document, made once: FastAPI's, with problem responses as problem+json."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    problem = {"$ref": "#/components/schemas/Problem"}
    schema.setdefault("components", {})["securitySchemes"] = SCHEMES
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if path.startswith("/v1/"):
                operation["security"] = SECURITY
                parameters = operation.setdefault("parameters", [])
                declared = {(p["name"].lower(), p["in"]) for p in parameters}
                parameters += [
                    p for p in _TENANT_PARAMETERS if (p["name"].lower(), p["in"]) not in declared
                ]
                for code in _EVERY:
                    responses.setdefault(
                        str(code),
                        {"description": _WHEN[code], "content": {MEDIA_TYPE: {"schema": problem}}},
                    )
            for status, headers in _HEADERS.items():
                if status in responses:
                    responses[status].setdefault("headers", {}).update(headers)
            for status, response in responses.items():
                content = response.get("content", {})
                if status[:1] in "45" and "application/json" in content:
                    content[MEDIA_TYPE] = content.pop("application/json")
                if status == "422":  # FastAPI's own, where the route did not list it
                    response["description"] = _WHEN[422]
                    content[MEDIA_TYPE] = {"schema": problem}
            operation["responses"] = dict(sorted(responses.items()))
    # Request validation errors are answered as problems too (see _problems).
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema
