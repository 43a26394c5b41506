"""Replay: the calls of a recording (the ``record`` interceptor's JSON lines) run again, each
answer compared with the recorded one.

Each recorded call runs as a ``CallRequest`` on the batch machinery (``iter_answers``: in
this process, on a process pool, on Dask), for its tenant and interface and, unless a version
is forced, the version the tenant runs now, so a replay says what a rollout would change; a
call that asked for its version (``version_source`` ``requested``) asks for it again, as its
caller would. The calls a replay makes are never recorded (see ``record.paused``), wherever
they run.

A call is *same* when the replay gives the recorded result (compared as JSON data, strictly:
``1`` and ``1.0`` differ, so do ``true`` and ``1``) or fails the way the recorded call failed
(the same error kind and type, plugin and cause; messages are not compared, they hold call
ids). It is *different* when both succeed with other results, or when a recorded error is now
a result; *failed* when the replay fails and the recorded call did not fail that way;
*skipped* (with why) when it cannot be run or compared: redacted or non-JSON arguments, a
result recorded as its repr (such a call is still run, and fails if it fails).
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, ParamSpec, TypeVar

from ..errors import CatalogError, ErrorRecord
from ..interceptors import record as recording_format
from ..runtime import SECRET_NAMES
from ._batch import Item, ProcessPool, iter_answers
from ._requests import CallAnswer, CallRequest

if TYPE_CHECKING:
    from ._catalog import Catalog

_P = ParamSpec("_P")
_T = TypeVar("_T")

Outcome = Literal["same", "different", "failed", "skipped"]
Change = Literal["changed", "added", "removed"]

#: differences kept per call; beyond, only counted (a list shifted by one differs everywhere)
MAX_DIFFERENCES: Final = 100

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFAULT_PATTERNS: Final = recording_format.patterns_of(SECRET_NAMES)


class Difference(NamedTuple):
    """One place where a replayed value differs from the recorded one."""

    #: where: ``result``, ``result.total``, ``result.lines[2]``, ``error.kind``
    path: str
    #: ``changed`` (both there), ``added`` (only in the replay), ``removed`` (only recorded)
    change: Change
    #: the JSON values (None for the side where it is absent)
    recorded: Any
    replayed: Any

    def __str__(self) -> str:
        before = "(absent)" if self.change == "added" else _shown(self.recorded)
        after = "(absent)" if self.change == "removed" else _shown(self.replayed)
        return f"{self.path}: {before} -> {after}"

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


class RecordedCall(NamedTuple):
    """One call of a recording, as its line holds it."""

    line: int
    call_id: str
    tenant: str
    interface: str
    version: int
    version_source: str
    #: the arguments as the method received them; None when recorded as a repr only
    arguments: Mapping[str, Any] | None
    ok: bool
    #: the result as JSON data (ok and comparable), else None
    result: Any
    #: False when the result was recorded as its repr: not comparable
    comparable: bool
    #: ``kind``, ``type``, ``message`` and maybe ``plugin`` and ``cause`` (when not ok)
    error: Mapping[str, Any] | None
    #: paths of the arguments recorded as ``***``
    redacted: tuple[str, ...]
    #: the name patterns results were redacted with (folded)
    patterns: tuple[str, ...]
    duration_ms: float
    time: str


class MalformedLine(NamedTuple):
    """A line of a recording that is no recorded call, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


class ReplayedCall(NamedTuple):
    """What became of one recorded call on replay."""

    line: int
    #: the recorded call's id, tenant, interface and version
    call_id: str
    tenant: str
    interface: str
    recorded_version: int
    outcome: Outcome
    #: the version that ran on replay and the rule that chose it (None if not run, or failed
    #: before a version was chosen)
    version: int | None = None
    version_source: str | None = None
    replay_call_id: str | None = None
    differences: tuple[Difference, ...] = ()
    #: differences found beyond MAX_DIFFERENCES
    more_differences: int = 0
    #: the replay's error (failed; or same, when the recorded call failed that way too)
    error: ErrorRecord | None = None
    #: why a call was skipped, or what failed
    reason: str | None = None
    recorded_ms: float = 0.0
    replayed_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "call_id": self.call_id,
            "tenant": self.tenant,
            "interface": self.interface,
            "outcome": self.outcome,
            "recorded_version": self.recorded_version,
            "version": self.version,
            "version_source": self.version_source,
            "replay_call_id": self.replay_call_id,
            "differences": [d.to_dict() for d in self.differences],
            "more_differences": self.more_differences,
            "error": self.error.to_dict() if self.error is not None else None,
            "reason": self.reason,
            "recorded_ms": self.recorded_ms,
            "replayed_ms": self.replayed_ms,
        }


