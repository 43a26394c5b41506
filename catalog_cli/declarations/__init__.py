"""How interfaces, their versions and their plugin points are declared, and read back."""

from __future__ import annotations

from ._changes import Route, VersionChange, version_change
from ._decorators import ErrorPolicy, Policy, entrypoint, plugin_point
from ._markers import PROJECT, hookimpl, hookspec
from ._model import Interface, Parameter, PluginPoint, Version
from ._reading import build_interfaces, declarations
from ._types import DataType, UnsupportedTypeError, compile_type, display_annotation

__all__ = [
    "PROJECT",
    "DataType",
    "ErrorPolicy",
    "Interface",
    "Parameter",
    "PluginPoint",
    "Policy",
    "Route",
    "UnsupportedTypeError",
    "Version",
    "VersionChange",
    "build_interfaces",
    "compile_type",
    "declarations",
    "display_annotation",
    "entrypoint",
    "hookimpl",
    "hookspec",
    "plugin_point",
    "version_change",
]
