"""The ``record`` interceptor: each call it wraps, as one JSON line in a recording file.

``catalog replay RECORDING`` (``catalog_cli.replay``) runs the recorded calls again, against
the code and versions of now, and says which give the same answer. Switch it on for the
tenants and interfaces to record::

    [interceptors.record]
    include = { interfaces = ["price_quote"] }
    settings = { path = "recordings/calls.jsonl", sample = 0.1 }

**A line** is a JSON object: ``format`` (1), ``time`` (UTC, ISO 8601, when the call ended),
``call_id``, ``tenant``, ``interface``, ``version``, ``version_source``, ``arguments`` (as the
method received them, defaults filled in), ``outcome`` (``"ok"`` or ``"error"``), then
``result`` (ok) or ``error`` (``kind``, ``type``, ``message``, and ``plugin`` and ``cause``
when known), and ``duration_ms``. Markers, only when they apply: ``redacted`` (the paths of
the arguments written as ``***``), ``redact`` (the name patterns, when not the defaults),
``result_repr`` in place of ``result`` and ``arguments_repr`` in place of ``arguments`` for
values that are not JSON (their ``repr``: a replay cannot compare or repeat them).

**Secrets.** Arguments whose name contains one of ``redact`` (any case, ``-`` and ``_`` alike,
nested dicts and lists too) are written as ``***``, and so are such keys in results. When an
argument was redacted, its value is also cut out of the error message, the result's strings
and a ``result_repr``, so a secret that a method echoes does not reach the file either. Such a
call cannot be replayed (its arguments are gone) and is skipped by a replay, saying why.

**Sampling** is decided by the call id: a call is recorded when a hash of its id falls under
``sample``, so the same id is always decided the same way (a job run again under its id, a
call id given by an HTTP client) and any process agrees on it.

**Writing.** Each line is one ``write()`` to a file opened with ``O_APPEND``, straight to the
operating system with no buffer of ours, so threads and processes may record into the same
file at once without mixing their lines, and a process that dies loses at most the line it
was writing. A line longer than ``PIPE_BUF`` (4 KiB on Linux) is written under an exclusive
``flock`` of the file, which other writers of long lines and rotations take too. When the file
reaches ``max_bytes`` it is renamed ``FILE.1`` (older ones to ``FILE.2``..., up to
``backups``) and a new one started; with ``backups = 0`` recording stops instead, until the
file is moved away. A file is created readable by its owner only, its folder if missing.

**Recording never fails a call.** A line that cannot be built or written is dropped; the
problem is logged on ``catalog.interceptors.record`` at most once a minute per file, with the
number of lines lost; a file that cannot be opened is tried again a second later.

Its default place, ``ORDER`` 450, is inside ``rate_limit`` and ``circuit_breaker`` (their
refusals never ran the method: nothing to replay) and outside ``cache``, ``retry`` and
``timeout``: a line holds what the caller got, one line for all the attempts of a retried
call. Calls made inside :func:`paused` are not recorded (a replay's own calls).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import logging
import os
import select
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

from catalog_cli import PluginMeta, hookimpl
from catalog_cli.config import Option, Options, at_least
from catalog_cli.errors import CatalogError, PluginCallError
from catalog_cli.runtime import SECRET_NAMES, folded

if TYPE_CHECKING:
    from catalog_cli import Call, InterceptorContext

#: The version of the line format; a reader refuses lines of another.
FORMAT: Final = 1

#: What a redacted value is written as (as ``catalog_cli.runtime.redact`` writes it).
REDACTED: Final = "***"

DEFAULT_PATH: Final = "recording.jsonl"
DEFAULT_MAX_BYTES: Final = 100 * 1024 * 1024


def _sample_rate(value: Any) -> str | None:
    return None if 0 < value <= 1 else "must be above 0 and at most 1"


def _a_path(value: Any) -> str | None:
    if not value.strip():
        return "must name a file"
    return "must not contain a NUL character" if "\0" in value else None


PLUGIN = PluginMeta(
    description="Writes each call (arguments, result or error, version, duration) as a JSON "
    "line to a recording file, for `catalog replay`",
    settings=Options(
        Option(
            "path",
            "str",
            DEFAULT_PATH,
            "the recording file; a relative path is relative to the catalog file's folder",
            _a_path,
        ),
        Option(
            "sample",
            "float",
            1.0,
            "the share of calls recorded (above 0, at most 1), decided by a hash of the call id",
            _sample_rate,
        ),
        Option(
            "redact",
            "strings",
            SECRET_NAMES,
            "argument names (case-insensitive substrings) whose values are written as ***, "
            "also as keys in results",
        ),
        Option(
            "max_bytes",
            "int",
            DEFAULT_MAX_BYTES,
            "the size at which the file is rotated to FILE.1 (0: no limit)",
            at_least(0),
        ),
        Option(
            "backups",
            "int",
            1,
            "rotated files kept (FILE.1 the newest); 0: stop recording when the file is full",
            at_least(0),
        ),
    ),
)

#: inside rate_limit (300) and circuit_breaker (400), outside cache (500) and retry (600)
ORDER: Final = 450

NAME: Final = "record"

#: seconds between looks at the file on disk (rotated by another process, moved away)
CHECK_SECONDS: Final = 1.0
#: seconds before a file that could not be opened is tried again
RETRY_SECONDS: Final = 1.0
#: seconds between two warnings about the same file
WARN_SECONDS: Final = 60.0

#: Lines up to this size are written by one write() that no other writer's line can split
#: (POSIX promises it for pipes; regular files do at least as well); 512 is POSIX's minimum.
PIPE_BUF: Final[int] = getattr(select, "PIPE_BUF", 512)

# Read through the module so tests can replace them.
_now = time.monotonic
_wall = time.time
_clock = time.perf_counter

_log = logging.getLogger(f"catalog.interceptors.{NAME}")

_paused: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "catalog_record_paused", default=False
)


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Calls made in this context (this thread, and threads it copies its context to) are not
    recorded: a replay's own calls must not land in the recording they come from."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


def sampled(call_id: str, rate: float) -> bool:
    """Whether the call ``call_id`` is among the ``rate`` share recorded (the same answer for
    the same id, in any process)."""
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(call_id.encode("utf-8", "replace"), digest_size=8).digest()
    return int.from_bytes(digest, "big") < rate * 2.0**64


def comparable(value: Any, patterns: tuple[str, ...]) -> tuple[bool, str]:
    """``value`` as a recording holds it, redacted by ``patterns`` (folded): ``(True, its JSON
    text)`` (tuples become arrays, keys strings; ``json.dumps``' defaults), or ``(False, its
    repr)`` when it is not JSON. A replay compares a new result in this form with the recorded
    one."""
    hidden = redacted(value, patterns)
    try:
        return True, json.dumps(hidden, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False, _repr(hidden)


def patterns_of(names: Any) -> tuple[str, ...]:
    """Name patterns as matched: folded (lower case, ``_`` for ``-``)."""
    return tuple(folded(str(name)) for name in names)


# -- the hook -------------------------------------------------------------------------------


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    if _paused.get():
        return (yield)
    settings = ctx.settings
    rate: float = settings["sample"]
    if rate < 1.0 and not sampled(call.call_id, rate):
        return (yield)
    started = _clock()
    try:
        result = yield
    except (Exception, SystemExit) as exc:  # a plugin's sys.exit() fails its call too
        _record(ctx, call, _clock() - started, None, exc)
        raise
    _record(ctx, call, _clock() - started, result, None)
    return result


def _record(
    ctx: InterceptorContext,
    call: Call,
    seconds: float,
    result: Any,
    error: BaseException | None,
) -> None:
    settings = ctx.settings
    try:
        path = _where(ctx, call, settings["path"])
        data = _line(call, settings, _patterns(ctx, settings["redact"]), seconds, result, error)
    except Exception as exc:
        # A line that cannot be built (a repr that raises, say) must not change the call's
        # outcome, nor replace the exception the call raised.
        _warn_once(ctx.state, f"cannot build the record of call {call.call_id}", exc)
        return
    try:
        _writer(path).write(data, settings["max_bytes"], settings["backups"])
    except Exception as exc:  # write() handles I/O errors: this is a bug, still not the call's
        _warn_once(ctx.state, f"cannot record call {call.call_id}", exc)


def _where(ctx: InterceptorContext, call: Call, raw: str) -> str:
    """The recording's absolute path (kept for the next call: paths are slow to build)."""
    base = call.catalog_path
    kept = ctx.state.get("where")
    if kept is not None and kept[0] == raw and kept[1] is base:
        return kept[2]  # type: ignore[no-any-return]
    folder = os.path.dirname(os.path.abspath(base)) if base is not None else os.getcwd()
    found = os.path.normpath(os.path.join(folder, os.path.expanduser(raw)))
    ctx.state["where"] = (raw, base, found)
    return found


