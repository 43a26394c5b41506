"""``[jobs]``: where background jobs are stored, how failed ones are retried, how long they stay.

``[jobs.retry]`` is the retry policy of failed jobs (attempts, exponential backoff with jitter,
the error kinds worth another run), with ``[jobs.retry.interfaces.<name>]`` over it for one
interface. ``keep_succeeded``, ``keep_failed`` and ``keep_dead`` bound how long finished jobs
are kept. Durations are seconds, or text such as ``"90s"``, ``"15m"``, ``"12h"``, ``"7d"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, NamedTuple

if TYPE_CHECKING:
    from ._config import _Checker

JOBS_KEYS: Final = (
    "database",
    "interrupted",
    "attempts",
    "retry",
    "keep_succeeded",
    "keep_failed",
    "keep_dead",
)
INTERRUPTED_POLICIES: Final = ("retry", "fail")
RETRY_KEYS: Final = ("attempts", "backoff", "backoff_max", "multiplier", "jitter", "on")
#: The error kinds a job may be retried for. The refusals happen before the method runs, so
#: they are retried whatever the version declares; the others only for an idempotent version.
RETRYABLE_KINDS: Final = (
    "plugin_call",
    "call_timeout",
    "result_validation",
    "overloaded",
    "concurrency_limited",
    "circuit_open",
    "rate_limited",
    "call_refused",
)
#: Refusals by the catalog's limits, breaker or rate limit: the method never ran.
BEFORE_THE_CALL: Final = frozenset(
    {"overloaded", "concurrency_limited", "circuit_open", "rate_limited", "call_refused"}
)
#: What ``on`` is unless catalog.toml says otherwise.
DEFAULT_ON: Final = (
    "plugin_call",
    "call_timeout",
    "overloaded",
    "concurrency_limited",
    "circuit_open",
    "rate_limited",
)

_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
#: The longest duration taken (about 100 years): beyond it a timestamp loses its meaning.
_MAX_SECONDS: Final = 100 * 365 * 86400.0


def parse_duration(value: Any) -> float:
    """Seconds from ``value``: a number of seconds, or text such as "90s", "15m", "12h",
    "7d", "2w"; ValueError saying what is expected otherwise."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match[1]) * _UNITS[match[2] or "s"]
    if seconds is None or not math.isfinite(seconds) or not 0 <= seconds <= _MAX_SECONDS:
        raise ValueError(
            f'expected a duration such as "90s", "15m", "12h", "7d" or a number of seconds, '
            f"got {value!r:.60}"
        )
    return seconds


class RetryRule(NamedTuple):
    """How failed jobs of one interface (or all) are run again."""

    #: runs in all for a job whose error may be retried (1: never again; then it is dead)
    attempts: int = 3
    #: seconds before the first retry; each later one waits ``multiplier`` times longer
    backoff: float = 1.0
    #: the longest wait between two runs
    backoff_max: float = 300.0
    multiplier: float = 2.0
    #: each wait is shortened by a random fraction of itself up to this (0: none), so that
    #: jobs that failed together do not all run again at the same moment
    jitter: float = 0.2
    #: the error kinds retried
    on: frozenset[str] = frozenset(DEFAULT_ON)

    def delay(self, runs: int, draw: float) -> float:
        """Seconds to wait after the ``runs``-th run failed; ``draw`` is a random number in
        [0, 1): the jitter's share of the wait."""
        try:
            base = self.backoff * self.multiplier ** max(0, runs - 1)
        except OverflowError:  # a job retried many times with a steep multiplier
            base = math.inf
        return min(self.backoff_max, base) * (1.0 - self.jitter * draw)

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        data["on"] = sorted(self.on)
        return data


class RetryPolicy(NamedTuple):
    """``[jobs.retry]``: the rule for every interface, and the rules of some interfaces."""

    default: RetryRule = RetryRule()
    interfaces: Mapping[str, RetryRule] = MappingProxyType({})

    def rule(self, interface: str) -> RetryRule:
        return self.interfaces.get(interface, self.default)


class JobsConfig(NamedTuple):
    """``[jobs]``: the job store, the policy for jobs whose process died while running, the
    retry policy for failed jobs, and how long finished jobs are kept."""

    #: the SQLite file; None: ``<catalog file stem>.jobs.sqlite3`` next to the catalog file
    database: Path | None = None
    #: "retry": run it again (up to ``attempts`` runs in all); "fail": mark it failed
    interrupted: str = "retry"
    attempts: int = 3
    retry: RetryPolicy = RetryPolicy()
    #: seconds a finished job of each status is kept (None: for ever)
    keep_succeeded: float | None = None
    keep_failed: float | None = None
    keep_dead: float | None = None

    def retention(self) -> dict[str, float]:
        """status -> seconds its jobs are kept, for the statuses with a bound."""
        kept = {
            "succeeded": self.keep_succeeded,
            "failed": self.keep_failed,
            "dead": self.keep_dead,
        }
        return {status: seconds for status, seconds in kept.items() if seconds is not None}


