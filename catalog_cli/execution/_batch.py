"""Batches: one method, one tenant, many argument sets, answered in input order.

Items travel as data (``CallRequest`` dicts) in chunks to a ``concurrent.futures.Executor``: a
local process pool or a Dask cluster. Each worker process loads the catalog from its path once
and keeps it for later chunks, so the cost of loading the catalog and building the tenant is
paid once per worker, not per chunk. Every failure is data in the answers: a bad input, an
error of the call, a worker that cannot load the catalog, a worker that died.

Without an executor the calls run here, one after the other, on the given catalog.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import itertools
import math
import multiprocessing
import os
import pickle
import signal
import socket
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from .. import _interrupts
from ..errors import CatalogError, ErrorRecord, ExecutorError, record_of
from ._requests import CallAnswer, CallRequest

if TYPE_CHECKING:
    from ._catalog import Catalog

#: the most items in one chunk: beyond this the per-chunk cost (a task, a round trip, pickling)
#: is already small against the calls, and bigger chunks only make progress coarser and a dead
#: worker costlier
MAX_CHUNK = 1000
#: chunks per unit of parallelism, so a slow chunk does not leave the other workers idle at the end
CHUNKS_PER_WORKER = 4
#: parts a chunk that a dying worker took down is split into, each run alone: an item runs at
#: most three times (``runs_bound``) in chunks of up to ``SPLIT ** 2`` (1024) items
SPLIT = 32
#: worker deaths a batch sits through while it looks for the items that end them; then the
#: items not cleared yet fail without another run (each death costs a process or two to start)
MAX_DEATHS = 32

_P = ParamSpec("_P")
_T = TypeVar("_T")

Progress = Callable[[int, int], None]
#: a catalog lent to the batch's tasks that run in the caller's process: (its pid, key)
Lender = tuple[int, str]
#: an item of a batch: a request to run, or an input that failed before it could become one
Item = CallRequest | CallAnswer


def map_calls(
    catalog_path: Path,
    interface: str,
    inputs: Iterable[Mapping[str, Any]],
    *,
    customer: str,
    version: int | None = None,
    executor: cf.Executor | None = None,
    progress: Progress | None = None,
    chunk_size: int | None = None,
    timeout: float | None = None,
    catalog: Catalog | None = None,
) -> list[CallAnswer]:
    """Run ``interface`` for ``customer`` once per argument mapping in ``inputs``.

    Returns one answer per input, in input order; a failed item is an answer with ``ok``
    false and its error (type, message, exit code), and never stops the batch. An input that is
    not a mapping is such a failed item.

    ``executor``: where the calls run (a ``ProcessPool``, ``client.get_executor()`` of Dask, any
    ``concurrent.futures.Executor``); its workers load the catalog from ``catalog_path``, which
    must be readable there, with the same plugins importable. None: here, one call after
    the other, on ``catalog`` (else the file is loaded for the batch and closed after).
    ``progress(done, total)`` is called as items complete, ``done`` growing to ``total``.
    ``chunk_size``: items per task (default: enough chunks to keep every worker busy, at most
    ``MAX_CHUNK`` items each). ``timeout``: seconds each call may take.

    With a catalog at hand (``catalog``, or no executor) the interface, tenant and version are
    checked first, so a misspelt name raises UnknownNameError instead of failing every item.
    """
    items: list[Item] = [
        _item(index, arguments, customer, interface, version)
        for index, arguments in enumerate(inputs)
    ]
    return list(
        iter_answers(
            catalog_path,
            items,
            executor=executor,
            progress=progress,
            chunk_size=chunk_size,
            timeout=timeout,
            catalog=catalog,
        )
    )


def _item(
    index: int, arguments: object, customer: str, interface: str, version: int | None
) -> Item:
    if isinstance(arguments, Mapping):
        return CallRequest(customer, interface, version, dict(arguments))
    kind = type(arguments).__name__
    return bad_input(f"input {index}: expected a mapping of arguments, got {kind}")


def bad_input(message: str) -> CallAnswer:
    """The answer for an input that could not become a request (``message`` says where):
    invalid arguments, as for any argument the method cannot take."""
    return CallAnswer(
        False, error=ErrorRecord("invalid_arguments", message, "InvalidArgumentsError")
    )


def iter_answers(
    catalog_path: Path,
    items: Sequence[Item],
    *,
    executor: cf.Executor | None = None,
    progress: Progress | None = None,
    chunk_size: int | None = None,
    timeout: float | None = None,
    catalog: Catalog | None = None,
) -> Generator[CallAnswer, None, None]:
    """The answers to ``items`` in their order, each as soon as it and all before it are known
    (so a caller can write them out while later chunks still run). See :func:`map_calls`."""
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    requests = [i for i, item in enumerate(items) if isinstance(item, CallRequest)]
    if executor is None:
        if catalog is not None:
            _check_names(catalog, items, requests)
            yield from _Batch(items, progress).serial(catalog, requests, chunk_size, timeout)
            return
        from ._catalog import Catalog

        with Catalog(catalog_path) as loaded:
            _check_names(loaded, items, requests)
            yield from _Batch(items, progress).serial(loaded, requests, chunk_size, timeout)
        return
    if catalog is not None:
        _check_names(catalog, items, requests)
    size = chunk_size or _chunk_size(len(requests), parallelism(executor))
    chunks = [requests[start : start + size] for start in range(0, len(requests), size)]
    # Workers may run elsewhere, in another folder: give them the absolute path.
    path = str(Path(catalog_path).resolve())
    if isinstance(executor, ProcessPool) and executor.workers == 1:
        yield from _Batch(items, progress).watched(executor, path, chunks, timeout)
        return
    with _lend(catalog) as lender:
        yield from _Batch(items, progress).pooled(executor, path, chunks, timeout, lender)


def _check_names(catalog: Catalog, items: Sequence[Item], requests: Sequence[int]) -> None:
    if requests:
        first = items[requests[0]]
        assert isinstance(first, CallRequest)
        catalog.resolve_version(first.interface, customer=first.tenant, version=first.version)


def parallelism(executor: cf.Executor) -> int:
    """How many chunks ``executor`` runs at once (for chunk sizes and how many to keep queued)."""
    for attribute in ("workers", "_max_workers"):  # ProcessPool; the standard library's pools
        found = getattr(executor, attribute, None)
        if isinstance(found, int) and found > 0:
            return found
    client = getattr(executor, "_client", None)  # Dask's ClientExecutor
    if client is not None:
        try:
            return max(1, int(sum(client.nthreads().values())))
        except Exception:  # a lost scheduler shows when chunks are submitted
            pass
    return os.cpu_count() or 1


def _chunk_size(requests: int, workers: int) -> int:
    return max(1, min(MAX_CHUNK, math.ceil(requests / (workers * CHUNKS_PER_WORKER))))


class _Batch:
    """One batch's answers by position, handed out in order as the gap-free prefix grows."""

    def __init__(self, items: Sequence[Item], progress: Progress | None) -> None:
        self.items = items
        self.answers: list[CallAnswer | None] = [
            item if isinstance(item, CallAnswer) else None for item in items
        ]
        self.total = len(items)
        self.done = sum(found is not None for found in self.answers)
        self.progress = progress
        self.next = 0
        if progress is not None and self.done:
            progress(self.done, self.total)

    def request(self, position: int) -> CallRequest:
        item = self.items[position]
        assert isinstance(item, CallRequest)
        return item

    def record(self, positions: Sequence[int], answers: Sequence[CallAnswer]) -> None:
        for position, found in zip(positions, answers, strict=True):
            self.answers[position] = found
        self.done += len(positions)
        if self.progress is not None:
            self.progress(self.done, self.total)

    def fail(self, positions: Sequence[int], error: ErrorRecord) -> None:
        self.record(positions, [CallAnswer(False, error=error)] * len(positions))

    def ready(self) -> Iterator[CallAnswer]:
        answers = self.answers
        while self.next < self.total:
            found = answers[self.next]
            if found is None:
                return
            answers[self.next] = None  # handed out: the caller keeps it, we need not
            self.next += 1
            yield found

    def serial(
        self,
        catalog: Catalog,
        positions: Sequence[int],
        chunk_size: int | None,
        timeout: float | None,
    ) -> Iterator[CallAnswer]:
        # Chunks only pace the progress reports here: about a hundred of them.
        size = chunk_size or max(1, min(MAX_CHUNK, math.ceil(len(positions) / 100)))
        yield from self.ready()
        for start in range(0, len(positions), size):
            chunk = positions[start : start + size]
            self.record(chunk, answer_all(catalog, [self.request(p) for p in chunk], timeout))
            yield from self.ready()

    def pooled(
        self,
        executor: cf.Executor,
        path: str,
        chunks: Sequence[Sequence[int]],
        timeout: float | None,
        lender: Lender | None = None,
    ) -> Iterator[CallAnswer]:
        # A few chunks queued per worker keep it busy while answers travel back; more would
        # only widen what a broken pool takes down with it.
        window = max(2, 2 * parallelism(executor))
        queue = deque(chunks)
        running: dict[cf.Future[bytes], Sequence[int]] = {}
        #: chunks that were running or queued when a worker process died, with the error
        suspects: list[tuple[Sequence[int], BaseException]] = []
        send = _Sender(self, executor, path, timeout, lender, running)
        yield from self.ready()
        try:
            while queue or running:
                while queue and len(running) < window:
                    send(queue.popleft())
                if not running:  # nothing went: each item is recorded failed already
                    yield from self.ready()
                    continue
                finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    chunk = running.pop(future)
                    died = self.collect(future, chunk)
                    if died is not None:
                        suspects.append((chunk, died))
                yield from self.ready()
            yield from self._isolate(send, suspects)
            if self.next != self.total:  # every item has its answer by now, else a bug here
                raise RuntimeError(f"a batch lost answers: {self.next} of {self.total} given")
        finally:
            for future in running:  # the caller stopped early, or was interrupted
                future.cancel()

    def watched(
        self, pool: ProcessPool, path: str, chunks: Sequence[Sequence[int]], timeout: float | None
    ) -> Iterator[CallAnswer]:
        """The chunks on a pool of one worker process that writes down what it does as it
        goes (see ``run_chunk``): when it dies, the answers it made are kept, the item it was
        running fails (it ended its process), and the items after it run in a new worker. So
        no item runs twice, and every item has its answer.

        With one worker nothing else runs beside the chunk, so a death points at what ran;
        with more, a dying worker takes the others' chunks down too, and ``pooled`` has to
        search for the culprits by running items again.
        """
        import tempfile

        queue = deque(chunks)
        running: dict[cf.Future[bytes], Sequence[int]] = {}
        send = _Sender(self, pool, path, timeout, None, running)
        deaths = 0
        yield from self.ready()
        with tempfile.TemporaryDirectory(prefix="catalog-batch-") as folder:
            try:
                for serial in itertools.count():
                    if not queue:
                        break
                    chunk = queue.popleft()
                    record = os.path.join(folder, f"chunk-{serial}")
                    future = send(chunk, record)
                    if future is None:  # nothing went: each item is recorded failed already
                        yield from self.ready()
                        continue
                    cf.wait([future])
                    chunk = running.pop(future)
                    died = self.collect(future, chunk)
                    if died is not None:
                        deaths += 1
                        rest = self._after_death(chunk, record, died, deaths)
                        if rest:
                            queue.appendleft(rest)
                    with contextlib.suppress(OSError):
                        os.remove(record)  # it holds the chunk's answers again
                    yield from self.ready()
            finally:
                for future in running:  # the caller stopped early, or was interrupted
                    future.cancel()
        if self.next != self.total:  # every item has its answer by now, else a bug here
            raise RuntimeError(f"a batch lost answers: {self.next} of {self.total} given")

    def _after_death(
        self, chunk: Sequence[int], record: str, died: BaseException, deaths: int
    ) -> Sequence[int]:
        """Record what a worker that died had done of ``chunk`` (its ``record``) and fail the
        item that killed it; return the items still to run."""
        answers, started, ready = _read_record(record)
        self.record(chunk[: len(answers)], answers)
        rest = chunk[len(answers) :]
        if not ready:
            # It died before its first item: loading the catalog or building the tenant ends
            # it, and would end every new worker the same way.
            self.fail(rest, _unready_error(died, rest))
            return ()
        if started is not None and started == len(answers) and rest:
            self.fail(rest[:1], _killer_error(died, rest[0]))
            rest = rest[1:]
        if rest and deaths >= MAX_DEATHS:
            self.fail(rest, _given_up_error(died, rest))
            return ()
        return rest

    def _isolate(
        self, send: _Sender, suspects: Sequence[tuple[Sequence[int], BaseException]]
    ) -> Iterator[CallAnswer]:
        """Find the items that end their worker among ``suspects``, and answer all the others.

        A dying worker takes down every chunk of its pool (Dask: every task it holds) with it,
        so a chunk that died among others proves nothing. Here each task runs alone, one after
        the other: a chunk is split into at most ``SPLIT`` parts, each run on its own; a part
        that dies alone holds a culprit and is split again, down to single items. An item that
        dies alone is the culprit and fails with the error; every other item gets its answer.
        Each item runs at most ``1 + levels`` times (``runs_bound``), and after ``MAX_DEATHS``
        deaths here the items not cleared yet fail without another run.
        """
        # Depth first, so the answers of the first chunks are complete (and flow) early.
        stack = [(chunk, died, False) for chunk, died in reversed(suspects)]
        deaths = 0
        while stack:
            chunk, died, alone = stack.pop()
            if alone and len(chunk) == 1:
                self.fail(chunk, _culprit_error(died, chunk[0]))
                yield from self.ready()
                continue
            again: list[tuple[Sequence[int], BaseException, bool]] = []
            for part in split(chunk):
                if deaths >= MAX_DEATHS:
                    self.fail(part, _given_up_error(died, part))
                else:
                    died_alone = send.alone(part)
                    if died_alone is not None:
                        deaths += 1
                        again.append((part, died_alone, True))
                yield from self.ready()
            stack.extend(reversed(again))

    def collect(self, future: cf.Future[bytes], chunk: Sequence[int]) -> BaseException | None:
        """Record the answers of ``chunk``, or its failure; if its worker died, return the
        error instead (that chunk is only a suspect)."""
        try:
            answers = _unpack(future.result(), len(chunk))
        except cf.CancelledError as exc:
            self.fail(chunk, _chunk_error(exc, chunk, "cancelled on the executor"))
        except BaseException as exc:
            # What a task raised comes back as it was, KeyboardInterrupt or SystemExit too:
            # it fails its chunk, and only a real Ctrl-C here stops the batch.
            if _interrupts.is_real(exc):
                raise
            if _worker_died(exc):
                return exc
            # a lost scheduler, an answer that did not unpickle
            self.fail(chunk, _chunk_error(exc, chunk, "failed on the executor"))
        else:
            self.record(chunk, answers)
        return None

    def drop_unpicklable(
        self, chunk: Sequence[int], data: list[dict[str, Any]]
    ) -> tuple[list[int], list[dict[str, Any]]]:
        """Fail the items whose arguments cannot travel to a worker; keep the others."""
        kept: list[int] = []
        kept_data: list[dict[str, Any]] = []
        for position, request in zip(chunk, data, strict=True):
            try:
                pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                self.record(
                    [position],
                    [
                        bad_input(
                            f"input {position}: its arguments cannot travel to a worker "
                            f"(they must pickle): {type(exc).__name__}: {exc}"
                        )
                    ],
                )
            else:
                kept.append(position)
                kept_data.append(request)
        return kept, kept_data


