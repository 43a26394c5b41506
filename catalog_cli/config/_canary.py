"""``[tenants.<id>.canary.<interface>]``: a share of a tenant's calls sent to another version.

A canary is live (the candidate version answers the calls in its share) or a shadow (the
candidate runs too, off the caller's path, and its answer is only compared); its share is
fixed or ramps up on a schedule; a rollback rule stops it when the candidate's calls go wrong.
What is checked here is the table's shape; the version and the key are checked against the
declarations by the registry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

if TYPE_CHECKING:
    from ._config import _Checker

CANARY_KEYS: Final = ("version", "share", "key", "mode", "ramp", "rollback", "tolerance")
RAMP_STEP_KEYS: Final = ("at", "share")
ROLLBACK_KEYS: Final = ("error_rate", "mismatch_rate", "window", "min_calls")
MODES: Final = ("live", "shadow")
#: A rollback rule's window, unless it says otherwise, and the calls it needs to judge.
DEFAULT_WINDOW: Final = 100
DEFAULT_MIN_CALLS: Final = 20
MAX_WINDOW: Final = 100_000

Mode = Literal["live", "shadow"]


class RampStep(NamedTuple):
    """From ``at`` (seconds since the epoch) on, the canary's share is ``share``."""

    at: float
    share: float

    @property
    def when(self) -> str:
        """``at`` as an ISO time in UTC."""
        return iso_time(self.at)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.when, "share": self.share}


class RollbackRule(NamedTuple):
    """When the candidate's calls go wrong often enough, the canary stops sending it calls."""

    #: above this share of errors among the window's calls (None: errors never roll back)
    error_rate: float | None
    #: above this share of different answers (shadow canaries only)
    mismatch_rate: float | None
    #: the candidate's latest calls that are judged
    window: int = DEFAULT_WINDOW
    #: calls the window must hold before it is judged
    min_calls: int = DEFAULT_MIN_CALLS

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "mismatch_rate": self.mismatch_rate,
            "window": self.window,
            "min_calls": self.min_calls,
        }


class Canary(NamedTuple):
    """A share of a tenant's calls of one interface sent to another version."""

    version: int
    #: the fraction of calls (0 < share < 1; a shadow's may be 1); None when ``ramp`` decides
    share: float | None
    #: the argument whose value decides, sticky per value; None: each call decides anew
    key: str | None = None
    #: "live": the candidate answers its share; "shadow": it runs too, and is only compared
    mode: Mode = "live"
    #: the share by time, instead of ``share``: the last step reached (0 before the first)
    ramp: tuple[RampStep, ...] = ()
    rollback: RollbackRule | None = None
    #: numbers in a shadow's answers match when this close (absolutely or relatively)
    tolerance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "share": self.share,
            "key": self.key,
            "mode": self.mode,
            "ramp": [step.to_dict() for step in self.ramp] or None,
            "rollback": self.rollback.to_dict() if self.rollback is not None else None,
            "tolerance": self.tolerance,
        }


def iso_time(seconds: float) -> str:
    """``seconds`` since the epoch as an ISO time in UTC, ``2026-12-01T00:00:00Z``."""
    import datetime

    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def parse_time(value: Any) -> float | None:
    """Seconds since the epoch of an ISO date or date and time (a string, or TOML's own date
    and time values); a time without an offset is UTC. None when it is neither."""
    import datetime

    if isinstance(value, str):
        text = value.strip()
        # Python before 3.11 does not read "Z"; "2026-12-01" is a date, longer text a time.
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = (
                datetime.date.fromisoformat(text)
                if len(text) == 10
                else datetime.datetime.fromisoformat(text)
            )
        except ValueError:
            return None
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, datetime.date):
        moment = datetime.datetime(value.year, value.month, value.day)
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if _is_time(value):
        return str(value)
    return repr(value)


def _is_time(value: Any) -> bool:
    import datetime

    return isinstance(value, (datetime.date, datetime.time))


def canaries(check: _Checker, table: Mapping[str, Any], key: tuple[str, ...]) -> dict[str, Canary]:
    """The tenant's canaries; a table with a problem is reported and left out."""
    found = {}
    for interface, raw in check.table(table.get("canary", {}), (*key, "canary")).items():
        where = (*key, "canary", interface)
        canary = _checked(check, check.table(raw, where), where)
        if canary is not None:
            found[interface] = canary
    return found


def _checked(check: _Checker, spec: Mapping[str, Any], where: tuple[str, ...]) -> Canary | None:
    before = len(check.problems)
    check.known_keys(spec, where, CANARY_KEYS)
    version: Any = spec.get("version")
    name: Any = spec.get("key")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        check.add((*where, "version"), f"expected a version number, got {version!r}")
    if name is not None and not isinstance(name, str):
        check.add((*where, "key"), f"expected an argument name, got {name!r}")
    mode = spec.get("mode", "live")
    if mode not in MODES:
        check.add((*where, "mode"), f'expected "live" or "shadow", got {mode!r}')
        mode = "live"
    shadow = mode == "shadow"
    share: float | None = None
    ramp: tuple[RampStep, ...] = ()
    if "ramp" in spec:
        if "share" in spec:
            check.add(
                (*where, "share"),
                "give share or ramp, not both: a ramp sets the share from step to step",
            )
        ramp = _ramp(check, spec["ramp"], (*where, "ramp"))
    else:
        share = _share(check, spec.get("share"), (*where, "share"), shadow=shadow)
    rollback = None
    if "rollback" in spec:
        rollback = _rollback(check, spec["rollback"], (*where, "rollback"), shadow=shadow)
    tolerance = spec.get("tolerance", 0.0)
    if "tolerance" in spec:
        if not shadow:
            check.add((*where, "tolerance"), _ONLY_SHADOWS)
        elif not _number(tolerance) or tolerance < 0:
            check.add((*where, "tolerance"), f"expected a number at least 0, got {tolerance!r}")
    if len(check.problems) > before:
        return None
    return Canary(version, share, name, mode, ramp, rollback, float(tolerance))


