"""The async path of a call: a hook's implementations driven as pluggy drives them, awaited.

Pluggy calls hooks synchronously: an ``async def`` implementation would hand it a coroutine
as its result (never run, and not None, so it would end a ``first`` point). On the async path
the catalog calls a hook itself, from the hook caller's public list of implementations
(``get_hookimpls``), keeping pluggy's rules: implementations in pluggy's call order, wrappers
around them (outermost first), a ``firstresult`` hook stopping at the first answer that is not
None, any exception flowing out through the wrappers. A plain ``def`` implementation is
called as is; what an ``async def`` one returns is awaited.

An ``async def`` wrapper is an async generator. It cannot ``return`` a value, so the catalog's
protocol is::

    @hookimpl(wrapper=True)
    async def footer(ctx, text):
        result = yield            # what runs inside (raises here if that failed)
        yield result + " (async)" # optional: the value to give instead

Ending after the first ``yield`` leaves the result as it was; ending after catching the
exception gives None, as a plain wrapper that falls off its end returns None.

Plain code calling a plugin point that has async implementations (a ``def`` built-in whose
tenant added an ``async def`` plugin) runs in a worker thread, and its point calls are run on
the event loop of the call (``BridgePoint``): the loop is never blocked, the thread waits.
"""

from __future__ import annotations

import contextvars
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, final

import pluggy

from ._guards import WrapperMisbehaved, resume, stopped

if TYPE_CHECKING:
    # asyncio is imported by the async path only: it would cost every command's start-up.
    import asyncio
    from concurrent.futures import Future

#: The event loop the async call in progress runs on (for plain code in worker threads).
LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar("catalog_loop")

#: The call plain code in a worker thread runs for (its point calls end with it).
_BRIDGED: contextvars.ContextVar[_Offloaded] = contextvars.ContextVar("catalog_bridged")


class _Offloaded:
    """Plain code of one call in a worker thread: the point calls it waits for on the loop,
    and whether the call is over (then it may start no more)."""

    __slots__ = ("over", "waiting")

    def __init__(self) -> None:
        self.waiting: list[Any] = []
        self.over = False


#: Worker threads of the async path, made when first needed: plain code that calls points
#: with async implementations, and waits for isolated plugins' workers. Two pools, so that
#: waits never queue behind plain code that is itself waiting for a point (a deadlock in one
#: pool of the loop's few threads). $CATALOG_ASYNC_THREADS sizes each (default 64).
_POOLS: dict[str, _DaemonPool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(kind: str) -> _DaemonPool:
    found = _POOLS.get(kind)
    if found is None:
        with _POOLS_LOCK:
            found = _POOLS.get(kind)
            if found is None:
                size = int(os.environ.get("CATALOG_ASYNC_THREADS", "") or 64)
                found = _POOLS[kind] = _DaemonPool(max(1, size), f"catalog-async-{kind}")
    return found


class _DaemonPool:
    """An executor (``submit``) of threads made as work comes, up to ``size``, and kept.
    Daemon threads, unlike those of ``ThreadPoolExecutor``: plain code abandoned at its
    deadline (a hanging plugin) must not keep the process from exiting, as the catalog's other
    call threads do not. Made only on the async path: asyncio has imported what it needs."""

    def __init__(self, size: int, name: str) -> None:
        import queue

        self._size = size
        self._name = name
        self._work: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]]
        self._work = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        from concurrent.futures import Future

        future: Future[Any] = Future()
        self._work.put((future, functools.partial(fn, **kwargs) if kwargs else fn, args))
        with self._lock:
            start = self._idle == 0 and self._threads < self._size
            if start:
                self._threads += 1
                number = self._threads
        if start:
            threading.Thread(target=self._serve, name=f"{self._name}-{number}", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            future, fn, args = self._work.get()
            with self._lock:
                self._idle -= 1
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the awaiting caller, who decides
                future.set_exception(future_safe(exc))
            else:
                future.set_result(result)


def future_safe(exc: BaseException) -> BaseException:
    """``exc``, or for a StopIteration (an asyncio future cannot hold one: its awaiter would
    wait for ever) the RuntimeError Python makes of one a coroutine raises; it keeps the
    traceback, so the plugin that raised it is still the one blamed."""
    if not isinstance(exc, StopIteration):
        return exc
    carried = RuntimeError("plain code run for the async path raised StopIteration")
    carried.__cause__ = exc
    return carried.with_traceback(exc.__traceback__)


async def contained(work: Awaitable[Any]) -> tuple[bool, Any]:
    """``(True, result)`` or ``(False, exception)`` of ``work``: for work run as a task of
    its own, where a SystemExit or KeyboardInterrupt a plugin raises would end the event
    loop itself. Cancellation passes."""
    import asyncio

    try:
        return True, await work
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)
        if cancelling is None or cancelling():
            raise  # this task was cancelled (before 3.11 a task cannot tell: as if it was)
        return False, exc  # the work's own: carried out like any other exception
    except BaseException as exc:
        return False, exc