class _Sender:
    """Hands chunks of one batch to its executor, keeping their futures in ``running``."""

    def __init__(
        self,
        batch: _Batch,
        executor: cf.Executor,
        path: str,
        timeout: float | None,
        lender: Lender | None,
        running: dict[cf.Future[bytes], Sequence[int]],
    ) -> None:
        self.batch = batch
        self.executor = executor
        self.path = path
        self.timeout = timeout
        self.lender = lender
        self.running = running

    def __call__(self, chunk: Sequence[int], record: str | None = None) -> cf.Future[bytes] | None:
        """Submit ``chunk``: its future (also in ``running``), or None when no item went
        (each failed item is recorded). ``record``: a file the worker writes down what it
        does in (see ``run_chunk``)."""
        batch = self.batch
        # Pickled here: Dask would otherwise walk every request and its arguments looking for
        # tasks inside them, which costs more than the calls (bytes it passes as they are).
        data = [_request_data(batch.request(p)) for p in chunk]
        try:
            requests = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            chunk, data = batch.drop_unpicklable(chunk, data)
            if not chunk:
                return None
            requests = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            if record is None:
                future = self.executor.submit(
                    run_chunk, self.path, requests, self.timeout, self.lender
                )
            else:
                future = self.executor.submit(
                    run_chunk, self.path, requests, self.timeout, self.lender, record
                )
        except Exception as exc:  # a pool shut down or broken for good, a lost scheduler
            batch.fail(chunk, _chunk_error(exc, chunk, "could not be handed to the executor"))
            return None
        self.running[future] = chunk
        return future

    def alone(self, chunk: Sequence[int]) -> BaseException | None:
        """Run ``chunk`` with nothing else of the batch on the executor and record what came
        of it; if its worker died, return the error instead."""
        future = self(chunk)
        if future is None:
            return None
        cf.wait([future])
        return self.batch.collect(future, self.running.pop(future))


