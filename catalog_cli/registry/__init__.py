"""What a catalog holds: its declarations, plugin sources, checked plugins and tenants' plans."""

from __future__ import annotations

from ._disabled import DisabledPlugins, Disabling
from ._hooks import HookInfo, HookUse
from ._interceptors import BUILTIN, DEFAULT_ORDER, PREFIX, InterceptorUse, default_order
from ._meta import PLUGIN_API_VERSION, PluginMeta
from ._plugins import (
    CheckedPlugin,
    Implementation,
    PluginObject,
    async_twins,
    bind,
    plugin_object,
)
from ._registry import Registry, TenantPlan, load_registry
from ._sources import PluginSource
from ._specs import TenantManager
from ._versions import VersionChoice, VersionSource

__all__ = [
    "BUILTIN",
    "DEFAULT_ORDER",
    "PLUGIN_API_VERSION",
    "PREFIX",
    "CheckedPlugin",
    "DisabledPlugins",
    "Disabling",
    "HookInfo",
    "HookUse",
    "Implementation",
    "InterceptorUse",
    "PluginMeta",
    "PluginObject",
    "PluginSource",
    "Registry",
    "TenantManager",
    "TenantPlan",
    "VersionChoice",
    "VersionSource",
    "async_twins",
    "bind",
    "default_order",
    "load_registry",
    "plugin_object",
]
