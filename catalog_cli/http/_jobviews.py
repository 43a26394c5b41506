"""A job as the API shows it: its error says no more than the same direct call would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .._jobs import Job

#: error type -> the status of the same error on a direct call, for errors the caller can act
#: on; their messages are kept
_CLIENT: Final = {
    "InvalidArgumentsError": 422,
    "UnknownInterfaceError": 404,
    "UnknownVersionError": 404,
    "UnknownTenantError": 404,
    "RateLimitedError": 429,
    "CircuitOpenError": 503,
    "CallTimeoutError": 504,
}
#: errors that make the tenant fail closed
_UNAVAILABLE: Final = frozenset(
    {
        "ConfigError",
        "PluginLoadError",
        "PluginStartupError",
        "PluginValidationError",
        "PluginIncompatibleError",
        "PluginDependencyError",
    }
)


def _error(error: Any, call_id: str | None, *, admin: bool) -> dict[str, Any] | None:
    if error is None:
        return None
    kind = str(error.get("type", "Exception"))
    message = str(error.get("message", ""))
    exit_code = int(error.get("exit_code", 1))
    if kind in _CLIENT:
        return {"type": kind, "status": _CLIENT[kind], "detail": message, "exit_code": exit_code}
    if kind in _UNAVAILABLE:
        status = 503
        detail = "the tenant's configuration or plugins failed to load"
    else:
        status = 500
        detail = "the call failed inside the server" + (
            f"; the operator can look up call {call_id} in the server log" if call_id else ""
        )
    # The operator (admin key) sees the error itself, as the server log has it.
    return {
        "type": kind,
        "status": status,
        "detail": message if admin else detail,
        "exit_code": exit_code,
    }


def job_view(job: Job, *, admin: bool) -> dict[str, Any]:
    """``job`` as JSON data; a server-side error is reduced to its kind and the call id."""
    return {
        "id": job.id,
        "tenant": job.tenant,
        "interface": job.interface,
        "version": job.version,
        "arguments": dict(job.arguments),
        "status": job.status,
        "attempts": job.attempts,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "result": job.result,
        "error": _error(job.error, job.call_id, admin=admin),
        "ran_version": job.ran_version,
        "version_source": job.version_source,
        "call_id": job.call_id,
    }
