"""What a plugin says about itself, and whether this catalog can run it."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import Any, Final, NamedTuple

from ..config._settings import describe_schema, is_schema
from ..declarations import Interface
from ..errors import PluginIncompatibleError, PluginValidationError
from ._sources import PluginSource

#: The version of the API plugins are written against: hooks, markers, ``ctx``, ``PluginMeta``.
#: A plugin written for X.Y runs on X.Z for every Z >= Y (semantic versioning).
PLUGIN_API_VERSION: Final = "1.0"

#: The module attribute a plugin declares its metadata in: ``PLUGIN = PluginMeta(...)``.
ATTRIBUTE: Final = "PLUGIN"


def own_attribute(module: ModuleType, name: str, default: Any = None) -> Any:
    """``module``'s attribute ``name`` as its code set it, else ``default``.

    Read from the module's namespace, not with ``getattr``: a module-level ``__getattr__``
    (PEP 562) is plugin code that may raise anything, and it must not run where the catalog
    only looks up one of its own knobs (an interceptor's ``ORDER``, say) while it describes
    the catalog or builds a tenant.
    """
    return vars(module).get(name, default)


class PluginMeta(NamedTuple):
    """A plugin's declaration of itself; every field is optional.

    ``requires_api`` is the plugin API version the plugin was written for; ``interfaces`` maps
    interface names to the versions it targets; ``depends`` names plugins that the tenant must
    also select (they are registered and started first); ``settings`` is a pydantic model class
    that each tenant's settings for the plugin must fit.
    """

    version: str = ""
    description: str = ""
    author: str = ""
    requires_api: str = PLUGIN_API_VERSION
    interfaces: Mapping[str, Sequence[int]] = MappingProxyType({})
    depends: Sequence[str] = ()
    settings: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "description": self.description,
            "author": self.author,
            "requires_api": self.requires_api,
            "interfaces": {k: list(v) for k, v in self.interfaces.items()},
            "depends": list(self.depends),
            "settings": describe_schema(self.settings) if is_schema(self.settings) else None,
        }


def declared_meta(source: PluginSource, module: ModuleType | None) -> PluginMeta:
    """The plugin's metadata: its ``PLUGIN`` declaration, else what its source tells.

    Without ``module`` (a plugin that is not imported) only the source is read: for an
    installed distribution, its version, summary and author.
    """
    fallback = PluginMeta(
        version=source.version,
        description=source.summary,
        author=source.author,
    )
    if module is None:
        return fallback
    doc = (inspect.getdoc(module) or "").split("\n", 1)[0]
    fallback = fallback._replace(description=fallback.description or doc)
    # getattr, as for any module attribute (a PEP 562 ``__getattr__`` may provide it): what
    # that plugin code raises is the plugin's failure, contained by whoever checks it.
    declared = getattr(module, ATTRIBUTE, None)
    if declared is None:
        return fallback
    if not isinstance(declared, PluginMeta):
        raise PluginValidationError(
            source.name,
            f"{ATTRIBUTE} must be a catalog_cli.PluginMeta, got {type(declared).__name__}",
        )
    problem = _field_problem(declared)
    if problem:
        raise PluginValidationError(source.name, f"{ATTRIBUTE}.{problem}")
    return declared._replace(
        version=declared.version or fallback.version,
        description=declared.description or fallback.description,
        author=declared.author or fallback.author,
    )


def _field_problem(meta: PluginMeta) -> str | None:
    """What is wrong with the types of ``meta``'s fields, if anything."""
    for field in ("version", "description", "author", "requires_api"):
        value = getattr(meta, field)
        if not isinstance(value, str):
            return f"{field} must be a string, got {value!r}"
    if isinstance(meta.depends, (str, bytes)) or not isinstance(meta.depends, (list, tuple)):
        return f"depends must be a list of plugin names, got {meta.depends!r}"
    if not all(isinstance(name, str) for name in meta.depends):
        return f"depends must be a list of plugin names, got {meta.depends!r}"
    if not isinstance(meta.interfaces, Mapping):
        return f"interfaces must map interface names to lists of versions, got {meta.interfaces!r}"
    for interface, versions in meta.interfaces.items():
        if (
            not isinstance(interface, str)
            or not isinstance(versions, (list, tuple))
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in versions)
        ):
            return (
                f"interfaces must map interface names to lists of versions, got "
                f"{interface!r}: {versions!r}"
            )
    if meta.settings is not None and not is_schema(meta.settings):
        return f"settings must be a pydantic model class, got {meta.settings!r}"
    return None


def check_compatible(name: str, meta: PluginMeta, interfaces: Mapping[str, Interface]) -> None:
    """Raise PluginIncompatibleError unless this catalog provides what ``meta`` requires."""
    _check_targets_exist(name, meta, interfaces)
    if meta.requires_api == PLUGIN_API_VERSION:
        return  # the common case, without importing packaging
    from packaging.version import InvalidVersion, Version

    try:
        required = Version(meta.requires_api)
    except InvalidVersion:
        raise PluginValidationError(
            name, f"requires_api {meta.requires_api!r} is not a version such as '1.0'"
        ) from None
    provided = Version(PLUGIN_API_VERSION)
    if required.major != provided.major or required.minor > provided.minor:
        raise PluginIncompatibleError(
            name,
            f"requires plugin API {required} (same major version, minor >= {required.minor}); "
            f"this catalog provides {provided}",
            required=str(required),
            provided=str(provided),
        )


def _check_targets_exist(name: str, meta: PluginMeta, interfaces: Mapping[str, Interface]) -> None:
    for interface, versions in meta.interfaces.items():
        found = interfaces.get(interface)
        if found is None:
            raise PluginIncompatibleError(
                name,
                f"targets interface {interface!r}, which this catalog does not declare "
                f"(interfaces: {', '.join(interfaces) or 'none'})",
                required=f"{interface} {list(versions)}",
                provided=", ".join(interfaces),
            )
        missing = [v for v in versions if v not in found.versions]
        if missing:
            have = ", ".join(str(v) for v in found.versions)
            raise PluginIncompatibleError(
                name,
                f"targets {interface} v{', v'.join(str(v) for v in missing)}, which this catalog "
                f"does not declare (versions: {have})",
                required=f"{interface} {list(versions)}",
                provided=f"{interface} {list(found.versions)}",
            )