def unpacked(outcome: tuple[bool, Any]) -> Any:
    """The result of ``contained`` work, or its exception raised."""
    ok, value = outcome
    if ok:
        return value
    raise value


#: What the drivers keep for an entered wrapper.
_OLD: Final = 0
_NEW: Final = 1
_ASYNC: Final = 2


async def call_hook(
    impls: Sequence[pluggy.HookImpl], kwargs: dict[str, Any], firstresult: bool, hook: str
) -> Any:
    """Call ``impls`` (in ``get_hookimpls`` order) with ``kwargs`` as pluggy would, awaiting
    what async implementations return; see the module docstring."""
    results: list[Any] = []
    entered: list[tuple[int, Any, pluggy.HookImpl, Any]] = []
    error: BaseException | None = None
    try:
        for impl in reversed(impls):
            args = map(kwargs.__getitem__, impl.argnames)  # pluggy passes what each names
            if impl.hookwrapper:
                gen: Any = impl.function(*args)
                try:
                    next(gen)
                except StopIteration:
                    raise WrapperMisbehaved(impl.plugin_name, hook, "did not yield") from None
                entered.append((_OLD, gen, impl, None))
            elif impl.wrapper:
                gen = impl.function(*args)
                try:
                    first = next(gen)
                except StopIteration:
                    raise WrapperMisbehaved(impl.plugin_name, hook, "did not yield") from None
                if type(first) is Handover:
                    gen.close()
                    gen = first.gen
                    await astart(gen, impl.plugin_name, hook)
                    entered.append((_ASYNC, gen, impl, first.after))
                else:
                    entered.append((_NEW, gen, impl, None))
            else:
                res: Any = impl.function(*args)
                if type(res) is CoroutineType or (
                    res is not None and getattr(type(res), "__await__", None) is not None
                ):
                    res = await res
                if res is not None:
                    results.append(res)
                    if firstresult:
                        break
    except BaseException as exc:
        error = exc
    result: Any = (results[0] if results else None) if firstresult else results
    if entered:
        return await _unwound(entered, hook, result, error)
    if error is not None:
        raise error
    return result


async def _unwound(
    entered: list[tuple[int, Any, pluggy.HookImpl, Any]],
    hook: str,
    result: Any,
    error: BaseException | None,
) -> Any:
    """The wrappers entered, innermost first, told what they wrapped gave."""
    for kind, gen, impl, after in reversed(entered):
        if kind == _NEW:
            result, error = _unwind(gen, impl, hook, result, error)
        elif kind == _ASYNC:
            try:
                result = await afinish(gen, impl.plugin_name, hook, result, error)
                error = None
                if after is not None:
                    result = after(result)
            except BaseException as exc:
                if not stopped(exc, error):  # else the StopIteration goes on, as in pluggy
                    result, error = None, exc
        else:
            outcome = pluggy.Result(result, error)
            try:
                gen.send(outcome)
            except StopIteration:
                pass
            except BaseException as exc:  # pluggy lets an old-style wrapper's error out too
                result, error = None, exc
                continue
            else:
                error = WrapperMisbehaved(impl.plugin_name, hook, "yielded twice")
                continue
            error = outcome.exception
            result = outcome.get_result() if error is None else None
    if error is not None:
        raise error
    return result


def _unwind(
    gen: Any, impl: pluggy.HookImpl, hook: str, result: Any, error: BaseException | None
) -> tuple[Any, BaseException | None]:
    try:
        return resume(gen, impl.plugin_name, hook, result, error), None
    except BaseException as exc:
        return None, exc


async def astart(gen: Any, plugin: str, hook: str) -> None:
    """Run an async wrapper to its first ``yield``."""
    try:
        await gen.__anext__()
    except StopAsyncIteration:
        raise WrapperMisbehaved(plugin, hook, "did not yield") from None


async def afinish(
    gen: Any, plugin: str, hook: str, result: Any, error: BaseException | None
) -> Any:
    """Hand an async wrapper stopped at its first ``yield`` what it wrapped gave (``result``, or
    ``error`` raised at its ``yield``); return what it gives back, or raise what it raises."""
    try:
        value = await (gen.asend(result) if error is None else gen.athrow(error))
    except StopAsyncIteration:
        # Ended without a second ``yield``: the result stands (after an exception it was
        # caught: None, as a plain wrapper falling off its end returns).
        return result if error is None else None
    try:
        await gen.__anext__()
    except StopAsyncIteration:
        return value
    await gen.aclose()
    raise WrapperMisbehaved(
        plugin,
        hook,
        "yielded three times (an async wrapper yields once to run what it wraps, and at "
        "most once more to give a value instead)",
    )


@final
class Handover:
    """What an async wrapper's registered generator yields: the async generator to drive, and
    what to pass what it gives through (a check of it), if anything."""

    __slots__ = ("after", "gen")

    def __init__(self, gen: Any, after: Callable[[Any], Any] | None = None) -> None:
        self.gen = gen
        self.after = after