def _patterns(ctx: InterceptorContext, names: tuple[str, ...]) -> tuple[str, ...]:
    kept = ctx.state.get("patterns")
    if kept is not None and kept[0] == names:
        return kept[1]  # type: ignore[no-any-return]
    found = patterns_of(names)
    ctx.state["patterns"] = (names, found)
    return found


def _warn_once(state: dict[str, Any], what: str, exc: BaseException) -> None:
    now = _now()
    if now < state.get("warned_at", -WARN_SECONDS) + WARN_SECONDS:
        return
    state["warned_at"] = now
    _log.warning("%s (not recorded): %s: %s", what, type(exc).__name__, exc)


# -- the line -------------------------------------------------------------------------------


def _line(
    call: Call,
    settings: Mapping[str, Any],
    patterns: tuple[str, ...],
    seconds: float,
    result: Any,
    error: BaseException | None,
) -> bytes:
    hidden: list[str] = []
    secrets: list[str] = []
    arguments = _hide(call.arguments, patterns, "", hidden, secrets)
    data: dict[str, Any] = {
        "format": FORMAT,
        "time": _timestamp(_wall()),
        "call_id": call.call_id,
        "tenant": call.tenant,
        "interface": call.interface,
        "version": call.version,
        "version_source": call.version_source,
        "arguments": arguments,
    }
    if hidden:
        data["redacted"] = hidden
    if tuple(settings["redact"]) != SECRET_NAMES:
        data["redact"] = list(settings["redact"])
    if error is None:
        data["outcome"] = "ok"
        data["result"] = redacted(result, patterns)
    else:
        data["outcome"] = "error"
        data["error"] = _error(error)
    data["duration_ms"] = round(seconds * 1000, 3)
    if not secrets:
        return _encode(data, [])
    # Longest first: a secret that holds another is cut out whole.
    ordered = sorted(set(secrets), key=len, reverse=True)
    for key in ("result", "error"):
        if key in data:
            data[key] = _scrub(data[key], ordered)
    return _encode(data, ordered)


