"""Running one call's entry point in a fresh process, as the caller's chain would have.

For the timeout interceptor's process isolation: the caller ran the ``catalog_call``
interceptors; the child loads the same catalog file and runs only what they wrap (the entry
point, with the plugin-point interceptors told of the call), under the caller's call id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..registry import VersionChoice, VersionSource, load_registry
from ._intercept import Call, Chain, current_call
from ._runtimes import Runtimes


def run_entry_point(
    path: str | Path,
    tenant: str,
    interface: str,
    version: int,
    source: VersionSource,
    call_id: str,
    arguments: dict[str, Any],
) -> tuple[Any, str, str]:
    """The result of the entry point, the built-in plugin that implements it and the
    declared return type (raises the catalog's errors as a call would)."""
    runtimes = Runtimes(load_registry(Path(path)), {})
    try:
        prepared = runtimes.prepared(tenant, VersionChoice(interface, version, source))
        bound = prepared.declared.bind(dict(arguments))
        # On the async path the prepared call's entry is its bridge from plain code; what it
        # runs (the chain, or the entry point itself) is ``aentry``.
        asynchronous = prepared.asynchronous
        entry = prepared.aentry if asynchronous else prepared.entry
        owner = getattr(entry, "__self__", None)  # ``Chain.acall``: the chain's own method
        if isinstance(owner, Chain):
            entry = owner
        token = None
        if isinstance(entry, Chain):
            token = current_call.set(Call(entry, bound))
            prepared_entry = entry.entry
        else:
            prepared_entry = entry
        try:
            from ._prepared import PreparedCall

            inner = PreparedCall(
                tenant,
                prepared.declared,
                source,
                prepared_entry,
                prepared.implementation,
                prepared.codes,
                asynchronous=asynchronous,
            )
            result = inner.invoke(bound, call_id)
            return result, prepared.implementation, prepared.declared.returns
        finally:
            if token is not None:
                current_call.reset(token)
    finally:
        runtimes.close()
