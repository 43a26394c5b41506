"""Exit codes: what each kind of error ends the ``catalog`` command with.

The engine reports errors by kind (``ErrorRecord.kind``); this table is the one place that
turns them into the documented exit codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from ..errors import CatalogError, ErrorRecord

OK: Final = 0
INTERNAL: Final = 1
USAGE: Final = 2
CONFIG: Final = 3
UNKNOWN_NAME: Final = 4
INVALID_ARGUMENTS: Final = 5
PLUGIN: Final = 6
PLUGIN_CALL: Final = 7
TIMEOUT: Final = 8
DECLARATION: Final = 9
PROBLEMS: Final = 10
UNHEALTHY: Final = 11
REFUSED: Final = 12
BATCH_FAILED: Final = 13
SERVE: Final = 14
#: ``catalog check`` and ``catalog lock``: a breaking change to a locked interface version
CONTRACT_BROKEN: Final = 15
#: ``catalog lock --check``: the lock is missing or does not record what is declared
LOCK_STALE: Final = 16
#: ``catalog replay``: some replayed calls differ from the recording, or failed
REPLAY_DIFFERS: Final = 17
INTERRUPTED: Final = 130

#: error kind -> exit code
CODES: Final[Mapping[str, int]] = MappingProxyType(
    {
        "error": INTERNAL,
        "internal": INTERNAL,
        "config": CONFIG,
        "job_store": CONFIG,
        "lock_file": CONFIG,
        "revision": CONFIG,
        "reload": CONFIG,
        "plugin_change": CONFIG,
        "state_file": CONFIG,
        "executor": CONFIG,
        "declaration": DECLARATION,
        "unknown_name": UNKNOWN_NAME,
        "unknown_interface": UNKNOWN_NAME,
        "unknown_version": UNKNOWN_NAME,
        "unknown_tenant": UNKNOWN_NAME,
        "unknown_canary": UNKNOWN_NAME,
        "unknown_plugin": UNKNOWN_NAME,
        "unknown_interceptor": UNKNOWN_NAME,
        "unknown_plugin_point": UNKNOWN_NAME,
        "unknown_job": UNKNOWN_NAME,
        "unknown_revision": UNKNOWN_NAME,
        "invalid_arguments": INVALID_ARGUMENTS,
        "plugin": PLUGIN,
        "plugin_load": PLUGIN,
        "plugin_startup": PLUGIN,
        "plugin_validation": PLUGIN,
        "plugin_incompatible": PLUGIN,
        "plugin_dependency": PLUGIN,
        "plugin_call": PLUGIN_CALL,
        "result_validation": PLUGIN_CALL,
        "worker_died": PLUGIN_CALL,
        "call_timeout": TIMEOUT,
        "call_refused": REFUSED,
        "circuit_open": REFUSED,
        "rate_limited": REFUSED,
        "concurrency_limited": REFUSED,
        "overloaded": REFUSED,
        "batch_failed": BATCH_FAILED,
        "replay_differs": REPLAY_DIFFERS,
        "serve": SERVE,
        "scaffold": USAGE,
        "async_required": USAGE,
        "job_state": USAGE,
        "cancelled": INTERRUPTED,
        "interrupted": INTERRUPTED,
    }
)


def code_of(kind: str) -> int:
    return CODES.get(kind, INTERNAL)


def exit_code(error: CatalogError | ErrorRecord | type[CatalogError]) -> int:
    """The exit code of an error (or its class), or of an error record."""
    return code_of(error.kind)


def with_exit_code(error: ErrorRecord | None) -> dict[str, object] | None:
    """An error record as JSON for people's tools, with the exit code it stands for."""
    if error is None:
        return None
    return {**error.to_dict(), "exit_code": exit_code(error)}
