"""A listing kept on disk for the next run, used while nothing it was made from has changed.

``catalog plugins list`` loads the catalog to say what it shows: it imports the engine, reads
catalog.toml and the declarations, imports and checks every selected plugin (40 ms and more
before anything is printed, far more than printing takes). What it shows depends on nothing
but files and the process's settings, so the rows it printed are kept, with a stamp (size,
modification and change times, inode) of every file and folder the run could have read, and
the next run with the same settings prints them after checking those stamps: about a
millisecond, and no engine imported.

What counts as read, recorded while the listing is made (``Recording``):

- every file opened for reading (Python's audit events: catalog.toml, the plugin state file,
  plugin sources, bytecode), and the folder holding it (a file added next to it);
- every folder listed (plugin folders), every folder the import system searched, every
  ``sys.path`` entry (a package installed or removed), and each installed distribution's
  entry points;
- the file of every module imported by then (a plugin's own imports, the catalog's code), the
  standard library's aside (the Python version is in the key).

The key holds the catalog file, the command's options, the working folder, the interpreter,
``sys.path`` and a checksum of the whole environment. A listing is not kept when making it
started a process (what a child reads is not seen here), wrote anything on stdout or stderr
(a warning, a plugin's print: a cached run would not repeat it), or when something it depends
on changed in the two seconds before (file times are coarse: a change as quick after it
might leave its stamp as it was; the next run keeps it then); none is used or kept
with ``-v`` (plugin logs are wanted then) or with ``CATALOG_NO_CACHE=1``. What a plugin's
import depends on besides files and the environment (the time, the network) is not seen: such
a plugin is listed as it loaded when the listing was kept.

Kept in ``$CATALOG_CACHE_DIR/listings`` (else the user cache folder); the catalog's own caches
in that folder are not part of any key (each is checked by its own).
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

#: The same folder and switch as the catalog's own caches (``config._cache``, which is not
#: imported here: it brings hashlib and json); a test holds them equal.
CACHE_DIR_VAR: Final = "CATALOG_CACHE_DIR"
NO_CACHE_VAR: Final = "CATALOG_NO_CACHE"
_FORMAT: Final = 1

#: Audit events that start another process: a listing made with one is not kept.
_PROCESS_EVENTS: Final = frozenset(
    {
        "os.exec",
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.spawn",
        "os.system",
        "subprocess.Popen",
    }
)
#: A listing is not kept if a file or folder it depends on changed this shortly before it
#: was made, or since: a change as quick after it might not change the stamp (file times
#: are as coarse as a clock tick here, two seconds on some file systems).
RECENT_NS: Final = 2_000_000_000
_WRITE_FLAGS: Final = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

Stamp = tuple[int, int, int, int] | None


def cache_dir() -> str:
    """Where task-catalog keeps what it can compute again (as ``config._cache.cache_dir``)."""
    configured = os.environ.get(CACHE_DIR_VAR)
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "task-catalog")


def enabled() -> bool:
    return not os.environ.get(NO_CACHE_VAR)


def _stamp(path: str) -> Stamp:
    try:
        found = os.stat(path)
    except (OSError, ValueError):
        return None
    return (found.st_size, found.st_ino, found.st_mtime_ns, found.st_ctime_ns)


def _checksum(text: str) -> int:
    data = text.encode("utf-8", "surrogateescape")
    return zlib.crc32(data) << 32 | zlib.adler32(data)


def _key(kind: str, options: Sequence[str | bool | None]) -> tuple[Any, ...]:
    return (
        _FORMAT,
        kind,
        tuple(options),
        os.getcwd(),
        sys.executable,
        sys.version,
        tuple(sys.path),
        tuple(sys.warnoptions),
    )


def _environment() -> int:
    return _checksum("\0".join(f"{name}={value}" for name, value in sorted(os.environ.items())))


def _location(key: tuple[Any, ...]) -> str:
    name = f"{key[1]}-{_checksum(repr(key)):016x}.marshal"
    return os.path.join(cache_dir(), "listings", name)


def lookup(kind: str, options: Sequence[str | bool | None]) -> Any:
    """What ``store`` kept for ``kind`` with these ``options``, if nothing it was made from
    changed since; else None."""
    if not enabled():
        return None
    try:
        key = _key(kind, options)
        with open(_location(key), "rb") as handle:
            kept = marshal.loads(handle.read())
        if kept["key"] != key or kept["environment"] != _environment():
            return None
        for path, stamp in zip(kept["paths"], kept["stamps"], strict=True):
            if _stamp(path) != stamp:
                return None
        return kept["value"]
    except Exception:
        return None  # none yet, stale or damaged (or no working folder): made afresh


class _Watched:
    """A stream that passes everything on and notes that something was written."""

    def __init__(self, stream: Any, recording: Recording) -> None:
        self._stream = stream
        self._recording = recording

    def write(self, text: str) -> int:
        if text:
            self._recording.clean = False
        return int(self._stream.write(text))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Recording:
    """What the process reads, lists and starts while it is active (see the module)."""

    def __init__(self) -> None:
        #: each file opened for reading, and its stamp when it was first opened
        self.opened: dict[str, Stamp] = {}
        self.listed: dict[str, None] = {}
        #: False once a process was started or anything was written to stdout or stderr
        self.clean = True
        self.started_ns = time.time_ns()

    def _event(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = args
            path = _name(path)
            if path is None:
                return  # a file descriptor: nothing to stamp by name
            if mode is None:
                writing = bool(flags & _WRITE_FLAGS) if isinstance(flags, int) else True
            else:
                writing = any(letter in mode for letter in "wax+")
            if not writing:
                path = os.path.abspath(path)
                if path not in self.opened:
                    self.opened[path] = _stamp(path)
        elif event in ("os.listdir", "os.scandir"):
            path = _name("." if args[0] is None else args[0])
            if path is not None:
                self.listed[os.path.abspath(path)] = None
        elif event in _PROCESS_EVENTS:
            self.clean = False

    def depends_on(self, *paths: str) -> None:
        """Files the listing depends on whether or not they were opened (a catalog file read
        through a cache of its own, a state file that does not exist yet)."""
        for given in paths:
            path = os.path.abspath(given)
            if path not in self.opened:
                self.opened[path] = _stamp(path)

    def paths(self) -> list[str]:
        """Every file and folder whose stamp the listing depends on (see the module)."""
        found: dict[str, None] = {}
        for path in self.opened:
            found[path] = None
            found[os.path.dirname(path)] = None
        found.update(self.listed)
        for entry in sys.path:
            found[os.path.abspath(entry or ".")] = None
            found.update(dict.fromkeys(_entry_point_files(entry)))
        for searched in list(sys.path_importer_cache):
            if isinstance(searched, str):
                found[os.path.abspath(searched)] = None
        standard = os.path.dirname(os.__file__) + os.sep
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str) and not _standard(file, standard):
                found[os.path.abspath(file)] = None
        own = os.path.abspath(cache_dir())
        return [path for path in found if not _inside(path, own)]


def _name(path: object) -> str | None:
    """A path as an audit event gives it (text, bytes or a path object), as text; None for
    a file descriptor."""
    if isinstance(path, str):
        return path
    if isinstance(path, (bytes, os.PathLike)):
        return os.fsdecode(path)
    return None


def _entry_point_files(entry: str) -> list[str]:
    """The entry-point files of the distributions installed in ``entry``: the catalog finds
    plugins by them (an edited one changes no folder)."""
    try:
        with os.scandir(entry or ".") as items:
            return [
                os.path.join(item.path, "entry_points.txt")
                for item in items
                if item.name.endswith((".dist-info", ".egg-info"))
            ]
    except OSError:
        return []


def _standard(file: str, standard: str) -> bool:
    return file.startswith(standard) and "-packages" + os.sep not in file[len(standard) :]


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + os.sep)


#: the recordings under way, innermost last; ``_hooked`` holds True once the hook is in place
_active: list[Recording] = []
_hooked: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _active:
        _active[-1]._event(event, args)


@contextmanager
def recording() -> Iterator[Recording]:
    """Record what the process reads meanwhile (nothing is recorded with the cache off)."""
    found = Recording()
    if not enabled():
        found.clean = False
        yield found
        return
    if not _hooked:
        sys.addaudithook(_audit)  # one for the life of the process: hooks cannot be removed
        _hooked.append(True)
    streams = sys.stdout, sys.stderr
    if sys.stdout is not None:
        sys.stdout = _Watched(sys.stdout, found)
    if sys.stderr is not None:
        sys.stderr = _Watched(sys.stderr, found)
    _active.append(found)
    try:
        yield found
    finally:
        _active.remove(found)
        sys.stdout, sys.stderr = streams


def store(kind: str, options: Sequence[str | bool | None], value: Any, recorded: Recording) -> None:
    """Keep ``value``, made while ``recorded`` was active, for ``lookup`` (unless something
    was seen that a cached run would not repeat)."""
    if not recorded.clean or not enabled():
        return
    # What cannot be kept only costs the next run the whole listing.
    with contextlib.suppress(Exception):
        _store(kind, options, value, recorded)


def _store(
    kind: str, options: Sequence[str | bool | None], value: Any, recorded: Recording
) -> None:
    key = _key(kind, options)
    paths = recorded.paths()
    stamps = [_stamp(path) for path in paths]
    recent = recorded.started_ns - RECENT_NS
    for path, stamp in zip(paths, stamps, strict=True):
        if recorded.opened.get(path, stamp) != stamp:
            return  # changed while it was read: what was made may mix old and new
        if stamp is not None and max(stamp[2], stamp[3]) > recent:
            return  # changed just now: a change as quick after it might keep its stamp
    try:
        data = marshal.dumps(
            {
                "key": key,
                "environment": _environment(),
                "paths": paths,
                "stamps": stamps,
                "value": value,
            }
        )
    except ValueError:
        return  # a value marshal cannot keep: nothing is kept
    target = _location(key)
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        temporary = f"{target}.{os.getpid()}.tmp"
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, target)  # readers see the whole file or none of it
    except OSError:
        pass  # a read-only home only costs the next run the whole listing
