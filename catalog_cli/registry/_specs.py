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

import threading
from collections.abc import Callable, Iterable
from types import MethodType, ModuleType
from typing import Any, Final, cast, final

import pluggy

from ..declarations import PROJECT
from ..declarations import _hooks as catalog_hooks

#: Guards every TenantManager's watchers and count of changes (changes are rare).
_WATCHING: Final = threading.Lock()


@final
class TenantManager(pluggy.PluginManager):
    """pluggy's PluginManager, unchanged, but for one thing: it counts the changes to its
    plugins (registered, unregistered) and hook call monitoring, and after each calls what
    watches it (once each)."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        # Shared empty values, set here so that every manager's attributes keep one layout:
        # a catalog may hold many thousand managers.
        self._catalog_watchers: list[Callable[[], None]] | tuple[()] = ()
        self._catalog_changes = 0
        self._catalog_monitored = False

    @property
    def catalog_changes(self) -> int:
        """How many times its plugins or hook call monitoring changed."""
        return self._catalog_changes

    @property
    def catalog_monitored(self) -> bool:
        """Whether hook calls were ever monitored on it (``add_hookcall_monitoring``,
        ``enable_tracing``)."""
        return self._catalog_monitored

    def catalog_watch(self, changed: Callable[[], None], since: int) -> None:
        """Call ``changed`` once, after the next change; at once when ``catalog_changes`` is no
        longer ``since`` (a change came after what the watcher saw)."""
        with _WATCHING:
            missed = self._catalog_changes != since
            if not missed:
                watchers = self._catalog_watchers
                if isinstance(watchers, tuple):
                    watchers = self._catalog_watchers = []
                watchers.append(changed)
        if missed:
            changed()

    def _catalog_changed(self) -> None:
        with _WATCHING:
            self._catalog_changes += 1
            watchers, self._catalog_watchers = self._catalog_watchers, ()
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
        self._catalog_monitored = True
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
