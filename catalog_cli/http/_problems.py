"""Errors as RFC 9457 problem details, and the status each error of the catalog gets.

Errors the caller can act on (bad arguments, unknown names, limits, timeouts) say what is
wrong. Errors inside the server (a plugin that raised or returned a wrong value, a bug) say
only that the call failed, with the call id; the full error, with the plugin and traceback,
goes to the server log (logger ``catalog.serve``) under that id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Final

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from ..errors import CatalogError, ErrorRecord, ReloadError
from ..runtime import new_call_id
from ._json import encode

log = logging.getLogger("catalog.serve")

MEDIA_TYPE: Final = "application/problem+json"
_URN: Final = "urn:task-catalog:problem:"

#: problem type -> (status, title) for the problems the API answers with
KINDS: Final[Mapping[str, tuple[int, str]]] = {
    "bad-request": (400, "Bad request"),
    "unauthenticated": (401, "Missing or unknown API key"),
    "forbidden": (403, "Not allowed for this API key"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "request-timeout": (408, "Request timeout"),
    "conflict": (409, "Conflict"),
    "too-large": (413, "Request body too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "invalid-arguments": (422, "Invalid arguments"),
    "rate-limited": (429, "Rate limited"),
    "too-many-calls": (429, "Too many calls running"),
    "internal": (500, "Call failed"),
    "not-implemented": (501, "Not available on this server"),
    "tenant-unavailable": (503, "Tenant unavailable"),
    "circuit-open": (503, "Circuit open"),
    "overloaded": (503, "Server overloaded"),
    "stopping": (503, "Server shutting down"),
    "timeout": (504, "Call timed out"),
}

TENANT_UNAVAILABLE: Final = (
    "the tenant's configuration or plugins failed to load; the operator has the details in the "
    "server log"
)


class ProblemError(Exception):
    """Raised in the app: answered as problem details."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.status, self.title = KINDS[kind]
        if status is not None:
            self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = {k: v for k, v in extra.items() if v is not None}


def unauthenticated(detail: str, *, invalid: bool = False) -> ProblemError:
    challenge = 'Bearer realm="catalog"' + (', error="invalid_token"' if invalid else "")
    return ProblemError("unauthenticated", detail, headers={"WWW-Authenticate": challenge})


def _retry_after(seconds: float | None) -> tuple[dict[str, str], float | None]:
    if seconds is None:
        return {}, None
    return {"Retry-After": str(max(1, math.ceil(seconds)))}, seconds


def _version(error: ErrorRecord) -> str:
    return f"{error.interface} v{error.version}" if error.version else f"{error.interface}"


#: kinds of error that make a tenant fail closed: its configuration or a plugin is broken
_TENANT_BROKEN: Final = frozenset(
    {
        "config",
        "plugin",
        "plugin_load",
        "plugin_startup",
        "plugin_validation",
        "plugin_incompatible",
        "plugin_dependency",
    }
)


def public_problem(error: ErrorRecord) -> ProblemError | None:
    """The problem an error is for the caller, or None for a failure inside the server (see
    ``internal``). The one mapping of error kinds to statuses, for direct calls and for
    failed jobs alike."""
    kind, tenant = error.kind, error.tenant
    details = error.details or {}
    if kind == "invalid_arguments":
        problems = details.get("problems")
        return ProblemError(
            "invalid-arguments",
            error.message,
            errors=dict(problems) if isinstance(problems, Mapping) else None,
            tenant=tenant,
            call_id=error.call_id,
        )
    if kind in ("unknown_interface", "unknown_version"):
        return ProblemError("not-found", error.message, tenant=tenant)
    if kind == "unknown_tenant":
        # The key's tenant is gone from the catalog (a reload removed it mid-request).
        return unauthenticated("the API key's tenant no longer exists", invalid=True)
    if kind == "rate_limited":
        headers, seconds = _retry_after(details.get("retry_after"))
        return ProblemError(
            "rate-limited",
            f"tenant {tenant!r} is over its rate limit for {error.interface}; retry later",
            headers=headers,
            retry_after=seconds,
            tenant=tenant,
        )
    if kind == "concurrency_limited":
        return ProblemError(
            "too-many-calls",
            f"tenant {tenant!r} already has {details.get('limit')} calls running, its limit; "
            "retry when one has ended",
            headers={"Retry-After": "1"},
            retry_after=1.0,
            tenant=tenant,
        )
    if kind == "circuit_open":
        # Never the message: it quotes the last exception of the plugin.
        headers, seconds = _retry_after(details.get("retry_after"))
        return ProblemError(
            "circuit-open",
            f"{_version(error)} is failing for tenant {tenant!r}; calls are refused for now",
            headers=headers,
            retry_after=seconds,
            tenant=tenant,
        )
    if kind in ("call_refused", "overloaded"):
        # OverloadedError, or an interceptor's own refusal: try again later
        return ProblemError(
            "overloaded",
            f"{_version(error)} was refused for now (too many calls are still running past "
            "their deadline); retry later",
            headers={"Retry-After": "1"},
            retry_after=1.0,
            tenant=tenant,
        )
    if kind == "call_timeout":
        seconds = details.get("seconds")
        within = f"within {seconds:g} s" if isinstance(seconds, (int, float)) else "in time"
        return ProblemError(
            "timeout",
            f"{_version(error)} did not finish {within}",
            tenant=tenant,
            call_id=error.call_id,
        )
    if kind in _TENANT_BROKEN:
        return ProblemError("tenant-unavailable", TENANT_UNAVAILABLE, tenant=tenant)
    return None