def split(chunk: Sequence[int]) -> list[Sequence[int]]:
    """``chunk`` in at most ``SPLIT`` parts of near equal size (a single item stays whole)."""
    size = math.ceil(len(chunk) / SPLIT)
    return [chunk[start : start + size] for start in range(0, len(chunk), size)]


def runs_bound(chunk_size: int) -> int:
    """How often an item of a chunk of ``chunk_size`` items runs at most, when a worker dies
    while running its chunk: once in the chunk, then once per split down to single items
    (the executor's own retries aside: see ``dask_executor``)."""
    runs, size = 1, chunk_size
    while True:
        runs += 1
        size = math.ceil(size / SPLIT)
        if size <= 1:
            return runs


def _worker_died(exc: BaseException) -> bool:
    """A process pool that lost a worker, or Dask's verdict on a task whose workers died."""
    if isinstance(exc, cf.BrokenExecutor):
        return True
    # Dask is imported only by those who use it: if it is not loaded, this is not its error.
    killed = getattr(sys.modules.get("distributed"), "KilledWorker", None)
    return isinstance(killed, type) and isinstance(exc, killed)


def _request_data(request: CallRequest) -> dict[str, Any]:
    # CallRequest.to_dict without copying the arguments: pickling copies them anyway.
    return {
        "tenant": request.tenant,
        "interface": request.interface,
        "version": request.version,
        "arguments": request.arguments,
    }


