"""Reloads that reach every worker process of a server.

With ``catalog serve --workers N`` each worker process has its own catalog, and a reload
request reaches one of them. So a reload in any worker (the admin endpoint, a watched change)
is announced: the worker that reloaded raises a shared *epoch*, a number kept in a small file
that ``catalog serve`` makes for its workers, and every worker looks at that file a few times a
second and reloads when the epoch has moved past the one it serves. After a reload request
returns, every worker serves the new catalog within ``POLL`` seconds plus the time one reload
takes. The epoch is also what the server reports as its catalog generation (``/v1/health``,
the ``X-Catalog-Generation`` header), the same number in every worker.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..errors import CatalogError

if TYPE_CHECKING:
    from ..execution._catalog import Catalog

log = logging.getLogger("catalog.serve")

#: Where ``catalog serve`` tells its workers the epoch file is.
EPOCH_ENV: Final = "CATALOG_RELOAD_EPOCH_FILE"
#: Seconds between two looks at the epoch file.
POLL: Final = 0.2


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """The epoch file's lock, between processes (where the platform has one)."""
    try:
        import fcntl
    except ImportError:  # no POSIX locks here: two reloads at the same instant may share a number
        yield
        return
    with open(path.with_suffix(".lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_epoch(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


def _write_epoch(path: Path, epoch: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(str(epoch), encoding="ascii")
    os.replace(temporary, path)  # readers see the old number or the new one, never half


class Coherence:
    """This worker's part in the shared reloads (see the module docstring)."""

    def __init__(
        self, catalog: Catalog, path: Path, on_reload: Callable[[], None] | None = None
    ) -> None:
        self.catalog = catalog
        self.path = path
        self.on_reload = on_reload
        #: the epoch whose catalog this worker serves
        self.epoch = read_epoch(path)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="catalog-coherence", daemon=True)
        self._thread.start()

    @classmethod
    def from_env(
        cls, catalog: Catalog, on_reload: Callable[[], None] | None = None
    ) -> Coherence | None:
        text = os.environ.get(EPOCH_ENV)
        return cls(catalog, Path(text), on_reload) if text else None

    def announce(self) -> int:
        """This worker has just reloaded: raise the shared epoch, and serve it."""
        with self._lock, _locked(self.path):
            epoch = max(read_epoch(self.path), self.epoch) + 1
            _write_epoch(self.path, epoch)
            self.epoch = epoch
        return epoch

    def _poll(self) -> None:
        while not self._stop.wait(POLL):
            shared = read_epoch(self.path)
            if shared <= self.epoch:
                continue
            with self._lock:
                if shared <= self.epoch:
                    continue
                try:
                    self.catalog.reload()
                except CatalogError as exc:
                    # The worker that announced it reloaded from the same files: a refusal
                    # here is rare (a file changed again in between); the next change retries.
                    log.warning("reload announced by another worker refused here: %s", exc)
                except Exception:
                    log.exception("reload announced by another worker failed here")
                else:
                    log.info("reloaded: epoch %d (announced by another worker)", shared)
                self.epoch = shared
            if self.on_reload is not None:
                self.on_reload()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
