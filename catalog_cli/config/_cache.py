"""A parsed catalog file, kept on disk so a large catalog is parsed once, not on every command.

The cache holds what the TOML parser returned, as JSON, next to nothing else: one header line
(the file's size and modification times, its top-level tables, key lines, and where each
tenant's record starts) and one line per tenant. A command reads the header and the records of
the tenants it needs. It is used for files of ``THRESHOLD`` bytes or more (smaller ones parse
in a few milliseconds), kept in ``$CATALOG_CACHE_DIR`` (else the user cache folder), and
rebuilt whenever the catalog file's size, inode or modification time changes;
``CATALOG_NO_CACHE=1`` switches it off.
"""

from __future__ import annotations

import datetime
import hashlib
import json
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
_FORMAT: Final = 1
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


def _loads(data: bytes | str) -> Any:
    # The hook costs on every table: only records that hold a date or time pay for it.
    tagged = _TAG.encode() in data if isinstance(data, bytes) else _TAG in data
    hook = _decode if tagged else None
    return json.loads(data, object_hook=hook)


def _lines(entries: Mapping[tuple[str, ...], int]) -> list[list[Any]]:
    return [[list(key), line] for key, line in entries.items()]


def _unlines(entries: list[list[Any]]) -> dict[tuple[str, ...], int]:
    return {tuple(key): line for key, line in entries}


class CachedDocument(Document):
    """A document read back from the cache; tenants are decoded one at a time."""

    def __init__(self, path: Path, header: dict[str, Any], body: bytes) -> None:
        self._body = body
        self._index: dict[str, list[int]] = header["index"]
        self._records: dict[str, tuple[Any, dict[tuple[str, ...], int]]] = {}
        super().__init__(
            path,
            header["top"],
            list(self._index),
            _toml.LineIndex(_unlines(header["lines"])),
            tenants_table=header.get("tenants_table"),
        )

    def _record(self, tenant: str) -> tuple[Any, dict[tuple[str, ...], int]]:
        found = self._records.get(tenant)
        if found is None:
            start, length = self._index[tenant]
            data = _loads(self._body[start : start + length])
            found = self._records[tenant] = (data["table"], _unlines(data["lines"]))
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
            body = handle.read()
        return CachedDocument(path, header, body)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, stale or damaged: the file is parsed again


def store(path: Path, stat: os.stat_result, document: ParsedDocument) -> None:
    """Keep ``document`` (parsed from ``path`` as ``stat`` describes it) for later commands."""
    records = []
    index: dict[str, list[int]] = {}
    offset = 0
    for tenant, table, lines in document.records():
        data = json.dumps(
            {"table": table, "lines": _lines(lines)}, default=_encode, ensure_ascii=False
        ).encode()
        index[tenant] = [offset, len(data)]
        records.append(data)
        offset += len(data) + 1
    header = {
        "format": _FORMAT,
        "stamp": _stamp(stat),
        "path": str(path),
        "top": document.top,
        "lines": _lines(document.lines.lines),
        "tenants_table": document.tenants_table,
        "index": index,
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
