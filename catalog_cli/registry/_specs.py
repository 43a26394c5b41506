"""The hookspecs of one catalog, gathered once and handed to every tenant's PluginManager.

``add_hookspecs`` reads every attribute of what it is given; the modules that declare
interfaces also hold imports and helpers. So the specs are collected once into a small object
holding only them. An interface hook's spec is held as a method bound to that object: pluggy
leaves a bound first parameter out, so the spec it knows has no ``ctx``, just as the
implementations a tenant registers have theirs bound (callers never pass ``ctx``).

``add_hookspecs`` also parses each spec's signature anew for every manager; a catalog of many
tenants would pay for that per tenant. So the specs are parsed once, by one template manager,
and every tenant's manager gets hook callers of its own that share the template's parsed
specs (pluggy never changes a spec once made).

Every tenant's manager is a ``TenantManager``: pluggy's own, which also tells the catalog when
what its hook calls run may have changed (see ``runtime._direct``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import MethodType, ModuleType
from typing import Any, cast, final

import pluggy

from ..declarations import PROJECT
from ..declarations import _hooks as catalog_hooks


@final
class TenantManager(pluggy.PluginManager):
    """pluggy's PluginManager, unchanged, but for one thing: after a plugin is registered or
    unregistered, or hook calls are monitored, it calls what watches it (once each)."""

    # A class attribute until something watches: a catalog may hold many thousand managers.
    _catalog_watchers: list[Callable[[], None]] | tuple[()] = ()

    def catalog_watch(self, changed: Callable[[], None]) -> None:
        """Call ``changed`` once, after the next change to this manager's plugins or hook
        call monitoring."""
        watchers = self._catalog_watchers
        if isinstance(watchers, tuple):
            watchers = self._catalog_watchers = []
        watchers.append(changed)

    def _catalog_changed(self) -> None:
        watchers = self._catalog_watchers
        if watchers:
            self._catalog_watchers = []
            for changed in watchers:
                changed()

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        try:
            return super().register(plugin, name)
        finally:
            self._catalog_changed()

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        try:
            return super().unregister(plugin, name)
        finally:
            self._catalog_changed()

    def add_hookcall_monitoring(self, before: Any, after: Any) -> Callable[[], None]:
        try:
            return super().add_hookcall_monitoring(before, after)
        finally:
            self._catalog_changed()


class SpecNamespace:
    """Every hookspec of a catalog as an attribute, and nothing else."""

    def __init__(self, functions: Iterable[Callable[..., Any]]) -> None:
        names = []
        everything: list[Any] = [*catalog_hooks.ALL, *functions]
        for function in everything:
            code = function.__code__
            takes_ctx = code.co_argcount > 0 and code.co_varnames[0] == "ctx"
            setattr(self, function.__name__, MethodType(function, self) if takes_ctx else function)
            names.append(function.__name__)
        self._names = names
        template = self._parsed()
        #: (hook name, its parsed spec) for every hook, parsed once
        self._specs: tuple[tuple[str, Any], ...] | None = tuple(
            (name, getattr(template.hook, name).spec) for name in names
        )
        if any(spec.opts.get("historic") for _name, spec in self._specs):
            self._specs = None  # a historic hook keeps a call history: parsed per manager

    def __dir__(self) -> list[str]:
        return list(self._names)

    def __repr__(self) -> str:
        return f"<catalog hookspecs: {len(self._names)} hooks>"

    def _parsed(self) -> TenantManager:
        pm = TenantManager(PROJECT)
        # Typed as a module or a class, but pluggy reads any object through dir() and getattr.
        pm.add_hookspecs(cast(ModuleType, self))
        return pm

    def manager(self) -> TenantManager:
        """A new PluginManager holding these hookspecs and no plugins."""
        if self._specs is None:
            return self._parsed()
        pm = TenantManager(PROJECT)
        # What add_hookspecs does for a new hook, with the spec parsed already.
        execute = pm._hookexec
        relay = pm.hook.__dict__
        for name, spec in self._specs:
            caller = pluggy.HookCaller(name, execute)
            caller.spec = spec
            relay[name] = caller
        return pm