def _items(chunk: Sequence[int]) -> str:
    return f"item {chunk[0]}" if len(chunk) == 1 else f"items {chunk[0]} to {chunk[-1]}"


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _chunk_error(exc: BaseException, chunk: Sequence[int], what: str) -> ErrorRecord:
    return record_of(exc)._replace(message=f"{_items(chunk)} (one chunk): {what}: {_detail(exc)}")


def _culprit_error(exc: BaseException, position: int) -> ErrorRecord:
    return record_of(exc)._replace(
        kind="worker_died",
        message=f"item {position}: the worker process running it died, also when it ran alone "
        f"(a plugin that ends its process, or a crash in native code, does this): "
        f"{_detail(exc)}",
    )


def _killer_error(exc: BaseException, position: int) -> ErrorRecord:
    return record_of(exc)._replace(
        kind="worker_died",
        message=f"item {position}: the worker process running it died (a plugin that ends its "
        f"process, or a crash in native code, does this): {_detail(exc)}",
    )


def _unready_error(exc: BaseException, chunk: Sequence[int]) -> ErrorRecord:
    return record_of(exc)._replace(
        kind="worker_died",
        message=f"{_items(chunk)}: not run: the worker process died before it could run "
        "them, as it loaded the catalog or built the tenant (a plugin that ends its process "
        f"at import or start-up does this): {_detail(exc)}",
    )


