"""The hookspecs of one catalog, gathered once and handed to every tenant's PluginManager.

``add_hookspecs`` reads every attribute of what it is given; the modules that declare
interfaces also hold imports and helpers. So the specs are collected once into a small object
holding only them. An interface hook's spec is held as a method bound to that object: pluggy
leaves a bound first parameter out, so the spec it knows has no ``ctx``, just as the
implementations a tenant registers have theirs bound (callers never pass ``ctx``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import MethodType, ModuleType
from typing import Any, cast

import pluggy

from ..declarations import PROJECT
from ..declarations import _hooks as catalog_hooks


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

    def __dir__(self) -> list[str]:
        return list(self._names)

    def __repr__(self) -> str:
        return f"<catalog hookspecs: {len(self._names)} hooks>"

    def manager(self) -> pluggy.PluginManager:
        """A new PluginManager holding these hookspecs and no plugins."""
        pm = pluggy.PluginManager(PROJECT)
        # Typed as a module or a class, but pluggy reads any object through dir() and getattr.
        pm.add_hookspecs(cast(ModuleType, self))
        return pm
