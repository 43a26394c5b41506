"""The one path of a call: resolve the version, check the arguments, prepare, invoke, answer.

``Catalog.call`` is this function; ``Catalog.run``, ``Catalog.execute`` and ``Method`` are
shapes of it (``run`` and ``Method`` keep the prepared call of the first step for the next
calls), and the CLI, the HTTP API, jobs and batches all call it. So a call is checked,
numbered, bounded and reported the same way whoever makes it.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from .._deadline import Late, Overloaded, call_with_deadline
from .._redact import redact
from ..errors import CallTimeoutError, CatalogError, OverloadedError
from ..registry import VersionChoice
from ..runtime import Runtimes, Trace, TraceNode, bounded
from ..runtime import _canary as canary
from ..runtime._context import call_id_of, next_serial
from ..runtime._trace import summarize
from ._limits import Bulkheads, limits_of
from ._requests import CallAnswer, CallRequest, failed


def call(
    runtimes: Runtimes,
    request: CallRequest,
    *,
    timeout: float | None = None,
    trace: bool = False,
    choice: VersionChoice | None = None,
    bulkheads: Bulkheads | None = None,
    call_id: str | None = None,
) -> CallAnswer:
    """Run ``request``; every error of the catalog becomes part of the answer.

    ``timeout`` (seconds) bounds the wait: Python cannot stop a running thread, so on timeout
    the answer is CallTimeoutError at the deadline, and the abandoned call finishes (or hangs)
    in a daemon thread. ``trace``: record what ran (interceptors, entry point, plugin points,
    each plugin's implementation) in ``answer.trace``, for a failed call too. ``choice``: a
    version decided before with these arguments (a canary decided by chance is then not
    decided twice). ``bulkheads``: apply ``[limits]``: the tenant's calls running at once are
    counted there (beyond its limit the call is refused), and a call without ``timeout`` gets
    the configured deadline. ``call_id``: the id the call gets (default: a new one), for a
    caller that must name the call before it ends.
    """
    started = time.perf_counter()
    admitted = _admit(runtimes, request, choice, bulkheads, timeout, started)
    if isinstance(admitted, CallAnswer):
        return admitted
    try:
        return _call(runtimes, request, admitted, started, trace, call_id)
    finally:
        if bulkheads is not None:
            bulkheads.leave(request.tenant)


async def acall(
    runtimes: Runtimes,
    request: CallRequest,
    *,
    timeout: float | None = None,
    trace: bool = False,
    choice: VersionChoice | None = None,
    bulkheads: Bulkheads | None = None,
    call_id: str | None = None,
) -> CallAnswer:
    """``call`` awaited: a version that runs async def implementations for the tenant runs
    on this event loop (its deadline cancels it); one with only plain implementations runs as
    ``call`` runs it, in this thread (the HTTP API runs those on threads of its own).
    Building the tenant (importing its plugins) happens in this thread on its first call."""
    started = time.perf_counter()
    admitted = _admit(runtimes, request, choice, bulkheads, timeout, started)
    if isinstance(admitted, CallAnswer):
        return admitted
    try:
        try:
            prepared = runtimes.prepared(request.tenant, admitted.choice, traced=trace)
        except CatalogError as exc:
            return failed(exc, started, admitted.choice)
        if not prepared.asynchronous:
            return _call(runtimes, request, admitted, started, trace, call_id)
        return await _acall(runtimes, request, admitted, started, trace, call_id)
    finally:
        if bulkheads is not None:
            bulkheads.leave(request.tenant)


class _Admitted(NamedTuple):
    """A call checked and let in, about to run."""

    choice: VersionChoice
    arguments: dict[str, Any]
    timeout: float | None
    #: the shadow call a shadow canary makes besides it
    shadow: canary.ShadowCall | None


def _admit(
    runtimes: Runtimes,
    request: CallRequest,
    choice: VersionChoice | None,
    bulkheads: Bulkheads | None,
    timeout: float | None,
    started: float,
) -> _Admitted | CallAnswer:
    """The version resolved, the arguments checked and (with ``bulkheads``) a place among
    the tenant's calls taken, which the caller leaves; or the answer that refuses the call."""
    registry = runtimes.registry
    tenant, interface = request.tenant, request.interface
    try:
        if choice is None or choice.interface != interface:
            choice = registry.resolve(interface, tenant, request.version, request.arguments)
        arguments = registry.version(choice).bind(dict(request.arguments))
        if bulkheads is not None:
            limits = limits_of(registry.config, tenant, interface)
            bulkheads.enter(tenant, limits.concurrent_calls, interface, choice.version)
            if timeout is None:
                timeout = limits.call_timeout
    except CatalogError as exc:
        return failed(exc, started, choice)
    try:
        return _Admitted(choice, arguments, timeout, _shadow(runtimes, request, choice))
    except BaseException:
        if bulkheads is not None:
            bulkheads.leave(tenant)
        raise


def _shadow(
    runtimes: Runtimes, request: CallRequest, choice: VersionChoice
) -> canary.ShadowCall | None:
    """The shadow call a shadow canary makes besides this call, decided before the call runs
    (its plugins may change the arguments); never for a call that asked for its version."""
    if request.version is not None or choice.source == "canary":
        return None
    return canary.shadow_of(runtimes, request.tenant, choice, request.arguments)


def _call(
    runtimes: Runtimes,
    request: CallRequest,
    admitted: _Admitted,
    started: float,
    trace: bool,
    call_id: str | None,
) -> CallAnswer:
    tenant = request.tenant
    choice, arguments, timeout = admitted.choice, admitted.arguments, admitted.timeout
    serial: int | str = next_serial() if call_id is None else call_id
    call_id = call_id_of(serial)
    recorder = _recorder(request, choice, call_id) if trace else None

    def run() -> Any:
        # Inside the deadline: building the tenant imports its plugins, which may hang too.
        prepared = runtimes.prepared(tenant, choice, traced=trace)
        if recorder is None:
            return prepared.invoke(arguments, serial)
        recorder.activate()
        try:
            return prepared.invoke(arguments, serial)
        finally:
            recorder.deactivate()

    try:
        result = run() if timeout is None else _with_deadline(run, timeout, tenant, choice, call_id)
    except CatalogError as exc:
        return _failed_call(runtimes, tenant, choice, started, call_id, recorder, exc)
    return _answered(runtimes, request, admitted, started, call_id, serial, recorder, result)


async def _acall(
    runtimes: Runtimes,
    request: CallRequest,
    admitted: _Admitted,
    started: float,
    trace: bool,
    call_id: str | None,
) -> CallAnswer:
    tenant = request.tenant
    choice, timeout = admitted.choice, admitted.timeout
    serial: int | str = next_serial() if call_id is None else call_id
    call_id = call_id_of(serial)
    recorder = _recorder(request, choice, call_id) if trace else None
    prepared = runtimes.prepared(tenant, choice, traced=trace)
    try:
        if recorder is not None:
            recorder.activate()
        try:
            result = await bounded(prepared.ainvoke(admitted.arguments, serial), timeout)
        except Late:
            assert timeout is not None
            raise CallTimeoutError(
                tenant=tenant,
                interface=choice.interface,
                version=choice.version,
                call_id=call_id,
                seconds=timeout,
            ) from None
        finally:
            if recorder is not None:
                recorder.deactivate()
    except CatalogError as exc:
        return _failed_call(runtimes, tenant, choice, started, call_id, recorder, exc)
    return _answered(runtimes, request, admitted, started, call_id, serial, recorder, result)


def _failed_call(
    runtimes: Runtimes,
    tenant: str,
    choice: VersionChoice,
    started: float,
    call_id: str,
    recorder: Trace | None,
    exc: CatalogError,
) -> CallAnswer:
    if recorder is not None:
        recorder.finish(error=exc)
        exc.trace = recorder
    if choice.source == "canary":
        canary.observe_live(runtimes, tenant, choice, exc, call_id)
    return failed(exc, started, choice)


def _answered(
    runtimes: Runtimes,
    request: CallRequest,
    admitted: _Admitted,
    started: float,
    call_id: str,
    serial: int | str,
    recorder: Trace | None,
    result: Any,
) -> CallAnswer:
    tenant, choice, shadow = request.tenant, admitted.choice, admitted.shadow
    if recorder is not None:
        recorder.finish(result)
    if choice.source == "canary":
        canary.observe_live(runtimes, tenant, choice, None, call_id)
    elif shadow is not None:
        status = shadow.submit(result, serial)
        if recorder is not None:
            canary.note(recorder, shadow, status)
    return CallAnswer(
        True,
        result,
        None,
        choice.version,
        choice.source,
        call_id,
        time.perf_counter() - started,
        recorder,
    )


def _with_deadline(
    run: Any, timeout: float, tenant: str, choice: VersionChoice, call_id: str
) -> Any:
    try:
        return call_with_deadline(run, timeout, f"catalog-call-{call_id}", owner=tenant)
    except Overloaded as busy:
        raise OverloadedError.refusing(
            busy,
            interceptor="deadline",
            tenant=tenant,
            interface=choice.interface,
            version=choice.version,
            call_id=call_id,
        ) from None
    except Late:
        raise CallTimeoutError(
            tenant=tenant,
            interface=choice.interface,
            version=choice.version,
            call_id=call_id,
            seconds=timeout,
        ) from None


def _recorder(request: CallRequest, choice: VersionChoice, call_id: str) -> Trace:
    return Trace(
        TraceNode(
            "call",
            f"{choice.interface} v{choice.version}",
            None,
            {
                "tenant": request.tenant,
                "interface": choice.interface,
                "version": choice.version,
                "version_source": choice.source,
                "call_id": call_id,
                # secrets never enter a trace (it is printed and exported)
                "arguments": {k: summarize(v) for k, v in redact(dict(request.arguments)).items()},
            },
        )
    )
