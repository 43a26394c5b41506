"""Which of a tenant's plugins run in worker processes, and whether they can.

A plugin isolated with ``isolation = "process"`` runs in a pool of worker processes of its
tenant (see ``runtime/_workers``): what it is given and what it returns cross the process
boundary as data. So, checked when the tenant is planned, before anything runs:

- every plugin point it implements passes data (each parameter's annotation is a data type)
  and returns data;
- it implements no wrapper (a wrapper runs around the other implementations, in the
  catalog's process) and observes no events (the event objects are not data).

Its lifecycle hooks (startup, shutdown, health) run in its workers.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from ..config._isolation import TenantIsolation, WorkerLimits
from ..declarations import Interface
from ..declarations import _hooks as catalog_hooks
from ..declarations._types import UnsupportedTypeError, compile_type
from ..errors import PluginValidationError
from ._plugins import CheckedPlugin

#: What crosses to a worker and back: for messages.
DATA: str = (
    "str, int, float, bool, None, Any, list[T], dict[str, T], Literal[...] or unions of these"
)


class Isolation(NamedTuple):
    """The tenant's plugins that run in its worker pool, and the pool's limits."""

    plugins: frozenset[str]
    limits: WorkerLimits


def isolated_names(
    isolation: TenantIsolation, selected: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(the selected plugins ``isolation`` names, its patterns that match none of them)."""
    names = list(selected)
    found: list[str] = []
    unmatched: list[str] = []
    for pattern in isolation.plugins:
        matches = fnmatch.filter(names, pattern)
        if not matches and pattern != "*":
            unmatched.append(pattern)
        found.extend(m for m in matches if m not in found)
    return found, unmatched


def check_isolated(plugin: CheckedPlugin, interfaces: Mapping[str, Interface], tenant: str) -> None:
    """Raise PluginValidationError (the tenant fails closed) if ``plugin`` cannot run in a
    worker process (see the module docstring)."""
    for impl in plugin.implementations:
        info = impl.info

        def refuse(problem: str, hook: str = info.hook) -> PluginValidationError:
            return PluginValidationError(
                plugin.name,
                f'{problem} (isolation = "process" for this tenant)',
                hook=hook,
                tenant=tenant,
            )

        if inspect.iscoroutinefunction(impl.function) or inspect.isasyncgenfunction(impl.function):
            raise refuse(
                "an isolated plugin's implementations are plain def functions: its worker "
                "process runs no event loop"
            )
        if not info.interface:
            if info.hook in catalog_hooks.LIFECYCLE:
                continue
            raise refuse(
                "an isolated plugin cannot observe events: the event objects do not cross to "
                "its worker process; move the observer to a plugin that runs in-process"
            )
        if impl.wrapper:
            raise refuse(
                "an isolated plugin cannot implement a wrapper: a wrapper runs around the "
                "other implementations, in the catalog's process; move it to a plugin that "
                "runs in-process"
            )
        version = interfaces[info.interface].versions[info.version]
        point = version.points.get(info.point) if info.point is not None else None
        if point is None:  # a customer plugin implements entry points only as wrappers
            continue
        for param in point.parameters:
            if param.name not in impl.argnames:
                continue
            try:
                compile_type(param.hint)
            except UnsupportedTypeError:
                raise refuse(
                    f"plugin point {point.name!r} of {point.interface} v{point.version} passes "
                    f"{param.name!r} as {param.annotation}, which is not a data type: an "
                    f"isolated plugin's arguments cross to its worker process as data "
                    f"({DATA})"
                ) from None
        if point.return_type is None:
            shown = re.sub(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)", r"\1", point.returns)
            raise refuse(
                f"plugin point {point.name!r} of {point.interface} v{point.version} returns "
                f"{shown}, which is not a data type: an isolated plugin's results "
                f"cross back from its worker process as data ({DATA})"
            )