def from_catalog_error(exc: CatalogError, *, tenant: str | None, where: str = "") -> ProblemError:
    """The problem a catalog error becomes; server-side failures are logged here."""
    problem = public_problem(exc.record()._replace(tenant=tenant))
    if problem is None:
        return internal(exc, tenant=tenant, where=where, call_id=getattr(exc, "call_id", None))
    if problem.kind == "tenant-unavailable":
        log.error("%stenant %r is unavailable (fails closed): %s", where, tenant, exc)
    return problem


def internal(
    exc: BaseException, *, tenant: str | None, where: str = "", call_id: str | None = None
) -> ProblemError:
    """A failure inside the server: logged in full, answered with the call id only."""
    call_id = call_id or new_call_id()
    log.error(
        "%scall %s for tenant %r failed: %s: %s",
        where,
        call_id,
        tenant,
        type(exc).__name__,
        exc,
        exc_info=exc,
    )
    return ProblemError(
        "internal",
        f"the call failed inside the server; the operator can look up call {call_id} "
        "in the server log",
        tenant=tenant,
        call_id=call_id,
    )


def reload_refused(exc: ReloadError) -> ProblemError:
    log.warning("reload refused: %s", exc)
    return ProblemError("conflict", str(exc))


def render(problem: ProblemError, instance: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": _URN + problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance is not None:
        body["instance"] = instance
    body.update(problem.extra)
    return Response(
        encode(body), status_code=problem.status, headers=problem.headers, media_type=MEDIA_TYPE
    )


def _where(request: Request) -> str:
    return f"{request.method} {request.url.path}: "


def _tenant(request: Request) -> str | None:
    return getattr(request.state, "tenant", None)


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return render(exc, request.url.path)


async def on_catalog_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CatalogError)
    problem = from_catalog_error(exc, tenant=_tenant(request), where=_where(request))
    return render(problem, request.url.path)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors: dict[str, str] = {}
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            return render(
                ProblemError("bad-request", "the request body is not valid JSON"),
                request.url.path,
            )
        if isinstance(error.get("input"), bytes):  # a body sent as something else than JSON
            return render(
                ProblemError(
                    "unsupported-media-type",
                    "send the body as JSON, with 'Content-Type: application/json'",
                ),
                request.url.path,
            )
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        errors[where or "body"] = str(error.get("msg", "invalid"))
    problem = ProblemError(
        "invalid-arguments",
        "the request does not fit the API: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
        errors=errors,
        tenant=_tenant(request),
    )
    return render(problem, request.url.path)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "bad-request")
    detail = exc.detail if isinstance(exc.detail, str) else KINDS[kind][1]
    if exc.status_code == 404:
        detail = f"no such endpoint: {request.url.path}"
    problem = ProblemError(kind, detail, headers=exc.headers, status=exc.status_code)
    return render(problem, request.url.path)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    return render(internal(exc, tenant=_tenant(request), where=_where(request)), request.url.path)
