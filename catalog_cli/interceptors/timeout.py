"""Timeout: a deadline for each call; past it the caller gets CallTimeoutError.

What runs under the deadline is the method: the entry point with its tenant wrappers and plugin
points (and the plugin-point interceptors around each implementation). Every ``catalog_call``
interceptor, this one's inner ones included, runs in the caller around it. A retry outside
this interceptor (the default order) gives each attempt a deadline of its own.

``isolation = "thread"`` (the default): the method runs in a daemon thread and the caller
waits at most ``seconds``. Python cannot kill a thread: at the deadline the caller gets
CallTimeoutError, but the work goes on in its abandoned thread until it ends on its own (it
never keeps the process from exiting), side effects and all. Each abandoned call is logged as a
WARNING on ``catalog.interceptors.timeout`` with its call id and counted per tenant (see
:func:`stats`); when one finishes after all, that is logged at INFO.

``isolation = "process"`` (a hard limit): the method runs in a child process (``spawn``) that
loads the catalog file again and is terminated (then killed) at the deadline, so nothing of
the call survives it. Every call pays for starting Python and building the tenant in the child
(importing its plugins, their startup and shutdown hooks), inside the deadline. Arguments and
results cross the process boundary pickled: a result must be picklable (data types are), else
the call fails with ResultValidationError. Errors come back as the same catalog error classes
(a plugin's exception as PluginCallError naming the plugin, its ``cause`` included when it can
be pickled). In the child: the catalog file is read as it is on disk at the call (not as the
caller's catalog last loaded it); plugin-point interceptors keep state of their own, lost after
the call; logging follows the child's default configuration (warnings to stderr); a trace does
not see inside. As with any ``spawn``, the program's main module is imported again in the
child: its top-level code must be guarded by ``if __name__ == "__main__":``.

On the async path (a call whose tenant runs ``async def`` implementations, see
docs/library.md) thread isolation becomes cancellation: at the deadline the call's task is
cancelled on the event loop, so nothing of it runs on (counted as ``cancelled``); plain code
the call runs in a worker thread cannot be cancelled and finishes there. Process isolation
waits for the child in a worker thread, the loop free meanwhile.

Settings: ``seconds`` (a number above 0, default 30) and ``isolation``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from catalog_cli import PluginMeta, hookimpl
from catalog_cli.config import Option, Options, one_of, positive
from catalog_cli.errors import CallTimeoutError, CatalogError, OverloadedError, PluginCallError
from catalog_cli.runtime import (
    Late,
    Overloaded,
    call_with_deadline,
    contained,
    future_safe,
    unpacked,
)

if TYPE_CHECKING:
    import logging
    from multiprocessing.connection import Connection

    from catalog_cli import Call, InterceptorContext

PLUGIN: Final = PluginMeta(
    description="Gives each call a deadline, in a thread or (a hard limit) in a child process",
    settings=Options(
        Option("seconds", "float", 30.0, "the deadline of a call, in seconds", positive),
        Option(
            "isolation",
            "str",
            "thread",
            'where the call runs: "thread" (abandoned at the deadline) or "process" (killed)',
            one_of("thread", "process"),
        ),
    ),
)

ORDER: Final = 700

#: The name the catalog knows this interceptor by (the key of its state).
NAME: Final = "timeout"

#: How long a terminated child may take to exit before it is killed.
GRACE: Final = 1.0

# Read through the module so tests can replace them.
_now = time.monotonic


class TimeoutStats(NamedTuple):
    """What the timeout interceptor counted for one tenant since the catalog was created."""

    #: calls whose thread was abandoned at the deadline
    abandoned: int
    #: of those, the ones still running
    running: int
    #: calls whose child process was killed at the deadline
    killed: int
    #: calls on the async path cancelled at the deadline
    cancelled: int = 0


def stats(states: Mapping[str, Mapping[str, Any]], tenant: str) -> TimeoutStats:
    """The counts for ``tenant`` from a catalog's interceptor states (``(tenant, name) ->
    state``, as the catalog keeps them)."""
    state = states.get(tenant, {})
    return TimeoutStats(
        state.get("abandoned", 0),
        state.get("running", 0),
        state.get("killed", 0),
        state.get("cancelled", 0),
    )


def abandoned(states: Mapping[str, Mapping[str, Any]], tenant: str) -> int:
    """How many of ``tenant``'s calls were abandoned at their deadline (thread mode)."""
    return stats(states, tenant).abandoned


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    seconds: float = ctx.settings["seconds"]
    state = ctx.state
    if ctx.settings["isolation"] == "process":
        runner = _in_child(call, seconds, state, ctx.log)
        # On the async path the child is waited for in a worker thread, not on the loop.
        call.run_with(_waited_in_thread(runner) if call.asynchronous else runner)
    elif call.asynchronous:
        call.run_with(_on_loop(call, seconds, state, ctx.log))
    else:
        call.run_with(_in_thread(call, seconds, state, ctx.log))
    return (yield)


