"""The steps of ``_guards`` and ``_trace`` for implementations that run on the async path.

An ``async def`` implementation, or any implementation at a plugin point that runs on the
async path (see ``_modes``), is registered through these: each is an ``async def`` (or an
async wrapper) with the implementation's own parameters, made for one tenant, that awaits the
implementation and then does what its plain twin does (checks the result, records the step,
runs the point interceptors, applies the ``isolate`` error policy).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Any

from . import _adapters as adapters
from ._async import Handover, afinish, astart, call_hook, in_thread
from ._guards import WrapperMisbehaved, left_out, resume

if TYPE_CHECKING:
    from ..declarations import PluginPoint
    from ..registry import Implementation
    from ._trace import Kind


async def enter(gen: Any, plugin: str, hook: str) -> Any:
    """Run a wrapper, plain or async, to its ``yield``; return the generator to go on with."""
    if inspect.isasyncgen(gen):
        await astart(gen, plugin, hook)
        return gen
    try:
        first = next(gen)
    except StopIteration:
        raise WrapperMisbehaved(plugin, hook, "did not yield") from None
    if type(first) is Handover:
        gen.close()
        await astart(first.gen, plugin, hook)
        return first.gen
    return gen


async def leave(gen: Any, plugin: str, hook: str, result: Any, error: BaseException | None) -> Any:
    """Hand a wrapper stopped at its ``yield`` what it wrapped gave; return what it gives."""
    if inspect.isasyncgen(gen):
        return await afinish(gen, plugin, hook, result, error)
    return resume(gen, plugin, hook, result, error)


def _wrapping(
    function: Callable[..., Any],
    plugin: str,
    hook: str,
    after: Callable[[Any], Any] | None = None,
) -> Callable[[tuple[Any, ...]], AsyncGenerator[Any, Any]]:
    """The body of an async wrapper step around the wrapper ``function`` (plain or async):
    what ``function`` gives is passed through ``after`` (when given)."""

    async def body(args: tuple[Any, ...]) -> AsyncGenerator[Any, Any]:
        gen = function(*args)
        gen = await enter(gen, plugin, hook)
        try:
            received = yield
        except BaseException as exc:
            value = await leave(gen, plugin, hook, None, exc)
        else:
            value = await leave(gen, plugin, hook, received, None)
        yield value if after is None else after(value)

    return body


def checked_wrapper(
    impl: Implementation,
    function: Callable[..., Any],
    plugin: str,
    check: adapters.Check | None,
    ctx: Any,
) -> Callable[..., Any]:
    """An async wrapper held to the async wrapper protocol (named for breaking it), what it
    gives checked."""
    after = None if check is None else (lambda value: check(value, ctx))
    body = _wrapping(function, plugin, impl.info.hook, after)
    return adapters.aaround(
        impl.argnames, body, impl.opts, impl.attribute, function, generator=True
    )


def traced_function(
    impl: Implementation, original: Callable[..., Any], kind: Kind, name: str, plugin: str
) -> Callable[..., Any]:
    """An async implementation that records itself as a step of the traced call."""
    from ._trace import astep

    async def body(args: tuple[Any, ...]) -> Any:
        return await astep(original(*args), kind, name, plugin)

    return adapters.aaround(impl.argnames, body, impl.opts, impl.attribute, original)


def traced_wrapper(
    impl: Implementation, original: Callable[..., Any], kind: Kind, name: str, plugin: str
) -> Callable[..., Any]:
    """A wrapper (plain or async) on the async path that records itself as a step."""
    from ._trace import recording

    async def body(args: tuple[Any, ...]) -> AsyncGenerator[Any, Any]:
        with recording(kind, name, plugin) as record:
            gen = original(*args)
            gen = await enter(gen, plugin, name)
            try:
                received = yield
            except BaseException as exc:
                value = await leave(gen, plugin, name, None, exc)
            else:
                value = await leave(gen, plugin, name, received, None)
            record(value)
        yield value

    return adapters.aaround(
        impl.argnames, body, impl.opts, impl.attribute, original, generator=True
    )


def offloaded(impl: Implementation, function: Callable[..., Any]) -> Callable[..., Any]:
    """A plain implementation that may call plugin points with async implementations: run in
    a worker thread, where those calls wait for the event loop to answer them."""

    async def body(args: tuple[Any, ...]) -> Any:
        return await in_thread(function, args)

    return adapters.aaround(impl.argnames, body, impl.opts, impl.attribute, function)


def in_a_thread(impl: Implementation) -> Implementation:
    """A plain implementation as an async def one that runs it in a worker thread: for one
    that waits (an isolated plugin's stand-in waits for its worker process)."""
    from ..declarations import hookimpl

    function = impl.function

    async def run(*args: Any) -> Any:
        return await in_thread(function, args, kind="wait")

    run.__wrapped__ = function  # type: ignore[attr-defined]  # its parameters, for pluggy
    return impl._replace(function=hookimpl(**impl.opts)(run), asynchronous=True)


def point_guard(
    impl: Implementation,
    function: Callable[..., Any],
    point: PluginPoint,
    plugin: str,
    tenant: str,
    impls: list[Any] | None,
    isolate: bool,
) -> Callable[..., Any]:
    """``_guards.point_guard`` on the async path: ``function`` (plain or async) run through
    the point interceptors (``impls``, plain or async) under the point's error policy."""
    from ._intercept import PointCall, current_call

    argnames = impl.argnames

    async def body(args: tuple[Any, ...]) -> Any:
        call = current_call.get(None) if impls is not None else None
        own = [False]

        async def run() -> Any:
            try:
                value = function(*args)
                if inspect.isawaitable(value):
                    value = await value
                return value
            except BaseException:
                own[0] = True
                raise

        try:
            if call is None:
                return await run()
            assert impls is not None
            work = PointCall.at(point, plugin, argnames, args, run)
            return await call_hook(impls, {"call": call, "point": work}, True, "catalog_point_call")
        except BaseException as exc:
            if not (isolate and left_out(exc, own[0], plugin, point, tenant)):
                raise
            return None

    return adapters.aaround(argnames, body, impl.opts, impl.attribute, function)


def routed_wrapper(
    impl: Implementation,
    function: Callable[..., Any],
    point: PluginPoint,
    plugin: str,
    impls: list[Any],
) -> Callable[..., Any]:
    """``_guards.routed_wrapper`` on the async path: the point interceptors (``impls``) are
    told what the wrapper (plain or async) gave."""
    from ._intercept import PointCall, current_call

    argnames = impl.argnames

    async def body(args: tuple[Any, ...]) -> AsyncGenerator[Any, Any]:
        gen = function(*args)
        gen = await enter(gen, plugin, point.hook)
        try:
            received = yield
        except BaseException as exc:
            result = await leave(gen, plugin, point.hook, None, exc)
        else:
            result = await leave(gen, plugin, point.hook, received, None)
        call = current_call.get(None)
        if call is not None:
            work = PointCall.at(point, plugin, argnames, args, lambda: result, wrapper=True)
            result = await call_hook(
                impls, {"call": call, "point": work}, True, "catalog_point_call"
            )
        yield result

    return adapters.aaround(argnames, body, impl.opts, impl.attribute, function, generator=True)