def handed_over(
    argnames: tuple[str, ...],
    function: Callable[..., Any],
    opts: Any,
    name: str,
    plugin: str,
    after: Callable[[Any], Any] | None = None,
) -> Callable[..., Any]:
    """The async wrapper ``function`` (an async generator function with ``argnames``) as the
    generator function pluggy registers (see ``Handover``); what it gives passes ``after``."""
    from ._adapters import handover

    def misuse() -> BaseException:
        return RuntimeError(
            f"the async wrapper {name} of plugin {plugin!r} was run by a plain pluggy call: "
            "call the method through the catalog (catalog.arun, or catalog.run)"
        )

    return handover(argnames, function, opts, name, lambda gen: Handover(gen, after), misuse)


def firstresult_of(caller: Any) -> bool:
    """Whether the hook caller's spec stops at the first answer."""
    spec = caller.spec
    return bool(spec is not None and spec.opts.get("firstresult"))


@final
class AwaitablePoint:
    """A hook on the async path: calling it returns a coroutine that runs the hook's
    implementations (awaiting the async ones). What an ``async def`` implementation's
    ``ctx.points`` holds, and the entry point of a version that runs on the async path."""

    __slots__ = ("_caller", "_first", "_trace", "hook")

    def __init__(
        self, caller: Any, *, trace: tuple[str, str, dict[str, Any]] | None = None
    ) -> None:
        self._caller = caller
        self._first = firstresult_of(caller)
        self.hook: str = caller.name
        #: (kind, name, detail) of the step it is in a trace, when the tenant's build records
        #: its steps
        self._trace = trace

    def __call__(self, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        work = call_hook(self._caller.get_hookimpls(), kwargs, self._first, self.hook)
        if self._trace is None:
            return work
        from ._trace import astep

        kind, name, detail = self._trace
        return astep(work, kind, name, **detail)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<awaitable hook {self.hook}>"


@final
class BridgePoint:
    """A plugin point with async implementations as plain code's ``ctx.points`` holds it:
    calling it runs the point on the call's event loop and waits for the answer (plain code
    on the async path runs in a worker thread, so the loop is free to run it)."""

    __slots__ = ("_point",)

    def __init__(self, point: AwaitablePoint) -> None:
        self._point = point

    def __call__(self, **kwargs: Any) -> Any:
        import asyncio
        import concurrent.futures

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError(
                f"plain def code called plugin point {self._point.hook}, which has async "
                "def implementations, on the event loop: make the calling implementation "
                "async def and `await ctx.points...`"
            )
        loop = LOOP.get(None)
        offloaded = _BRIDGED.get(None)
        if loop is None or offloaded is None:
            raise RuntimeError(
                f"plugin point {self._point.hook} has async def implementations and was "
                "called outside a catalog call: call the method through the catalog"
            )
        if offloaded.over:  # the call was cancelled: its abandoned code starts nothing more
            raise concurrent.futures.CancelledError
        future = asyncio.run_coroutine_threadsafe(contained(self._point(**kwargs)), loop)
        offloaded.waiting.append(future)
        return unpacked(future.result())

    def __repr__(self) -> str:
        return f"<plugin point {self._point.hook} (async implementations)>"


async def in_thread(
    function: Callable[..., Any], args: tuple[Any, ...], *, kind: str = "plain"
) -> Any:
    """``function(*args)`` in a worker thread, in this call's context (its id, its trace),
    the loop free meanwhile: plain code that may call async plugin points (``kind``
    "plain"), or a wait for an isolated plugin's worker ("wait")."""
    import asyncio

    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    context.run(LOOP.set, loop)
    offloaded = _Offloaded()
    context.run(_BRIDGED.set, offloaded)
    try:
        pool: Any = _pool(kind)  # an executor by its submit (see _DaemonPool)
        return await loop.run_in_executor(pool, context.run, function, *args)
    except asyncio.CancelledError:
        # The thread cannot be stopped; the point calls it waits for can, and it starts no
        # more: it then ends.
        offloaded.over = True
        for future in offloaded.waiting:
            future.cancel()
        raise


async def bounded(work: Awaitable[Any], seconds: float | None) -> Any:
    """``await work``, cancelled after ``seconds`` (None: no bound), then ``Late`` raised.
    Unlike ``asyncio.wait_for``, a TimeoutError the work raises itself is its own."""
    if seconds is None:
        return await work
    import asyncio

    task = asyncio.ensure_future(contained(work))
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    finally:
        if not task.done():  # the deadline, or the caller was cancelled: so is the work
            task.cancel()
    if not done:
        from .._deadline import Late

        raise Late
    return unpacked(task.result())


def run_sync(start: Callable[[], Awaitable[Any]], tenant: str, interface: str, version: int) -> Any:
    """The bridge of a plain call to a method with async implementations: an event loop of its
    own in this thread, when none runs here (else AsyncRequiredError naming the call)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        from ..errors import AsyncRequiredError

        raise AsyncRequiredError(tenant=tenant, interface=interface, version=version)

    async def main() -> Any:
        return await start()

    return asyncio.run(main())
