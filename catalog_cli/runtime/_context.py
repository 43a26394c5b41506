"""The ``ctx`` a plugin's hook functions receive: its own, bound when its tenant is built.

Each plugin of each tenant gets one context per interface version it implements, holding that
plugin's settings and logger for that tenant, and the version's plugin points as plain
attributes. The catalog binds it to the plugin's functions when it registers them, so nothing
is looked up on a call: the only thing that changes from call to call is the call id, kept in
a context variable by the call in progress.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, final

from ..errors import UnknownPluginPointError

if TYPE_CHECKING:
    import logging

    from ..declarations import Version

#: Call ids are this process's prefix and a serial number: unique across processes, and cheap.
_PREFIX: Final = os.urandom(4).hex()
#: The next serial number (thread-safe: ``itertools.count`` is atomic under the GIL).
next_serial: Final = itertools.count(1).__next__
#: The serial number of the call in progress (this thread's, or the caller's in a copied
#: context, as when a call runs in a thread with a deadline); or its whole id, for a call
#: another process numbered.
CURRENT: contextvars.ContextVar[int | str] = contextvars.ContextVar("catalog_call")
#: True in a shadow canary's run of its candidate version (whose answer is only compared).
SHADOW: contextvars.ContextVar[bool] = contextvars.ContextVar("catalog_shadow", default=False)


def call_id_of(serial: int | str) -> str:
    return serial if isinstance(serial, str) else f"{_PREFIX}-{serial:06x}"


def new_call_id() -> str:
    """A call id unique across processes: this process's prefix and a serial number."""
    return call_id_of(next_serial())


def current_call_id() -> str | None:
    """The id of the catalog call in progress, or None outside one."""
    serial = CURRENT.get(None)
    return None if serial is None else call_id_of(serial)


class Points:
    """``ctx.points.<name>(**kwargs)`` calls plugin point ``<name>`` of the version: each point
    is an attribute holding the tenant's pluggy hook caller.

    Each version's points are the slots of a class of its own (see ``points``), made once:
    a tenant's points are a small object, not a dictionary."""

    __slots__ = ("_catalog_version",)
    #: the names of the version's points (set by the version's class)
    _catalog_names: tuple[str, ...] = ()

    def __init__(self, version: Version, callers: Mapping[str, Any]) -> None:
        #: the version's declaration (shared by every tenant)
        object.__setattr__(self, "_catalog_version", version)
        for name, caller in callers.items():
            object.__setattr__(self, name, caller)

    def __setattr__(self, name: str, value: Any) -> None:
        # Every plugin of the tenant (and the catalog's own code) calls through these: one
        # plugin must not rewire them for the others.
        raise AttributeError(f"plugin points are read-only (cannot set {name!r})")

    @property
    def _catalog_where(self) -> tuple[str, int]:
        version = self._catalog_version
        return version.interface, version.number

    def __getattr__(self, name: str) -> Any:
        # Only reached for a name that is not a point of the version.
        if name.startswith("__"):
            raise AttributeError(name)
        interface, version = self._catalog_where
        raise UnknownPluginPointError(interface, version, name, sorted(self._names()))

    def _names(self) -> list[str]:
        return list(self._catalog_names)

    def __dir__(self) -> list[str]:
        return sorted(self._names())

    def __repr__(self) -> str:
        interface, version = self._catalog_where
        return f"<plugin points of {interface} v{version}: {', '.join(self._names()) or 'none'}>"


@functools.cache
def points(names: tuple[str, ...]) -> type[Points]:
    """The class of a version's points: one slot per point (names are ``[a-z][a-z0-9_]*``)."""
    return type("Points", (Points,), {"__slots__": names, "_catalog_names": names})


@final
class Context:
    """Passed as ``ctx`` to a plugin's entry point and plugin point implementations.

    ``settings``, ``plugin`` and ``log`` are those of the plugin the context belongs to; each
    plugin of each tenant has its own.
    """

    __slots__ = ("_log", "interface", "plugin", "points", "settings", "tenant", "version")

    #: The tenant (customer) id the call runs for.
    tenant: str
    interface: str
    version: int
    #: The name of the plugin this context belongs to.
    plugin: str
    #: The plugin's settings for this tenant (read-only).
    settings: Mapping[str, Any]
    #: The plugin points of this version: ``ctx.points.footer(text=...)``.
    points: Points
    _log: logging.LoggerAdapter[logging.Logger] | None

    def __init__(
        self,
        tenant: str,
        interface: str,
        version: int,
        plugin: str,
        settings: Mapping[str, Any],
        points: Points,
    ) -> None:
        init = object.__setattr__
        init(self, "tenant", tenant)
        init(self, "interface", interface)
        init(self, "version", version)
        init(self, "plugin", plugin)
        init(self, "settings", settings)
        init(self, "points", points)
        init(self, "_log", None)

    def __setattr__(self, name: str, value: Any) -> None:
        # The facts of a plugin's context are the catalog's to say, for every call after.
        raise AttributeError(f"a plugin's context is read-only (cannot set {name!r})")

    @property
    def call_id(self) -> str | None:
        """The id of the call in progress, for logs and error reports (None when a hook is
        called through pluggy directly, outside a catalog call)."""
        serial = CURRENT.get(None)
        return None if serial is None else call_id_of(serial)

    @property
    def shadow(self) -> bool:
        """Whether this call is a shadow canary's run of its candidate version: its answer is
        compared with the live version's and thrown away, so a plugin may skip side effects
        (a write, an e-mail) that the live call makes already."""
        return SHADOW.get()

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger named ``catalog.plugins.<plugin>`` whose records carry the tenant,
        interface, version, plugin and the id of the call in progress."""
        if self._log is None:
            log = _call_log(
                f"catalog.plugins.{self.plugin}",
                {
                    "catalog_tenant": self.tenant,
                    "catalog_interface": self.interface,
                    "catalog_version": self.version,
                    "catalog_plugin": self.plugin,
                },
            )
            object.__setattr__(self, "_log", log)
            return log
        return self._log

    def __repr__(self) -> str:
        return (
            f"<Context tenant={self.tenant!r} interface={self.interface!r} "
            f"version={self.version} plugin={self.plugin!r}>"
        )


def _call_log(name: str, facts: dict[str, Any]) -> logging.LoggerAdapter[logging.Logger]:
    import logging  # only when a plugin logs: keeps logging out of CLI start-up

    return _call_log_class()(logging.getLogger(name), facts)


@functools.cache
def _call_log_class() -> type[logging.LoggerAdapter[logging.Logger]]:
    import logging

    class CallLog(logging.LoggerAdapter[logging.Logger]):
        """Tags each record with the plugin's facts and the call in progress when logged."""

        def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
            extra = dict(self.extra or {})
            extra["catalog_call_id"] = current_call_id()
            kwargs["extra"] = {**extra, **(kwargs.get("extra") or {})}
            return msg, kwargs

    return CallLog
