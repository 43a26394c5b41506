"""Tracing one call: a tree of the interceptors, entry point, plugin points and implementations
that ran, with durations, results, errors and who produced what.

A traced call runs on a separate build of the tenant (the same plugin modules and settings,
registered the same way) whose implementations record themselves; untraced calls never pay
for it. The recorder of the call in progress is found through a context variable, so threads
and concurrent traced calls each build their own tree.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, Literal

from . import _adapters as adapters

if TYPE_CHECKING:
    from ..registry import Implementation

Kind = Literal[
    "call", "interceptor", "entry point", "plugin point", "wrapper", "implementation", "shadow"
]

#: The instrumentation scope of the catalog's spans (exported traces and the interceptor).
TRACER_NAME: Final = "task-catalog"

#: Results longer than this are cut in the trace (the call's own result is never changed).
SUMMARY_LENGTH: Final = 120

_recorder: contextvars.ContextVar[Trace] = contextvars.ContextVar("catalog_trace")
#: The step new steps go under. A context variable, not a stack in the trace: a thread that
#: runs the method with a deadline works in a copy of the context, so when the caller stops
#: waiting, the abandoned steps cannot capture the caller's next steps.
_current: contextvars.ContextVar[TraceNode | None] = contextvars.ContextVar(
    "catalog_trace_step", default=None
)


def span_name(kind: str, subject: str) -> str:
    """An OpenTelemetry span's name for a step: ``catalog.<kind> <subject>``."""
    return f"catalog.{kind.replace(' ', '_')} {subject}"


def summarize(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 3] + "..."


class TraceNode:
    """One step of a traced call."""

    __slots__ = (
        "children",
        "detail",
        "ended",
        "error",
        "isolated",
        "kind",
        "name",
        "plugin",
        "result",
        "started",
        "token",
        "wall_ns",
    )

    def __init__(self, kind: Kind, name: str, plugin: str | None, detail: dict[str, Any]) -> None:
        self.kind = kind
        self.name = name
        #: the plugin whose code this step is (None for the call, entry point and points)
        self.plugin = plugin
        self.detail = detail
        self.children: list[TraceNode] = []
        self.started = time.perf_counter()
        self.wall_ns = time.time_ns()
        self.ended: float | None = None
        self.result: str | None = None
        self.error: str | None = None
        #: the step failed and its error policy left its result out
        self.isolated = False
        self.token: contextvars.Token[TraceNode | None] | None = None

    @property
    def seconds(self) -> float:
        return (self.ended if self.ended is not None else time.perf_counter()) - self.started

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.plugin is not None:
            data["plugin"] = self.plugin
        data.update(self.detail)
        data["seconds"] = self.seconds
        data["result"] = self.result
        data["error"] = self.error
        if self.isolated:
            data["isolated"] = True
        if self.ended is None:
            data["unfinished"] = True  # still running when the call ended (abandoned)
        data["children"] = [child.to_dict() for child in self.children]
        return data

    def walk(self) -> Iterable[TraceNode]:
        yield self
        for child in self.children:
            yield from child.walk()


class Trace:
    """The tree of one call; ``root`` is the call itself."""

    def __init__(self, root: TraceNode) -> None:
        self.root = root
        #: set when the caller stopped waiting: late steps of an abandoned call are not added
        self.closed = False
        self._tokens: list[tuple[contextvars.Token[Trace], contextvars.Token[Any]]] = []

    def enter(self, kind: Kind, name: str, plugin: str | None = None, **detail: Any) -> TraceNode:
        node = TraceNode(kind, name, plugin, detail)
        if not self.closed:
            (_current.get() or self.root).children.append(node)
        node.token = _current.set(node)
        return node

    def leave(self, node: TraceNode) -> None:
        node.ended = time.perf_counter()
        if node.token is not None:
            _current.reset(node.token)
            node.token = None

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        root = self.root
        root.ended = time.perf_counter()
        if error is None:
            root.result = summarize(result)
        else:
            root.error = f"{type(error).__name__}: {error}"
        self.closed = True

    def to_dict(self) -> dict[str, Any]:
        return self.root.to_dict()

    def activate(self) -> None:
        """Record the steps of this thread's (and its copied contexts') calls in this trace."""
        self._tokens.append((_recorder.set(self), _current.set(None)))

    def deactivate(self) -> None:
        recorder, current = self._tokens.pop()
        _current.reset(current)
        _recorder.reset(recorder)


