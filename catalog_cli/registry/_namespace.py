"""Catalog-local modules, imported by path under a private package name per folder.

A catalog's ``hookspecs/``, ``builtin_plugins/`` and plugin folders are not on ``sys.path``:
each folder becomes a package named after a digest of its resolved path
(``_catalog_<digest>_<folder>``), and its files are imported as that package's modules. So no
``PYTHONPATH`` or install step is needed, nothing on ``sys.path`` can stand in for them, two
catalogs load side by side in one process, and relative imports between a folder's modules
work. The same folder always gets the same name, also in other processes (batch workers find
a plugin's classes by module name when they unpickle results).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import re
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Final, NamedTuple

#: Every catalog-local package name starts so.
PREFIX: Final = "_catalog_"

_lock = threading.RLock()


class Folder(NamedTuple):
    """A folder of catalog-local modules and the private package they are imported under."""

    path: Path
    package: str

    @classmethod
    def of(cls, path: Path) -> Folder:
        resolved = path.resolve()
        digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
        label = re.sub(r"\W", "_", resolved.name) or "folder"
        return cls(resolved, f"{PREFIX}{digest}_{label}")

    def module_name(self, relative: Path) -> str:
        """The import name of the file (or package folder) at ``relative``."""
        parts = relative.with_suffix("").parts if relative.suffix == ".py" else relative.parts
        return ".".join((self.package, *parts))

    def top_modules(self) -> list[tuple[str, str, Path]]:
        """(short name, import name, path) of each public module or package in the folder."""
        found = []
        for entry in sorted(self.path.iterdir()):
            if entry.name.startswith(("_", ".")):
                continue
            if entry.is_file() and entry.suffix == ".py":
                found.append((entry.stem, self.module_name(Path(entry.name)), entry))
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                found.append((entry.name, self.module_name(Path(entry.name)), entry))
        return found

    def all_files(self) -> list[tuple[str, str, Path]]:
        """(dotted name, import name, path) of every public ``.py`` file below the folder:
        ``a/b.py`` is ``a.b``."""
        found = []
        for path in sorted(self.path.rglob("*.py")):
            relative = path.relative_to(self.path)
            if any(part.startswith(("_", ".")) for part in relative.parts):
                continue
            found.append(
                (".".join(relative.with_suffix("").parts), self.module_name(relative), path)
            )
        return found


def _install(folder: Folder) -> None:
    """Make the folder's package importable: from its ``__init__.py``, or an empty one."""
    if folder.package in sys.modules:
        return
    init = folder.path / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(
            folder.package, init, submodule_search_locations=[str(folder.path)]
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[folder.package] = package
        try:
            spec.loader.exec_module(package)
        except BaseException:
            sys.modules.pop(folder.package, None)
            raise
        return
    package = ModuleType(folder.package, f"Catalog-local modules of {folder.path}")
    package.__path__ = [str(folder.path)]
    package.__file__ = None
    package.__spec__ = importlib.machinery.ModuleSpec(folder.package, None, is_package=True)
    package.__spec__.submodule_search_locations = [str(folder.path)]
    sys.modules[folder.package] = package


def forget(folder: Folder) -> None:
    """Drop the folder's modules from ``sys.modules``, so the next import runs them afresh.

    Code already running keeps the module objects it has (a catalog serving during a reload).
    """
    with _lock:
        stale = [
            name
            for name in sys.modules
            if name == folder.package or name.startswith(folder.package + ".")
        ]
        for name in stale:
            del sys.modules[name]
        importlib.invalidate_caches()


def import_module(folder: Folder, name: str) -> ModuleType:
    """Import module ``name`` of ``folder`` (raises what its code raises)."""
    with _lock:
        _install(folder)
    return importlib.import_module(name)
