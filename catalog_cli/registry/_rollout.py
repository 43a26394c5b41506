"""The state of tenants' canaries at run time: their share now, what their candidates' calls
did, and the rollbacks that stopped them.

A canary's configuration says what share of calls its candidate version gets (fixed, or a ramp
by time) and when to give up on it (a rollback rule). What happens to the candidate's calls is
this process's to see: each (tenant, interface, version) keeps counters and, under a rule, a
sliding window of its latest outcomes. When a rate in the window goes above the rule's
threshold, the canary is rolled back: the candidate gets no more calls. A rollback is written
to a file next to the catalog (``<stem>.rollbacks.json``), so that every process of the catalog
(a server's workers, job workers, the next start) honours it within a second, until it is reset.

One ``Rollouts`` serves a ``Catalog`` across reloads. It holds every tenant's state, so it is
held by the registry and the catalog only, never by anything a plugin can reach.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from ..config._canary import Canary, RampStep, iso_time, next_step, parse_time, ramp_share

if TYPE_CHECKING:
    import logging


def _log() -> logging.Logger:
    # Imported when there is something to say: light commands never load logging.
    import logging

    return logging.getLogger("catalog.canary")


#: What became of one of a candidate's calls. A live canary's: ``ok`` or ``error``; a shadow's:
#: ``matched``, ``mismatched``, ``failed``, ``timed_out`` (failed at its deadline), or
#: ``skipped`` (never run: no room to run it).
Outcome = Literal["ok", "error", "matched", "mismatched", "failed", "timed_out", "skipped"]
OUTCOMES: Final[tuple[Outcome, ...]] = (
    "ok",
    "error",
    "matched",
    "mismatched",
    "failed",
    "timed_out",
    "skipped",
)
#: What each outcome is in a rollback rule's window (skipped calls never enter it).
_OK: Final = 0
_ERROR: Final = 1
_MISMATCH: Final = 2
_JUDGED: Final[Mapping[str, int]] = {
    "ok": _OK,
    "matched": _OK,
    "error": _ERROR,
    "failed": _ERROR,
    "timed_out": _ERROR,
    "mismatched": _MISMATCH,
}
#: The rollbacks file's format; a newer one is not read (nor overwritten).
FORMAT: Final = 1
#: The environment variable naming the rollbacks file, over the default next to the catalog.
ENV_VAR: Final = "CATALOG_ROLLBACKS"


class Rollback(NamedTuple):
    """Why and when a tenant's canary stopped sending calls to its candidate version."""

    tenant: str
    interface: str
    version: int
    #: the rate that went above its threshold: ``error_rate`` or ``mismatch_rate``
    rate: str
    value: float
    threshold: float
    #: the candidate's calls in the window when it was judged
    calls: int
    #: the rule's window
    window: int
    #: seconds since the epoch (by the catalog's clock)
    at: float
    #: the call whose outcome tripped it
    call_id: str

    @property
    def reason(self) -> str:
        what = "error rate" if self.rate == "error_rate" else "mismatch rate"
        return (
            f"{what} {self.value:.1%} above {self.threshold:.1%} over the candidate's last "
            f"{self.calls} calls (window {self.window})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "interface": self.interface,
            "version": self.version,
            "rate": self.rate,
            "value": self.value,
            "threshold": self.threshold,
            "calls": self.calls,
            "window": self.window,
            "at": iso_time(self.at),
            "call_id": self.call_id,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Rollback | None:
        """A record read back from the file; None for one that is not (written by hand)."""
        try:
            at = parse_time(data["at"])
            if at is None:
                return None
            found = cls(
                str(data["tenant"]),
                str(data["interface"]),
                int(data["version"]),
                str(data["rate"]),
                float(data["value"]),
                float(data["threshold"]),
                int(data["calls"]),
                int(data["window"]),
                at,
                str(data["call_id"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return found


class CanaryStatus(NamedTuple):
    """A tenant's canary of one interface as this process sees it now."""

    interface: str
    version: int
    mode: str
    #: the share of calls its candidate gets now (0 when rolled back, or before a ramp starts)
    share: float
    #: the share its configuration gives now (a ramp's current step), rolled back or not
    planned: float
    #: a ramp's next step, if any
    next_step: RampStep | None
    rolled_back: Rollback | None
    #: outcome -> the candidate's calls with it, in this process (see ``OUTCOMES``)
    counts: Mapping[str, int]
    #: the rollback rule's window now: (calls, errors, mismatches); zeros without a rule
    window: tuple[int, int, int]

    def to_dict(self) -> dict[str, Any]:
        calls, errors, mismatches = self.window
        return {
            "interface": self.interface,
            "version": self.version,
            "mode": self.mode,
            "share": self.share,
            "planned_share": self.planned,
            "next_step": self.next_step.to_dict() if self.next_step is not None else None,
            "rolled_back": self.rolled_back.to_dict() if self.rolled_back is not None else None,
            "counts": dict(self.counts),
            "window": {"calls": calls, "errors": errors, "mismatches": mismatches},
        }


class CanarySeries(NamedTuple):
    """What one tenant's candidate version of an interface did in this process."""

    tenant: str
    interface: str
    version: int
    mode: str
    counts: Mapping[str, int]
    share: float
    rolled_back: bool


class _Track:
    """One (tenant, interface, candidate version): its counters and its rule's window."""

    __slots__ = ("counts", "errors", "lock", "mismatches", "mode", "share", "tripped", "window")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        self.window: collections.deque[int] = collections.deque()
        self.errors = 0
        self.mismatches = 0
        #: this process rolled the canary back (its window is cleared when that is reset)
        self.tripped = False
        self.mode = "live"
        self.share = 0.0

    def add(self, code: int, size: int) -> None:
        """Under ``lock``: one more outcome in a window of ``size`` calls."""
        window = self.window
        while len(window) >= size:
            self._count(window.popleft(), -1)
        window.append(code)
        self._count(code, 1)

    def _count(self, code: int, step: int) -> None:
        if code == _ERROR:
            self.errors += step
        elif code == _MISMATCH:
            self.mismatches += step

    def clear(self) -> None:
        """Under ``lock``."""
        self.window.clear()
        self.errors = self.mismatches = 0
        self.tripped = False


def rollbacks_path(catalog_path: Path | None) -> Path | None:
    """$CATALOG_ROLLBACKS, else ``<stem>.rollbacks.json`` beside the catalog file; for the
    example catalog inside the installed package (nothing is written there), the user's data
    folder. None for a catalog without a file."""
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        return Path(from_env).absolute()
    if catalog_path is None:
        return None
    from ..config._locate import data_dir, is_installed_example

    if is_installed_example(catalog_path):
        return data_dir() / "example.rollbacks.json"
    return catalog_path.absolute().with_name(f"{catalog_path.stem}.rollbacks.json")


class RollbackFile:
    """The rollbacks of every process of a catalog: read again when the file changes (looked
    at once a second at most), written whole and swapped in, one writer at a time."""

    #: seconds between looks at the file (tests make it 0)
    REFRESH: float = 1.0

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        #: (tenant, interface) -> its rollback; replaced whole, so readers need no lock
        self._records: dict[tuple[str, str], Rollback] = {}
        #: rollbacks this process could not write: they hold here anyway
        self._local: dict[tuple[str, str], Rollback] = {}
        self._seen: tuple[int, int, int] | None = None
        self._due = 0.0
        self._warned: set[str] = set()

    def get(self, tenant: str, interface: str) -> Rollback | None:
        now = time.monotonic()
        if now >= self._due:
            self._refresh(now)
        return self._records.get((tenant, interface))

    def all(self) -> list[Rollback]:
        self._refresh(time.monotonic())
        return list(self._records.values())

    def _refresh(self, now: float) -> None:
        with self._lock:
            if now < self._due:
                return
            self._due = now + self.REFRESH
            if self.path is None:
                return
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                seen = None
            except OSError as exc:
                self._warn("read", exc)
                return
            else:
                seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
            if seen == self._seen and self._seen is not None:
                return
            found = self._read() if seen is not None else {}
            if found is None:
                return  # unreadable now (being written by hand, say): keep what was read
            self._seen = seen
            self._records = {**found, **self._local}

    def _read(self) -> dict[tuple[str, str], Rollback] | None:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self._warn("read", exc)
            return None
        if not isinstance(data, dict) or not isinstance(data.get("rollbacks"), list):
            self._warn("read", ValueError("not a rollbacks file"))
            return None
        if data.get("format") != FORMAT:
            self._warn("read", ValueError(f"format {data.get('format')!r}, not {FORMAT}"))
            return None
        found = {}
        for item in data["rollbacks"]:
            record = Rollback.from_dict(item)
            if record is not None:
                found[(record.tenant, record.interface)] = record
        return found

    def change(self, tenant: str, interface: str, record: Rollback | None) -> Rollback | None:
        """Set (or, with None, remove) the rollback of ``tenant``'s canary of ``interface``,
        here and in the file; returns the one it replaces."""
        key = (tenant, interface)
        with self._lock:
            written, before = self._write(key, record)
            if before is None:
                before = self._records.get(key) or self._local.get(key)
            records = dict(self._records)
            local = dict(self._local)
            if record is None:
                records.pop(key, None)
                local.pop(key, None)
            else:
                records[key] = record
                if not written:
                    local[key] = record
            self._local = local
            self._records = records
            # Read the file again soon: another process may have changed other records.
            self._due = 0.0
        return before

    def _write(self, key: tuple[str, str], record: Rollback | None) -> tuple[bool, Rollback | None]:
        """Under ``_lock``: the file with ``key``'s rollback changed. Returns whether it was
        written (if not, the change holds in this process only), and the rollback the file
        held for ``key`` before."""
        path = self.path
        if path is None:
            return False, None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(path):
                current = self._read()
                if current is None:
                    # Not ours to overwrite (a newer format, or a file edited by hand).
                    self._warn("write", OSError("it cannot be read"))
                    return False, None
                before = current.pop(key, None)
                if record is not None:
                    current[key] = record
                rows = sorted(current.values(), key=lambda r: (r.tenant, r.interface))
                text = json.dumps(
                    {"format": FORMAT, "rollbacks": [r.to_dict() for r in rows]}, indent=2
                )
                spare = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                spare.write_text(text + "\n", encoding="utf-8")
                os.replace(spare, path)
        except OSError as exc:
            self._warn("write", exc)
            return False, None
        return True, before

    def _warn(self, doing: str, exc: BaseException) -> None:
        # Once per process and kind of trouble: it would repeat every second otherwise.
        if doing in self._warned:
            return
        self._warned.add(doing)
        held = " (rollbacks made here hold in this process only)" if doing == "write" else ""
        _log().warning("cannot %s the rollbacks file %s: %s%s", doing, self.path, exc, held)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer of ``path`` at a time, across processes (where the system can lock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: writers rarely meet
        yield
        return
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Rollouts:
    """Every canary's state in this process (see the module docstring). ``clock``: seconds
    since the epoch now (``time.time``, unless a test gives its own), for ramps and for the
    time a rollback is stamped with."""

    def __init__(self, path: Path | None, clock: Callable[[], float] | None = None) -> None:
        self.clock: Callable[[], float] = clock or time.time
        self.file = RollbackFile(path)
        self._lock = threading.Lock()
        self._tracks: dict[tuple[str, str, int], _Track] = {}

    def _track(self, tenant: str, interface: str, version: int) -> _Track:
        key = (tenant, interface, version)
        found = self._tracks.get(key)
        if found is None:
            with self._lock:
                found = self._tracks.setdefault(key, _Track())
        return found

    def rolled_back(self, tenant: str, interface: str, canary: Canary) -> Rollback | None:
        """The rollback that holds for the canary's candidate version, if any (a canary without
        a rule is never rolled back)."""
        if canary.rollback is None:
            return None
        found = self.file.get(tenant, interface)
        if found is not None and found.version == canary.version:
            return found
        return None

    def planned(self, canary: Canary) -> float:
        """The share the canary's configuration gives now."""
        if canary.ramp:
            return ramp_share(canary.ramp, self.clock())
        assert canary.share is not None
        return canary.share

    def share(self, tenant: str, interface: str, canary: Canary) -> float:
        """The share of calls the canary's candidate gets now: 0 once rolled back."""
        if canary.rollback is not None and self.rolled_back(tenant, interface, canary):
            return 0.0
        return self.planned(canary)

    def observe(
        self, tenant: str, interface: str, canary: Canary, outcome: Outcome, call_id: str
    ) -> Rollback | None:
        """Count one of the candidate's calls; judge the window under the canary's rule.
        Returns the rollback this call trips (logged here), if it trips one."""
        track = self._track(tenant, interface, canary.version)
        rule = canary.rollback
        with track.lock:
            track.counts[outcome] += 1
            track.mode = canary.mode
            code = _JUDGED.get(outcome)
            if rule is None or code is None:
                return None
            held = self.rolled_back(tenant, interface, canary)
            if held is None and track.tripped:
                # Reset since (here or by another process): judge the candidate afresh.
                track.clear()
            if held is not None or track.tripped:
                return None
            track.add(code, rule.window)
            calls = len(track.window)
            if calls < rule.min_calls:
                return None
            tripped = None
            for rate, count, threshold in (
                ("error_rate", track.errors, rule.error_rate),
                ("mismatch_rate", track.mismatches, rule.mismatch_rate),
            ):
                if threshold is not None and count / calls > threshold:
                    tripped = Rollback(
                        tenant,
                        interface,
                        canary.version,
                        rate,
                        count / calls,
                        threshold,
                        calls,
                        rule.window,
                        self.clock(),
                        call_id,
                    )
                    break
            if tripped is None:
                return None
            track.tripped = True
        self.file.change(tenant, interface, tripped)
        _log().warning(
            "canary of %s v%s for tenant %r rolled back: %s [call %s]",
            interface,
            canary.version,
            tenant,
            tripped.reason,
            call_id,
            extra={
                "tenant": tenant,
                "interface": interface,
                "version": canary.version,
                "rate": tripped.rate,
                "value": tripped.value,
                "threshold": tripped.threshold,
                "window": tripped.window,
                "call_id": call_id,
            },
        )
        return tripped

    def reset(self, tenant: str, interface: str) -> Rollback | None:
        """Undo the rollback of ``tenant``'s canary of ``interface`` (in every process, through
        the file): its candidate gets its share again, judged afresh. Returns the rollback
        undone, if there was one."""
        undone = self.file.change(tenant, interface, None)
        for (owner, name, _version), track in list(self._tracks.items()):
            if (owner, name) == (tenant, interface):
                with track.lock:
                    track.clear()
        if undone is not None:
            _log().warning(
                "canary of %s v%s for tenant %r reset: its candidate gets its share again",
                interface,
                undone.version,
                tenant,
            )
        return undone

    def status(self, tenant: str, interface: str, canary: Canary) -> CanaryStatus:
        planned = self.planned(canary)
        rolled_back = self.rolled_back(tenant, interface, canary)
        track = self._tracks.get((tenant, interface, canary.version))
        counts: dict[str, int] = dict.fromkeys(OUTCOMES, 0)
        window = (0, 0, 0)
        if track is not None:
            with track.lock:
                counts = dict(track.counts)
                window = (len(track.window), track.errors, track.mismatches)
        return CanaryStatus(
            interface,
            canary.version,
            canary.mode,
            0.0 if rolled_back is not None else planned,
            planned,
            next_step(canary.ramp, self.clock()) if canary.ramp else None,
            rolled_back,
            counts,
            window,
        )

    def series(self, canaries: Callable[[str, str], Canary | None]) -> list[CanarySeries]:
        """What each candidate this process has seen calls of did; ``canaries(tenant,
        interface)`` is the canary configured now (None: gone since)."""
        found = []
        # A copy first: tenants' first calls add tracks meanwhile.
        for (tenant, interface, version), track in sorted(list(self._tracks.items())):
            with track.lock:
                counts = dict(track.counts)
                mode = track.mode
            canary = canaries(tenant, interface)
            share, rolled_back = 0.0, False
            if canary is not None and canary.version == version:
                mode = canary.mode
                share = self.share(tenant, interface, canary)
                rolled_back = self.rolled_back(tenant, interface, canary) is not None
            found.append(CanarySeries(tenant, interface, version, mode, counts, share, rolled_back))
        return found


def prometheus_text(series: list[CanarySeries]) -> str:
    """The canaries' series in the Prometheus text format: ``catalog_canary_calls_total`` (by
    outcome), ``catalog_canary_share`` and ``catalog_canary_rolled_back``. Needs
    prometheus_client (the ``prometheus`` extra), as the metrics interceptor's export does."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector

    labels = ("tenant", "interface", "version", "mode")

    class _Collector(Collector):
        def collect(self) -> Iterator[Metric]:
            calls = CounterMetricFamily(
                "catalog_canary_calls",
                "Calls of a canary's candidate version in this process, by outcome",
                labels=(*labels, "outcome"),
            )
            share = GaugeMetricFamily(
                "catalog_canary_share",
                "The share of calls a canary's candidate version gets now",
                labels=labels,
            )
            rolled_back = GaugeMetricFamily(
                "catalog_canary_rolled_back",
                "1 when a canary is rolled back (its candidate gets no calls)",
                labels=labels,
            )
            for row in series:
                values = [row.tenant, row.interface, str(row.version), row.mode]
                for outcome, count in row.counts.items():
                    calls.add_metric([*values, outcome], count)
                share.add_metric(values, row.share)
                rolled_back.add_metric(values, 1.0 if row.rolled_back else 0.0)
            yield from (calls, share, rolled_back)

    # A registry of its own, never the process-wide one (see interceptors.metrics).
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    text: str = generate_latest(registry).decode()
    return text
