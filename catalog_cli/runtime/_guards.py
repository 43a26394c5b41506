"""Steps the catalog adds around one plugin's implementation, when a tenant needs them.

Each is a function in place of the implementation, registered for one tenant only: a check of
what a customer plugin returns, the ``isolate`` error policy, the point interceptors, the
recording of a traced call. Each takes the implementation's own parameters (see
``_adapters``), so pluggy passes it the same arguments. A tenant that needs none of them
calls the plugin's functions directly.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Generator
from types import CodeType
from typing import TYPE_CHECKING, Any

from .. import _interrupts
from ..errors import PluginError, ResultValidationError
from . import _adapters as adapters
from ._context import current_call_id

if TYPE_CHECKING:
    from ..declarations import DataType, PluginPoint
    from ..registry import CheckedPlugin, Implementation


class WrapperMisbehaved(RuntimeError):
    """A wrapper did not yield, or yielded twice: ``plugin`` broke pluggy's wrapper protocol."""

    def __init__(self, plugin: str, hook: str, problem: str) -> None:
        self.plugin = plugin
        rule = "" if "(" in problem else " (a new-style wrapper yields exactly once)"
        super().__init__(f"the wrapper {hook} {problem}{rule}")


def started(gen: Any, plugin: str, hook: str) -> None:
    """Run a wrapper (``plugin``'s, at ``hook``) to its ``yield``."""
    try:
        next(gen)
    except StopIteration:
        raise WrapperMisbehaved(plugin, hook, "did not yield") from None


def resume(gen: Any, plugin: str, hook: str, result: Any, error: BaseException | None) -> Any:
    """Hand a new-style wrapper stopped at its ``yield`` what it wrapped gave (``result``, or
    ``error`` raised at its ``yield``); return what it returns, or raise what it raises."""
    try:
        if error is None:
            gen.send(result)
        else:
            gen.throw(error)
    except StopIteration as stop:
        return stop.value
    except RuntimeError as exc:
        if not passed_on(exc, error, gen):
            raise
    else:
        raise WrapperMisbehaved(plugin, hook, "yielded twice")
    assert error is not None
    raise error  # out of the handler: the StopIteration is raised as it was


def stopped(exc: BaseException, error: BaseException | None) -> bool:
    """Whether ``exc`` is Python's RuntimeError for the StopIteration ``error`` thrown into a
    wrapper (a generator may not raise StopIteration): pluggy hands the StopIteration itself on
    to the outer wrappers, and so does the catalog."""
    return (
        isinstance(error, StopIteration)
        and isinstance(exc, RuntimeError)
        and exc.__cause__ is error
    )


def passed_on(exc: RuntimeError, error: BaseException | None, gen: Any) -> bool:
    """``stopped``, for the wrapper ``gen``: closed then, as pluggy closes it."""
    if stopped(exc, error):
        gen.close()
        return True
    return False


def new_style(impl: Implementation, plugin: str) -> Implementation:
    """An old-style ``hookwrapper`` as the new-style wrapper it stands for: every step of the
    catalog (result checks, traces, point interceptors, the async path) speaks the new-style
    protocol. It gets pluggy's ``Result`` of what it wraps, and what that holds when it is done
    (``force_result``, ``force_exception``) is what the wrapper gives; its teardown raising
    raises, as in pluggy (which also warns of it; the catalog does not). Its order among the
    hook's wrappers is the same. Made once per registry (see ``_tenant``): every tenant shares
    it, bound to its own context."""
    from types import MappingProxyType

    import pluggy

    original = impl.function
    hook = impl.info.hook
    settle = settler(plugin)

    def body(args: tuple[Any, ...]) -> Generator[None, Any, Any]:
        teardown = original(*args)
        started(teardown, plugin, hook)
        try:
            result = yield
        except BaseException as exc:
            outcome: pluggy.Result[Any] = pluggy.Result(None, exc)
        else:
            outcome = pluggy.Result(result, None)
        try:
            teardown.send(outcome)
        except StopIteration:
            pass
        else:
            teardown.close()  # its finally blocks run now, as pluggy closes it
            raise WrapperMisbehaved(plugin, hook, "yielded twice")
        return settle(outcome)

    opts = MappingProxyType({**impl.opts, "hookwrapper": False, "wrapper": True})
    # Its own parameters: the context first when the plugin's function takes one (bound per
    # tenant, as the plugin's own function would be).
    names = ("ctx", *impl.argnames) if impl.takes_ctx else impl.argnames
    return impl._replace(function=adapters.generator(names, body, opts, impl.attribute), opts=opts)


