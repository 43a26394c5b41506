"""A tenant's pool of worker processes, where its isolated plugins' code runs.

A plugin a tenant declares ``isolation = "process"`` runs in worker processes of that tenant
alone (``_worker`` is their side): the pool starts them when the tenant is built (each imports
the isolated plugins' modules and runs their startup hooks), keeps them, and hands each call of
an isolated implementation to an idle one: the arguments go as a pickle, the answer comes back
as data. Each worker runs under limits: memory (RLIMIT_AS), CPU time per call (RLIMIT_CPU),
open files (RLIMIT_NOFILE), no new processes; the pool gives each call a wall-clock deadline.

A worker that breaks a limit, dies (a crash, ``os._exit``), passes the deadline or sends what
the pool cannot read is killed (its whole process group) and another is started at once; the
call fails with WorkerLimitError naming the plugin, the tenant and what happened. What a plugin
raises is its own failure, as in-process (PluginCallError), and the worker serves on.

In the tenant's manager an isolated implementation is a stand-in with the implementation's
exact parameters (``adapters.around``), bound to a :class:`Remote` (the facts of the plugin's
context and the pool) where other plugins have their context: the catalog's steps (result
checks, error policies, point interceptors, traces) treat it as the plugin's own function.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import io
import json
import math
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from .._json import too_deep
from ..errors import PluginCallError, PluginStartupError, WorkerLimitError
from . import _adapters as adapters
from ._context import SHADOW, current_call_id
from ._worker import HEADER

if TYPE_CHECKING:
    from ..config._isolation import WorkerLimits
    from ..registry import (
        CheckedPlugin,
        HookInfo,
        Implementation,
        PluginSource,
        Registry,
        TenantPlan,
    )

#: How the fork server starts: the parent's import path, then its loop.
BOOT: Final = (
    "import json, sys\n"
    "sys.path[:] = json.loads(sys.argv[1])\n"
    "from catalog_cli.runtime._worker import serve_forks\n"
    "serve_forks(int(sys.argv[2]))\n"
)
#: Seconds a worker asked to stop may take before it is killed (beyond its shutdown hooks').
GRACE: Final = 2.0


#: Seconds the fork server may take to fork a worker (it answers in milliseconds).
_FORK_TIMEOUT: Final = 10.0


class _Refused(pickle.UnpicklingError):
    pass


class _DataOnly(pickle.Unpickler):
    """Reads what a worker sends: data, never a class or function (a plugin may write to its
    end of the pipe itself; nothing it writes runs code here)."""

    def find_class(self, module: str, name: str) -> Any:
        raise _Refused(f"{module}.{name} is not data")


def _loads(data: bytes) -> Any:
    return _DataOnly(io.BytesIO(data)).load()


#: What an answer may hold: the values of the catalog's data types.
_SCALARS: Final = (type(None), bool, int, float, str)
#: The most values an answer may hold (a pickle can say far more than its size).
_MOST_VALUES: Final = 1_000_000


def not_data(value: Any) -> str | None:
    """Why a worker's answer is no data (None: it is). Counted as the tree a JSON encoder
    would write, within a budget: a pickle whose containers refer to one another (a few bytes
    that expand without end, or a cycle) is refused, not expanded."""
    stack = [value]
    count = 0
    while stack:
        node = stack.pop()
        count += 1
        if count > _MOST_VALUES:
            return f"holds more than {_MOST_VALUES:,} values (counted as written out)"
        if isinstance(node, _SCALARS):
            continue
        if type(node) is dict:
            if not all(type(key) is str for key in node):
                return "holds an object whose keys are not all strings"
            stack.extend(node.values())
        elif type(node) in (list, tuple):
            stack.extend(node)
        else:
            return f"holds a {type(node).__name__}, which is no data"
    return None


class _Gone(Exception):
    """A worker that must be killed: ``limit`` and ``reason`` say why (for WorkerLimitError)."""

    def __init__(
        self,
        limit: str,
        reason: str,
        detail: str = "",
        *,
        plugin: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(reason)
        self.limit = limit
        self.reason = reason
        self.detail = detail
        #: the plugin at fault, when not the one called (its startup failed), and its error
        self.plugin = plugin
        self.cause = cause


class _Forked:
    """A worker process the fork server started: its pid, and its exit status (which the
    fork server writes to ``status`` when it reaps it)."""

    __slots__ = ("pid", "returncode", "status")

    def __init__(self, pid: int, status: int) -> None:
        self.pid = pid
        self.status = status
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code (negative: the signal that ended it), as ``Popen.wait``."""
        if self.returncode is None:
            ready, _w, _x = select.select([self.status], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired("worker", timeout or 0.0)
            data = os.read(self.status, 4)
            # the fork server is gone without telling: the worker was killed with it
            code = struct.unpack("!i", data)[0] if len(data) == 4 else -signal.SIGKILL
            self.returncode = code
            os.close(self.status)
        return self.returncode

    def kill(self) -> None:
        """Kill it and whatever it started (its process group: it leads a session)."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)


class _ForkServer:
    """The process that starts workers (one per catalog process, started when first
    needed): single-threaded, the catalog's own modules imported and no plugin's, it forks
    each worker on request, so a worker costs milliseconds, not an interpreter's start."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", BOOT, json.dumps(sys.path), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.socket = ours
        self.owner = os.getpid()
        self.lock = threading.Lock()

    def fork(self, inbox: int, outbox: int) -> _Forked:
        """A new worker reading ``inbox`` and writing ``outbox`` (raises OSError when the
        fork server is gone)."""
        status, status_w = os.pipe()
        try:
            with self.lock:
                # A stalled fork server must not hold every caller past its deadline.
                self.socket.settimeout(_FORK_TIMEOUT)
                socket.send_fds(self.socket, [b"f"], [inbox, outbox, status_w])
                data = b""
                while len(data) < 4:
                    chunk = self.socket.recv(4 - len(data))
                    if not chunk:
                        raise ConnectionError("the worker fork server is gone")
                    data += chunk
        except BaseException:
            os.close(status)
            raise
        finally:
            os.close(status_w)
        pid = struct.unpack("!i", data)[0]
        if pid <= 0:
            os.close(status)
            raise ConnectionError("the worker fork server could not fork")
        return _Forked(pid, status)

    def stop(self) -> None:
        """End it (it kills the workers it still has)."""
        self.socket.close()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_SERVER: list[_ForkServer] = []
_SERVER_LOCK = threading.Lock()


def _fork(inbox: int, outbox: int) -> _Forked:
    """A worker from this process's fork server (started, or started again, as needed)."""
    with _SERVER_LOCK:
        server = _SERVER[0] if _SERVER else None
        if server is None or server.owner != os.getpid() or server.process.poll() is not None:
            if server is not None and server.owner == os.getpid():
                with contextlib.suppress(OSError):
                    server.stop()
            server = _ForkServer()
            _SERVER[:] = [server]
    try:
        return server.fork(inbox, outbox)
    except OSError:
        with _SERVER_LOCK:
            if _SERVER and _SERVER[0] is server:
                _SERVER.clear()
        raise


@atexit.register
def _stop_fork_server() -> None:
    with _SERVER_LOCK:
        if _SERVER and _SERVER[0].owner == os.getpid():
            _SERVER.pop().stop()


class _Waiter:
    """A caller waiting for a worker: the pool hands one over and sets the event."""

    __slots__ = ("event", "worker")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.worker: _Worker | None = None


class _Worker:
    """One worker process, as the pool sees it."""

    __slots__ = ("inbox", "outbox", "poller", "process", "ready", "started")

    def __init__(self, process: _Forked, inbox: int, outbox: int) -> None:
        self.process = process
        #: the pool writes requests here, and reads answers there
        self.inbox = inbox
        self.outbox = outbox
        self.poller = select.poll()
        self.poller.register(outbox, select.POLLIN)
        #: its "ready" was read (it imported the plugins and ran their startup hooks)
        self.ready = False
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, data: bytes) -> None:
        view = memoryview(HEADER.pack(len(data)) + data)
        try:
            while view:
                view = view[os.write(self.inbox, view) :]
        except OSError:  # BrokenPipeError: it is gone
            raise _Gone("died", "worker died") from None

    def _read(self, size: int, deadline: float, wall: float) -> bytes:
        chunks = []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.poller.poll(math.ceil(remaining * 1000)):
                raise _Gone("wall", f"wall-clock deadline {wall:g} s")
            chunk = os.read(self.outbox, size)
            if not chunk:
                raise _Gone("died", "worker died")
            chunks.append(chunk)
            size -= len(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def receive(self, deadline: float, wall: float, largest: int) -> tuple[Any, ...]:
        (size,) = HEADER.unpack(self._read(HEADER.size, deadline, wall))
        if size > largest:
            raise _Gone("protocol", "sent an answer larger than its memory limit")
        body = self._read(size, deadline, wall)
        try:
            found = _loads(body)
        except Exception as exc:
            raise _Gone("protocol", "sent an answer that is not data", str(exc)) from None
        if not (isinstance(found, tuple) and found and isinstance(found[0], str)):
            raise _Gone("protocol", "sent an answer the catalog cannot read")
        return found

    def close_pipes(self) -> None:
        for fd in (self.inbox, self.outbox):
            with contextlib.suppress(OSError):
                os.close(fd)


def _kill(worker: _Worker) -> None:
    """Kill the worker and whatever it started (its process group), and reap it."""
    worker.process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.process.wait(GRACE)
    worker.close_pipes()


def _kill_all(workers: set[_Worker], owner: int) -> None:
    if os.getpid() != owner:
        # A process forked from the catalog's: these workers are its parent's, not its own.
        workers.clear()
        return
    for worker in list(workers):
        _kill(worker)
    workers.clear()


def _death(worker: _Worker, limits: WorkerLimits) -> tuple[str, str]:
    """(limit, reason) for a worker whose pipe closed: how it ended."""
    try:
        code = worker.process.wait(GRACE)
    except subprocess.TimeoutExpired:
        return "died", "worker closed its pipe"
    if code < 0:
        number = -code
        if number == signal.SIGXCPU:
            return "cpu", f"CPU time limit {limits.cpu_seconds} s"
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = str(number)
        return "died", f"worker died (signal {name})"
    return "died", f"worker died (exit code {code})"


_REBUILT: dict[tuple[str, str], type[Exception]] = {}


def rebuilt(module: str, name: str, message: str, trace: str) -> Exception:
    """What a plugin raised in its worker: a built-in exception as itself, any other as an
    exception of the same name (a subclass of :class:`IsolatedError`). ``remote_traceback``
    holds the worker's traceback."""
    import builtins

    found: Any = getattr(builtins, name, None) if module == "builtins" else None
    if isinstance(found, type) and issubclass(found, Exception):
        try:
            exc: Exception = found(message)
        except Exception:
            exc = IsolatedError(message)
    else:
        kind = _REBUILT.get((module, name))
        if kind is None:
            short = name.rpartition(".")[2] or "Error"
            safe = short if short.isidentifier() else "Error"
            kind = _REBUILT.setdefault(
                (module, name),
                type(safe, (IsolatedError,), {"__module__": "catalog_cli.runtime._workers"}),
            )
        exc = kind(message)
    exc.remote_traceback = trace  # type: ignore[attr-defined]
    return exc


class IsolatedError(Exception):
    """Stands for an exception an isolated plugin raised in its worker whose class is not a
    built-in one (the class has the original's name; the message is the original's)."""


class PoolStatus(NamedTuple):
    """A tenant's worker pool, for listings, health and metrics."""

    tenant: str
    plugins: tuple[str, ...]
    limits: WorkerLimits
    #: pids of the live workers
    workers: tuple[int, ...]
    busy: int
    #: worker processes started in all (the first ones included)
    started: int
    #: workers killed and replaced, by what happened (``memory``, ``wall``, ``died``, ...)
    restarts: Mapping[str, int]
    #: calls answered, and those where the plugin raised
    calls: int
    raised: int
    #: the last worker replaced: why, and when (seconds since the epoch)
    last_restart: tuple[str, float] | None
    closed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "plugins": list(self.plugins),
            "limits": self.limits.to_dict(),
            "workers": list(self.workers),
            "busy": self.busy,
            "started": self.started,
            "restarts": dict(self.restarts),
            "restarts_total": sum(self.restarts.values()),
            "calls": self.calls,
            "raised": self.raised,
            "last_restart": (
                None
                if self.last_restart is None
                else {"reason": self.last_restart[0], "at": self.last_restart[1]}
            ),
            "closed": self.closed,
        }

    def summary(self) -> str:
        """One line for people."""
        limits = self.limits
        restarts = sum(self.restarts.values())
        pids = f" (pids {', '.join(map(str, self.workers))})" if self.workers else ""
        text = (
            f"{len(self.workers)} of {limits.workers} worker processes up{pids}; "
            f"limits: memory {limits.memory_mib} MiB, CPU {limits.cpu_seconds} s per call, "
            f"wall-clock {limits.wall_seconds:g} s per call, {limits.open_files} open files, "
            f"no child processes; {restarts} restart{'s' if restarts != 1 else ''}"
        )
        if self.last_restart is not None:
            text += f" (last: {self.last_restart[0]})"
        return text


