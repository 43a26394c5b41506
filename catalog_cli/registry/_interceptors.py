"""Interceptors as the registry knows them: which exist, and how one wraps a tenant's calls."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from types import MappingProxyType, ModuleType
from typing import Any, Final, NamedTuple

from ._meta import own_attribute
from ._plugins import CheckedPlugin

#: The catalog's own interceptors: name in catalog.toml -> module.
BUILTIN: Final = MappingProxyType(
    {
        "opentelemetry": "catalog_cli.interceptors.otel",
        "logging": "catalog_cli.interceptors.log",
        "metrics": "catalog_cli.interceptors.metrics",
        "rate_limit": "catalog_cli.interceptors.ratelimit",
        "circuit_breaker": "catalog_cli.interceptors.breaker",
        "record": "catalog_cli.interceptors.record",
        "cache": "catalog_cli.interceptors.cache",
        "retry": "catalog_cli.interceptors.retry",
        "timeout": "catalog_cli.interceptors.timeout",
        "validation": "catalog_cli.interceptors.validation",
    }
)

#: The order of a user interceptor that names none (the built-ins use 50-800).
DEFAULT_ORDER: Final = 1000

#: The prefix of an interceptor's name in a tenant's PluginManager ("interceptor.logging").
PREFIX: Final = "interceptor."


def default_order(module: ModuleType) -> int:
    """The interceptor's own place in the chain: its ``ORDER``, else DEFAULT_ORDER."""
    declared = own_attribute(module, "ORDER", DEFAULT_ORDER)
    return (
        declared
        if isinstance(declared, int) and not isinstance(declared, bool)
        else (DEFAULT_ORDER)
    )


class InterceptorUse(NamedTuple):
    """An interceptor as registered for one tenant: in the order they wrap (outermost first)."""

    #: the name in catalog.toml (``[interceptors.<name>]``)
    name: str
    order: int
    plugin: CheckedPlugin
    #: interface patterns it applies to (empty: all), and those it never applies to
    interfaces: tuple[str, ...]
    exclude_interfaces: tuple[str, ...]
    #: the interceptor hooks it implements
    hooks: tuple[str, ...]
    settings: Mapping[str, Any]
    builtin: bool
    #: the settings as written in catalog.toml (secrets as their "${env:NAME}" reference)
    written: Mapping[str, Any] = MappingProxyType({})

    @property
    def plugin_name(self) -> str:
        return PREFIX + self.name

    @property
    def module(self) -> ModuleType:
        return self.plugin.module

    def applies(self, interface: str) -> bool:
        if any(fnmatchcase(interface, p) for p in self.exclude_interfaces):
            return False
        return not self.interfaces or any(fnmatchcase(interface, p) for p in self.interfaces)

    def to_dict(self) -> dict[str, Any]:
        from ..config import thaw

        return {
            "name": self.name,
            "order": self.order,
            "builtin": self.builtin,
            "interfaces": list(self.interfaces) or ["*"],
            "exclude_interfaces": list(self.exclude_interfaces),
            "hooks": list(self.hooks),
            "settings": thaw(self.written),
        }