def read_jobs(check: _Checker, raw: Any, base: Path) -> JobsConfig:
    """``[jobs]`` from the parsed document; problems go to ``check``, naming the key."""
    key = ("jobs",)
    table = check.table(raw, key)
    check.known_keys(table, key, JOBS_KEYS)
    database = table.get("database")
    path = None
    if database is not None:
        from ._config import _path_problem

        if not isinstance(database, str) or not database:
            check.add((*key, "database"), f"expected a file path, got {database!r}")
        elif problem := _path_problem(database):
            check.add((*key, "database"), problem)
        else:
            path = base / database
    interrupted = table.get("interrupted", "retry")
    if interrupted not in INTERRUPTED_POLICIES:
        check.add(
            (*key, "interrupted"),
            f"expected one of {', '.join(INTERRUPTED_POLICIES)}, got {interrupted!r}",
        )
        interrupted = "retry"
    attempts = _integer(check, table, (*key, "attempts"), 3)
    retry = _policy(check, table.get("retry", {}), (*key, "retry"))
    kept = {}
    for name in ("keep_succeeded", "keep_failed", "keep_dead"):
        value = table.get(name)
        if value is None:
            continue
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            check.add((*key, name), str(exc))
            continue
        if seconds <= 0:
            check.add((*key, name), f"expected a duration above 0, got {value!r}")
            continue
        kept[name] = seconds
    return JobsConfig(path, interrupted, attempts, retry, **kept)


def _integer(check: _Checker, table: Mapping[str, Any], key: tuple[str, ...], default: int) -> int:
    value = table.get(key[-1], default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        check.add(key, f"expected an integer from 1 to 100, got {value!r}")
        return default
    return value


def _number(
    check: _Checker,
    table: Mapping[str, Any],
    key: tuple[str, ...],
    default: float,
    low: float,
    high: float,
) -> float:
    value = table.get(key[-1], default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        check.add(key, f"expected a number from {low:g} to {high:g}, got {value!r}")
        return default
    return float(value)


def _policy(check: _Checker, raw: Any, key: tuple[str, ...]) -> RetryPolicy:
    table = check.table(raw, key)
    check.known_keys(table, key, (*RETRY_KEYS, "interfaces"))
    default = _rule(check, table, key, RetryRule())
    interfaces = {}
    for name, spec in check.table(table.get("interfaces", {}), (*key, "interfaces")).items():
        where = (*key, "interfaces", name)
        section = check.table(spec, where)
        check.known_keys(section, where, RETRY_KEYS)
        interfaces[name] = _rule(check, section, where, default)
    return RetryPolicy(default, MappingProxyType(interfaces))


def _rule(
    check: _Checker, table: Mapping[str, Any], key: tuple[str, ...], base: RetryRule
) -> RetryRule:
    """A rule from ``table``; what it leaves out is ``base``'s."""
    attempts = _integer(check, table, (*key, "attempts"), base.attempts)
    backoff = _number(check, table, (*key, "backoff"), base.backoff, 0, 86400)
    backoff_max = _number(check, table, (*key, "backoff_max"), base.backoff_max, 0, 7 * 86400)
    multiplier = _number(check, table, (*key, "multiplier"), base.multiplier, 1, 100)
    jitter = _number(check, table, (*key, "jitter"), base.jitter, 0, 1)
    if backoff > backoff_max:
        check.add((*key, "backoff"), f"is above backoff_max ({backoff:g} > {backoff_max:g})")
    on = base.on
    if "on" in table:
        raw = table["on"]
        if not isinstance(raw, list) or not all(isinstance(kind, str) for kind in raw):
            check.add((*key, "on"), f"expected an array of error kinds, got {raw!r:.60}")
        else:
            found = set()
            for kind in raw:
                if kind in RETRYABLE_KINDS:
                    found.add(kind)
                elif kind == "invalid_arguments" or kind.startswith("unknown_"):
                    # The same arguments, or the same missing name, fail the same way again.
                    check.add((*key, "on"), f"{kind!r} is never retried: it would fail again")
                else:
                    check.add(
                        (*key, "on"),
                        f"{kind!r} is not an error kind a job is retried for "
                        f"(retried: {', '.join(RETRYABLE_KINDS)})",
                    )
            on = frozenset(found)
    return RetryRule(attempts, backoff, backoff_max, multiplier, jitter, on)
