"""The OpenAPI document: problem responses documented as ``application/problem+json``."""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ._models import Problem
from ._problems import MEDIA_TYPE
from ._security import SCHEMES, SECURITY

_WHEN: Final = {
    400: "The request body is not valid JSON, or the request names several tenants",
    401: "No API key, or an unknown one (`WWW-Authenticate: Bearer`)",
    403: "The key may not do this: another tenant named, an admin key running a method, "
    "or a tenant key on an admin endpoint",
    404: "Unknown interface, version, plugin or job (another tenant's is unknown too)",
    409: "The reload was refused; the catalog as loaded before serves on",
    415: "A body that is not sent as JSON (`Content-Type: application/json`)",
    422: "Invalid arguments for the method, or a body that does not fit the API",
    429: "The tenant is over its rate limit (`Retry-After`)",
    500: "The call failed inside the server; `call_id` finds it in the server log",
    501: "The server lacks an optional package for this (e.g. prometheus_client)",
    503: "The tenant fails closed, or the circuit breaker is open (`Retry-After`)",
    504: "The call did not finish in time (`X-Timeout`, or the `timeout` interceptor)",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the problem statuses it may answer with."""
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
            if path.startswith("/v1/"):
                operation["security"] = SECURITY
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[:1] in "45" and "application/json" in content:
                    content[MEDIA_TYPE] = content.pop("application/json")
                if status == "422":  # FastAPI's own, where the route did not list it
                    response["description"] = _WHEN[422]
                    content[MEDIA_TYPE] = {"schema": problem}
    # Request validation errors are answered as problems too (see _problems).
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    app.openapi_schema = schema
    return schema