def _late(call: Call, seconds: float) -> CallTimeoutError:
    return CallTimeoutError(
        tenant=call.tenant,
        interface=call.interface,
        version=call.version,
        call_id=call.call_id,
        seconds=seconds,
    )


def _count(state: dict[str, Any], key: str, change: int) -> None:
    with state.setdefault("lock", threading.Lock()):
        state[key] = state.get(key, 0) + change


# -- thread ------------------------------------------------------------------------------------


def _in_thread(
    call: Call, seconds: float, state: dict[str, Any], log: logging.Logger
) -> Callable[[Callable[[], Any]], Any]:
    def runner(method: Callable[[], Any]) -> Any:
        started = _now()
        lock = state.setdefault("lock", threading.Lock())
        # Whether the work ended, and whether the caller gave up on it: under the lock, so a
        # call that ends just as it is abandoned is counted right.
        fate = {"ended": False, "abandoned": False}

        def work() -> Any:
            try:
                return method()
            finally:
                with lock:
                    fate["ended"] = True
                    if fate["abandoned"]:
                        state["running"] -= 1
                if fate["abandoned"]:
                    log.info(
                        "abandoned call %s finished after %.3f s", call.call_id, _now() - started
                    )

        try:
            return call_with_deadline(
                work, seconds, f"catalog-call-{call.call_id}", owner=call.tenant
            )
        except Overloaded as busy:
            raise OverloadedError.refusing(
                busy,
                interceptor="timeout",
                tenant=call.tenant,
                interface=call.interface,
                version=call.version,
                call_id=call.call_id,
            ) from None
        except Late:
            with lock:
                fate["abandoned"] = True
                state["abandoned"] = state.get("abandoned", 0) + 1
                if not fate["ended"]:
                    state["running"] = state.get("running", 0) + 1
            log.warning(
                "call %s (%s v%s for tenant %r) passed its %g s deadline and was abandoned; "
                "its thread may still be running",
                call.call_id,
                call.interface,
                call.version,
                call.tenant,
                seconds,
            )
            raise _late(call, seconds) from None

    return runner


# -- the async path ----------------------------------------------------------------------------


def _on_loop(
    call: Call, seconds: float, state: dict[str, Any], log: logging.Logger
) -> Callable[[Callable[[], Any]], Any]:
    """A call on the async path is cancelled at its deadline: nothing is left running."""

    async def runner(method: Callable[[], Any]) -> Any:
        import asyncio

        # A task of its own; what it raises is carried out of it (a SystemExit raised in a
        # task would end the event loop itself).
        task = asyncio.ensure_future(contained(method()))
        try:
            done, _ = await asyncio.wait({task}, timeout=seconds)
        finally:
            if not task.done():  # the deadline, or this call was cancelled: so is the method
                task.cancel()
        if not done:
            _count(state, "cancelled", 1)
            log.warning(
                "call %s (%s v%s for tenant %r) passed its %g s deadline and was cancelled",
                call.call_id,
                call.interface,
                call.version,
                call.tenant,
                seconds,
            )
            raise _late(call, seconds)
        return unpacked(task.result())

    return runner


def _waited_in_thread(
    runner: Callable[[Callable[[], Any]], Any],
) -> Callable[[Callable[[], Any]], Any]:
    def waited(method: Callable[[], Any]) -> Any:
        import asyncio

        return asyncio.to_thread(_future_safe, runner, method)

    return waited


def _future_safe(runner: Callable[[Callable[[], Any]], Any], method: Callable[[], Any]) -> Any:
    try:
        return runner(method)
    except StopIteration as exc:
        # an asyncio future cannot hold a StopIteration: its awaiter would wait for ever
        raise future_safe(exc) from exc


# -- process -----------------------------------------------------------------------------------


class Request(NamedTuple):
    """What the child process needs to make the call again."""

    path: str
    tenant: str
    interface: str
    version: int
    version_source: str
    call_id: str
    arguments: dict[str, Any]


