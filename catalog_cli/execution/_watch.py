"""Watched reload: the catalog reloads itself when its file or its code changes.

A thread waits for the operating system's file events (through ``watchfiles``, the ``watch``
extra) on the catalog file, its declaration, built-in and plugin folders, and the files of the
modules ``[catalog]`` names; a burst of changes (an editor's save, a ``git checkout``) is one
reload, once the files have been quiet for ``debounce`` seconds. A reload that is refused (a
broken file, a plugin that no longer loads) is logged, and the catalog in use keeps serving.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

from ..errors import CatalogError, ServeError

if TYPE_CHECKING:
    from ._catalog import Catalog

log = logging.getLogger("catalog.watch")


def _watched(catalog: Catalog) -> tuple[Path, set[Path], set[Path]]:
    """(the catalog file, folders of its code, single files of its code) to watch."""
    registry = catalog.registry
    config = registry.config
    folders = {
        folder.resolve()
        for folder in (config.hookspecs_dir, config.builtins_dir, *config.plugin_dirs)
        if folder is not None and folder.is_dir()
    }
    files: set[Path] = set()
    for source in registry.sources.values():
        if source.kind not in ("module", "builtin") or source.folder is not None:
            continue
        try:
            spec = importlib.util.find_spec(source.module)
        except (ImportError, ValueError):
            continue
        origin = spec.origin if spec is not None else None
        if origin and origin.endswith(".py") and Path(origin).is_file():
            files.add(Path(origin).resolve())
    return catalog.path.resolve(), folders, files


def _relevant(path: Path, catalog_file: Path, folders: Iterable[Path], files: set[Path]) -> bool:
    if path == catalog_file or path in files:
        return True
    if path.suffix != ".py" or "__pycache__" in path.parts:
        return False
    return any(path.is_relative_to(folder) for folder in folders)


@final
class Watcher:
    """The thread that reloads ``catalog`` when its files change (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        debounce: float = 0.3,
        on_reload: Callable[[Catalog], None] | None = None,
    ) -> None:
        self.check_installed()
        self.catalog = catalog
        self.debounce = debounce
        self.on_reload = on_reload
        #: reloads done and refused since the watch began
        self.reloads = 0
        self.refused = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catalog-watch", daemon=True)
        self._thread.start()
        # Events that happen before the watch is set up would be lost: wait for it.
        self._ready.wait(5)

    @staticmethod
    def check_installed() -> None:
        """Raise ServeError naming the extra when ``watchfiles`` is not installed."""
        try:
            import watchfiles  # noqa: F401 - only whether it imports
        except ImportError:
            raise ServeError(
                "watching a catalog needs the watch extra (watchfiles is not installed): "
                "pip install 'task-catalog[watch]'"
            ) from None

    def _run(self) -> None:
        import watchfiles

        catalog_file, folders, files = _watched(self.catalog)
        roots = {catalog_file.parent, *folders, *(f.parent for f in files)}
        roots = {root for root in roots if not any(root.is_relative_to(o) for o in roots - {root})}

        def keep(_change: Any, path: str) -> bool:
            return _relevant(Path(path), catalog_file, folders, files)

        log.info("watching %s for changes", ", ".join(sorted(str(r) for r in roots)))
        try:
            for changes in watchfiles.watch(
                *roots,
                watch_filter=keep,
                debounce=int(self.debounce * 1000),
                step=50,
                stop_event=self._stop,
                rust_timeout=500,
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                self._ready.set()
                if changes and not self._stop.is_set():
                    self._reload(sorted({path for _change, path in changes}))
        except Exception:  # the watch itself failed: say so once; the catalog keeps serving
            log.exception("watching the catalog stopped")
        finally:
            self._ready.set()

    def _reload(self, paths: list[str]) -> None:
        shown = ", ".join(Path(p).name for p in paths[:5]) + (" ..." if len(paths) > 5 else "")
        try:
            self.catalog.reload()
        except CatalogError as exc:
            self.refused += 1
            log.warning(
                "reload after a change (%s) refused; the catalog in use serves on: %s", shown, exc
            )
            return
        self.reloads += 1
        log.info("reloaded after a change (%s): generation %d", shown, self.catalog.generation)
        if self.on_reload is not None:
            try:
                self.on_reload(self.catalog)
            except Exception:
                log.exception("after a watched reload")

    def stop(self) -> None:
        """Stop watching (the thread ends within about half a second)."""
        self._stop.set()
        self._thread.join(2)
