"""Catalog-local modules, imported by path under a private package name per folder.

A catalog's ``hookspecs/``, ``builtin_plugins/`` and plugin folders are not on ``sys.path``:
each folder becomes a package named after a digest of its resolved path
(``_catalog_<digest>_<folder>``), and its files are imported as that package's modules. So no
``PYTHONPATH`` or install step is needed, nothing on ``sys.path`` can stand in for them, two
catalogs load side by side in one process, and relative imports between a folder's modules
work. The same folder always gets the same name, also in other processes (batch workers find
a plugin's classes by module name when they unpickle results).

Their bytecode is cached by the hash of the source (PEP 552's checked pycs), not by its
modification time: a file rewritten within the same second at the same size (a deploy, a
reload right after an edit) still runs its new code.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.machinery
import importlib.util
import marshal
import os
import re
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import CodeType, ModuleType
from typing import Final, NamedTuple

#: Every catalog-local package name starts so.
PREFIX: Final = "_catalog_"

_lock = threading.RLock()
#: package name -> the lock held while that folder's package is made importable: one per
#: folder, so a folder whose ``__init__.py`` hangs holds up its own modules, never another
#: folder's, nor ``forget`` (a reload)
_installing: dict[str, threading.RLock] = {}


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


#: PEP 552: the flags of a pyc validated by the hash of its source.
_CHECKED_HASH: Final = (0b11).to_bytes(4, "little")


class _Loader(importlib.machinery.SourceFileLoader):
    """Source files whose bytecode cache is validated by the source's hash."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        key = importlib.util.source_hash(source)
        try:
            cache: str | None = importlib.util.cache_from_source(path)
        except NotImplementedError:
            cache = None
        if cache is not None:
            try:
                with open(cache, "rb") as handle:
                    data = handle.read()
                if data[:16] == importlib.util.MAGIC_NUMBER + _CHECKED_HASH + key:
                    code = marshal.loads(data[16:])
                    if isinstance(code, CodeType):
                        return code
            except (OSError, ValueError, EOFError, TypeError):
                pass  # no usable cache: compile
        code = self.source_to_code(source, path)
        if cache is not None and not sys.dont_write_bytecode:
            _write_cache(cache, importlib.util.MAGIC_NUMBER + _CHECKED_HASH + key, code)
        return code


def _write_cache(cache: str, header: bytes, code: CodeType) -> None:
    # Written aside, then moved into place: a reader never sees half a file.
    partial = f"{cache}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(partial, "wb") as handle:
            handle.write(header + marshal.dumps(code))
        os.replace(partial, cache)
    except OSError:  # a read-only folder: the module is compiled from source next time too
        with contextlib.suppress(OSError):
            os.unlink(partial)


class _Finder:
    """Finds the modules of catalog-local packages, for :class:`_Loader` to load."""

    @staticmethod
    def find_spec(
        fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(PREFIX) or "." not in fullname or not path:
            return None
        leaf = fullname.rpartition(".")[2]
        for directory in path:
            package = Path(directory, leaf, "__init__.py")
            if package.is_file():
                return importlib.util.spec_from_file_location(
                    fullname,
                    package,
                    loader=_Loader(fullname, str(package)),
                    submodule_search_locations=[str(package.parent)],
                )
            module = Path(directory, f"{leaf}.py")
            if module.is_file():
                return importlib.util.spec_from_file_location(
                    fullname, module, loader=_Loader(fullname, str(module))
                )
        return None  # a folder without __init__.py: Python's own finder makes it a namespace


if _Finder not in sys.meta_path:
    sys.meta_path.insert(0, _Finder)


def _install(folder: Folder) -> None:
    """Make the folder's package importable: from its ``__init__.py``, or an empty one."""
    with _lock:
        lock = _installing.setdefault(folder.package, threading.RLock())
    # Checked under the folder's lock: the package is in sys.modules while its code runs.
    with lock:
        if folder.package not in sys.modules:
            _run_package(folder)


def _run_package(folder: Folder) -> None:
    init = folder.path / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(
            folder.package,
            init,
            loader=_Loader(folder.package, str(init)),
            submodule_search_locations=[str(folder.path)],
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
    _install(folder)
    return importlib.import_module(name)
