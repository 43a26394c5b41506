"""Reading TOML with the line of each key, so errors can say where they are."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Any, Final

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError

_HEADER: Final = re.compile(r"^\s*\[\[?\s*(?P<key>[^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN: Final = re.compile(r"^\s*(?P<key>(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-.\s])+?)\s*=")
_BARE: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_DECODE_LINE: Final = re.compile(r"line (\d+)")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def loads(text: str) -> dict[str, Any]:
    document: dict[str, Any] = tomllib.loads(text)
    return document


def decode_error_line(exc: Exception, text: str | None = None) -> int | None:
    """The line a TOMLDecodeError points at, read from its message.

    An error "at end of document" (an unclosed array or table) names no line: with ``text``,
    that is its last line.
    """
    lineno = getattr(exc, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    match = _DECODE_LINE.search(str(exc))
    if match:
        return int(match.group(1))
    if text is not None and "end of document" in str(exc):
        return max(len(text.splitlines()), 1)
    return None


def split_key(text: str) -> tuple[str, ...]:
    """Split a dotted TOML key (with optional quoted parts) into its parts."""
    parts: list[str] = []
    current = ""
    quote = ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return tuple(parts)


def format_key(path: Sequence[str]) -> str:
    """A key path as TOML would write it: ``tenants.c1.settings."a.b".rate``."""
    return ".".join(p if _BARE.match(p) else _quoted(p) for p in path)


def _quoted(part: str) -> str:
    # Control characters escaped as TOML escapes them: a NUL in a key never reaches a terminal.
    escaped = part.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", escaped) + '"'


class LineIndex:
    """The line that defines each key path of a TOML document (best effort), found in one pass.

    ``line_of`` costs a few dictionary look-ups however large the document: a catalog with
    many tenants may report a problem for each of them.
    """

    def __init__(self, lines: dict[tuple[str, ...], int] | None = None) -> None:
        #: key path -> the first line that defines it
        self.lines: dict[tuple[str, ...], int] = lines if lines is not None else {}

    @classmethod
    def of(cls, text: str) -> LineIndex:
        lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_string = ""
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if in_string:
                # Inside a multi-line string: its lines are text, never keys.
                if line.count(in_string) % 2 == 1:
                    in_string = ""
                continue
            if not stripped or stripped.startswith("#"):
                continue
            header = _HEADER.match(line)
            if header and stripped.startswith("["):
                table = split_key(header["key"])
                lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if assign:
                lines.setdefault(table + split_key(assign["key"]), number)
                value = line[assign.end() :].lstrip()
                for quote in ('"""', "'''"):
                    # A value opening a multi-line string it does not close on this line.
                    if value.startswith(quote) and value.count(quote) == 1:
                        in_string = quote
        return cls(lines)

    def line_of(self, path: Sequence[str]) -> int | None:
        """The line of ``path``, else of its longest defined prefix (an inline table, say)."""
        wanted = tuple(path)
        while wanted:
            found = self.lines.get(wanted)
            if found is not None:
                return found
            wanted = wanted[:-1]
        return None

    def split(self, prefix: tuple[str, ...]) -> dict[str, dict[tuple[str, ...], int]]:
        """The entries below ``prefix`` grouped by the key that follows it (a tenant's id),
        taken out of this index."""
        groups: dict[str, dict[tuple[str, ...], int]] = {}
        size = len(prefix)
        for key in [k for k in self.lines if len(k) > size and k[:size] == prefix]:
            groups.setdefault(key[size], {})[key] = self.lines.pop(key)
        return groups