_ATOMS: Final = frozenset({str, int, float, bool, type(None)})

#: patterns -> {name: whether it names a secret}: the same few names (a method's parameters,
#: its result's keys) come on every call, so each is matched once
_known: dict[tuple[str, ...], dict[str, bool]] = {}
_KNOWN_NAMES: Final = 4096


def _names(patterns: tuple[str, ...]) -> dict[str, bool]:
    found = _known.get(patterns)
    if found is None:
        found = _known.setdefault(patterns, {})  # atomic: racing threads share one
    return found


def _secret(key: object, value: Any, patterns: tuple[str, ...], names: dict[str, bool]) -> bool:
    # None and "" hide nothing: written as they are, the call can still be replayed (an
    # optional password not given, say).
    if value is None or (isinstance(value, str) and not value) or not isinstance(key, str):
        return False
    hit = names.get(key)
    if hit is None:
        folded_key = folded(key)
        hit = any(pattern in folded_key for pattern in patterns)
        if len(names) < _KNOWN_NAMES:  # names made up per call must not grow it for ever
            names[key] = hit
    return hit


def redacted(value: Any, patterns: tuple[str, ...]) -> Any:
    """``value`` with the values of keys that match ``patterns`` (folded) as ``***``, in
    nested mappings, lists and tuples too (None and ``""`` are left as they are). What has
    nothing to redact is returned as it is, not copied."""
    kind = type(value)
    if kind in _ATOMS:  # most values: checked first, cheaply
        return value
    if kind is dict or isinstance(value, Mapping):
        names = _names(patterns)
        shown = {
            key: REDACTED if _secret(key, item, patterns, names) else redacted(item, patterns)
            for key, item in value.items()
        }
        if kind is dict and all(shown[key] is item for key, item in value.items()):
            return value
        return shown
    if kind is list or kind is tuple or isinstance(value, (list, tuple)):
        items = [redacted(item, patterns) for item in value]
        if kind is list and all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    return value


