"""What the app serves from: the catalog, its key ring (kept in step with reloads) and jobs."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, NamedTuple

from ..config._keys import KeyRing
from ..errors import CatalogError, ConfigError, ConfigProblem

if TYPE_CHECKING:
    from ..config import CatalogConfig, JobsConfig
    from ..execution._catalog import Catalog
    from ..execution._jobs import JobStore, JobWorker
    from ..execution._watch import Watcher
    from ._calls import CallPool
    from ._coherence import Coherence

log = logging.getLogger("catalog.serve")

#: Environment variables the app reads at start (``catalog serve`` sets them for its workers).
MAX_TIMEOUT_ENV: Final = "CATALOG_MAX_TIMEOUT"
JOB_THREADS_ENV: Final = "CATALOG_JOB_THREADS"
MAX_BODY_ENV: Final = "CATALOG_MAX_BODY"
#: Set (to 1) when the server reloads the catalog as its files change (``--watch``).
WATCH_ENV: Final = "CATALOG_WATCH"


def _number(
    environ: Mapping[str, str], name: str, default: float, low: float, high: float
) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        message = f"expected a number from {low:g} to {high:g}, got {text!r}"
        raise ConfigError(None, [ConfigProblem(f"${name}", message)])
    return value


class ServeSettings(NamedTuple):
    """How the app runs calls and jobs."""

    #: the longest deadline a request may ask for with ``X-Timeout`` (seconds)
    max_timeout: float = 60.0
    #: threads that run background jobs in this process (0: jobs are only stored here)
    job_threads: int = 2
    #: the largest request body taken (bytes); a larger one is answered 413 unread
    max_body: int = 1 << 20
    #: reload the catalog when its file or its code changes
    watch: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        env = os.environ if environ is None else environ
        defaults = cls._field_defaults
        return cls(
            _number(env, MAX_TIMEOUT_ENV, defaults["max_timeout"], 0.001, 86400),
            int(_number(env, JOB_THREADS_ENV, defaults["job_threads"], 0, 64)),
            int(_number(env, MAX_BODY_ENV, defaults["max_body"], 1, 1 << 30)),
            env.get(WATCH_ENV, "").strip() not in ("", "0"),
        )


def config_of(catalog: Catalog) -> CatalogConfig:
    """The configuration the catalog serves from right now (it changes with a reload)."""
    return catalog.config


class Server:
    """The state one app instance shares between requests."""

    def __init__(self, catalog: Catalog, *, owned: bool, settings: ServeSettings) -> None:
        self.catalog = catalog
        self.settings = settings
        self._owned = owned
        self._lock = threading.Lock()
        self._ring_config: CatalogConfig | None = None
        self._ring = KeyRing(())
        self._store: JobStore | None = None
        self._store_jobs: JobsConfig | None = None
        self._worker: JobWorker | None = None
        self._calls: CallPool | None = None
        self._coherence: Coherence | None = None
        self._watcher: Watcher | None = None
        self._stopped = False
        #: why the last start failed, if an error of the catalog stopped it (logged then)
        self.start_error: CatalogError | None = None

    def keyring(self) -> KeyRing:
        """The keys of the configuration in use: rebuilt (and environment references read
        again) when a reload swapped in a new one."""
        config = config_of(self.catalog)
        if config is self._ring_config:
            return self._ring
        with self._lock:
            if config is not self._ring_config:
                ring = KeyRing.from_config(config)
                for problem in ring.problems:
                    log.warning("API key unusable: %s", problem)
                self._ring, self._ring_config = ring, config
            return self._ring

    @property
    def calls(self) -> CallPool:
        """The threads that run calls, made at the first call."""
        calls = self._calls
        if calls is None:
            with self._lock:
                if self._calls is None:
                    from ._calls import CallPool

                    self._calls = CallPool()
                calls = self._calls
        return calls

    def store(self) -> JobStore:
        """The job store: opened at start, and kept until the server stops (a reload does not
        move it: ``[jobs]`` is read once). Refused (503) once the server is stopping."""
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._stopped:
                # Reopening here would leave a store behind that nobody closes.
                from ._problems import ProblemError

                raise ProblemError("stopping", "the server is shutting down; try again later")
            if self._store is None:
                try:
                    self._store = self._open_store()
                except CatalogError as exc:
                    # The server's own storage, not the tenant's: a 500, not a 503.
                    from ._problems import internal

                    raise internal(exc, tenant=None, where="job store: ") from exc
            return self._store

    def _open_store(self) -> JobStore:
        from ..execution._jobs import JobStore

        config = config_of(self.catalog)
        store = JobStore.for_config(self.catalog.path, config.jobs)
        self._store_jobs = config.jobs
        return store

    def jobs_outdated(self) -> bool:
        """Whether ``[jobs]`` has changed since the store was opened: the server keeps the
        store (its workers run on it) until it restarts."""
        opened = self._store_jobs
        return opened is not None and opened != config_of(self.catalog).jobs

    def start(self) -> None:
        """Open the job store (an unusable one stops the start with its ConfigError), read
        the keys, build every tenant that has one (so failures show in the log now, not at
        the first request), and start the job worker."""
        with self._lock:
            self._stopped = False
            self.start_error = None
            if self._store is None:
                try:
                    self._store = self._open_store()
                except CatalogError as exc:
                    log.error("cannot start: %s", exc)
                    self.start_error = exc
                    raise
            store = self._store
        ring = self.keyring()
        if not len(ring):
            log.warning("no API key can authenticate: every request will get 401")
        for tenant in sorted(ring.tenants()):
            info = self.catalog.tenant(tenant)
            if info.status == "failed":
                log.warning("tenant %r fails closed: %s", tenant, info.error)
        self.settle_heap()
        from ._coherence import Coherence

        self._coherence = Coherence.from_env(self.catalog, on_reload=self.settle_heap)
        if self.settings.watch:
            self._watcher = self.catalog.watch(on_reload=lambda _catalog: self.reloaded())
        if self.settings.job_threads:
            from ..execution._jobs import JobWorker

            self._worker = JobWorker(self.catalog, store, threads=self.settings.job_threads)
            self._worker.start()

    def reloaded(self) -> None:
        """This process has just reloaded the catalog (the admin endpoint, a watched change):
        tell the other worker processes, and settle the heap."""
        coherence = self._coherence
        if coherence is not None:
            coherence.announce()
        self.settle_heap()

    def generation(self) -> int:
        """The catalog generation this process serves: the shared epoch of the server's
        workers when there are several (the same number in each), else the reload count."""
        coherence = self._coherence
        return coherence.epoch if coherence is not None else self.catalog.generation

    def settle_heap(self) -> None:
        """Put what the server holds for good (modules, the catalog, its tenants) out of the
        cycle collector's sight, after a start or a reload. Its full collections then scan
        only what requests leave behind: over a whole heap, one every few hundred requests
        took tens of milliseconds, and was the server's p99 latency."""
        import gc

        with self._lock:
            gc.unfreeze()  # what a reload replaced may be collected now
            gc.collect()
            gc.freeze()

    def stop(self) -> None:
        """Stop the job worker, close the store, then shut the plugins down if the app
        loaded the catalog. Later requests for jobs are refused; nothing is reopened."""
        with self._lock:
            self._stopped = True
            worker, self._worker = self._worker, None
            coherence, self._coherence = self._coherence, None
            watcher, self._watcher = self._watcher, None
        if coherence is not None:
            coherence.stop()
        if watcher is not None:
            watcher.stop()
        if worker is not None:
            worker.stop()
        with self._lock:
            store, self._store = self._store, None
            calls, self._calls = self._calls, None
        if calls is not None:
            calls.close()
        if store is not None:
            store.close()
        if self._owned:
            for tenant, plugin, exc in self.catalog.close():
                log.warning(
                    "plugin %r failed to shut down for tenant %r: %s: %s",
                    plugin,
                    tenant,
                    type(exc).__name__,
                    exc,
                )
