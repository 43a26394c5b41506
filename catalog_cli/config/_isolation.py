"""``[isolation]`` and a tenant's ``isolation``: plugins whose code runs in worker processes.

``[isolation]`` holds the limits of every tenant's worker pool (defaults below); a tenant
says which of its plugins run isolated, and may override limits of its own pool:

.. code-block:: toml

    [isolation]               # every pool's limits (all optional)
    workers = 2
    memory_mib = 256

    [tenants.c1]
    isolation = "process"     # every plugin of c1

    [tenants.c2.isolation]    # some plugins of c2, with limits of c2's own
    plugins = ["customer_2.price_quote"]
    cpu_seconds = 1
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from ._config import _Checker

#: The limits of a worker pool, in ``[isolation]`` and a tenant's ``isolation`` table.
LIMIT_KEYS: Final = (
    "workers",
    "memory_mib",
    "cpu_seconds",
    "wall_seconds",
    "open_files",
    "start_timeout",
)
#: A tenant's ``isolation`` table: which plugins, and limits over ``[isolation]``'s.
TENANT_KEYS: Final = ("plugins", *LIMIT_KEYS)
#: What ``isolation = "..."`` may say: every plugin in worker processes, or none.
MODES: Final = ("process", "none")


class WorkerLimits(NamedTuple):
    """The limits of one tenant's worker pool (None in a tenant's: ``[isolation]``'s)."""

    #: worker processes in the pool
    workers: int | None = None
    #: address space of a worker (RLIMIT_AS), MiB
    memory_mib: int | None = None
    #: CPU time one call may use (RLIMIT_CPU, re-armed per call), whole seconds
    cpu_seconds: int | None = None
    #: wall-clock deadline of one call, seconds
    wall_seconds: float | None = None
    #: files a worker may have open (RLIMIT_NOFILE)
    open_files: int | None = None
    #: seconds a worker may take to start (import the plugins, run their startup hooks)
    start_timeout: float | None = None

    def over(self, defaults: WorkerLimits) -> WorkerLimits:
        """These limits, ``defaults``' where these say nothing."""
        found: dict[str, Any] = {
            name: own if own is not None else default
            for name, own, default in zip(self._fields, self, defaults, strict=True)
        }
        return WorkerLimits(**found)

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


#: The limits when catalog.toml sets none.
DEFAULT_WORKER_LIMITS: Final = WorkerLimits(
    workers=2, memory_mib=256, cpu_seconds=2, wall_seconds=5.0, open_files=64, start_timeout=30.0
)


class TenantIsolation(NamedTuple):
    """A tenant's ``isolation``: the plugins (names or patterns) that run in its worker pool,
    and its own limits over the catalog's."""

    plugins: tuple[str, ...] = ("*",)
    limits: WorkerLimits = WorkerLimits()

    def to_dict(self) -> dict[str, Any]:
        return {"plugins": list(self.plugins), "limits": self.limits.to_dict()}


def _integer(low: int, high: int) -> Callable[[Any], str | None]:
    def problem(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"expected an integer from {low} to {high}, got {value!r}"
        return None

    return problem


def _seconds(high: float) -> Callable[[Any], str | None]:
    def problem(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= high:
            return f"expected a number of seconds above 0 and at most {high:g}, got {value!r}"
        return None

    return problem


_CHECKS: Final[Mapping[str, Callable[[Any], str | None]]] = {
    "workers": _integer(1, 64),
    # below 64 MiB not even the interpreter starts
    "memory_mib": _integer(64, 1_048_576),
    "cpu_seconds": _integer(1, 86400),
    "wall_seconds": _seconds(86400),
    # the worker itself needs a few (its pipes, the interpreter's files)
    "open_files": _integer(16, 1_048_576),
    "start_timeout": _seconds(3600),
}


def read_limits(check: _Checker, table: Mapping[str, Any], key: tuple[str, ...]) -> WorkerLimits:
    """The limits in ``table`` (``[isolation]``, or a tenant's table): None where not set."""
    found: dict[str, Any] = {}
    for name in LIMIT_KEYS:
        if name not in table:
            continue
        value = table[name]
        problem = _CHECKS[name](value)
        if problem is not None:
            check.add((*key, name), problem)
            continue
        found[name] = float(value) if name in ("wall_seconds", "start_timeout") else value
    return WorkerLimits(**found)


def read_catalog(check: _Checker, raw: Any) -> WorkerLimits:
    """``[isolation]``: the limits of every tenant's pool."""
    key = ("isolation",)
    table = check.table(raw, key)
    check.known_keys(table, key, LIMIT_KEYS)
    return read_limits(check, table, key).over(DEFAULT_WORKER_LIMITS)


def read_tenant(
    check: _Checker,
    table: Mapping[str, Any],
    key: tuple[str, ...],
    pattern_problem: Callable[[str], str | None],
) -> TenantIsolation | None:
    """A tenant's ``isolation``: ``"process"`` (every plugin), ``"none"``, or a table."""
    if "isolation" not in table:
        return None
    raw = table["isolation"]
    where = (*key, "isolation")
    if isinstance(raw, str):
        if raw not in MODES:
            check.add(
                where,
                f'expected "process" (every plugin of the tenant in worker processes), '
                f'"none", or a table (plugins = [...] and limits), got {raw!r}',
            )
            return None
        return TenantIsolation() if raw == "process" else None
    if not isinstance(raw, dict):
        check.add(where, f'expected "process", "none" or a table, got {type(raw).__name__}')
        return None
    check.known_keys(raw, where, TENANT_KEYS)
    plugins: tuple[str, ...] = ("*",)
    if "plugins" in raw:
        plugins = check.strings(raw, where, "plugins", pattern_problem)
        if raw["plugins"] == []:
            check.add((*where, "plugins"), "an empty list isolates nothing: name plugins")
    return TenantIsolation(plugins, read_limits(check, raw, where))
