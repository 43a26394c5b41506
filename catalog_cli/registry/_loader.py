"""Importing plugin and declaration modules once each, with a deadline, failures remembered."""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Collection
from types import ModuleType

from .. import _interrupts
from .._deadline import Late, Overloaded, call_with_deadline
from ..errors import PluginLoadError
from . import _namespace
from ._sources import PluginSource


class _Import:
    """One import of a module's code under way, in the thread that runs it."""

    __slots__ = ("done", "late", "started")

    def __init__(self) -> None:
        self.done = threading.Event()
        #: it missed its deadline, and its thread was abandoned
        self.late = False
        self.started = time.monotonic()


#: Imports under way, by where the code comes from (its file, else its module name), across
#: every loader of the process: a reload's loader and the one it replaces never run the same
#: module twice at once, and a module whose import hangs is not imported again (each attempt
#: would leave one more thread hanging behind it) until that import ends. By origin, not by
#: module name, so it holds whatever names a reload gives the catalog's modules.
_running: dict[str, _Import] = {}
_running_lock = threading.Lock()


def _origin(source: PluginSource) -> str:
    return f"file:{source.location}" if source.folder is not None else f"module:{source.module}"


class ModuleLoader:
    """Imports modules once each, remembering failures so they are reported, not retried."""

    def __init__(self, timeout: float = 30.0, *, fresh: bool = False) -> None:
        #: Seconds an import may take; a module still importing then counts as failed.
        self.timeout = timeout
        #: Run every module anew, even if imported before (a reload).
        self.fresh = fresh
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._loaded: dict[str, ModuleType | PluginLoadError] = {}
        self._forgotten: set[_namespace.Folder] = set()
        #: plugins whose modules this loader runs anew (one plugin reloaded at run time)
        self._renew: frozenset[str] = frozenset()

    def renewing(self, names: Collection[str]) -> ModuleLoader:
        """A loader that has what this one imported, except the plugins ``names``, whose
        modules it runs anew (as new module objects) when asked for them."""
        renewed = ModuleLoader(self.timeout)
        renewed._loaded = {k: v for k, v in self._loaded.items() if k not in names}
        renewed._renew = frozenset(names)
        return renewed

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
        # A module that hangs at import must fail its tenants, not freeze every listing and
        # every later call: the import runs in a daemon thread that may be abandoned.
        key = _origin(source)
        deadline = time.monotonic() + self.timeout
        while True:
            with _running_lock:
                earlier = _running.get(key)
                if earlier is None:
                    mine = _running[key] = _Import()
                    break
                late = earlier.late
            if late:
                return self._still_hanging(source, earlier)
            # Another loader imports it right now (the catalog a reload replaces): its
            # outcome is not this loader's (a reload imports afresh), so wait, then go.
            if not earlier.done.wait(max(0.0, deadline - time.monotonic())):
                return self._still_hanging(source, earlier)
        try:
            return call_with_deadline(
                lambda: self._import(source, key, mine),
                self.timeout,
                f"catalog-import-{source.name}",
            )
        except Late as late_import:
            with _running_lock:
                mine.late = True
            cause = TimeoutError(f"the import {late_import}")
            return PluginLoadError(source.name, source.describe(), cause)
        except Overloaded as busy:
            _finished(key, mine)  # it never started
            return PluginLoadError(source.name, source.describe(), busy)

    def _still_hanging(self, source: PluginSource, earlier: _Import) -> PluginLoadError:
        seconds = time.monotonic() - earlier.started
        cause = TimeoutError(
            f"its earlier import, started {seconds:.0f} s ago, still hangs; it is not imported "
            "again until that import ends (restart the process to end it)"
        )
        return PluginLoadError(source.name, source.describe(), cause)

    def _import(
        self, source: PluginSource, key: str, mine: _Import
    ) -> ModuleType | PluginLoadError:
        try:
            return self._run(source)
        except BaseException as exc:
            # SystemExit and KeyboardInterrupt too: a plugin's sys.exit() or stray interrupt at
            # import is its own failure, not the host's (a real Ctrl-C still stops everything).
            if _interrupts.is_real(exc):
                raise
            return PluginLoadError(source.name, source.describe(), exc)
        finally:
            _finished(key, mine)

    def _run(self, source: PluginSource) -> ModuleType:
        if source.name in self._renew:
            return _rerun(source)
        folder = source.folder
        if folder is not None:
            if self.fresh and folder not in self._forgotten:
                with self._lock:
                    if folder not in self._forgotten:
                        _namespace.forget(folder)
                        self._forgotten.add(folder)
            return _namespace.import_module(folder, source.module)
        # A fresh import makes a new module object, so a catalog still serving the old one
        # (during a reload) is not changed under its feet; a failed one puts the old one back.
        # Installed built-ins are code of the environment, not of the catalog: never re-run.
        fresh = self.fresh and source.kind != "builtin"
        previous = sys.modules.pop(source.module, None) if fresh else None
        try:
            return importlib.import_module(source.module)
        except BaseException:
            sys.modules.pop(source.module, None)
            if previous is not None:
                sys.modules[source.module] = previous
            raise


def _rerun(source: PluginSource) -> ModuleType:
    """Run one plugin's module (and its submodules, for a package) anew as new module
    objects; if that fails, the old ones are put back, so the catalog serving them does not
    lose them. Its folder's other modules are left as they are."""
    prefix = source.module + "."
    previous = {
        name: module
        for name, module in list(sys.modules.items())
        if name == source.module or name.startswith(prefix)
    }
    for name in previous:
        del sys.modules[name]
    importlib.invalidate_caches()
    try:
        if source.folder is not None:
            return _namespace.import_module(source.folder, source.module)
        return importlib.import_module(source.module)
    except BaseException:
        for name in [n for n in sys.modules if n == source.module or n.startswith(prefix)]:
            del sys.modules[name]
        sys.modules.update(previous)
        raise


def _finished(key: str, mine: _Import) -> None:
    with _running_lock:
        if _running.get(key) is mine:
            del _running[key]
    mine.done.set()
