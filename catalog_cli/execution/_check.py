"""``catalog check`` on several processes: each worker builds and starts a share of the tenants.

The tenants are split into chunks, in their order; a worker process loads the catalog once
(a large catalog file is read through the on-disk cache, so that is cheap), builds and starts
the tenants of each chunk it is given, records what it found for each (``TenantStatus``),
shuts them down again and sends the records back. They are put back in the tenants' order, so
the report is the one a check in one process makes.

A plugin may end the process it runs in (``os._exit``, a crash in native code). A worker
writes to a file of its chunk which tenant it is building, and each tenant's status once it has
it, so when a worker dies what it had found is kept, and the tenant it was building is checked
again alone, in a process of its own: if that process dies too, the tenant is reported as
failed (kind ``crash``), and the check goes on. After ``MAX_DEATHS`` deaths the tenants not
checked yet are reported failed without more tries.
"""

from __future__ import annotations

import gc
import json
import math
import os
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .. import _interrupts
from ._views import TenantStatus

if TYPE_CHECKING:
    import concurrent.futures as cf

    from ..registry import Registry
    from ..runtime import Runtimes

#: the most worker processes the default (``jobs=None``) starts
MAX_JOBS: Final = 8
#: the default starts a worker per this many tenants at most: fewer are checked faster here
#: than a process starts and loads the catalog
TENANTS_PER_WORKER: Final = 1000
#: chunks per worker, so that one slow chunk does not leave the other workers idle at the end
CHUNKS_PER_WORKER: Final = 4
#: the largest chunk: its tenants are built, kept, then shut down together
MAX_CHUNK: Final = 2000
#: worker processes a check sits through before it gives up on the tenants not checked yet
MAX_DEATHS: Final = 8


def workers(jobs: int | None, tenants: int) -> int:
    """How many worker processes check ``tenants`` tenants: ``jobs`` (at most one per tenant),
    or by default one per CPU (at most ``MAX_JOBS``) and per ``TENANTS_PER_WORKER`` tenants.
    1 means: in this process."""
    if jobs is not None:
        return max(1, min(jobs, tenants))
    cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_JOBS, tenants // TENANTS_PER_WORKER))


def check_tenants(registry: Registry, tenants: Sequence[str], jobs: int) -> list[TenantStatus]:
    """Each tenant's status, in the order of ``tenants``, found by ``jobs`` worker processes."""
    assert registry.path is not None, "a catalog checked in workers is read from a file"
    # As this process has it: messages name the file so (workers start in this folder).
    path = str(registry.path)
    size = max(1, min(MAX_CHUNK, math.ceil(len(tenants) / (jobs * CHUNKS_PER_WORKER))))
    chunks = deque(list(tenants[i : i + size]) for i in range(0, len(tenants), size))
    found: dict[str, TenantStatus] = {}
    import tempfile

    with tempfile.TemporaryDirectory(prefix="catalog-check-") as folder:
        run = _Run(path, Path(folder), found)
        run.chunks(chunks, jobs)
    statuses = [found[tenant] for tenant in tenants]
    # A tenant whose check ended its process (or raised) selects its plugins all the same.
    return [
        s._replace(plugins=registry.selected(s.id)) if s.status == "failed" and not s.plugins else s
        for s in statuses
    ]


class _Run:
    """One parallel check: its chunks, the statuses found so far, the workers that died."""

    def __init__(self, path: str, folder: Path, found: dict[str, TenantStatus]) -> None:
        self.path = path
        self.folder = folder
        self.found = found
        self.deaths = 0
        self._files = 0

    def _file(self) -> str:
        self._files += 1
        return str(self.folder / f"chunk-{self._files}.jsonl")

    def chunks(self, chunks: deque[list[str]], jobs: int) -> None:
        """Check ``chunks`` on ``jobs`` workers; the tenants a dying worker was building are
        checked again alone (``_alone``), the rest of its chunk goes on in a new pool."""
        import concurrent.futures as cf

        while chunks:
            suspects: list[str] = []
            broken: deque[list[str]] = deque()
            pool = _pool(min(jobs, len(chunks)))
            try:
                running = {}
                for chunk in chunks:
                    progress = self._file()
                    future = pool.submit(check_chunk, self.path, chunk, progress)
                    running[future] = (chunk, progress)
                for future in cf.as_completed(running):
                    chunk, progress = running[future]
                    try:
                        self._keep(future.result())
                    except cf.BrokenExecutor:
                        # This worker died, or another one did and the pool ended this one.
                        building = self._recover(progress)
                        rest = [t for t in chunk if t not in self.found and t != building]
                        if building is not None:
                            suspects.append(building)
                        if rest:
                            broken.append(rest)
                    except BaseException as exc:
                        # The chunk raised (a KeyboardInterrupt sent back from the worker is
                        # no Ctrl-C here): the tenant it was building fails with it, the rest
                        # of the chunk is checked again.
                        if _interrupts.is_real(exc):
                            raise
                        building = self._recover(progress)
                        if building is not None:
                            self.found[building] = _raised(building, exc)
                        rest = [t for t in chunk if t not in self.found]
                        if rest:
                            broken.append(rest)
            except BaseException:
                _terminate(pool)
                raise
            pool.shutdown(wait=True)
            chunks = broken
            if suspects or chunks:
                self.deaths += 1
            for tenant in suspects:
                self._alone(tenant)
            if chunks and self.deaths >= MAX_DEATHS:
                for chunk in chunks:
                    for tenant in chunk:
                        self.found[tenant] = _not_checked(tenant, self.deaths)
                return

    def _alone(self, tenant: str) -> None:
        """Check ``tenant`` in a process of its own: if that dies too, the tenant did it."""
        import concurrent.futures as cf

        if self.deaths >= MAX_DEATHS:
            self.found[tenant] = _not_checked(tenant, self.deaths)
            return
        pool = _pool(1)
        progress = self._file()
        try:
            self._keep(pool.submit(check_chunk, self.path, [tenant], progress).result())
        except cf.BrokenExecutor as exc:
            self.deaths += 1
            self.found[tenant] = _crashed(tenant, self._recover(progress), exc)
        except BaseException as exc:
            if _interrupts.is_real(exc):
                _terminate(pool)
                raise
            self._recover(progress)
            self.found.setdefault(tenant, _raised(tenant, exc))
        pool.shutdown(wait=True)

    def _keep(self, statuses: list[TenantStatus]) -> None:
        for status in statuses:
            self.found[status.id] = status

    def _recover(self, progress: str) -> str | None:
        """Keep the statuses a dead worker wrote down; return the tenant it was building."""
        building = None
        try:
            lines = Path(progress).read_bytes().splitlines()
        except OSError:
            return None
        for line in lines:
            try:
                kind, data = line[:1], json.loads(line[2:])
            except ValueError:
                break  # a line cut short as the worker died
            if kind == b">":
                building = str(data)
            elif kind == b"=":
                status = _status(data)
                self.found[status.id] = status
                building = None
        return building