def _given_up_error(exc: BaseException, chunk: Sequence[int]) -> ErrorRecord:
    return record_of(exc)._replace(
        kind="worker_died",
        message=f"{_items(chunk)}: not run again: a dying worker process took them down, and "
        f"the batch stops looking for the items that end their worker after {MAX_DEATHS} "
        f"deaths (each costs starting a process): {_detail(exc)}",
    )


# -- in the workers ------------------------------------------------------------------------

#: catalog path -> (the file's stat stamp when loaded, the catalog): one per worker process
_CATALOGS: dict[str, tuple[tuple[int, int, int], Catalog]] = {}
#: catalogs replaced because their file changed: closed when the process exits
_RETIRED: list[Catalog] = []
_CATALOGS_LOCK = threading.Lock()


def worker_catalog(path: str) -> Catalog:
    """The catalog at ``path``, loaded once per process and again when the file changes.

    Dask workers live across batches: an edited catalog.toml is loaded afresh, while changed
    plugin code needs the workers restarted (Python does not forget imported modules).
    """
    status = os.stat(path)
    stamp = (status.st_mtime_ns, status.st_size, status.st_ino)
    with _CATALOGS_LOCK:
        cached = _CATALOGS.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        from ._catalog import Catalog

        catalog = Catalog(path)
        if not _CATALOGS and not _RETIRED:
            atexit.register(_close_catalogs)
        if cached is not None:
            # Other threads of this worker may still be calling it: close it at exit only.
            _RETIRED.append(cached[1])
        _CATALOGS[path] = (stamp, catalog)
        return catalog


#: catalogs lent by the batches of this process to their tasks that run in it: key -> catalog
_LENT: dict[str, Catalog] = {}


@contextmanager
def _lend(catalog: Catalog | None) -> Iterator[Lender | None]:
    """Lend ``catalog`` to the batch's tasks that run in this very process (a thread pool):
    they use it, with its tenants, interceptor state and metrics, rather than a copy."""
    if catalog is None:
        yield None
        return
    key = uuid.uuid4().hex
    with _CATALOGS_LOCK:
        _LENT[key] = catalog
    try:
        yield os.getpid(), key
    finally:
        with _CATALOGS_LOCK:
            del _LENT[key]


