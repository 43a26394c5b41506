"""Importing plugin and declaration modules once each, with a deadline, failures remembered."""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

from .. import _interrupts
from .._deadline import Late, Overloaded, call_with_deadline
from ..errors import PluginLoadError
from . import _namespace
from ._sources import PluginSource

#: Imports that missed their deadline and are still running, by module name: a new loader
#: (after a reload) reports them failed instead of starting the same hanging import again.
_hanging: dict[str, threading.Event] = {}
_hanging_lock = threading.Lock()


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
        with _hanging_lock:
            earlier = _hanging.get(source.module)
            if earlier is not None and not earlier.is_set():
                cause = TimeoutError("an earlier import of it is still running (it hangs)")
                return PluginLoadError(source.name, source.describe(), cause)
        done = threading.Event()
        try:
            return call_with_deadline(
                lambda: self._import(source, done),
                self.timeout,
                f"catalog-import-{source.name}",
            )
        except Late as late:
            with _hanging_lock:
                if not done.is_set():
                    _hanging[source.module] = done
            cause = TimeoutError(f"the import {late}")
            return PluginLoadError(source.name, source.describe(), cause)
        except Overloaded as busy:
            return PluginLoadError(source.name, source.describe(), busy)

    def _import(self, source: PluginSource, done: threading.Event) -> ModuleType | PluginLoadError:
        try:
            return self._run(source)
        except BaseException as exc:
            # SystemExit and KeyboardInterrupt too: a plugin's sys.exit() or stray interrupt at
            # import is its own failure, not the host's (a real Ctrl-C still stops everything).
            if _interrupts.is_real(exc):
                raise
            return PluginLoadError(source.name, source.describe(), exc)
        finally:
            done.set()

    def _run(self, source: PluginSource) -> ModuleType:
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
