"""Circuit breaker: stop calling a method that keeps failing, and try it again later.

One circuit per tenant, interface and version (tenants never share one). Closed, it counts
consecutive failures; ``failures`` of them open it. Open, calls fail fast with
CircuitOpenError before anything inside this interceptor runs. ``reset_seconds`` after it
opened it is half-open: the next call is let through as the one trial (calls meanwhile still
fail fast); the trial's success closes the circuit, its failure opens it for another
``reset_seconds``.

A failure is an exception (or a plugin's SystemExit) out of what this interceptor wraps,
unless it is of a type named in ``exclude`` (by class name or dotted path, subclasses too,
a PluginCallError by its cause too; default InvalidArgumentsError: bad arguments are the
caller's fault, not the method's).
Unlike pybreaker, an excluded error is not a success either: it leaves the count as it was,
and an excluded trial leaves the circuit half-open for the next call to try, since it proved
nothing about the method. Outcomes of calls that started before the circuit last changed
(e.g. slow calls that finish after it opened) are ignored: only the trial may close it.

:func:`states` reads a tenant's circuits for listings. Opening and closing a circuit are
catalog events (``breaker_opened``, ``breaker_closed``), emitted under the lock but only
queued there: delivery happens on the catalog's event thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from catalog_cli import PluginMeta, hookimpl
from catalog_cli.config import Option, Options, at_least, positive
from catalog_cli.errors import CircuitOpenError

from ._match import exception_names, matches

if TYPE_CHECKING:
    from catalog_cli import Call, InterceptorContext

#: The name in catalog.toml; the key of this interceptor's state.
NAME: Final = "circuit_breaker"

ORDER: Final = 400

#: Monkeypatched by tests for a fake clock.
_now = time.monotonic


def _optional_names(value: Any) -> str | None:
    return exception_names(value) if value else None


PLUGIN = PluginMeta(
    description="Fails fast while a method keeps failing for a tenant; tries it again after "
    "a cool-down",
    settings=Options(
        Option("failures", "int", 5, "consecutive failures that open the circuit", at_least(1)),
        Option(
            "reset_seconds",
            "float",
            30.0,
            "seconds an open circuit waits before letting one trial call through",
            positive,
        ),
        Option(
            "exclude",
            "strings",
            ("InvalidArgumentsError",),
            "exception types that are not failures, by class name or dotted path (subclasses too)",
            _optional_names,
        ),
    ),
)


@dataclass
class Circuit:
    """One tenant's circuit for one interface version (mutated under the state's lock)."""

    #: consecutive failures (the trial's included); 0 once closed again
    failures: int = 0
    #: when it half-opens (``_now()`` time); None while closed
    half_opens_at: float | None = None
    trial_in_flight: bool = False
    #: changes whenever the circuit opens or closes: outcomes of older calls are stale
    epoch: int = 0
    last_error: str = ""

    def status(self, now: float) -> str:
        if self.half_opens_at is None:
            return "closed"
        return "open" if now < self.half_opens_at else "half-open"


def _circuit(ctx: InterceptorContext, call: Call) -> tuple[threading.Lock, Circuit]:
    state = ctx.state
    lock: threading.Lock = state.get("lock") or state.setdefault("lock", threading.Lock())
    with lock:
        circuits: dict[tuple[str, int], Circuit] = state.setdefault("circuits", {})
        key = (call.interface, call.version)
        found = circuits.get(key)
        if found is None:
            found = circuits[key] = Circuit()
    return lock, found


def states(
    states_mapping: Mapping[str, Mapping[str, Any]], tenant: str
) -> dict[tuple[str, int], str]:
    """(interface, version) -> "closed", "open" or "half-open" for ``tenant``'s circuits,
    from the breaker's states (``catalog.interceptor_states("circuit_breaker")``). Circuits
    that never saw a call are not listed (they are closed)."""
    state = states_mapping.get(tenant)
    if not state or "lock" not in state:
        return {}
    now = _now()
    with state["lock"]:
        return {key: c.status(now) for key, c in state.get("circuits", {}).items()}


def _refusal(call: Call, circuit: Circuit, now: float) -> CircuitOpenError:
    assert circuit.half_opens_at is not None
    left = circuit.half_opens_at - now
    if left > 0:
        when = f"half-opens in {left:.1f} s"
        retry_after: float | None = left
    else:
        # The trial's outcome decides: nobody knows when that will be.
        when = "half-open, a trial call is in flight"
        retry_after = None
    return CircuitOpenError(
        f"circuit breaker open for tenant {call.tenant!r} on {call.interface} v{call.version} "
        f"after {circuit.failures} consecutive failures (last: {circuit.last_error}); "
        f"{when} (call {call.call_id})",
        interceptor=NAME,
        tenant=call.tenant,
        interface=call.interface,
        version=call.version,
        retry_after=retry_after,
    )


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:199] + "…"


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    lock, circuit = _circuit(ctx, call)
    settings = ctx.settings
    with lock:
        now = _now()
        status = circuit.status(now)
        trial = status == "half-open" and not circuit.trial_in_flight
        if status != "closed" and not trial:
            raise _refusal(call, circuit, now)
        if trial:
            circuit.trial_in_flight = True
        epoch = circuit.epoch
    try:
        result = yield
    except (Exception, SystemExit) as exc:
        _record(ctx, call, lock, circuit, settings, trial, epoch, exc)
        raise
    except BaseException:
        # Interrupted, so no outcome; but a trial must not hold the circuit half-open forever.
        if trial:
            with lock:
                circuit.trial_in_flight = False
        raise
    _record(ctx, call, lock, circuit, settings, trial, epoch, None)
    return result


def _record(
    ctx: InterceptorContext,
    call: Call,
    lock: threading.Lock,
    circuit: Circuit,
    settings: Mapping[str, Any],
    trial: bool,
    epoch: int,
    failed: BaseException | None,
) -> None:
    excluded = failed is not None and matches(failed, settings["exclude"])
    with lock:
        if trial:
            circuit.trial_in_flight = False
        elif circuit.epoch != epoch:
            return  # started before the circuit opened: only the trial may tell
        if excluded:
            return
        if failed is None:
            if trial:
                ctx.log.info(
                    "circuit closed for tenant %r on %s v%s: the trial call succeeded",
                    call.tenant,
                    call.interface,
                    call.version,
                )
                circuit.half_opens_at = None
                circuit.epoch += 1
                ctx.emit("breaker_closed", {"interface": call.interface, "version": call.version})
            circuit.failures = 0
            return
        circuit.failures += 1
        circuit.last_error = _describe(failed)
        if trial or circuit.failures >= settings["failures"]:
            reset = float(settings["reset_seconds"])
            circuit.half_opens_at = _now() + reset
            circuit.epoch += 1
            ctx.log.warning(
                "circuit opened for tenant %r on %s v%s after %d consecutive failures "
                "(last: %s); half-opens in %g s",
                call.tenant,
                call.interface,
                call.version,
                circuit.failures,
                circuit.last_error,
                reset,
            )
            ctx.emit(
                "breaker_opened",
                {
                    "interface": call.interface,
                    "version": call.version,
                    "failures": circuit.failures,
                    "last_error": circuit.last_error,
                    "reset_seconds": reset,
                },
            )