def _settle(outcome: Any) -> Any:
    return outcome.get_result()


@functools.cache
def settler(plugin: str) -> Callable[[Any], Any]:
    """``outcome.get_result()`` in code of ``plugin``'s own (see ``codes``): an exception an
    old-style wrapper forced on its outcome raises there, so the wrapper is blamed for it."""
    name = f"old-style hookwrapper of plugin {plugin}"
    # Code objects are told apart by their name, among other things (not by their file).
    own = _settle.__code__.replace(co_name=name)
    return types.FunctionType(own, _settle.__globals__, name)


def codes(plugin: CheckedPlugin) -> tuple[CodeType, ...]:
    """The code that runs for ``plugin`` beyond its own functions (blamed on it)."""
    if any(impl.opts.get("hookwrapper") for impl in plugin.implementations):
        return (settler(plugin.name).__code__,)
    return ()


def relay(
    gen: Generator[None, Any, Any],
    plugin: str,
    hook: str,
    check: Callable[[Any], Any] | None = None,
) -> Generator[None, Any, Any]:
    """Drive a new-style wrapper as pluggy does: run it to its ``yield``, hand it the result
    (or the exception), and return what it returns (through ``check``)."""
    started(gen, plugin, hook)
    try:
        received = yield
    except BaseException as exc:
        try:
            gen.throw(exc)
        except StopIteration as stop:
            value = stop.value
        else:
            raise WrapperMisbehaved(plugin, hook, "yielded twice") from None
    else:
        try:
            gen.send(received)
        except StopIteration as stop:
            value = stop.value
        else:
            raise WrapperMisbehaved(plugin, hook, "yielded twice")
    return value if check is None else check(value)


def result_check(
    data_type: DataType,
    *,
    plugin: str,
    interface: str,
    version: int,
    where: str,
) -> adapters.Check:
    """A check that returns a value that fits ``data_type``, and raises ResultValidationError
    naming ``plugin`` and the tenant of the context it is given for one that does not.

    ``check(value, ctx)``: one check serves every tenant (see ``_adapters``)."""
    fits = data_type.check

    def check(value: Any, ctx: Any) -> Any:
        problem = fits(value)
        if problem is None:
            return value
        head = f"expected {data_type.display}, "
        raise ResultValidationError(
            plugin=plugin,
            tenant=ctx.tenant,
            interface=interface,
            version=version,
            where=where,
            expected=data_type.display,
            problem=problem[len(head) :] if problem.startswith(head) else problem,
            call_id=current_call_id() or "-",
        )

    return check


#: Data types whose values are exactly of one Python type (the check's fast path).
_EXACT = {"str": str, "int": int, "bool": bool, "float": float}


def checked(
    impl: Implementation,
    data_type: DataType,
    check: adapters.Check,
    *,
    none_is_no_answer: bool,
) -> Callable[..., Any]:
    """The plugin's function, what it returns checked (None passes at collect and first
    points): a step every tenant shares, to be bound to the tenant's context."""
    exact = _EXACT.get(data_type.display.removesuffix(" | None"))
    return adapters.checked(
        impl.argnames,
        impl.function,
        exact,
        check,
        impl.opts,
        impl.attribute,
        none_is_no_answer=none_is_no_answer,
        takes_ctx=impl.takes_ctx,
    )


