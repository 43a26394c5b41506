"""A parsed catalog file, kept on disk so a large catalog is parsed once, not on every command.

The cache holds what the TOML parser returned, as JSON, next to nothing else: one header line
(the file's size and modification times, its top-level tables and key lines, its tenants' ids
and where each tenant's record starts) and one line per tenant (its table, and the lines of
its keys, written below ``tenants.<id>``). A command maps the file into memory, reads the
header, and decodes the records of the tenants it needs, when it needs them: a command about
one tenant of a hundred thousand reads one record. It is used for files of ``THRESHOLD`` bytes
or more (smaller ones parse in a few milliseconds), kept in ``$CATALOG_CACHE_DIR`` (else the
user cache folder), and rebuilt whenever the catalog file's size, inode or modification time
changes; ``CATALOG_NO_CACHE=1`` switches it off.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import mmap
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from . import _toml
from ._document import Document, ParsedDocument

#: Set to a folder to keep caches there; set CATALOG_NO_CACHE=1 to read everything afresh.
CACHE_DIR_VAR: Final = "CATALOG_CACHE_DIR"
NO_CACHE_VAR: Final = "CATALOG_NO_CACHE"
#: Catalog files at least this large are cached.
THRESHOLD: Final = 256 * 1024
_FORMAT: Final = 2
#: TOML's dates and times have no JSON form: they are written as {_TAG: kind, "v": text}.
_TAG: Final = "\x00toml"


def cache_dir() -> Path:
    """Where task-catalog keeps what it can compute again (never needed, only faster)."""
    configured = os.environ.get(CACHE_DIR_VAR)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "task-catalog"


def enabled() -> bool:
    return not os.environ.get(NO_CACHE_VAR)


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns]


def _location(path: Path) -> Path:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return cache_dir() / "catalogs" / f"{digest}.json"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return {_TAG: "datetime", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {_TAG: "date", "v": value.isoformat()}
    if isinstance(value, datetime.time):
        return {_TAG: "time", "v": value.isoformat()}
    raise TypeError(f"{type(value).__name__} is not a TOML value")


def _decode(table: dict[str, Any]) -> Any:
    kind = table.get(_TAG)
    if kind is None or len(table) != 2:
        return table
    text = table["v"]
    if kind == "datetime":
        return datetime.datetime.fromisoformat(text)
    if kind == "date":
        return datetime.date.fromisoformat(text)
    return datetime.time.fromisoformat(text)


#: The tag as JSON writes it (a NUL is escaped): what a record holding a date or time contains.
_TAG_JSON: Final = json.dumps(_TAG)[1:-1]


def _loads(data: bytes | str) -> Any:
    # The hook costs on every table: only records that hold a date or time pay for it.
    tagged = _TAG_JSON.encode() in data if isinstance(data, bytes) else _TAG_JSON in data
    hook = _decode if tagged else None
    return json.loads(data, object_hook=hook)


def _lines(entries: Mapping[tuple[str, ...], int], prefix: tuple[str, ...] = ()) -> list[list[Any]]:
    size = len(prefix)
    return [[list(key[size:]), line] for key, line in entries.items()]


def _unlines(entries: list[list[Any]], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    return {(*prefix, *key): line for key, line in entries}


class CachedDocument(Document):
    """A document read back from the cache; each tenant's record is decoded when asked for,
    and not kept (the configuration checked from it is)."""

    def __init__(self, path: Path, header: dict[str, Any], body: mmap.mmap, start: int) -> None:
        self._body = body
        #: where each tenant's record starts in ``body``, by the tenant's position
        self._offsets: list[int] = header["offsets"]
        #: the record decoded last: a tenant's table and its key lines are asked for in turn
        self._last: tuple[str, tuple[Any, dict[tuple[str, ...], int]]] | None = None
        self._start = start
        super().__init__(
            path,
            header["top"],
            header["tenants"],
            _toml.LineIndex(_unlines(header["lines"])),
            tenants_table=header.get("tenants_table"),
        )

    def _record(self, tenant: str) -> tuple[Any, dict[tuple[str, ...], int]]:
        last = self._last
        if last is not None and last[0] == tenant:
            return last[1]
        position = self.tenant_ids[tenant]
        begin = self._start + self._offsets[position]
        end = self._body.find(b"\n", begin)
        data = _loads(self._body[begin : end if end >= 0 else len(self._body)])
        found = (data["table"], _unlines(data["lines"], ("tenants", tenant)))
        self._last = (tenant, found)
        return found

    def tenant(self, tenant: str) -> Any:
        return self._record(tenant)[0]

    def tenant_lines(self, tenant: str) -> Mapping[tuple[str, ...], int]:
        return self._record(tenant)[1]


def load(path: Path, stat: os.stat_result) -> CachedDocument | None:
    """The cached document of ``path`` as it is now, or None."""
    try:
        with open(_location(path), "rb") as handle:
            header = _loads(handle.readline())
            if header.get("format") != _FORMAT or header.get("stamp") != _stamp(stat):
                return None
            start = handle.tell()
            # Mapped, not read: a command pages in the records it decodes, and no more.
            body = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if len(header["offsets"]) != len(header["tenants"]):
            return None
        return CachedDocument(path, header, body, start)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, stale or damaged: the file is parsed again


def store(path: Path, stat: os.stat_result, document: ParsedDocument) -> None:
    """Keep ``document`` (parsed from ``path`` as ``stat`` describes it) for later commands."""
    records = []
    tenants = []
    offsets = []
    offset = 0
    for tenant, table, lines in document.records():
        data = json.dumps(
            {"table": table, "lines": _lines(lines, ("tenants", tenant))},
            default=_encode,
            ensure_ascii=False,
        ).encode()
        tenants.append(tenant)
        offsets.append(offset)
        records.append(data)
        offset += len(data) + 1
    header = {
        "format": _FORMAT,
        "stamp": _stamp(stat),
        "path": str(path),
        "top": document.top,
        "lines": _lines(document.lines.lines),
        "tenants_table": document.tenants_table,
        "tenants": tenants,
        "offsets": offsets,
    }
    target = _location(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(json.dumps(header, default=_encode, ensure_ascii=False).encode())
            handle.write(b"\n")
            for data in records:
                handle.write(data)
                handle.write(b"\n")
        os.replace(temporary, target)  # readers see the whole cache or none of it
    except (OSError, TypeError, ValueError):
        pass  # a read-only home only costs the next command another parse
