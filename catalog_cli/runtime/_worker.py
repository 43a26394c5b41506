"""A worker process of one tenant's isolated plugins: the child side of ``_workers``.

Forked by the catalog process's fork server (``serve_forks`` below, single-threaded, the
catalog's modules imported) with two pipes of the pool's, in a session of its own. It reads
frames (a 4-byte length, then a pickle) from the one and answers on the other, one request at
a time:

- first ``("init", tenant, plugins, limits)``: it puts its limits on itself, imports the
  plugins' modules (by their sources: a catalog-local file under its folder's private package
  name, else by module name), runs their startup hooks and answers ``("ready", failures)``;
- ``("call", key, args, call_id, shadow)``: runs one hook function of a plugin with the
  plugin's context rebuilt here, and answers ``("ok", value)``, ``("raised", module, type,
  message, traceback)`` or ``("limit", which, detail)`` (it broke a limit but lives on: the
  pool kills it and starts another);
- ``("health", plugin)`` and ``("stop",)``: a plugin's health check, and the shutdown hooks.

What it sends back holds data only (strings, numbers, lists, dicts): the pool reads it with an
unpickler that refuses anything else, so a plugin that writes to the pipe itself cannot make
the catalog's process run code.

Limits, put on itself before any plugin code runs: RLIMIT_AS (memory), RLIMIT_NOFILE, and
RLIMIT_NPROC 0 (no new processes or threads, for a user other than root); RLIMIT_CPU is moved
before each call to what the process used so far plus the call's allowance. An audit hook
refuses process creation (fork, exec, spawn, system, subprocess) and signals to other
processes. After each call, a child process left behind is reported. A daemon thread ends
the worker when its parent (the fork server) is gone.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import pickle
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from types import MappingProxyType, ModuleType
from typing import Any, Final, NoReturn

#: The length prefix of a frame.
HEADER: Final = struct.Struct("!I")
#: How much of a plugin's traceback travels back.
TRACEBACK_CHARS: Final = 8000
#: Audit events that start a process, or signal another one.
_SPAWNING: Final = frozenset(
    {"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.system", "os.exec",
     "subprocess.Popen", "pty.spawn"}
)  # fmt: skip
_SIGNALLING: Final = frozenset({"os.kill", "os.killpg"})


class PointsUnavailableError(RuntimeError):
    """An isolated plugin called ``ctx.points``: its points run in the catalog's process."""


class _NoPoints:
    """``ctx.points`` of an isolated plugin: every point refuses, saying why."""

    __slots__ = ("_catalog_tenant",)

    def __init__(self, tenant: str) -> None:
        self._catalog_tenant = tenant

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):
            raise AttributeError(name)
        raise PointsUnavailableError(
            f"ctx.points.{name} is not available to an isolated plugin (isolation = "
            f'"process" for tenant {self._catalog_tenant!r}): plugin points run in the '
            "catalog's process, the plugin in a worker process"
        )

    def __repr__(self) -> str:
        return "<plugin points: not available in an isolated plugin>"


class _State:
    """What one worker holds: its tenant's plugins, their contexts, the limit it broke."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.pid = os.getpid()
        #: plugin -> (its module, its settings)
        self.plugins: dict[str, tuple[ModuleType, Mapping[str, Any]]] = {}
        #: call key -> (function, context or None)
        self.targets: dict[tuple[Any, ...], tuple[Callable[..., Any], Any]] = {}
        #: set by the audit hook when plugin code tried to start a process
        self.broke: str | None = None
        self.cpu_seconds = 2
        self.cpu_soft = -1


def _read_exact(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _receive(fd: int) -> Any:
    (size,) = HEADER.unpack(_read_exact(fd, HEADER.size))
    return pickle.loads(_read_exact(fd, size))


def _send(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is data (what the pool's unpickler takes)."""
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return True
    if depth > 100:
        return False
    if kind in (list, tuple):
        return all(_plain(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(k) is str and _plain(v, depth + 1) for k, v in value.items())
    return False


def _described(exc: BaseException) -> tuple[str, str, str, str, str]:
    text = "".join(traceback.format_exception(exc))[-TRACEBACK_CHARS:]
    try:
        message = str(exc)
    except Exception:
        message = "(its message could not be read)"
    kind = type(exc)
    return ("raised", str(kind.__module__), str(kind.__qualname__), message, text)


def _broken(state: _State, exc: BaseException | None) -> tuple[str, str, str] | None:
    """The limit a call broke (by what it raised, or what it did), if any."""
    if state.broke is not None:
        return ("limit", "processes", state.broke)
    if isinstance(exc, MemoryError):
        return ("limit", "memory", "the plugin ran out of memory (MemoryError)")
    if isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE):
        return ("limit", "open_files", f"the plugin ran out of file descriptors: {exc}")
    try:
        found = os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return None
    return ("limit", "processes", f"the plugin left a child process behind ({found})")


