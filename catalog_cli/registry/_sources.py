"""Where interface declarations and plugins come from, found without importing them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, NamedTuple

from ._namespace import Folder

#: Entry-point groups through which installed packages offer interfaces, built-ins and plugins.
HOOKSPECS_GROUP: Final = "catalog.hookspecs"
BUILTINS_GROUP: Final = "catalog.builtin_plugins"
PLUGINS_GROUP: Final = "catalog.plugins"

SourceKind = Literal["builtin", "file", "module", "package"]


class PluginSource(NamedTuple):
    """A plugin (or a declarations module) as found on disk or by configuration, before import.

    ``kind`` is ``builtin`` (registered for every tenant), ``file`` (a ``.py`` file below a plugin
    folder), ``module`` (an importable module named in ``catalog.toml``) or ``package`` (an
    installed distribution's entry point in the group ``catalog.plugins``).
    """

    name: str
    kind: SourceKind
    #: The file path or the module name, for people.
    location: str
    #: The name the module is imported as.
    module: str
    #: For packages: the distribution, its version, summary and author (from its metadata).
    distribution: str = ""
    version: str = ""
    summary: str = ""
    author: str = ""
    #: For catalog-local modules: the folder they are imported from (see ``_namespace``).
    folder: Folder | None = None

    def describe(self) -> str:
        if self.kind == "package":
            return f"package {self.distribution or '?'} {self.version} ({self.location})".replace(
                "  ", " "
            )
        return f"{self.kind} {self.location}"


def folder_modules(folder: Folder, kind: SourceKind, *, prefix: str = "") -> list[PluginSource]:
    """The public modules at the top of ``folder`` (a ``hookspecs/`` or ``builtin_plugins/``)."""
    return [
        PluginSource(f"{prefix}{short}", kind, str(path), module, folder=folder)
        for short, module, path in folder.top_modules()
    ]


def directory_plugins(folder: Folder) -> list[PluginSource]:
    """Every plugin file below a plugin folder: ``a/b.py`` is the plugin named ``a.b``."""
    return [
        PluginSource(name, "file", str(path), module, folder=folder)
        for name, module, path in folder.all_files()
    ]


def module_sources(modules: Iterable[str], kind: SourceKind) -> list[PluginSource]:
    """Importable modules, each named by its module name."""
    return [PluginSource(m, kind, m, m) for m in modules]


def package_plugins() -> list[PluginSource]:
    """Plugins that installed distributions declare in the entry-point group ``catalog.plugins``."""
    from . import _entrypoints

    return [
        PluginSource(
            ep.name,
            "package",
            ep.value,
            ep.module,
            ep.distribution,
            ep.version,
            ep.summary,
            ep.author,
        )
        for ep in _entrypoints.entries(PLUGINS_GROUP)
    ]