def _status(data: list[object]) -> TenantStatus:
    tenant, status, plugins, error, error_type, kind, plugin = data
    return TenantStatus(
        str(tenant),
        "ok" if status == "ok" else "failed",
        tuple(str(p) for p in plugins) if isinstance(plugins, list) else (),
        None if error is None else str(error),
        None if error_type is None else str(error_type),
        None if kind is None else str(kind),
        None if plugin is None else str(plugin),
    )


def _crashed(tenant: str, building: str | None, exc: BaseException) -> TenantStatus:
    when = "while building and starting it" if building == tenant else "as it began"
    return TenantStatus(
        tenant,
        "failed",
        (),
        f"tenant {tenant!r}: the process checking it died {when}, also when it was checked "
        "alone (a plugin that ends its process, or a crash in native code, does this): "
        f"{type(exc).__name__}: {exc}",
        "WorkerDied",
        "crash",
    )


def _raised(tenant: str, exc: BaseException) -> TenantStatus:
    return TenantStatus(
        tenant,
        "failed",
        (),
        f"tenant {tenant!r}: checking it raised {type(exc).__name__}: {exc}",
        type(exc).__name__,
        "plugin",
    )


def _not_checked(tenant: str, deaths: int) -> TenantStatus:
    return TenantStatus(
        tenant,
        "failed",
        (),
        f"tenant {tenant!r} was not checked: {deaths} worker processes of this check died "
        "(see the tenants reported as crashed)",
        "WorkerDied",
        "crash",
    )


def _pool(jobs: int) -> cf.ProcessPoolExecutor:
    """Spawned workers (see ``_batch.ProcessPool``: a forked child would inherit this process's
    threads' locks and loaded plugins), which leave Ctrl-C to this process."""
    import concurrent.futures as cf
    import multiprocessing

    from ._batch import _start_worker

    return cf.ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(None,),
    )


def _terminate(pool: cf.ProcessPoolExecutor) -> None:
    """End the pool's workers now (on an error or Ctrl-C here), without waiting for them."""
    # The standard pool has no public way to kill its workers before Python 3.14.
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


# -- in a worker process -------------------------------------------------------------------

#: catalog path -> the runtimes this worker checks its tenants with
_LOADED: dict[str, Runtimes] = {}


def _runtimes(path: str) -> Runtimes:
    found = _LOADED.get(path)
    if found is None:
        from ..registry import load_registry
        from ..runtime import Runtimes

        found = _LOADED[path] = Runtimes(load_registry(Path(path)), {})
        # What the catalog holds lives as long as this worker: the collector can skip it.
        gc.freeze()
    return found


def check_chunk(path: str, tenants: list[str], progress: str) -> list[TenantStatus]:
    """In a worker: build and start each of ``tenants``, then shut them down; their statuses.
    ``progress`` records the tenant being built and each status found, as it goes."""
    from ._describe import tenant_status

    runtimes = _runtimes(path)
    handle = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    statuses = []
    # The tenants of a chunk live until its end: the collector would only scan them, again
    # and again as they grow. It runs once the chunk is shut down and forgotten instead.
    gc.disable()
    try:
        for tenant in tenants:
            # Written straight to the file (no buffer): it is there if the process dies.
            os.write(handle, b"> " + json.dumps(tenant).encode() + b"\n")
            status = tenant_status(runtimes, tenant)
            os.write(handle, b"= " + json.dumps(list(status)).encode() + b"\n")
            statuses.append(status)
    finally:
        os.close(handle)
        try:
            runtimes.close()  # shut down what this chunk started (failures are logged)
            runtimes.registry.forget(tenants)
        finally:
            gc.enable()
            gc.collect()
    return statuses
