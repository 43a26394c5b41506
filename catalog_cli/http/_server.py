"""What the app serves from: the catalog, its key ring (kept in step with reloads) and jobs."""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, NamedTuple

from .._auth import KeyRing
from ..errors import CatalogError, ConfigError, ConfigProblem

if TYPE_CHECKING:
    from .._catalog import Catalog
    from .._config import CatalogConfig
    from .._jobs import JobStore, JobWorker

log = logging.getLogger("catalog.serve")

#: Environment variables the app reads at start (``catalog serve`` sets them for its workers).
MAX_TIMEOUT_ENV: Final = "CATALOG_MAX_TIMEOUT"
JOB_THREADS_ENV: Final = "CATALOG_JOB_THREADS"


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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        env = os.environ if environ is None else environ
        return cls(
            _number(env, MAX_TIMEOUT_ENV, cls._field_defaults["max_timeout"], 0.001, 86400),
            int(_number(env, JOB_THREADS_ENV, cls._field_defaults["job_threads"], 0, 64)),
        )


def config_of(catalog: Catalog) -> CatalogConfig:
    """The configuration the catalog serves from right now (it changes with a reload)."""
    # Catalog has no public accessor for its configuration yet.
    return catalog._state.config


def generation_of(catalog: Catalog) -> int:
    """How many reloads the catalog has had."""
    return catalog._state.generation


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
        self._worker: JobWorker | None = None

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

    def store(self) -> JobStore:
        """The job store (opened on first use)."""
        if self._store is None:
            from .._jobs import JobStore

            with self._lock:
                if self._store is None:
                    try:
                        self._store = JobStore.for_catalog(self.catalog)
                    except CatalogError as exc:
                        # The server's own storage, not the tenant's: a 500, not a 503.
                        from ._problems import internal

                        raise internal(exc, tenant=None, where="job store: ") from exc
        return self._store

    def start(self) -> None:
        """Read the keys, build every tenant that has one (so failures show in the log now,
        not at the first request), and start the job worker."""
        ring = self.keyring()
        if not len(ring):
            log.warning("no API key can authenticate: every request will get 401")
        for tenant in sorted(ring.tenants()):
            info = self.catalog.tenant(tenant)
            if info.status == "failed":
                log.warning("tenant %r fails closed: %s", tenant, info.error)
        if self.settings.job_threads:
            from .._jobs import JobWorker

            self._worker = JobWorker(self.catalog, self.store(), threads=self.settings.job_threads)
            self._worker.start()

    def stop(self) -> None:
        """Stop the job worker, then shut the plugins down if the app loaded the catalog."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()
        store, self._store = self._store, None
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
