"""Entry points of installed distributions, cached on disk between runs.

Scanning every installed distribution (and importing ``importlib.metadata``, which pulls in the
email parser) costs tens of milliseconds on each CLI start. The result only changes when
distributions are installed or removed, which changes the modification time of the folder they
are installed in, so the scan is cached under a key made of every ``sys.path`` entry and its
modification time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Final, NamedTuple

from ..config._cache import cache_dir, enabled

#: Every group the catalog reads; one scan fills them all.
GROUPS: Final = ("catalog.hookspecs", "catalog.builtin_plugins", "catalog.plugins")

_FORMAT: Final = 2


class EntryPoint(NamedTuple):
    """One entry point, with what its distribution says about itself (no import needed)."""

    name: str
    #: ``module`` or ``module:attribute`` as declared
    value: str
    distribution: str = ""
    version: str = ""
    summary: str = ""
    author: str = ""

    @property
    def module(self) -> str:
        return self.value.split(":", 1)[0].strip()


def _fingerprint() -> str:
    # A folder's mtime changes when a distribution is installed into it or removed from it;
    # an entry_points.txt edited in place (an editable or hand-made install) changes only its
    # own mtime, so those are part of the key too (one stat per distribution).
    parts = [f"{_FORMAT}", sys.version, sys.prefix]
    for entry in sys.path:
        if not entry:
            continue  # the working directory (python -c, the REPL): it holds no installs
        try:
            parts.append(f"{entry}\0{os.stat(entry).st_mtime_ns}")
            with os.scandir(entry) as found:
                for item in found:
                    if item.name.endswith((".dist-info", ".egg-info")):
                        try:
                            stamp = os.stat(os.path.join(item.path, "entry_points.txt"))
                            parts.append(f"{item.name}\0{stamp.st_mtime_ns}")
                        except OSError:
                            pass  # no entry points declared
        except OSError:
            parts.append(f"{entry}\0-")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _record(ep: Any) -> EntryPoint:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return EntryPoint(ep.name, ep.value)
    meta = dist.metadata
    author = meta.get("Author") or meta.get("Author-email") or ""
    return EntryPoint(
        ep.name,
        ep.value,
        meta.get("Name") or "",
        dist.version or "",
        meta.get("Summary") or "",
        author,
    )


def scan() -> dict[str, list[EntryPoint]]:
    """Group -> entry points, read from the installed distributions' metadata."""
    from importlib.metadata import entry_points

    found: dict[str, list[EntryPoint]] = {}
    for group in GROUPS:
        records = {(r.name, r.value): r for r in map(_record, entry_points(group=group))}
        found[group] = sorted(records.values())
    return found


def entries(group: str) -> list[EntryPoint]:
    """The entry points installed distributions declare under ``group`` (cached, see above)."""
    if not enabled():
        return scan()[group]
    path = cache_dir() / f"entry-points-{_fingerprint()}.json"
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        return [EntryPoint(*record) for record in cached[group]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = scan()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(found), encoding="utf-8")
        os.replace(temporary, path)  # atomic: a concurrent reader sees all of it or none
        _prune(path.parent)
    except OSError:
        pass  # a read-only home only costs the next start another scan
    return found[group]


def modules(group: str) -> list[str]:
    """The distinct modules declared under ``group``."""
    return sorted({ep.module for ep in entries(group)})


def _prune(folder: Path, keep: int = 8) -> None:
    """Keep the newest few caches: each environment (and each script folder) has its own."""
    caches = sorted(folder.glob("entry-points-*.json"), key=lambda p: p.stat().st_mtime)
    for stale in caches[:-keep]:
        stale.unlink(missing_ok=True)