def _hide(
    value: Any, patterns: tuple[str, ...], path: str, hidden: list[str], secrets: list[str]
) -> Any:
    """``value`` with secrets as ``***``; the paths hidden and the text of each secret value
    are added to ``hidden`` and ``secrets``."""
    if isinstance(value, Mapping):
        names = _names(patterns)
        shown: dict[Any, Any] = {}
        for key, item in value.items():
            if _secret(key, item, patterns, names):
                shown[key] = REDACTED
                hidden.append(f"{path}.{key}" if path else str(key))
                _leaves(item, secrets)
            elif type(item) not in _ATOMS and isinstance(item, (Mapping, list, tuple)):
                where = f"{path}.{key}" if path else str(key)
                shown[key] = _hide(item, patterns, where, hidden, secrets)
            else:
                shown[key] = item
        return shown
    if isinstance(value, (list, tuple)):
        return [
            _hide(item, patterns, f"{path}[{index}]", hidden, secrets)
            for index, item in enumerate(value)
        ]
    return value


def _leaves(value: Any, found: list[str]) -> None:
    """The text of every scalar in ``value``, as a message or a repr would show it."""
    if isinstance(value, Mapping):
        for item in value.values():
            _leaves(item, found)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _leaves(item, found)
    elif value is not None:
        text = value if isinstance(value, str) else repr(value)
        if text:
            found.append(text)


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, Mapping):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(item, secrets) for item in value]
    return value


def _error(exc: BaseException) -> dict[str, Any]:
    if not isinstance(exc, CatalogError):
        # As the caller gets it: the catalog wraps it in a PluginCallError outside the
        # interceptors, where the plugin to blame is found (it is not known here).
        return {
            "kind": PluginCallError.kind,
            "type": PluginCallError.__name__,
            "message": f"{type(exc).__name__}: {exc}",
            "cause": type(exc).__name__,
        }
    record = exc.record()
    error: dict[str, Any] = {"kind": record.kind, "type": record.type, "message": record.message}
    if record.plugin is not None:
        error["plugin"] = record.plugin
    cause = (record.details or {}).get("cause")
    if isinstance(cause, str):
        error["cause"] = cause
    return error


#: the last whole second formatted, and its text (one tuple, replaced whole: threads share it)
_second: list[tuple[int, str]] = [(-1, "")]


def _timestamp(seconds: float) -> str:
    whole = int(seconds)
    last = _second[0]
    if last[0] != whole:
        last = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
        _second[0] = last
    return f"{last[1]}.{int((seconds - whole) * 1000):03d}Z"


def _repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a repr of the plugin's own that fails
        return f"<{type(value).__qualname__} whose repr raised {type(exc).__name__}>"


_encoder: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _dumps(data: Any) -> str:
    return _encoder.encode(data)


