"""A call as data: what background jobs store and batch workers receive, and what comes back.

A request names the tenant, the interface, an optional version and JSON arguments; it is
resolved against the catalog where it runs, so it travels between processes and machines as
plain JSON. Its answer records the result or the error, never raises.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import CatalogError, ErrorRecord, InvalidArgumentsError

if TYPE_CHECKING:
    from ..registry import VersionChoice
    from ..runtime import Trace

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class CallRequest(NamedTuple):
    """One call, as data."""

    tenant: str
    interface: str
    version: int | None = None
    arguments: Mapping[str, Any] = _EMPTY

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "interface": self.interface,
            "version": self.version,
            "arguments": dict(self.arguments),
        }

    @classmethod
    def from_dict(cls, data: Any) -> CallRequest:
        """A request from decoded JSON; raises InvalidArgumentsError naming what is wrong."""
        if not isinstance(data, Mapping):
            raise InvalidArgumentsError("?", 0, {"request": "expected a JSON object"})
        problems: dict[str, str] = {}
        unknown = sorted(set(data) - set(cls._fields))
        for name in unknown:
            problems[name] = f"unknown field (fields: {', '.join(cls._fields)})"
        tenant, interface = data.get("tenant"), data.get("interface")
        version, arguments = data.get("version"), data.get("arguments", {})
        if not isinstance(tenant, str) or not tenant:
            problems["tenant"] = "expected a tenant id"
        if not isinstance(interface, str) or not interface:
            problems["interface"] = "expected an interface name"
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1
        ):
            problems["version"] = "expected a version number (an integer >= 1) or null"
        if not isinstance(arguments, Mapping):
            problems["arguments"] = "expected a JSON object of arguments"
        if problems:
            name = interface if isinstance(interface, str) else "?"
            raise InvalidArgumentsError(name, version if isinstance(version, int) else 0, problems)
        return cls(str(tenant), str(interface), version, dict(arguments))


class CallAnswer(NamedTuple):
    """What became of a request: its result, or its error as data."""

    ok: bool
    result: Any = None
    error: ErrorRecord | None = None
    #: the version that ran and which rule chose it (None when the call failed before)
    version: int | None = None
    version_source: str | None = None
    call_id: str | None = None
    seconds: float = 0.0
    #: with ``trace=True``: what ran, as a tree (for a failed call too)
    trace: Trace | None = None
    #: the error itself, for callers in this process that raise it (never serialised)
    exception: CatalogError | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "ok": self.ok,
            "result": self.result,
            "error": self.error.to_dict() if self.error is not None else None,
            "version": self.version,
            "version_source": self.version_source,
            "call_id": self.call_id,
            "seconds": self.seconds,
        }
        if self.trace is not None:
            data["trace"] = self.trace.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallAnswer:
        """An answer read back from JSON (a job's, a batch worker's)."""
        error = data.get("error")
        return cls(
            bool(data.get("ok")),
            data.get("result"),
            ErrorRecord.from_dict(error) if isinstance(error, Mapping) else None,
            data.get("version"),
            data.get("version_source"),
            data.get("call_id"),
            float(data.get("seconds") or 0.0),
        )

    def raise_error(self) -> None:
        """Raise the call's error, if it failed."""
        if self.exception is not None:
            raise self.exception
        if self.error is not None:
            raise CatalogError(self.error.message)


def failed(exc: CatalogError, started: float, choice: VersionChoice | None = None) -> CallAnswer:
    """The answer of a call that raised ``exc``."""
    return CallAnswer(
        False,
        error=exc.record(),
        version=choice.version if choice is not None else None,
        version_source=choice.source if choice is not None else None,
        call_id=getattr(exc, "call_id", None),
        seconds=time.perf_counter() - started,
        trace=exc.trace,  # type: ignore[arg-type]
        exception=exc,
    )
