"""The ``cache`` interceptor: answers a repeated call from memory for ``ttl`` seconds.

Caching changes what a method means (a plugin's side effects happen once per ``ttl``, and
its result may be that old), so switch it on for the interfaces that are pure functions of
their arguments, by name::

    [interceptors.cache]
    include = { interfaces = ["price_quote"] }   # recommended: the scope is the opt-in
    settings = { ttl = 30, max_entries = 500 }

Without ``include.interfaces`` the tenants in its scope fail closed, saying so: the cache is
opt-in per interface.

A result is found again only for the same tenant, interface, version, catalog generation and
arguments: the cache lives in the tenant's own interceptor state, its key names the tenant
too, and a reload (new plugin code or settings) starts it afresh. Arguments are compared by
value and type (``1``, ``1.0``, ``True`` and ``"1"`` differ; so do a list and a tuple); a
call with an argument the cache cannot compare by value (any object other than None, bool,
int, float, str, bytes, an Enum member, or a list, tuple, dict, set or frozenset of those) is
run and not cached. Errors are never cached. Each caller gets its own deep copy of a cached
result, so changing it changes nothing for the next caller.

Concurrent first calls with the same arguments each run the method; the last to finish is
kept. ``max_entries`` bounds the entries of one tenant (over all the interfaces it caches);
the least recently used go first.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Hashable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, Final

from catalog_cli import PluginMeta, hookimpl
from catalog_cli.config import Option, Options, at_least, positive

if TYPE_CHECKING:
    from catalog_cli import Call, InterceptorContext

PLUGIN = PluginMeta(
    description="Answers repeated calls (same tenant, interface, version and arguments) "
    "from a per-tenant in-memory cache for `ttl` seconds; errors are never cached",
    settings=Options(
        Option("ttl", "float", 60.0, "seconds a result is served from the cache", positive),
        Option(
            "max_entries",
            "int",
            1024,
            "results kept per tenant; the least recently used go first",
            at_least(1),
        ),
    ),
)

ORDER: Final = 500

#: Caching changes what a method means: the catalog refuses it without include.interfaces.
OPT_IN: Final = True

#: The clock (tests replace it).
_now = time.monotonic

_ATOMS: Final = (type(None), bool, int, str, bytes)


class Uncacheable(Exception):
    """An argument the cache cannot compare by value."""


class _Store:
    """One tenant's cached results: key -> (expiry, result), least recently used first."""

    __slots__ = ("entries", "generation", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self.generation = -1


def canonical(value: Any) -> Hashable:
    """A hashable form of ``value`` equal for equal values of the same types; raises
    Uncacheable for anything else (an object's equality and hash may not follow its value)."""
    kind = type(value)
    if kind in _ATOMS:
        return (kind, value)
    if kind is float:
        # repr tells -0.0 from 0.0 (a plugin may print either) and finds NaN again
        return (float, repr(value))
    if isinstance(value, Enum):
        return (kind, value.name)
    if kind is list or kind is tuple:
        return (kind, tuple(canonical(v) for v in value))
    if kind is dict:
        return (dict, frozenset((canonical(k), canonical(v)) for k, v in value.items()))
    if kind is set or kind is frozenset:
        return (kind, frozenset(canonical(v) for v in value))
    raise Uncacheable(f"{kind.__module__}.{kind.__qualname__}")


def _store(state: dict[str, Any]) -> _Store:
    found = state.get("store")
    if found is None:
        # setdefault is atomic: threads racing here all get the same store
        found = state.setdefault("store", _Store())
    return found  # type: ignore[no-any-return]


def _key(ctx: InterceptorContext, call: Call) -> Hashable | None:
    try:
        arguments = canonical(dict(call.arguments))
    except Uncacheable as exc:
        ctx.log.debug(
            "not caching %s v%s for tenant %r (call %s): argument of type %s",
            call.interface,
            call.version,
            call.tenant,
            call.call_id,
            exc,
        )
        return None
    return (call.tenant, call.interface, call.version, call.generation, arguments)


def _lookup(store: _Store, key: Hashable, generation: int) -> tuple[Any] | None:
    with store.lock:
        if generation > store.generation:
            # A reload: results of the old plugins and settings are never served again.
            store.entries.clear()
            store.generation = generation
        found = store.entries.get(key)
        if found is None:
            return None
        expires, value = found
        if _now() >= expires:
            del store.entries[key]
            return None
        store.entries.move_to_end(key)
    return (value,)


def _keep(store: _Store, key: Hashable, value: Any, settings: Mapping[str, Any]) -> None:
    with store.lock:
        store.entries[key] = (_now() + settings["ttl"], value)
        store.entries.move_to_end(key)
        while len(store.entries) > settings["max_entries"]:
            store.entries.popitem(last=False)


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    key = _key(ctx, call)
    if key is None:
        return (yield)
    store = _store(ctx.state)
    # Stored values are never changed, so copying one needs no lock.
    found = _lookup(store, key, call.generation)
    if found is not None:
        call.respond(copy.deepcopy(found[0]))
        return (yield)
    result = yield
    try:
        kept = copy.deepcopy(result)
    except Exception as exc:  # a result that cannot be copied cannot be shared safely
        ctx.log.debug(
            "not caching %s v%s for tenant %r (call %s): result not copyable: %s: %s",
            call.interface,
            call.version,
            call.tenant,
            call.call_id,
            type(exc).__name__,
            exc,
        )
        return result
    _keep(store, key, kept, ctx.settings)
    return result