class Remote:
    """What an isolated implementation's stand-in is bound to, where other plugins have their
    context: the facts of the plugin's context (a result check names its tenant), the call
    the worker makes, and the pool."""

    __slots__ = ("interface", "key", "plugin", "pool", "tenant", "version")

    def __init__(self, pool: WorkerPool, impl: Implementation, ctx: Any) -> None:
        self.pool = pool
        self.tenant: str = ctx.tenant
        self.plugin: str = ctx.plugin
        self.interface: str = ctx.interface
        self.version: int = ctx.version
        #: the worker finds the function and rebuilds the context from it
        self.key = (ctx.plugin, impl.attribute, ctx.interface, ctx.version, impl.takes_ctx)

    def __repr__(self) -> str:
        return f"<isolated {self.plugin!r} of tenant {self.tenant!r}>"


def _remote_body(args: tuple[Any, ...]) -> Any:
    remote: Remote = args[0]
    return remote.pool.call(remote, args[1:])


class WorkerPool:
    """One tenant's worker processes for its isolated plugins (see the module docstring)."""

    def __init__(
        self,
        tenant: str,
        plugins: Iterable[tuple[str, PluginSource, Mapping[str, Any]]],
        limits: WorkerLimits,
    ) -> None:
        self.tenant = tenant
        specs = [(name, source, dict(settings)) for name, source, settings in plugins]
        #: the isolated plugins, in start order
        self.names: tuple[str, ...] = tuple(name for name, _s, _v in specs)
        self.plugins: frozenset[str] = frozenset(self.names)
        self.limits = limits
        assert limits.workers is not None and limits.memory_mib is not None
        assert limits.cpu_seconds is not None and limits.open_files is not None
        assert limits.wall_seconds is not None and limits.start_timeout is not None
        self._size = limits.workers
        self._wall = limits.wall_seconds
        self._start_timeout = limits.start_timeout
        self._largest = limits.memory_mib * 1024 * 1024
        self._init = pickle.dumps(
            (
                "init",
                tenant,
                specs,
                (
                    self._largest,
                    limits.open_files,
                    limits.cpu_seconds,
                    math.ceil(limits.start_timeout),
                ),
            ),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        self._lock = threading.Lock()
        #: callers waiting for a worker, first come first served
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._idle: list[_Worker] = []
        #: every live worker: idle, busy or starting (killed on close, or when collected)
        self._live: set[_Worker] = set()
        #: workers being started by a caller (counted against the size)
        self._starting = 0
        self._started = False
        self._closed = False
        self._spawned = 0
        self._calls = 0
        self._raised = 0
        self._restarts: Counter[str] = Counter()
        self._last: tuple[str, float] | None = None
        self._finalizer = weakref.finalize(self, _kill_all, self._live, os.getpid())
        #: (plugin, attribute, interface, version, takes ctx) -> its Remote
        self._remotes: dict[tuple[Any, ...], Remote] = {}

    # -- life --------------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        to_child, inbox = os.pipe()
        outbox, from_child = os.pipe()
        try:
            process = _fork(to_child, from_child)
        except OSError as exc:  # the fork server is gone, stalled, or could not fork
            os.close(inbox)
            os.close(outbox)
            raise _Gone("start", f"no worker could be started ({exc})") from None
        except BaseException:
            os.close(inbox)
            os.close(outbox)
            raise
        finally:
            os.close(to_child)
            os.close(from_child)
        worker = _Worker(process, inbox, outbox)
        with self._lock:
            self._live.add(worker)
            self._spawned += 1
        with contextlib.suppress(_Gone):  # found out when its ready is awaited
            worker.send(self._init)
        return worker

    def _await_ready(self, worker: _Worker) -> None:
        """Read the worker's "ready"; raise _Gone (startup failures in ``detail``) if it
        cannot serve."""
        deadline = worker.started + self._start_timeout
        try:
            found = worker.receive(deadline, self._start_timeout, self._largest)
        except _Gone as gone:
            if gone.limit == "wall":
                raise _Gone(
                    "start", f"worker did not start within {self._start_timeout:g} s"
                ) from None
            if gone.limit == "died":
                died = _death(worker, self.limits)[1]
                raise _Gone("start", "worker died while starting", died) from None
            raise
        if found[0] != "ready" or len(found) != 2:
            raise _Gone("protocol", "sent an answer the catalog cannot read")
        failures = found[1]
        if failures:
            plugin, (_kind, module, name, message, trace) = failures[0]
            raise _Gone(
                "start",
                f"plugin {plugin!r} failed to start in its worker",
                f"{name}: {message}",
                plugin=str(plugin),
                cause=rebuilt(module, name, message, trace),
            )
        worker.ready = True

    def start(self) -> None:
        """Start the workers and wait until each is ready (its plugins imported and started).
        Raises PluginStartupError (the tenant fails closed) if one cannot start."""
        with self._lock:
            if self._started:
                return
            self._started = True
        workers: list[_Worker] = []
        try:
            for _ in range(self._size):
                workers.append(self._spawn())
            for worker in workers:
                self._await_ready(worker)
        except _Gone as gone:
            for worker in workers:
                self._discard(worker)
            plugin = gone.plugin or self.names[0]
            cause = gone.cause or RuntimeError(
                f"{gone.reason}" + (f": {gone.detail}" if gone.detail else "")
            )
            raise PluginStartupError(plugin, self.tenant, cause) from None
        with self._lock:
            for worker in workers:
                self._offer(worker)

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)
        _kill(worker)

    def _replace(self, worker: _Worker, reason: str, limit: str) -> None:
        """Kill ``worker`` and start another in its place (ready when first used)."""
        self._discard(worker)
        with self._lock:
            self._restarts[limit] += 1
            self._last = (reason, time.time())
            if self._closed:
                return
        try:
            fresh = self._spawn()
        except _Gone:
            return  # started when next needed
        with self._lock:
            closing = self._closed
            if not closing:
                self._offer(fresh, fresh=True)
        if closing:
            self._discard(fresh)

    def close(self, seconds: float = 30.0) -> list[tuple[str, BaseException]]:
        """Stop the workers: an idle one runs its plugins' shutdown hooks (within ``seconds``)
        and exits; a busy one is killed. Returns the shutdown failures (plugin, error)."""
        with self._lock:
            self._closed = True
            idle = [w for w in self._idle if w.ready]
            self._idle.clear()
            others = [w for w in self._live if w not in idle]
            while self._waiters:
                self._waiters.popleft().event.set()  # with no worker: closed
        failures: list[tuple[str, BaseException]] = []
        asked = []
        for worker in idle:
            try:
                worker.send(pickle.dumps(("stop",)))
                asked.append(worker)
            except _Gone:
                pass
        deadline = time.monotonic() + seconds
        for worker in asked:
            try:
                found = worker.receive(deadline, seconds, self._largest)
            except _Gone:
                continue
            if found[0] == "stopped" and len(found) == 2:
                for plugin, (_kind, module, name, message, trace) in found[1]:
                    failures.append((plugin, rebuilt(module, name, message, trace)))
        for worker in asked:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(GRACE)
        for worker in [*idle, *others]:
            self._discard(worker)
        for plugin, exc in failures:
            import logging

            logging.getLogger("catalog.lifecycle").warning(
                "plugin %r failed to shut down in its worker for tenant %r: %r",
                plugin,
                self.tenant,
                exc,
            )
        return failures

    # -- calls -------------------------------------------------------------------------------

    def _offer(self, worker: _Worker, *, fresh: bool = False) -> None:
        """Hand ``worker`` to the caller waiting longest, else keep it idle (a fresh one
        after the ready ones). Under the lock."""
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.worker = worker
            waiter.event.set()
        elif fresh:
            self._idle.insert(0, worker)
        else:
            self._idle.append(worker)

    def _acquire(self, deadline: float) -> _Worker:
        """An idle worker (callers are served in turn), a new one if the pool is short of
        its size, or the next one freed within the deadline."""
        with self._lock:
            if self._closed:
                raise _Gone("closed", "the tenant's worker pool is closed")
            if self._idle and not self._waiters:
                return self._idle.pop()
            short = len(self._live) + self._starting < self._size
            if short:
                self._starting += 1
            else:
                waiter = _Waiter()
                self._waiters.append(waiter)
        if short:
            try:
                return self._spawn()
            finally:
                with self._lock:
                    self._starting -= 1
        waiter.event.wait(max(0.0, deadline - time.monotonic()))
        with self._lock:
            if waiter.worker is not None:
                return waiter.worker
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            if self._closed:
                raise _Gone("closed", "the tenant's worker pool is closed")
        raise _Gone(
            "busy",
            f"no worker free within the wall-clock deadline {self._wall:g} s "
            f"(all {self._size} busy)",
        )

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                self._offer(worker)
                return
        self._discard(worker)

    def call(self, remote: Remote, args: tuple[Any, ...]) -> Any:
        """Run the isolated implementation ``remote`` stands for with ``args`` in a worker;
        its result, or the error that fails the call (see the module docstring)."""
        if not self._started:
            self.start()  # a build of the tenant that did not start it (a test's, say)
        deadline = time.monotonic() + self._wall
        call_id = current_call_id() or "-"
        try:
            request = pickle.dumps(
                ("call", remote.key, args, call_id, SHADOW.get()),
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        except Exception as exc:  # an argument that is no data: no worker is harmed
            gone = _Gone("protocol", f"its arguments cannot be sent to a worker ({exc})")
            raise self._error(remote, call_id, gone) from None
        try:
            worker = self._acquire(deadline)
        except _Gone as gone:
            raise self._error(remote, call_id, gone) from None
        try:
            if not worker.ready:
                self._await_ready(worker)
            worker.send(request)
            found = worker.receive(deadline, self._wall, self._largest)
            kind = found[0]
            if kind == "ok" and len(found) == 2:
                value = found[1]
                problem = not_data(value)
                if problem is not None:
                    raise _Gone("protocol", f"sent an answer that {problem}")
                if isinstance(value, (list, dict)) and too_deep(value) is not None:
                    raise _Gone("protocol", "sent an answer nested too deep")
            elif kind == "limit" and len(found) == 3:
                raise _Gone(str(found[1]), self._reason(str(found[1])), str(found[2]))
            elif kind != "raised" or len(found) != 5:
                raise _Gone("protocol", "sent an answer the catalog cannot read")
        except _Gone as gone:
            if gone.limit == "died":
                gone.limit, gone.reason = _death(worker, self.limits)
            self._replace(worker, gone.reason, gone.limit)
            raise self._error(remote, call_id, gone) from None
        except BaseException:
            # Interrupted mid-request (a real Ctrl-C): its answer would go to the next caller.
            self._replace(worker, "interrupted", "interrupted")
            raise
        self._release(worker)
        with self._lock:
            self._calls += 1
            if kind == "raised":
                self._raised += 1
        if kind == "ok":
            return value
        raise PluginCallError(
            plugin=remote.plugin,
            tenant=self.tenant,
            interface=remote.interface,
            version=remote.version,
            call_id=call_id,
            cause=rebuilt(*(str(part) for part in found[1:])),
        )

    def _reason(self, limit: str) -> str:
        limits = self.limits
        return {
            "memory": f"memory limit {limits.memory_mib} MiB",
            "open_files": f"open files limit {limits.open_files}",
            "processes": "no child processes",
        }.get(limit, limit)

    def _error(self, remote: Remote, call_id: str, gone: _Gone) -> WorkerLimitError:
        notes = [gone.detail] if gone.detail else []
        if gone.limit not in ("busy", "closed"):
            notes.append("the worker was killed and replaced")
        return WorkerLimitError(
            plugin=gone.plugin or remote.plugin,
            tenant=self.tenant,
            interface=remote.interface,
            version=remote.version,
            call_id=call_id,
            limit=gone.limit,
            reason=gone.reason,
            detail="; ".join(notes),
        )

    def health(self, plugin: str, seconds: float) -> tuple[str, str]:
        """(status, details) of ``plugin``: its health check run in a worker, and the pool's
        state."""
        summary = self.status().summary()
        deadline = time.monotonic() + min(seconds, self._wall)
        try:
            worker = self._acquire(deadline)
        except _Gone as gone:
            return (
                "degraded" if gone.limit == "busy" else "unhealthy"
            ), f"{gone.reason}; {summary}"
        try:
            if not worker.ready:
                self._await_ready(worker)
            worker.send(pickle.dumps(("health", plugin)))
            found = worker.receive(deadline, self._wall, self._largest)
            if found[0] == "limit" and len(found) == 3:
                raise _Gone(str(found[1]), self._reason(str(found[1])), str(found[2]))
            if found[0] != "ok" or len(found) != 2:
                raise _Gone("protocol", "sent an answer the catalog cannot read")
            status, details = found[1]
        except _Gone as gone:
            if gone.limit == "died":
                gone.limit, gone.reason = _death(worker, self.limits)
            self._replace(worker, gone.reason, gone.limit)
            return "unhealthy", f"health check: {gone.reason}; {summary}"
        self._release(worker)
        state = self.status()
        if status == "healthy" and len(state.workers) < self._size:
            status = "degraded"
        return str(status), (f"{details}; " if details else "") + state.summary()

    # -- stand-ins ---------------------------------------------------------------------------

    def stand_in(
        self, impl: Implementation, ctx: Any, shared: dict[Hashable, Any]
    ) -> tuple[Implementation, Remote]:
        """``impl`` as the tenant registers it: its function a stand-in (shared by every
        tenant, through ``shared``) that runs it in a worker, to be bound to the Remote."""
        key = ("isolated", ctx.plugin, impl.attribute, impl.function)
        function = shared.get(key)
        if function is None:
            function = shared.setdefault(
                key,
                adapters.around(
                    ("_catalog_remote", *impl.argnames),
                    _remote_body,
                    impl.opts,
                    impl.attribute,
                    impl.function,
                ),
            )
        remote_key = (ctx.plugin, impl.attribute, ctx.interface, ctx.version, impl.takes_ctx)
        remote = self._remotes.get(remote_key)
        if remote is None:
            remote = self._remotes.setdefault(remote_key, Remote(self, impl, ctx))
        return impl._replace(function=function, takes_ctx=True), remote

    def lifecycle(self, impl: Implementation, plugin: str, seconds: float) -> Callable[..., Any]:
        """The stand-in of an isolated plugin's lifecycle hook: startup and shutdown run in
        the workers as they start and stop, so here they do nothing; a health check runs in
        a worker and tells the pool's state too."""
        if impl.info.hook == "catalog_health":

            def body(_args: tuple[Any, ...]) -> Any:
                from ._lifecycle import Health

                status, details = self.health(plugin, seconds)
                return Health(status, details)  # type: ignore[arg-type]

        else:

            def body(_args: tuple[Any, ...]) -> Any:
                return None

        return adapters.around(impl.argnames, body, impl.opts, impl.attribute, impl.function)

    # -- describing --------------------------------------------------------------------------

    def status(self) -> PoolStatus:
        with self._lock:
            idle = len(self._idle)
            return PoolStatus(
                self.tenant,
                self.names,
                self.limits,
                tuple(sorted(w.pid for w in self._live)),
                len(self._live) - idle,
                self._spawned,
                dict(self._restarts),
                self._calls,
                self._raised,
                self._last,
                self._closed,
            )

    def pids(self) -> list[int]:
        """The live workers' process ids (tests, and ``tenants show``)."""
        with self._lock:
            return sorted(w.pid for w in self._live)

    def __repr__(self) -> str:
        return f"<WorkerPool of tenant {self.tenant!r}: {len(self._live)} workers>"


def pool_for(registry: Registry, plan: TenantPlan) -> WorkerPool | None:
    """The pool of the plan's isolated plugins (None: it has none), not started yet; the
    plugins start in their dependencies' order, as in-process ones do."""
    isolation = plan.workers
    if isolation is None:
        return None
    from ..config import thaw

    names = [p.name for p in reversed(plan.plugins) if p.name in isolation.plugins]
    return WorkerPool(
        plan.id,
        [(name, registry.sources[name], thaw(plan.settings.get(name, {}))) for name in names],
        isolation.limits,
    )


def _healthy(tenant: str, settings: Mapping[str, Any]) -> None:
    """Stands for the health check of an isolated plugin that has none."""


def with_health(plugin: CheckedPlugin, hooks: Mapping[str, HookInfo]) -> CheckedPlugin:
    """``plugin`` with a health check (its own, or one that only tells its pool's state)."""
    if any(impl.info.hook == "catalog_health" for impl in plugin.implementations):
        return plugin
    from ..declarations import hookimpl
    from ..registry import Implementation

    marked = hookimpl(_healthy)
    health = Implementation(
        "catalog_health", marked, hooks["catalog_health"], {}, False, ("tenant", "settings")
    )
    return plugin._replace(implementations=(*plugin.implementations, health))


def prometheus_text(pools: Iterable[PoolStatus]) -> str:
    """The pools in the Prometheus text format: ``catalog_isolation_workers`` (live, by
    tenant), ``catalog_isolation_calls_total`` (by outcome: ``ok`` or ``raised``) and
    ``catalog_isolation_restarts_total`` (by reason). Needs prometheus_client."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector

    rows = list(pools)

    class _Collector(Collector):
        def collect(self) -> Iterable[Metric]:
            workers = GaugeMetricFamily(
                "catalog_isolation_workers",
                "Live worker processes of a tenant's isolated plugins in this process",
                labels=("tenant",),
            )
            busy = GaugeMetricFamily(
                "catalog_isolation_busy_workers",
                "Worker processes of a tenant's isolated plugins running a call now",
                labels=("tenant",),
            )
            calls = CounterMetricFamily(
                "catalog_isolation_calls",
                "Calls answered by a tenant's isolated plugins' workers, by outcome",
                labels=("tenant", "outcome"),
            )
            restarts = CounterMetricFamily(
                "catalog_isolation_restarts",
                "Worker processes killed and replaced, by reason",
                labels=("tenant", "reason"),
            )
            for row in rows:
                workers.add_metric([row.tenant], len(row.workers))
                busy.add_metric([row.tenant], row.busy)
                calls.add_metric([row.tenant, "ok"], row.calls - row.raised)
                calls.add_metric([row.tenant, "raised"], row.raised)
                for reason, count in sorted(row.restarts.items()):
                    restarts.add_metric([row.tenant, reason], count)
            yield from (workers, busy, calls, restarts)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    text: str = generate_latest(registry).decode()
    return text
