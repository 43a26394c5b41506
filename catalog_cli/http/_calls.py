"""Where the server runs calls: a pool of its own, each tenant within its limits.

Calls do not run on the event loop (a plugin may block or hang, and the loop serves everyone)
nor in the thread pool Starlette shares with every other route (a tenant whose plugin hangs
would fill it, and listings, health and admin requests would wait behind it). They run on
threads of their own, few of them (Python runs one thread at a time; more threads add waiting,
not speed, for the microsecond methods a catalog holds), with three bounds per tenant:

- its calls running or waiting at once (``[limits] concurrent_calls``): beyond it, its next
  call is refused at once (429), while other tenants are untouched;
- each call's deadline (``X-Timeout``, else ``[limits] call_timeout``): then the caller gets
  504, and the thread running the call is abandoned and replaced at once, so a hanging plugin
  never takes a thread from the others;
- its abandoned threads still running (``$CATALOG_MAX_ABANDONED``): beyond them, its calls
  are refused (503) until some end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Final, final

from .. import _deadline
from ..errors import CallTimeoutError, OverloadedError
from ..execution._limits import Bulkheads
from ..runtime import bounded

log = logging.getLogger("catalog.serve")

#: Threads running calls in one server process, unless $CATALOG_CALL_THREADS says otherwise.
DEFAULT_THREADS: Final = 16
THREADS_ENV: Final = "CATALOG_CALL_THREADS"


def threads_from_env() -> int:
    text = os.environ.get(THREADS_ENV, "").strip()
    return int(text) if text.isdigit() and 0 < int(text) <= 1024 else DEFAULT_THREADS


@final
class _Work:
    """One call handed to the pool, and what became of it."""

    __slots__ = ("done", "func", "future", "loop", "owner", "state", "worker")

    def __init__(
        self,
        func: Callable[[], Any],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        owner: str,
    ) -> None:
        self.func = func
        self.loop = loop
        self.future = future
        self.owner = owner
        #: "queued", "running", "finished", "dropped" (its caller left before it started)
        self.state = "queued"
        self.worker: _Worker | None = None
        #: called when an abandoned call ends (counts it out of its owner's abandoned threads)
        self.done: Callable[[], None] | None = None


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    # On the loop: the caller may have gone (deadline), leaving the future cancelled.
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


@final
class _Worker:
    """One thread of the pool; ``abandoned`` once its call passed the deadline."""

    __slots__ = ("abandoned", "pool", "thread")

    def __init__(self, pool: CallPool, number: int) -> None:
        self.pool = pool
        self.abandoned = False
        self.thread = threading.Thread(
            target=self._loop, name=f"catalog-call-{number}", daemon=True
        )

    def _loop(self) -> None:
        pool = self.pool
        while True:
            work = pool.queue.get()
            if work is None:  # the pool is closing
                return
            with pool.lock:
                if work.state != "queued":
                    continue
                work.state = "running"
                work.worker = self
            try:
                outcome: tuple[bool, Any] = (True, work.func())
            except BaseException as exc:  # the caller's to judge (a plugin's failure, say)
                outcome = (False, exc)
            with pool.lock:
                work.state = "finished"
                abandoned = self.abandoned
            if abandoned:
                assert work.done is not None
                work.done()
                log.info("an abandoned call of tenant %r ended", work.owner)
                return  # its replacement is already serving
            # A closed loop (RuntimeError): nobody waits for the answer any more.
            with contextlib.suppress(RuntimeError):
                work.loop.call_soon_threadsafe(_settle, work.future, *outcome)


@final
class CallPool:
    """The server's call threads, and each tenant's bulkhead (see the module docstring)."""

    def __init__(self, threads: int | None = None) -> None:
        self.size = threads or threads_from_env()
        self.queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.bulkheads = Bulkheads()
        self._workers: set[_Worker] = set()
        self._started = 0
        self._closed = False
        for _ in range(self.size):
            self._add()

    def _add(self) -> None:
        """Under ``lock`` (or before anyone else sees the pool)."""
        self._started += 1
        worker = _Worker(self, self._started)
        self._workers.add(worker)
        worker.thread.start()

    async def run(
        self,
        func: Callable[[], Any],
        *,
        tenant: str,
        interface: str,
        version: int,
        limit: int,
        timeout: float,
        call_id: str | None = None,
    ) -> Any:
        """``func()`` on a pool thread, as a call of ``tenant`` within its limits: raises
        ConcurrencyLimitError beyond ``limit`` calls of the tenant, OverloadedError while it
        has too many abandoned threads, CallTimeoutError after ``timeout`` seconds."""
        try:
            _deadline.admit(tenant)
        except _deadline.Overloaded as busy:
            raise OverloadedError.refusing(
                busy,
                interceptor="deadline",
                tenant=tenant,
                interface=interface,
                version=version,
                call_id=call_id or "-",
            ) from None
        self.bulkheads.enter(tenant, limit, interface, version)
        try:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Any] = loop.create_future()
            work = _Work(func, loop, future, tenant)
            self.queue.put(work)
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                self._expire(work)
                raise CallTimeoutError(
                    tenant=tenant,
                    interface=interface,
                    version=version,
                    call_id=call_id or "-",
                    seconds=timeout,
                ) from None
            except asyncio.CancelledError:
                self._expire(work)  # the client went away: the same as a deadline
                raise
        finally:
            self.bulkheads.leave(tenant)

    async def arun(
        self,
        start: Callable[[], Awaitable[Any]],
        *,
        tenant: str,
        interface: str,
        version: int,
        limit: int,
        timeout: float,
        call_id: str | None = None,
    ) -> Any:
        """``await start()`` on the event loop, as a call of ``tenant`` within its limits
        (ConcurrencyLimitError beyond ``limit`` calls of the tenant): a call on the async path
        holds no thread while it waits. ``start`` applies the deadline itself (so a canary
        counts a call cut off by it); past ``timeout`` and a second more, it is cancelled
        here all the same: CallTimeoutError."""
        self.bulkheads.enter(tenant, limit, interface, version)
        try:
            # cancelled when the client goes away
            return await bounded(start(), timeout + 1.0)
        except _deadline.Late:
            raise CallTimeoutError(
                tenant=tenant,
                interface=interface,
                version=version,
                call_id=call_id or "-",
                seconds=timeout,
            ) from None
        finally:
            self.bulkheads.leave(tenant)

    def _expire(self, work: _Work) -> None:
        """The caller stopped waiting for ``work``: drop it if it has not started, else
        abandon its thread (counted against its tenant) and start a replacement."""
        with self.lock:
            if work.state == "queued":
                work.state = "dropped"
                return
            if work.state != "running":
                return
            worker = work.worker
            assert worker is not None
            worker.abandoned = True
            work.done = _deadline.abandon(work.owner)
            self._workers.discard(worker)
            if not self._closed:
                self._add()
        log.warning(
            "a call of tenant %r passed its deadline; its thread is abandoned and replaced",
            work.owner,
        )

    def running(self) -> dict[str, int]:
        """Tenant -> its calls running or waiting now."""
        return self.bulkheads.running()

    def close(self) -> None:
        """Stop the threads once their calls end (an abandoned one ends on its own)."""
        with self.lock:
            self._closed = True
            workers = len(self._workers)
        for _ in range(workers):
            self.queue.put(None)