def _fits(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _encode(data: dict[str, Any], secrets: list[str]) -> bytes:
    try:
        text = _dumps(data)
    except (TypeError, ValueError, RecursionError):
        # Something is not JSON: written as its repr, marked, in place of the value.
        for key in ("arguments", "result"):
            if key in data and not _fits(data[key]):
                shown = _repr(data.pop(key))
                data[f"{key}_repr"] = _scrub(shown, secrets) if secrets else shown
        text = _dumps(data)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate in a string: escaped, the line stays valid UTF-8 and the same JSON.
        return (json.dumps(data, allow_nan=False, separators=(",", ":")) + "\n").encode("ascii")


# -- the file -------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(fd: int) -> Iterator[None]:
    """An exclusive flock of the file ``fd`` is open on (where there is flock)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: lines up to PIPE_BUF only are safe
        yield
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _append(fd: int, data: bytes) -> None:
    if len(data) <= PIPE_BUF:
        written = os.write(fd, data)
        if written == len(data):
            return
        data = data[written:]  # a full disk, say: the rest may land apart from the start
    with _locked(fd):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]


class _Writer:
    """One recording file of this process: its descriptor, shared by every tenant and thread
    that writes there (appends need no offset of their own)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.fd: int | None = None
        self.inode: tuple[int, int] | None = None
        #: this file's size as last seen, plus what was written here since
        self.size = 0
        self.checked = 0.0
        self.retry_at = 0.0
        #: backups = 0 and the file is full: nothing is written until it is moved away
        self.full = False
        self.warned_at = -WARN_SECONDS
        self.lost = 0

    def write(self, data: bytes, max_bytes: int, backups: int) -> None:
        with self.lock:
            now = _now()
            try:
                if self.fd is None:
                    if now < self.retry_at:
                        self.lost += 1
                        return
                    self._open(now)
                elif now >= self.checked + CHECK_SECONDS:
                    self._look(now)
                if max_bytes and self.size and self.size + len(data) > max_bytes:
                    self._rotate(now, len(data), max_bytes, backups)
                else:
                    self.full = False  # room again: emptied, or max_bytes raised by a reload
                if self.full or self.fd is None:
                    self.lost += 1
                    return
                _append(self.fd, data)
                self.size += len(data)
            except OSError as exc:
                self._failed(now, exc)

    def _open(self, now: float) -> None:
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(self.path, flags, 0o600)
        try:
            status = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        self.fd = fd
        self.inode = (status.st_dev, status.st_ino)
        self.size = status.st_size
        self.checked = now
        self.full = False

    def _close(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            with contextlib.suppress(OSError):
                os.close(fd)

    def _look(self, now: float) -> None:
        """Follow the file on disk: another process rotated it, or it was moved away."""
        self.checked = now
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            status = None
        if status is None or (status.st_dev, status.st_ino) != self.inode:
            self._close()
            self._open(now)
            return
        self.size = status.st_size

    def _rotate(self, now: float, adding: int, max_bytes: int, backups: int) -> None:
        if not self.full:  # when full, the look once a second in write() is enough
            self._look(now)  # another process may have rotated it already
        if not self.size or self.size + adding <= max_bytes:
            self.full = False
            return
        if backups == 0:
            if not self.full:
                self.full = True
                _log.warning(
                    "the recording %s has reached max_bytes (%d): calls are not recorded "
                    "until it is moved away (or backups is above 0)",
                    self.path,
                    max_bytes,
                )
            return
        assert self.fd is not None
        with _locked(self.fd):
            # Under the lock, the file is still ours to rotate only if nobody did it since.
            try:
                status = os.stat(self.path)
            except FileNotFoundError:
                status = None
            if status is not None and (status.st_dev, status.st_ino) == self.inode:
                for number in range(backups - 1, 0, -1):
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(f"{self.path}.{number}", f"{self.path}.{number + 1}")
                os.replace(self.path, f"{self.path}.1")
        self._close()
        self._open(now)

    def _failed(self, now: float, exc: OSError) -> None:
        self._close()
        self.retry_at = now + RETRY_SECONDS
        self.lost += 1
        if now < self.warned_at + WARN_SECONDS:
            return
        self.warned_at = now
        lost, self.lost = self.lost, 0
        _log.warning(
            "cannot write the recording %s: %s: %s; calls are not recorded (%d line(s) lost "
            "since the last warning); trying again",
            self.path,
            type(exc).__name__,
            exc,
            lost,
        )


_writers: dict[str, _Writer] = {}
_writers_lock = threading.Lock()


def _writer(path: str) -> _Writer:
    found = _writers.get(path)
    if found is None:
        with _writers_lock:
            found = _writers.setdefault(path, _Writer(path))
    return found


def close_files() -> None:
    """Close the recording files this process holds open (the next line opens them again)."""
    with _writers_lock:
        writers = list(_writers.values())
        _writers.clear()
    for writer in writers:
        with writer.lock:
            writer._close()


def _after_fork() -> None:
    # A forked child may inherit a writer's lock held by a thread that does not exist there.
    global _writers, _writers_lock  # noqa: PLW0603 - new ones for the child
    for writer in _writers.values():
        if writer.fd is not None:
            with contextlib.suppress(OSError):
                os.close(writer.fd)
    _writers = {}
    _writers_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
