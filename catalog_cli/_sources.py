"""Where interface declarations and plugins come from, found without importing them."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Final, Literal, NamedTuple

from ._deadline import Late, call_with_deadline
from .errors import PluginLoadError

#: Entry-point groups through which installed distributions add interfaces and built-ins.
HOOKSPECS_GROUP: Final = "catalog.hookspecs"
BUILTINS_GROUP: Final = "catalog.builtin_plugins"

#: The packages that ship with task-catalog.
HOOKSPECS_PACKAGE: Final = "hookspecs"
BUILTINS_PACKAGE: Final = "builtin_plugins"

PLUGINS_GROUP: Final = "catalog.plugins"

SourceKind = Literal["builtin", "file", "module", "package"]


class PluginSource(NamedTuple):
    """A plugin as found on disk or by configuration, before any import.

    ``kind`` is ``builtin`` (registered for every tenant), ``file`` (a ``.py`` file below a plugin
    directory), ``module`` (an importable module named in ``catalog.toml``) or ``package`` (an
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

    def describe(self) -> str:
        if self.kind == "package":
            return f"package {self.distribution or '?'} {self.version} ({self.location})".replace(
                "  ", " "
            )
        return f"{self.kind} {self.location}"


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


def package_modules(package: str) -> list[str]:
    """The public submodules of ``package``, by name, without importing them."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        return []
    return sorted(
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(spec.submodule_search_locations)
        if not info.name.startswith("_")
    )


def entry_point_modules(group: str) -> list[str]:
    """The module names installed distributions declare under entry-point ``group``."""
    from . import _entrypoints

    return _entrypoints.modules(group)


def _file_module_name(directory: Path, relative: Path) -> str:
    # Flat (so pickle can import it) and unique per file: two catalogs in one process may both
    # have a customer_1/interface_a.py, and a/b__c.py must not meet a__b/c.py. The readable
    # stem is for tracebacks; the digest of the full path is what keeps names apart.
    digest = hashlib.sha1(f"{directory.resolve()}\0{relative.as_posix()}".encode()).hexdigest()
    stem = "__".join(relative.with_suffix("").parts)
    return f"_catalog_plugin_{digest[:12]}__{stem}"


def directory_plugins(directory: Path) -> list[PluginSource]:
    """Every plugin file below ``directory``: ``a/b.py`` is the plugin named ``a.b``."""
    found = []
    for path in sorted(directory.rglob("*.py")):
        relative = path.relative_to(directory)
        if any(part.startswith(("_", ".")) for part in relative.parts):
            continue
        name = ".".join(relative.with_suffix("").parts)
        found.append(PluginSource(name, "file", str(path), _file_module_name(directory, relative)))
    return found


def builtin_sources(modules: Iterable[str]) -> list[PluginSource]:
    return [PluginSource(m, "builtin", m, m) for m in modules]


class ModuleLoader:
    """Imports plugin modules once each, remembering failures so they are reported, not retried."""

    def __init__(self, timeout: float = 30.0, *, fresh: bool = False) -> None:
        #: Seconds an import may take; a plugin still importing then counts as failed.
        self.timeout = timeout
        #: Execute every tenant plugin anew, even if imported before (for a reload).
        self.fresh = fresh
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._loaded: dict[str, ModuleType | PluginLoadError] = {}

    def load(self, source: PluginSource) -> ModuleType:
        """The imported module of ``source``; raises PluginLoadError if it cannot be imported."""
        outcome = self._loaded.get(source.name)
        if outcome is None:
            with self._lock:
                lock = self._locks.setdefault(source.name, threading.Lock())
            with lock:
                outcome = self._loaded.get(source.name)
                if outcome is None:
                    outcome = self._import_with_deadline(source)
                    self._loaded[source.name] = outcome
        if isinstance(outcome, PluginLoadError):
            raise outcome
        return outcome

    def status(self, name: str) -> ModuleType | PluginLoadError | None:
        """What importing ``name`` gave, or None if it was never tried."""
        return self._loaded.get(name)

    def _import_with_deadline(self, source: PluginSource) -> ModuleType | PluginLoadError:
        # A plugin that hangs at import must fail its tenants, not freeze every listing and
        # every later call: the import runs in a daemon thread that may be abandoned.
        try:
            return call_with_deadline(
                lambda: self._import(source, fresh=self.fresh and source.kind != "builtin"),
                self.timeout,
                f"catalog-import-{source.name}",
            )
        except Late as late:
            cause = TimeoutError(f"the import {late}")
            return PluginLoadError(source.name, source.describe(), cause)

    @staticmethod
    def _import(source: PluginSource, *, fresh: bool = False) -> ModuleType | PluginLoadError:
        # Fresh imports make a new module object, so a catalog still serving the old one (during
        # a reload) is not changed under its feet; a failed one puts the old one back.
        previous = sys.modules.pop(source.module, None) if fresh else None
        try:
            if source.kind != "file":
                return importlib.import_module(source.module)
            loaded = sys.modules.get(source.module)
            if loaded is not None and getattr(loaded, "__file__", None) == source.location:
                return loaded
            spec = importlib.util.spec_from_file_location(source.module, source.location)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {source.location}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[source.module] = module
            spec.loader.exec_module(module)
            return module
        except (Exception, SystemExit) as exc:
            # SystemExit too: a plugin calling sys.exit() at import must not end the host.
            sys.modules.pop(source.module, None)
            if previous is not None:
                sys.modules[source.module] = previous
            return PluginLoadError(source.name, source.describe(), exc)