_ONLY_SHADOWS: Final = 'only a shadow canary (mode = "shadow") compares answers'


def _share(check: _Checker, share: Any, key: tuple[str, ...], *, shadow: bool) -> float | None:
    # A live canary at share 1 would be a pin: say so with one. A shadow may copy every call.
    if _number(share) and (0 < share < 1 or (shadow and share == 1)):
        return float(share)
    wanted = "above 0 and at most 1" if shadow else "above 0 and below 1"
    check.add(key, f"expected a fraction {wanted}, got {share!r}")
    return None


def _ramp(check: _Checker, raw: Any, key: tuple[str, ...]) -> tuple[RampStep, ...]:
    shape = '{ at = "<ISO date or date and time>", share = <fraction> }'
    if not isinstance(raw, list) or not raw:
        check.add(key, f"expected an array of steps, {shape}, got {raw!r}")
        return ()
    steps: list[RampStep] = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            check.add(key, f"step {number}: expected a table, {shape}, got {item!r}")
            continue
        unknown = [name for name in item if name not in RAMP_STEP_KEYS]
        if unknown:
            check.add(
                key,
                f"step {number}: unknown key {unknown[0]!r} (allowed: {', '.join(RAMP_STEP_KEYS)})",
            )
            continue
        at = parse_time(item.get("at"))
        share: Any = item.get("share")
        if at is None:
            check.add(
                key,
                f"step {number}: at: expected an ISO date or date and time "
                f'("2026-12-01", "2026-12-01T09:00:00Z"), got {_shown(item.get("at"))}',
            )
            continue
        if not _number(share) or not 0 < share <= 1:
            check.add(
                key,
                f"step {number}: share: expected a fraction above 0 and at most 1, got {share!r}",
            )
            continue
        if steps and at <= steps[-1].at:
            check.add(
                key,
                f"step {number}: its time ({iso_time(at)}) must come after step {number - 1}'s "
                f"({steps[-1].when})",
            )
            continue
        if steps and share < steps[-1].share:
            # Keys enter a canary as its share grows; a smaller share would send some back.
            check.add(
                key,
                f"step {number}: share {share} is below step {number - 1}'s ({steps[-1].share}): "
                "a ramp only goes up (to stop a canary, remove it)",
            )
            continue
        steps.append(RampStep(at, float(share)))
    return tuple(steps)


def _rollback(
    check: _Checker, raw: Any, key: tuple[str, ...], *, shadow: bool
) -> RollbackRule | None:
    before = len(check.problems)
    if not isinstance(raw, dict):
        check.table(raw, key)
        return None
    table = raw
    check.known_keys(table, key, ROLLBACK_KEYS)
    rates: dict[str, float | None] = {}
    for name in ("error_rate", "mismatch_rate"):
        value = table.get(name)
        rates[name] = None
        if value is None:
            continue
        if name == "mismatch_rate" and not shadow:
            check.add((*key, name), f"{_ONLY_SHADOWS}: a live canary rolls back on error_rate")
        elif not _number(value) or not 0 <= value < 1:
            check.add((*key, name), f"expected a rate at least 0 and below 1, got {value!r}")
        else:
            rates[name] = float(value)
    if "error_rate" not in table and "mismatch_rate" not in table:
        check.add(
            key, "name the rate that rolls the canary back: error_rate, mismatch_rate or both"
        )
    window: Any = table.get("window", DEFAULT_WINDOW)
    if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= MAX_WINDOW:
        check.add(
            (*key, "window"), f"expected a number of calls, 1 to {MAX_WINDOW}, got {window!r}"
        )
        window = DEFAULT_WINDOW
    min_calls: Any = table.get("min_calls", min(DEFAULT_MIN_CALLS, window))
    if (
        isinstance(min_calls, bool)
        or not isinstance(min_calls, int)
        or not 1 <= min_calls <= window
    ):
        check.add(
            (*key, "min_calls"),
            f"expected a number of calls, 1 to the window ({window}), got {min_calls!r}",
        )
    if len(check.problems) > before:
        return None
    return RollbackRule(rates["error_rate"], rates["mismatch_rate"], window, min_calls)


def ramp_share(ramp: tuple[RampStep, ...], now: float) -> float:
    """The share of a ramp at ``now``: the last step reached, 0 before the first."""
    import bisect

    reached = bisect.bisect_right(ramp, now, key=lambda step: step.at)
    return ramp[reached - 1].share if reached else 0.0


def next_step(ramp: tuple[RampStep, ...], now: float) -> RampStep | None:
    """The ramp's next step after ``now``, if any."""
    for step in ramp:
        if step.at > now:
            return step
    return None