class ReplayReport(NamedTuple):
    """A replay: every recorded call it took, in recording order, and the malformed lines."""

    recording: str
    catalog: str
    calls: tuple[ReplayedCall, ...]
    malformed: tuple[MalformedLine, ...]
    seconds: float

    def count(self, outcome: Outcome) -> int:
        return sum(1 for call in self.calls if call.outcome == outcome)

    @property
    def counts(self) -> dict[str, int]:
        """Calls per outcome (every outcome named), and ``malformed`` lines."""
        found = Counter(call.outcome for call in self.calls)
        counts: dict[str, int] = {outcome: found.get(outcome, 0) for outcome in _OUTCOMES}
        counts["malformed"] = len(self.malformed)
        return counts

    @property
    def ok(self) -> bool:
        """No call differs and none failed (skipped calls and malformed lines aside)."""
        return not any(call.outcome in ("different", "failed") for call in self.calls)

    def to_dict(self, *, every_call: bool = False) -> dict[str, Any]:
        """As JSON data: the counts, and the calls that are not *same* (``every_call``: all)."""
        return {
            "recording": self.recording,
            "catalog": self.catalog,
            "counts": self.counts,
            "seconds": self.seconds,
            "calls": [
                call.to_dict() for call in self.calls if every_call or call.outcome != "same"
            ],
            "malformed": [line.to_dict() for line in self.malformed],
        }


_OUTCOMES: Final[tuple[Outcome, ...]] = ("same", "different", "failed", "skipped")


# -- reading --------------------------------------------------------------------------------


def read_recording(path: str | os.PathLike[str]) -> list[RecordedCall | MalformedLine]:
    """The calls of a recording, in order, and its malformed lines where they are (blank
    lines are skipped). Raises OSError if the file cannot be read."""
    found: list[RecordedCall | MalformedLine] = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            found.append(parse_line(number, raw))
    return found