def _borrowed(lender: Lender | None) -> Catalog | Literal[False] | None:
    """In a task: the catalog lent to it if it runs in the lending process, False if that
    batch has ended already, None if it runs elsewhere (a worker process loads its own)."""
    # A forked worker inherits the lender's key, with a copy of the catalog: a copy is no
    # loan, so the pid decides.
    if lender is None or lender[0] != os.getpid():
        return None
    with _CATALOGS_LOCK:
        return _LENT.get(lender[1], False)


def _close_catalogs() -> None:
    with _CATALOGS_LOCK:
        catalogs = [catalog for _stamp, catalog in _CATALOGS.values()] + _RETIRED
        _CATALOGS.clear()
        _RETIRED.clear()
    for catalog in catalogs:
        catalog.close()  # shutdown failures are logged by the catalog


def run_chunk(
    catalog_path: str,
    requests: bytes | Sequence[Mapping[str, Any]],
    timeout: float | None,
    lender: Lender | None = None,
    record: str | None = None,
) -> bytes:
    """In a worker: answer ``requests`` (CallRequest dicts, or a pickled list of them) on the
    catalog at ``catalog_path`` (or, in the process that sent them, on the catalog it lent).

    Returns the answers pickled, as a list of tuples in CallAnswer's field order. Pickled here,
    so a result that cannot travel fails its own item rather than the whole chunk.

    ``record``: a file to write down, as it goes, that the tenants are built, each item it
    starts and each answer it has (see ``_read_record``), so that if a plugin ends this process
    the batch knows which item did it and keeps the answers made before.
    """
    data: Sequence[Mapping[str, Any]] = (
        pickle.loads(requests) if isinstance(requests, bytes) else requests
    )  # pickled by the batch's own process
    lent = _borrowed(lender)
    if lent is False:
        # The batch stopped before this task ran (it was left running): run nothing.
        error = ErrorRecord(
            "cancelled", "not run: the batch that sent it had ended", "CancelledError"
        )
        return _pack([CallAnswer(False, error=error)] * len(data))
    handle = None if record is None else os.open(record, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        try:
            catalog = lent if lent is not None else worker_catalog(catalog_path)
        except BaseException as exc:
            if _interrupts.is_real(exc):
                raise
            error = _load_error(catalog_path, exc)
            answers = [CallAnswer(False, error=error)] * len(data)
        else:
            requests_ = [_from_dict(request) for request in data]
            if handle is not None:
                _build_tenants(catalog, requests_)
                _write_all(handle, _READY)
            answers = answer_all(catalog, requests_, timeout, record=handle)
    finally:
        if handle is not None:
            os.close(handle)
    return _pack(answers)


#: what ``run_chunk`` writes down: the tenants are built; an item starts; an answer follows
_READY = b"R"
_STARTED = b">"
_ANSWER = b"="


def _build_tenants(catalog: Catalog, requests: Sequence[CallRequest | CallAnswer]) -> None:
    # Built before the first item, so that a plugin that ends the process as it is imported or
    # started is told from one that ends it in a call.
    for tenant in {request.tenant for request in requests if isinstance(request, CallRequest)}:
        with contextlib.suppress(CatalogError):  # the calls answer with the error
            catalog.plugin_manager(tenant)


def _write_all(handle: int, data: bytes) -> None:
    # Straight to the file, no buffer: what was written is there if the process dies.
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view) :]


