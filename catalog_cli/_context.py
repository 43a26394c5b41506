"""The ``ctx`` every hook receives: who is calling, and the way to the plugin points."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple, final

from .errors import CatalogError, UnknownPluginPointError

if TYPE_CHECKING:
    import logging

    from pluggy import HookCaller

#: Call ids are this process's prefix and a serial number: unique across processes, and cheap.
_PREFIX: Final = os.urandom(4).hex()
_serials = itertools.count(1)
next_serial: Final = _serials.__next__


def new_call_id() -> str:
    """A call id unique across processes: this process's prefix and a serial number."""
    return f"{_PREFIX}-{next_serial():06x}"


class PluginBinding(NamedTuple):
    """What one plugin is, for one tenant: its name and its settings from ``catalog.toml``."""

    name: str
    settings: Mapping[str, Any]
    #: the name of the plugin's logger (``catalog.plugins.<name>``)
    logger: str


@final
class CallScope:
    """Everything a call of one version for one tenant needs, prepared once and shared."""

    __slots__ = (
        "bindings",
        "entry",
        "implementation",
        "interface",
        "point_callers",
        "tenant",
        "version",
    )

    def __init__(
        self,
        tenant: str,
        interface: str,
        version: int,
        entry: HookCaller,
        point_callers: Mapping[str, HookCaller],
        bindings: Mapping[str, PluginBinding],
        implementation: str,
    ) -> None:
        self.tenant = tenant
        self.interface = interface
        self.version = version
        self.entry = entry
        self.point_callers = point_callers
        #: module name -> binding, for every plugin module registered for the tenant
        self.bindings = bindings
        #: the built-in plugin that implements the entry point
        self.implementation = implementation


class Points:
    """``ctx.points.<name>(**kwargs)`` calls plugin point ``<name>`` of the current version."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def __getattr__(self, name: str) -> Callable[..., Any]:
        scope = self._ctx._scope
        caller = scope.point_callers.get(name)
        if caller is None:
            raise UnknownPluginPointError(
                scope.interface, scope.version, name, sorted(scope.point_callers)
            )
        return partial(caller, ctx=self._ctx)

    def __dir__(self) -> list[str]:
        return sorted(self._ctx._scope.point_callers)


@final
class Context:
    """Passed as ``ctx`` to every entry point and plugin point implementation.

    ``settings``, ``plugin`` and ``log`` are those of the plugin that reads them: the catalog
    finds the calling plugin from the call stack, so one context serves every plugin in a call.
    """

    __slots__ = ("_call_id", "_scope")

    def __init__(self, scope: CallScope, call_id: str | None = None) -> None:
        self._scope = scope
        self._call_id = call_id

    @property
    def tenant(self) -> str:
        """The tenant (customer) id the call runs for."""
        return self._scope.tenant

    @property
    def interface(self) -> str:
        return self._scope.interface

    @property
    def version(self) -> int:
        return self._scope.version

    @property
    def call_id(self) -> str:
        """A unique id for this call, for logs and error reports."""
        # Numbered on first use: most calls never ask, and the serial alone keeps ids unique.
        if self._call_id is None:
            self._call_id = new_call_id()
        return self._call_id

    @property
    def points(self) -> Points:
        """The plugin points of this version: ``ctx.points.footer(text=...)``."""
        return Points(self)

    @property
    def plugin(self) -> str:
        """The name of the plugin whose code reads this."""
        return self._binding().name

    @property
    def settings(self) -> Mapping[str, Any]:
        """The reading plugin's settings for this tenant (read-only)."""
        return self._binding().settings

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        import logging  # only when a plugin logs: keeps logging out of CLI start-up

        """A logger named ``catalog.plugins.<plugin>`` that tags records with the call."""
        binding = self._binding()
        return logging.LoggerAdapter(
            logging.getLogger(binding.logger),
            {
                "catalog_tenant": self._scope.tenant,
                "catalog_interface": self._scope.interface,
                "catalog_version": self._scope.version,
                "catalog_call_id": self.call_id,
                "catalog_plugin": binding.name,
            },
        )

    def _binding(self) -> PluginBinding:
        # Pluggy passes the same keyword arguments to every implementation, so a per-plugin
        # context would mean wrapping every implementation (a cost on every hook call). Instead
        # the plugin is found from the nearest frame that runs code of one of its modules.
        bindings = self._scope.bindings
        frame = sys._getframe(2)
        while frame is not None:
            binding = bindings.get(frame.f_globals.get("__name__", ""))
            if binding is not None:
                return binding
            frame = frame.f_back  # type: ignore[assignment]
        raise CatalogError(
            f"ctx.settings, ctx.plugin and ctx.log are only available inside the code of a "
            f"plugin registered for tenant {self._scope.tenant!r}"
        )

    def __repr__(self) -> str:
        return (
            f"<Context tenant={self.tenant!r} interface={self.interface!r} "
            f"version={self.version} call_id={self.call_id!r}>"
        )