def checked_wrapper(
    impl: Implementation,
    plugin: str,
    check: adapters.Check | None,
    data_type: DataType | None,
) -> Callable[..., Any]:
    """The plugin's wrapper, held to pluggy's protocol (named for breaking it), what it
    returns checked (by ``check``, for ``data_type``): a step every tenant shares, to be
    bound to the tenant's context."""
    hook = impl.info.hook
    exact = _EXACT.get(data_type.display) if data_type is not None else None

    def misbehaved(problem: str) -> WrapperMisbehaved:
        return WrapperMisbehaved(plugin, hook, problem)

    def thrown(gen: Generator[None, Any, Any], exc: BaseException) -> Any:
        try:
            gen.throw(exc)
        except StopIteration as stop:
            return stop.value
        raise misbehaved("yielded twice") from None

    return adapters.relay(
        impl.argnames,
        impl.function,
        misbehaved,
        thrown,
        check,
        exact,
        impl.opts,
        impl.attribute,
        takes_ctx=impl.takes_ctx,
    )


def point_guard(
    impl: Implementation,
    function: Callable[..., Any],
    point: PluginPoint,
    plugin: str,
    tenant: str,
    caller: Any,
    isolate: bool,
) -> Callable[..., Any]:
    """An implementation at a plugin point run through the tenant's point interceptors
    (``caller``, the tenant's ``catalog_point_call``), under the point's error policy.

    ``isolate``: when the plugin's own code fails, its result is left out (logged, and marked
    in a trace) and the other plugins' results are kept. Only the plugin's own failures are:
    an interceptor that fails around it fails the call and is named for it.
    """
    from ._intercept import PointCall, current_call

    argnames = impl.argnames

    def body(args: tuple[Any, ...]) -> Any:
        call = current_call.get(None) if caller is not None else None
        own = [False]

        def run() -> Any:
            try:
                return function(*args)
            except BaseException:
                own[0] = True
                raise

        try:
            if call is None:
                return run()
            work = PointCall.at(point, plugin, argnames, args, run)
            return caller(call=call, point=work)
        except BaseException as exc:
            if not (isolate and left_out(exc, own[0], plugin, point, tenant)):
                raise
            return None

    return adapters.around(argnames, body, impl.opts, impl.attribute, function)


def routed_wrapper(
    impl: Implementation,
    function: Callable[..., Any],
    point: PluginPoint,
    plugin: str,
    caller: Any,
) -> Callable[..., Any]:
    """A tenant wrapper at a point whose result the point interceptors are told of: what a
    wrapper returns is what it produced (a wrap point's value is often a tenant wrapper's)."""
    from ._intercept import PointCall, current_call

    argnames = impl.argnames

    def body(args: tuple[Any, ...]) -> Generator[None, Any, Any]:
        result = yield from relay(function(*args), plugin, point.hook)
        call = current_call.get(None)
        if call is None:
            return result
        work = PointCall.at(point, plugin, argnames, args, lambda: result, wrapper=True)
        return caller(call=call, point=work)

    return adapters.around(argnames, body, impl.opts, impl.attribute, function, generator=True)


def left_out(exc: BaseException, own: bool, plugin: str, point: PluginPoint, tenant: str) -> bool:
    """Whether ``exc`` is ``plugin``'s own failure (``own``: its code raised it), which the
    ``isolate`` error policy leaves out: then it is logged (and marked in a trace)."""
    if _interrupts.is_real(exc):
        return False
    if not (own or (isinstance(exc, PluginError) and exc.plugin == plugin)):
        return False
    isolated_failure(exc, plugin, point, tenant)
    return True


def isolated_failure(exc: BaseException, plugin: str, point: PluginPoint, tenant: str) -> None:
    """Log (and mark in the trace) a plugin's failure left out by the ``isolate`` policy."""
    import logging

    from . import _trace

    logging.getLogger("catalog.errors").warning(
        "plugin %r failed at %s v%s plugin point %r for tenant %r (call %s); its result is "
        "left out (error policy: isolate): %s: %s",
        plugin,
        point.interface,
        point.version,
        point.name,
        tenant,
        current_call_id() or "-",
        type(exc).__name__,
        exc,
    )
    _trace.note_isolated(plugin, exc)