def parse_line(number: int, raw: bytes | str) -> RecordedCall | MalformedLine:
    """Line ``number`` of a recording: its call, or why it is none."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        return MalformedLine(number, f"not UTF-8 text: {exc}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return MalformedLine(number, f"not valid JSON: {exc}")
    except (RecursionError, ValueError):  # nesting past the recursion limit, huge integers
        return MalformedLine(
            number, "not JSON this reader can take (nested too deep, or a number too long)"
        )
    if not isinstance(data, dict):
        return MalformedLine(number, "not a JSON object")
    try:
        return _recorded(number, data)
    except _Bad as exc:
        return MalformedLine(number, str(exc))


class _Bad(Exception):
    pass


def _field(data: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _Bad(f"{name}: expected {what}, got {_shown(value) if name in data else 'none'}")
    return value


def _recorded(number: int, data: Mapping[str, Any]) -> RecordedCall:
    form = data.get("format")
    if form != recording_format.FORMAT:
        raise _Bad(
            f"format {_shown(form)} is not one this version reads "
            f"({recording_format.FORMAT}): not a call recording, or a newer one"
        )
    call_id = _field(data, "call_id", str, "a call id")
    tenant = _field(data, "tenant", str, "a tenant id")
    interface = _field(data, "interface", str, "an interface name")
    version = _field(data, "version", int, "a version number")
    if version < 1 or not tenant or not interface:
        raise _Bad("tenant, interface and version (at least 1) must be given")
    source = _field(data, "version_source", str, "a version source")
    outcome = data.get("outcome")
    if outcome not in ("ok", "error"):
        raise _Bad(f'outcome: expected "ok" or "error", got {_shown(outcome)}')
    if "arguments" in data:
        arguments = _field(data, "arguments", dict, "a JSON object of arguments")
    else:
        _field(data, "arguments_repr", str, "arguments (or arguments_repr)")
        arguments = None
    result, comparable, error = None, True, None
    if outcome == "ok":
        if "result" in data:
            result = data["result"]
        else:
            _field(data, "result_repr", str, "a result (or result_repr)")
            comparable = False
    else:
        error = _field(data, "error", dict, "an error object")
        for name in ("kind", "type"):
            _field(error, name, str, f"error.{name} as text")
    redacted = data.get("redacted", [])
    if not isinstance(redacted, list) or not all(isinstance(p, str) for p in redacted):
        raise _Bad(f"redacted: expected an array of paths, got {_shown(redacted)}")
    names = data.get("redact")
    if names is None:
        patterns = _DEFAULT_PATTERNS
    elif isinstance(names, list) and all(isinstance(n, str) for n in names):
        patterns = recording_format.patterns_of(names)
    else:
        raise _Bad(f"redact: expected an array of names, got {_shown(names)}")
    duration = data.get("duration_ms", 0.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise _Bad(f"duration_ms: expected a number, got {_shown(duration)}")
    stamp = data.get("time", "")
    return RecordedCall(
        number,
        call_id,
        tenant,
        interface,
        version,
        source,
        arguments,
        outcome == "ok",
        result,
        comparable,
        error,
        tuple(redacted),
        patterns,
        float(duration),
        stamp if isinstance(stamp, str) else "",
    )


# -- choosing -------------------------------------------------------------------------------


def select(
    entries: Iterable[RecordedCall | MalformedLine],
    *,
    customers: Iterable[str] = (),
    interfaces: Iterable[str] = (),
    limit: int | None = None,
) -> tuple[list[RecordedCall], list[MalformedLine]]:
    """The calls of ``customers`` (all if empty) and ``interfaces`` (all if empty), the first
    ``limit`` of them; and every malformed line."""
    tenants, names = set(customers), set(interfaces)
    calls: list[RecordedCall] = []
    malformed: list[MalformedLine] = []
    for entry in entries:
        if isinstance(entry, MalformedLine):
            malformed.append(entry)
        elif (
            (not tenants or entry.tenant in tenants)
            and (not names or entry.interface in names)
            and (limit is None or len(calls) < limit)
        ):
            calls.append(entry)
    return calls, malformed


def _unreplayable(call: RecordedCall) -> str | None:
    if call.arguments is None:
        return "its arguments were not JSON (recorded as their repr): it cannot run again"
    if call.redacted:
        listed = ", ".join(repr(path) for path in call.redacted)
        return f"argument {listed} was redacted when recorded: it cannot run again"
    return None


# -- running --------------------------------------------------------------------------------


def _quietly(fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """In a worker: ``fn(*args, **kwargs)`` with recording paused (a replay's own calls)."""
    with recording_format.paused():
        return fn(*args, **kwargs)


class QuietPool(ProcessPool):
    """A ProcessPool whose tasks run with recording paused: a replay's own pool."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> cf.Future[_T]:
        return super().submit(_quietly, fn, *args, **kwargs)


class _Quiet(cf.Executor):
    """Any executor, its tasks run with recording paused. Reads of what it is not (the size of
    a pool, Dask's client) go to the executor it wraps, for the batch's chunk sizes."""

    def __init__(self, inner: cf.Executor) -> None:
        self._inner = inner

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> cf.Future[_T]:
        return self._inner.submit(_quietly, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def quiet(executor: cf.Executor | None) -> cf.Executor | None:
    """``executor`` with recording paused in its tasks."""
    if executor is None or isinstance(executor, (QuietPool, _Quiet)):
        return executor
    return _Quiet(executor)


def replay(
    catalog: Catalog | str | os.PathLike[str],
    recording: str | os.PathLike[str],
    *,
    version: int | None = None,
    customers: Iterable[str] = (),
    interfaces: Iterable[str] = (),
    limit: int | None = None,
    executor: cf.Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
    chunk_size: int | None = None,
) -> ReplayReport:
    """Run the calls recorded in ``recording`` again on ``catalog`` (a Catalog, or the path of
    a catalog file to load for the replay) and compare each answer with the recorded one.

    Each call runs for its tenant and interface, at ``version`` if given, else at the version
    the tenant runs now (its canary share, pin, the catalog's default or the latest: not the
    recorded one), unless the call asked for its version (it asks again). ``customers`` and
    ``interfaces``: only their calls (all when empty); ``limit``: the first that many of those.
    ``executor``, ``progress``, ``timeout`` and ``chunk_size`` are those of
    :func:`catalog_cli.map_calls`: without an executor the calls run here, one after the other.
    Raises OSError if the recording cannot be read; every problem of a call or a line is part
    of the report.
    """
    if isinstance(catalog, (str, os.PathLike)):
        from ._catalog import Catalog

        with Catalog(catalog) as loaded:
            return replay(
                loaded,
                recording,
                version=version,
                customers=customers,
                interfaces=interfaces,
                limit=limit,
                executor=executor,
                progress=progress,
                timeout=timeout,
                chunk_size=chunk_size,
            )
    started = time.perf_counter()
    calls, malformed = select(
        read_recording(recording), customers=customers, interfaces=interfaces, limit=limit
    )
    return run_calls(
        catalog,
        calls,
        malformed,
        recording=str(recording),
        version=version,
        executor=executor,
        progress=progress,
        timeout=timeout,
        chunk_size=chunk_size,
        started=started,
    )


def run_calls(
    catalog: Catalog,
    calls: Sequence[RecordedCall],
    malformed: Sequence[MalformedLine] = (),
    *,
    recording: str = "",
    version: int | None = None,
    executor: cf.Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
    timeout: float | None = None,
    chunk_size: int | None = None,
    started: float | None = None,
) -> ReplayReport:
    """Replay ``calls`` (read and chosen already) on ``catalog``: see :func:`replay`."""
    if started is None:
        started = time.perf_counter()
    skipped: dict[int, str] = {}
    items: list[Item] = []
    runs: list[int] = []  # the position in ``calls`` of each item
    for position, call in enumerate(calls):
        why = _unreplayable(call)
        if why is not None:
            skipped[position] = why
            continue
        assert call.arguments is not None
        # A version its caller asked for is part of the call; one a rule chose is decided anew.
        wanted = call.version if version is None and call.version_source == "requested" else version
        items.append(CallRequest(call.tenant, call.interface, wanted, call.arguments))
        runs.append(position)
    items = _resolvable(catalog, items)
    answers: list[CallAnswer] = []
    if items:
        with recording_format.paused():  # the calls that run here, in this thread
            answers = list(
                iter_answers(
                    catalog.path,
                    items,
                    executor=quiet(executor),
                    progress=progress,
                    chunk_size=chunk_size,
                    timeout=timeout,
                    catalog=catalog,
                )
            )
    by_position = dict(zip(runs, answers, strict=True))
    replayed: list[ReplayedCall] = []
    for position, call in enumerate(calls):
        answer = by_position.get(position)
        if answer is None:
            replayed.append(_skipped(call, skipped[position]))
        else:
            replayed.append(compare(call, answer))
    return ReplayReport(
        recording,
        str(catalog.path),
        tuple(replayed),
        tuple(malformed),
        time.perf_counter() - started,
    )


def _resolvable(catalog: Catalog, items: list[Item]) -> list[Item]:
    """``items``, each whose tenant, interface or version the catalog does not know replaced
    by its failed answer: the batch checks only its first item's names, for a batch of one
    interface and tenant, while a recording holds many."""
    verdicts: dict[tuple[str, str, int | None], CallAnswer | None] = {}
    checked: list[Item] = []
    for item in items:
        if not isinstance(item, CallRequest):
            checked.append(item)
            continue
        key = (item.tenant, item.interface, item.version)
        if key not in verdicts:
            try:
                catalog.resolve_version(item.interface, customer=item.tenant, version=item.version)
            except CatalogError as exc:
                verdicts[key] = CallAnswer(False, error=exc.record())
            else:
                verdicts[key] = None
        verdict = verdicts[key]
        checked.append(item if verdict is None else verdict)
    return checked


# -- comparing ------------------------------------------------------------------------------


def _skipped(call: RecordedCall, why: str) -> ReplayedCall:
    return ReplayedCall(
        call.line,
        call.call_id,
        call.tenant,
        call.interface,
        call.version,
        "skipped",
        reason=why,
        recorded_ms=call.duration_ms,
    )


def _error_facts(error: ErrorRecord) -> dict[str, Any]:
    facts: dict[str, Any] = {"kind": error.kind, "type": error.type}
    if error.plugin is not None:
        facts["plugin"] = error.plugin
    cause = (error.details or {}).get("cause")
    if isinstance(cause, str):
        facts["cause"] = cause
    return facts


def _recorded_facts(error: Mapping[str, Any]) -> dict[str, Any]:
    return {name: error[name] for name in ("kind", "type", "plugin", "cause") if name in error}


def compare(call: RecordedCall, answer: CallAnswer) -> ReplayedCall:
    """What ``answer`` (the replay of ``call``) is, against what was recorded."""
    base = ReplayedCall(
        call.line,
        call.call_id,
        call.tenant,
        call.interface,
        call.version,
        "same",
        version=answer.version,
        version_source=answer.version_source,
        replay_call_id=answer.call_id,
        recorded_ms=call.duration_ms,
        replayed_ms=round(answer.seconds * 1000, 3) if answer.version is not None else None,
    )
    if not answer.ok:
        error = answer.error or ErrorRecord("internal", "the call failed without an error")
        now = _error_facts(error)
        if call.error is not None:
            before = _recorded_facts(call.error)
            if "plugin" not in before:  # not known where it was recorded: not compared
                now.pop("plugin", None)
            found, more = diff(before, now, "error")
            if not found:
                return base._replace(error=error)
            return base._replace(
                outcome="failed",
                error=error,
                differences=tuple(found),
                more_differences=more,
                reason=f"it failed when recorded, and fails otherwise now: {error.message}",
            )
        return base._replace(
            outcome="failed",
            error=error,
            differences=(Difference("error", "added", None, now),),
            reason=error.message,
        )
    comparable, text = recording_format.comparable(answer.result, call.patterns)
    if comparable and call.error is None and call.comparable and text == json.dumps(call.result):
        return base  # the common case, decided without a walk: the same JSON text
    shown = json.loads(text) if comparable else f"<not JSON: {text}>"
    if call.error is not None:
        return base._replace(
            outcome="different",
            differences=(
                Difference("error", "removed", _recorded_facts(call.error), None),
                Difference("result", "added", None, shown),
            ),
        )
    if not call.comparable:
        return base._replace(
            outcome="skipped",
            reason="its result was not JSON (recorded as its repr): it ran again, but cannot be "
            "compared",
        )
    if not comparable:
        found, more = [Difference("result", "changed", call.result, shown)], 0
    else:  # texts differ: still the same value when only the order of keys moved
        found, more = diff(call.result, shown, "result")
    if not found:
        return base
    return base._replace(outcome="different", differences=tuple(found), more_differences=more)


_KINDS: Final = {
    type(None): "null",
    bool: "boolean",
    int: "integer",
    float: "float",
    str: "string",
    list: "array",
    dict: "object",
}


def _kind(value: Any) -> str:
    # JSON data has these types exactly (as json.loads makes them)
    return _KINDS.get(type(value)) or type(value).__name__


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENTIFIER.fullmatch(key) else f"{path}[{json.dumps(key)}]"


class _Found:
    """Differences: the first MAX_DIFFERENCES kept, all of them counted."""

    __slots__ = ("items", "total")

    def __init__(self) -> None:
        self.items: list[Difference] = []
        self.total = 0

    def append(self, difference: Difference) -> None:
        self.total += 1
        if len(self.items) < MAX_DIFFERENCES:
            self.items.append(difference)


def diff(recorded: Any, replayed: Any, path: str = "result") -> tuple[list[Difference], int]:
    """Where two JSON values differ, path by path: objects key by key, arrays index by index,
    anything else (a change of type too: ``1`` to ``1.0``) as a whole. The first
    MAX_DIFFERENCES differences, and how many more there are."""
    found = _Found()
    _diff(recorded, replayed, path, found)
    return found.items, found.total - len(found.items)


def _diff(recorded: Any, replayed: Any, path: str, found: _Found) -> None:
    kind = _kind(recorded)
    if kind != _kind(replayed):
        found.append(Difference(path, "changed", recorded, replayed))
        return
    if kind == "object":
        for key, item in recorded.items():
            where = _key(path, str(key))
            if key not in replayed:
                found.append(Difference(where, "removed", item, None))
            else:
                _diff(item, replayed[key], where, found)
        for key, item in replayed.items():
            if key not in recorded:
                found.append(Difference(_key(path, str(key)), "added", None, item))
        return
    if kind == "array":
        for index, (before, after) in enumerate(zip(recorded, replayed, strict=False)):
            _diff(before, after, f"{path}[{index}]", found)
        for index in range(len(replayed), len(recorded)):
            found.append(Difference(f"{path}[{index}]", "removed", recorded[index], None))
        for index in range(len(recorded), len(replayed)):
            found.append(Difference(f"{path}[{index}]", "added", None, replayed[index]))
        return
    if kind == "float" and math.isnan(recorded) and math.isnan(replayed):
        return
    if recorded != replayed:
        found.append(Difference(path, "changed", recorded, replayed))


def _shown(value: Any, width: int = 80) -> str:
    """A value as JSON text, cut short."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