def note_isolated(plugin: str, exc: BaseException) -> None:
    """Mark the step of ``plugin`` that just failed as isolated (its result left out)."""
    trace = _recorder.get(None)
    if trace is None or trace.closed:
        return
    for node in reversed((_current.get() or trace.root).children):
        if node.plugin == plugin:
            node.isolated = True
            node.error = node.error or f"{type(exc).__name__}: {exc}"
            return


def _record(node: TraceNode, trace: Trace, result: Any) -> None:
    node.result = summarize(result)
    trace.leave(node)


def _fail(node: TraceNode, trace: Trace, exc: BaseException) -> None:
    node.error = f"{type(exc).__name__}: {exc}"
    trace.leave(node)


def _step(trace: Trace, node: TraceNode, run: Callable[[], Any]) -> Any:
    """``run()``, its result or error recorded on ``node``."""
    try:
        result = run()
    except BaseException as exc:
        _fail(node, trace, exc)
        raise
    _record(node, trace, result)
    return result


@contextlib.contextmanager
def recording(kind: Kind, name: str, plugin: str | None = None) -> Iterator[Callable[[Any], None]]:
    """A step of the traced call in progress (if one is) around the block: ``record(value)``
    tells it what the step gave; an exception out of the block is recorded as its error."""
    trace = _recorder.get(None)
    if trace is None:
        yield _ignore
        return
    node = trace.enter(kind, name, plugin)
    given: list[Any] = [None]
    try:
        yield lambda value: given.__setitem__(0, value)
    except BaseException as exc:
        _fail(node, trace, exc)
        raise
    _record(node, trace, given[0])


def _ignore(value: Any) -> None:
    pass


async def astep(
    work: Awaitable[Any], kind: Kind, name: str, plugin: str | None = None, **detail: Any
) -> Any:
    """``await work``, recorded as a step of the traced call in progress (if one is)."""
    trace = _recorder.get(None)
    if trace is None:
        return await work
    node = trace.enter(kind, name, plugin, **detail)
    try:
        result = await work
    except BaseException as exc:
        _fail(node, trace, exc)
        raise
    _record(node, trace, result)
    return result


def traced_function(
    impl: Implementation, original: Callable[..., Any], kind: Kind, name: str, plugin: str
) -> Callable[..., Any]:
    """An implementation that records itself as a step of the traced call in progress."""

    def body(args: tuple[Any, ...]) -> Any:
        trace = _recorder.get(None)
        if trace is None:
            return original(*args)
        return _step(trace, trace.enter(kind, name, plugin), lambda: original(*args))

    return adapters.around(impl.argnames, body, impl.opts, impl.attribute, original)


def traced_wrapper(
    impl: Implementation, original: Callable[..., Any], kind: Kind, name: str, plugin: str
) -> Callable[..., Any]:
    """A new-style wrapper that records itself as a step of the traced call in progress."""
    from ._guards import relay

    def body(args: tuple[Any, ...]) -> Generator[None, Any, Any]:
        trace = _recorder.get(None)
        if trace is None:
            return (yield from relay(original(*args), plugin, name))
        node = trace.enter(kind, name, plugin)
        try:
            result = yield from relay(original(*args), plugin, name)
        except BaseException as exc:
            _fail(node, trace, exc)
            raise
        _record(node, trace, result)
        return result

    return adapters.around(impl.argnames, body, impl.opts, impl.attribute, original, generator=True)


class TracedCaller:
    """A hook caller that records the hook call (an entry point or plugin point) as a step."""

    __slots__ = ("_caller", "_detail", "_kind", "_name")

    def __init__(self, caller: Any, kind: Kind, name: str, **detail: Any) -> None:
        self._caller = caller
        self._kind: Kind = kind
        self._name = name
        self._detail = detail

    def __call__(self, **kwargs: Any) -> Any:
        trace = _recorder.get(None)
        if trace is None:
            return self._caller(**kwargs)
        node = trace.enter(self._kind, self._name, **self._detail)
        return _step(trace, node, lambda: self._caller(**kwargs))