def _arm_cpu(state: _State) -> None:
    """Let the next call use ``cpu_seconds`` of CPU time from now (RLIMIT_CPU counts the
    process's whole life, in whole seconds: the soft limit moves on, the hard one stays)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + 1 + state.cpu_seconds
    if soft != state.cpu_soft:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
        state.cpu_soft = soft


def _limit(memory_bytes: int, open_files: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # No core file of a worker that crashes or passes its CPU time (it would hold settings).
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = open_files if hard == resource.RLIM_INFINITY else min(open_files, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (top, top))
    with contextlib.suppress(ValueError, OSError):
        # No new process (or thread) for a user other than root; root is not held by it.
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def _audit(state: _State) -> Callable[[str, tuple[Any, ...]], None]:
    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in _SPAWNING:
            state.broke = f"the plugin tried to start a process ({event})"
            raise PermissionError(
                f"an isolated plugin may not start processes ({event} refused; tenant "
                f"{state.tenant!r})"
            )
        if event in _SIGNALLING and args and args[0] not in (0, state.pid):
            raise PermissionError(
                f"an isolated plugin may not signal other processes ({event} refused)"
            )

    return hook


def _watch_parent(parent: int) -> None:
    """End the worker when the process that started it is gone (even mid-call)."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="catalog-worker-watch", daemon=True).start()


def _load(state: _State, plugins: list[tuple[str, Any, dict[str, Any]]]) -> None:
    from ..config import freeze
    from ..registry import _namespace

    for name, source, settings in plugins:
        if source.folder is not None:
            module = _namespace.import_module(source.folder, source.module)
        else:
            module = importlib.import_module(source.module)
        state.plugins[name] = (module, freeze(settings) if settings else MappingProxyType({}))


def _lifecycle(state: _State, hook: str, names: list[str]) -> list[tuple[str, Any]]:
    """Run ``hook`` of each plugin in ``names`` that has one; their failures."""
    from ..declarations import PROJECT

    failures = []
    for name in names:
        module, settings = state.plugins[name]
        function = _hook_function(module, hook, PROJECT)
        if function is None:
            continue
        arguments = {"tenant": state.tenant, "settings": settings}
        import inspect

        wanted = list(inspect.signature(function).parameters)
        try:
            function(**{k: arguments[k] for k in wanted if k in arguments})
        except BaseException as exc:
            failures.append((name, _described(exc)))
    return failures


def _hook_function(module: ModuleType, hook: str, project: str) -> Callable[..., Any] | None:
    for attribute, value in vars(module).items():
        opts = getattr(value, f"{project}_impl", None)
        if isinstance(opts, dict) and (opts.get("specname") or attribute) == hook:
            found: Callable[..., Any] = value
            return found
    return None


def _target(state: _State, key: tuple[Any, ...]) -> tuple[Callable[..., Any], Any]:
    found = state.targets.get(key)
    if found is None:
        from ._context import Context

        plugin, attribute, interface, version, takes_ctx = key
        module, settings = state.plugins[plugin]
        function = getattr(module, attribute)
        ctx = (
            Context(state.tenant, interface, version, plugin, settings, _NoPoints(state.tenant))  # type: ignore[arg-type]
            if takes_ctx
            else None
        )
        found = state.targets[key] = (function, ctx)
    return found


def _call(state: _State, key: tuple[Any, ...], args: tuple[Any, ...], call_id: str,
          shadow: bool) -> tuple[Any, ...]:  # fmt: skip
    from ._context import CURRENT, SHADOW

    function, ctx = _target(state, key)
    token = CURRENT.set(call_id)
    shadowed = SHADOW.set(shadow) if shadow else None
    _arm_cpu(state)
    raised: BaseException | None = None
    try:
        value = function(ctx, *args) if ctx is not None else function(*args)
    except BaseException as exc:
        raised = exc
    finally:
        CURRENT.reset(token)
        if shadowed is not None:
            SHADOW.reset(shadowed)
    if os.getpid() != state.pid:  # a child the plugin made (past every guard): not ours
        os._exit(0)
    broken = _broken(state, raised)
    if broken is not None:
        return broken
    if raised is not None:
        return _described(raised)
    if not _plain(value):
        return (
            "raised",
            "builtins",
            "TypeError",
            f"returned {type(value).__name__} {_short(value)}, which is not data: an isolated "
            "plugin's results cross to the catalog's process as data (str, int, float, bool, "
            "None, lists and dicts of these)",
            "",
        )
    return ("ok", value)


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        return "(unprintable)"
    return text if len(text) <= 60 else text[:57] + "..."