def _in_child(
    call: Call, seconds: float, state: dict[str, Any], log: logging.Logger
) -> Callable[[Callable[[], Any]], Any]:
    def runner(method: Callable[[], Any]) -> Any:
        # ``method`` is this process's: the child runs its own.
        import multiprocessing
        import pickle

        deadline = _now() + seconds
        path = call.catalog_path
        if path is None:
            raise CatalogError(
                'the timeout interceptor\'s isolation = "process" needs a catalog read from a '
                "file: the child process loads it again"
            )
        request = Request(
            str(path.resolve()),
            call.tenant,
            call.interface,
            call.version,
            call.version_source,
            call.call_id,
            dict(call.arguments),
        )
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        child = context.Process(
            target=child_main,
            args=(sender, request),
            name=f"catalog-call-{call.call_id}",
            daemon=True,
        )
        try:
            try:
                child.start()
            finally:
                sender.close()  # the child holds the only writer: its exit is EOF here
            answered = receiver.poll(max(deadline - _now(), 0.0))
            payload = receiver.recv_bytes() if answered else None
        except EOFError:
            payload = None
        finally:
            receiver.close()
        if not answered:
            _kill(child)
            _count(state, "killed", 1)
            log.warning(
                "call %s (%s v%s for tenant %r) passed its %g s deadline; its child process "
                "(pid %s) was killed",
                call.call_id,
                call.interface,
                call.version,
                call.tenant,
                seconds,
                child.pid,
            )
            raise _late(call, seconds)
        child.join(GRACE)
        if child.is_alive():  # answered, but a thread of a plugin keeps it from exiting
            _kill(child)
        if payload is None:
            # Plugin code ended the process (os._exit, a crash in an extension): which plugin
            # cannot be told from here, so the method's implementation is named.
            raise PluginCallError(
                plugin=call.implementation,
                tenant=call.tenant,
                interface=call.interface,
                version=call.version,
                call_id=call.call_id,
                cause=ChildProcessError(
                    f"the call's child process ended without an answer (exit code "
                    f"{child.exitcode}): a plugin ended or crashed the process"
                ),
            )
        kind, value = pickle.loads(payload)
        if kind == "error":
            raise rebuild(*value)
        return value

    return runner


def _kill(child: Any) -> None:
    child.terminate()
    child.join(GRACE)
    if child.is_alive():  # it handles SIGTERM: not its decision
        child.kill()
        child.join()


def child_main(sender: Connection, request: Request) -> None:
    """In the child process: make the call and send back ("ok", result) or ("error", ...)."""
    import logging
    import pickle

    # The caller warned about a deprecated version already.
    logging.getLogger("catalog.deprecation").disabled = True
    try:
        payload = _child_call(request)
    except BaseException as exc:  # everything goes back to the caller, who decides
        payload = pickle.dumps(("error", portable(exc)))
    sender.send_bytes(payload)
    sender.close()


def _child_call(request: Request) -> bytes:
    """The entry point for the request, as the caller's innermost step would run it; the
    pickled ("ok", result)."""
    import pickle

    from catalog_cli.errors import ResultValidationError
    from catalog_cli.runtime import run_entry_point

    result, implementation, returns = run_entry_point(
        request.path,
        request.tenant,
        request.interface,
        request.version,
        request.version_source,  # type: ignore[arg-type]
        request.call_id,
        dict(request.arguments),
    )
    try:
        return pickle.dumps(("ok", result))
    except Exception as exc:
        raise ResultValidationError(
            plugin=implementation,
            tenant=request.tenant,
            interface=request.interface,
            version=request.version,
            where="entry point",
            expected=returns,
            problem=f"the result cannot be pickled to leave the child process: {exc}",
            call_id=request.call_id,
        ) from None


def portable(exc: BaseException) -> tuple[str, str, str, dict[str, Any]]:
    """An exception as (module, class name, message, picklable attributes)."""
    import pickle

    attributes: dict[str, Any] = {}
    for key, value in vars(exc).items():
        if key == "trace":
            continue
        try:
            pickle.loads(pickle.dumps(value))
            attributes[key] = value
        except Exception:
            if isinstance(value, BaseException):
                # A cause that cannot travel (e.g. it holds a lock) is described instead.
                attributes[key] = RuntimeError(f"{type(value).__name__}: {value}")
    return type(exc).__module__, type(exc).__qualname__, str(exc), attributes


def rebuild(module: str, name: str, message: str, attributes: dict[str, Any]) -> CatalogError:
    """The catalog error the child raised, as the same class; anything else as CatalogError."""
    import sys

    found = getattr(sys.modules.get(module), name, None)
    if not (isinstance(found, type) and issubclass(found, CatalogError)):
        return CatalogError(f"the call's child process failed: {name}: {message}")
    # Catalog errors take keyword arguments of their own: rebuild the instance, not the call.
    error: CatalogError = found.__new__(found)
    Exception.__init__(error, message)
    error.__dict__.update(attributes)
    error.message = message
    return error