def _read_record(path: str) -> tuple[list[CallAnswer], int | None, bool]:
    """What a worker that died wrote down: the answers it made, in order; the position in
    its chunk of the item it started last (None if none); whether its tenants were built."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return [], None, False
    answers: list[CallAnswer] = []
    started: int | None = None
    ready = False
    at = 0
    while at < len(data):
        mark = data[at : at + 1]
        if mark == _READY:
            ready, at = True, at + 1
        elif mark == _STARTED:
            started = len(answers)
            at += 1
        elif mark == _ANSWER and at + 9 <= len(data):
            size = int.from_bytes(data[at + 1 : at + 9], "little")
            if at + 9 + size > len(data):
                break  # cut short as the worker died
            answers.append(CallAnswer._make(pickle.loads(data[at + 9 : at + 9 + size])))
            at += 9 + size
        else:
            break
    return answers, started, ready


def _load_error(path: str, exc: BaseException) -> ErrorRecord:
    error = record_of(exc)
    if not isinstance(exc, CatalogError):
        error = error._replace(kind="config")  # an unreadable catalog file
    where = f"worker {socket.gethostname()} (pid {os.getpid()})"
    message = str(exc) if isinstance(exc, CatalogError) else f"{type(exc).__name__}: {exc}"
    return error._replace(message=f"{where} cannot load the catalog {path}: {message}")


def _from_dict(data: Mapping[str, Any]) -> CallRequest | CallAnswer:
    try:
        return CallRequest(data["tenant"], data["interface"], data["version"], data["arguments"])
    except (KeyError, TypeError):
        try:
            return CallRequest.from_dict(data)  # to say what is wrong
        except CatalogError as exc:
            return CallAnswer(False, error=exc.record())


def answer_all(
    catalog: Catalog,
    requests: Iterable[CallRequest | CallAnswer],
    timeout: float | None,
    *,
    record: int | None = None,
) -> list[CallAnswer]:
    """The answer to each request; what is not a request already is one (a failed one).
    ``record``: a file (descriptor) to write each item's start and answer in, as it goes."""
    answers: list[CallAnswer] = []
    for request in requests:
        # Something in this process (a plugin's own event loop ending, a library) may have put
        # Python's default SIGINT handler back since ours was installed: a Ctrl-C would then
        # come as a plain KeyboardInterrupt, taken for the item's plugin's own failure.
        _interrupts.install()
        if record is not None:
            _write_all(record, _STARTED)
        if isinstance(request, CallAnswer):
            found = request
        else:
            try:
                found = catalog.call(request, timeout=timeout)
            except BaseException as exc:  # a bug, or a stray SystemExit: this item's alone
                if _interrupts.is_real(exc):
                    raise
                found = CallAnswer(False, error=record_of(exc))
        answers.append(found)
        if record is not None:
            row = _travelling(found)
            _write_all(record, _ANSWER + len(row).to_bytes(8, "little") + row)
    return answers


def _row(found: CallAnswer) -> tuple[Any, ...]:
    return tuple(found._replace(trace=None, exception=None))


def _travelling(found: CallAnswer) -> bytes:
    """One answer's row, pickled: itself, or the error that its result cannot travel."""
    try:
        return pickle.dumps(_row(found), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # the result's own pickling code may raise anything
        if _interrupts.is_real(exc):
            raise
        return pickle.dumps(_unpicklable(found, exc), protocol=pickle.HIGHEST_PROTOCOL)


def _unpicklable(found: CallAnswer, exc: BaseException) -> tuple[Any, ...]:
    # the method returned a value of a type it should not
    error = ErrorRecord(
        "result_validation",
        f"the result of call {found.call_id} cannot travel back from the worker "
        f"(results of a batch must pickle): {type(exc).__name__}: {exc}",
        type(exc).__name__,
        call_id=found.call_id,
    )
    return tuple(found._replace(ok=False, result=None, error=error, trace=None, exception=None))


def _pack(answers: Sequence[CallAnswer]) -> bytes:
    # Rows are plain tuples in CallAnswer's field order: they load back a good deal faster
    # than dicts, and the parent's share of the work is what limits a pool on few cores.
    rows = [_row(found) for found in answers]
    try:
        return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:
        if _interrupts.is_real(exc):
            raise
    for index, found in enumerate(answers):
        try:
            pickle.dumps(found.result, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:
            if _interrupts.is_real(exc):
                raise
            rows[index] = _unpicklable(found, exc)
    return pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes, expected: int) -> list[CallAnswer]:
    rows = pickle.loads(data)  # from our own workers, which the executor trusts already
    if not isinstance(rows, list) or len(rows) != expected:
        raise ValueError(f"a worker sent back {len(rows)} answers for {expected} items")
    return [CallAnswer._make(row) for row in rows]


# -- executors -----------------------------------------------------------------------------


def _start_worker(preload: str | None) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the batch and ends the pool;
    # workers that died of it on their own would each print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if preload is not None:
        # An initializer that raises breaks the pool: the chunks will say what is wrong.
        with contextlib.suppress(Exception):
            worker_catalog(preload)


class ProcessPool(cf.Executor):
    """A pool of ``workers`` processes that starts afresh when one of them dies.

    The standard ``ProcessPoolExecutor`` breaks for good when a worker dies (a plugin that
    calls ``os._exit``, a crash in native code); this one replaces it on the next submit, so a
    batch goes on. Workers are *spawned*, not forked: a forked child would inherit the parent's
    threads' locks (rich's refresh thread, call deadline threads, a logging handler's lock)
    in whatever state they were, and a copy of the parent's loaded plugins; a spawned worker
    starts clean and loads the catalog itself, exactly as a Dask worker does. The cost is a
    fresh interpreter per worker, once per batch.
    """

    def __init__(
        self, workers: int | None = None, *, preload: str | os.PathLike[str] | None = None
    ) -> None:
        self.workers = workers or os.cpu_count() or 1
        #: a catalog each worker loads as it starts, before its first chunk arrives
        self.preload = str(Path(preload).resolve()) if preload is not None else None
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(self.preload,),
        )

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> cf.Future[_T]:
        with self._lock:
            try:
                return self._pool.submit(fn, *args, **kwargs)
            except cf.BrokenExecutor:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def terminate(self) -> None:
        """Stop now: kill the workers (a plugin may hang) and drop what is queued."""
        # The standard pool has no public way to kill its workers before Python 3.14.
        processes = getattr(self._pool, "_processes", None) or {}
        for process in list(processes.values()):
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)