def _health(state: _State, plugin: str) -> tuple[Any, ...]:
    from ..declarations import PROJECT
    from ._lifecycle import _as_health

    module, settings = state.plugins[plugin]
    function = _hook_function(module, "catalog_health", PROJECT)
    if function is None:
        return ("ok", ("healthy", ""))
    import inspect

    arguments = {"tenant": state.tenant, "settings": settings}
    wanted = list(inspect.signature(function).parameters)
    _arm_cpu(state)
    try:
        found = _as_health(function(**{k: arguments[k] for k in wanted if k in arguments}))
    except BaseException as exc:
        broken = _broken(state, exc)
        if broken is not None:
            return broken
        return ("ok", ("unhealthy", f"the health check raised {type(exc).__name__}: {exc}"))
    return ("ok", (found.status, found.details))


def main(inbox: int, outbox: int) -> None:
    """The worker's loop (see the module docstring)."""
    parent = os.getppid()
    _watch_parent(parent)
    message = _receive(inbox)
    _op, tenant, plugins, limits = message
    memory_bytes, open_files, cpu_seconds, start_cpu = limits
    state = _State(tenant)
    state.cpu_seconds = start_cpu
    # Plugin code may print: never onto the catalog's output (a --json answer, say).
    os.dup2(2, 1)
    _limit(memory_bytes, open_files)
    _arm_cpu(state)
    sys.addaudithook(_audit(state))
    names = [name for name, _source, _settings in plugins]
    try:
        _load(state, plugins)
    except BaseException as exc:
        _send(outbox, ("ready", [(names[len(state.plugins)], _described(exc))]))
        return
    _send(outbox, ("ready", _lifecycle(state, "catalog_startup", names)))
    state.cpu_seconds = cpu_seconds
    while True:
        try:
            message = _receive(inbox)
        except EOFError:  # the pool closed its end: the catalog is gone or done with us
            return
        op = message[0]
        if op == "call":
            _send(outbox, _call(state, *message[1:]))
        elif op == "health":
            _send(outbox, _health(state, message[1]))
        elif op == "stop":
            _arm_cpu(state)
            _send(outbox, ("stopped", _lifecycle(state, "catalog_shutdown", names[::-1])))
            return


def _reap(children: dict[int, int], *, block: bool = False) -> None:
    """Reap ended workers, writing each one's exit code where its pool waits for it."""
    while children:
        try:
            pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        out = children.pop(pid, None)
        if out is not None:
            with contextlib.suppress(OSError):
                os.write(out, struct.pack("!i", os.waitstatus_to_exitcode(status)))
            os.close(out)


def _fork_worker(fds: list[int], keep_closed: list[int], children: dict[int, int]) -> int:
    """Fork a worker on ``fds`` (inbox, outbox, status); its pid (-1: fork failed). The
    child closes ``keep_closed`` (the server's own descriptors) and leads a session."""
    import signal

    inbox, outbox, status = fds
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    if pid == 0:  # the worker
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for kept in (*keep_closed, status, *children.values()):
                os.close(kept)
            os.setsid()
            main(inbox, outbox)
            code = 0
        finally:
            os._exit(code)
    os.close(inbox)
    os.close(outbox)
    if pid > 0:
        children[pid] = status
    else:
        os.close(status)
    return pid


def serve_forks(fd: int) -> None:
    """The fork server's loop (see ``_workers._ForkServer``): for each request on the socket
    ``fd`` (three descriptors: the worker's inbox, its outbox, and where to write its exit
    status), fork a worker and answer its pid; reap the workers as they end. When the catalog
    is gone (the socket closes), kill the workers left and end."""
    import select
    import signal
    import socket

    # What every worker needs, imported once here rather than in each.
    from .. import config, declarations, registry  # noqa: F401
    from . import _context, _lifecycle  # noqa: F401

    server = socket.socket(fileno=fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda _signal, _frame: None)
    children: dict[int, int] = {}
    while True:
        ready, _w, _x = select.select([fd, wake_r], [], [])
        if wake_r in ready:
            with contextlib.suppress(OSError):
                while os.read(wake_r, 512):
                    pass
            _reap(children)
        if fd not in ready:
            continue
        try:
            message, fds, _flags, _address = socket.recv_fds(server, 16, 3)
        except OSError:
            message, fds = b"", []
        if not message or len(fds) != 3:
            for extra in fds:
                os.close(extra)
            break
        pid = _fork_worker(fds, [fd, wake_r, wake_w], children)
        server.sendall(struct.pack("!i", pid))
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    _reap(children, block=True)