#: seconds to reach a Dask scheduler, and to wait for its first worker
DASK_CONNECT_TIMEOUT = 10
_INSTALL_DASK = "pip install 'task-catalog[dask]'"


@contextmanager
def dask_executor(
    address: str, catalog_path: Path, *, workers: int | None = None
) -> Iterator[cf.Executor]:
    """A Dask cluster's executor for a batch: ``address`` of a scheduler, or ``"local"`` to
    start a ``LocalCluster`` of ``workers`` single-threaded processes for the batch.

    Every worker is asked to load the catalog first, so a cluster that cannot (another file
    system, task-catalog or a plugin not installed there) is refused with ExecutorError naming
    the workers, before any item runs.

    Dask reruns a task whose worker died on another worker, up to the scheduler's
    ``distributed.scheduler.allowed-failures`` times (3 by default), and only then reports
    ``KilledWorker``: every run of a chunk would then be up to four. The local cluster is
    started with 0, so the batch alone decides what runs again (see ``_Batch._isolate``); a
    scheduler of one's own keeps its setting (it is the whole cluster's).
    """
    try:
        import dask
        import distributed
    except ImportError:
        raise ExecutorError(f"--dask needs Dask distributed: {_INSTALL_DASK}") from None
    import logging
    from contextlib import ExitStack

    path = str(Path(catalog_path).resolve())
    with ExitStack() as stack:
        try:
            if address == "local":
                # Read by the scheduler as it starts, here in this process.
                with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
                    local = distributed.LocalCluster(  # type: ignore[no-untyped-call]
                        n_workers=workers or os.cpu_count() or 1,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",  # any free port: 8787 may be taken
                        silence_logs=logging.ERROR,
                    )
                cluster = stack.enter_context(local)
                client = stack.enter_context(
                    distributed.Client(cluster)  # type: ignore[no-untyped-call]
                )
            else:
                client = stack.enter_context(
                    distributed.Client(  # type: ignore[no-untyped-call]
                        address, timeout=DASK_CONNECT_TIMEOUT
                    )
                )
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        check_dask_workers(client, address, path)
        # retries=0 (Dask's default, said here on purpose): run_chunk answers every error of
        # a call as data, so a task that raises has failed for good.
        yield client.get_executor(pure=False, retries=0)


def check_dask_workers(client: Any, address: str, path: str) -> None:
    """Raise ExecutorError unless the cluster has workers and each can load the catalog."""
    if not client.nthreads():
        try:
            client.wait_for_workers(1, timeout=DASK_CONNECT_TIMEOUT)
        except (TimeoutError, OSError):
            raise ExecutorError(
                f"the Dask scheduler at {address} has no workers (waited {DASK_CONNECT_TIMEOUT} s)"
            ) from None
    try:
        found: dict[str, str | None] = client.run(probe_catalog, path)
    except Exception as exc:  # e.g. catalog_cli not importable on the workers
        raise ExecutorError(
            f"Dask workers at {address} cannot run a batch ({type(exc).__name__}: {exc}); "
            "they need task-catalog and the catalog's plugins installed"
        ) from None
    problems = {worker: why for worker, why in found.items() if why}
    if problems:
        listed = "\n".join(f"  - {worker}: {why}" for worker, why in sorted(problems.items()))
        raise ExecutorError(
            f"{len(problems)} of {len(found)} Dask workers cannot load the catalog {path} "
            f"(workers need the same catalog file at the same path, and its plugins):\n{listed}"
        )


def probe_catalog(path: str) -> str | None:
    """In a worker: None if the catalog at ``path`` loads (it stays loaded), else why not."""
    try:
        worker_catalog(path)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
