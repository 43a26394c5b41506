"""Strict JSON of whatever a method returns or a listing holds: for the CLI and the HTTP API."""

from __future__ import annotations

import datetime
import json
import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.time)):  # TOML has dates and times
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):  # settings tables are read-only mappingproxy objects
        return dict(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return repr(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf": JSON has no such numbers
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(data: Any, indent: int | None = None, *, compact: bool = False) -> str:
    """Strict JSON: dates as ISO text, non-finite floats as strings, other objects by repr."""
    separators = (",", ":") if compact else None
    try:
        return json.dumps(
            data,
            indent=indent,
            default=_jsonable,
            ensure_ascii=False,
            allow_nan=False,
            separators=separators,
        )
    except ValueError:
        return json.dumps(
            _finite(json.loads(json.dumps(data, default=_jsonable))),
            indent=indent,
            ensure_ascii=False,
            separators=separators,
        )


#: How deep arrays and objects (TOML tables) may nest in what the catalog reads: inside a
#: catalog file, inside ``--args``, in one argument of a method. Real data stays far below;
#: deeper input is refused with an error naming where, before anything recursive (a parser, a
#: check, pickle, the JSON encoder) could hit Python's recursion limit on it.
MAX_DEPTH: Final = 100

_NESTED: Final = (dict, list, tuple)


def too_deep(
    value: Any, limit: int = MAX_DEPTH, *, counted: bool = True
) -> tuple[str | int, ...] | None:
    """Where ``value`` nests arrays or objects more than ``limit`` levels deep: the keys and
    indexes leading to the first one too deep, or None. ``value`` itself is level 1, unless
    not ``counted`` (a document or an object of arguments: what it holds is level 1). Walks
    without recursion."""
    if not isinstance(value, _NESTED):
        return None
    # Level by level: one list per level, built by a comprehension (a large catalog file has
    # hundreds of thousands of tables).
    level = [value]
    depth = 1 if counted else 0
    while level:
        if depth > limit:
            return _path_to(value, level[0])
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, _NESTED)
        ]
        depth += 1
    return None


def _path_to(root: Any, target: Any) -> tuple[str | int, ...]:
    # Found again from the top, keeping the path: the walk itself stays cheap.
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        if node is target:
            return path
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        stack.extend((child, (*path, key)) for key, child in pairs if isinstance(child, _NESTED))
    return ()


def describe_path(path: tuple[str | int, ...], most: int = 6) -> str:
    """``a.b[3].c``: a path found by :func:`too_deep`, its first ``most`` steps, for messages."""
    text = ""
    for part in path[:most]:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text + ("..." if len(path) > most else "")


def nesting_problem(limit: int = MAX_DEPTH, *, toml: bool = False) -> str:
    what = "arrays or tables" if toml else "arrays or objects"
    return f"{what} nested more than {limit} levels deep (the limit)"


class DataError(ValueError):
    """Text that is no JSON data the catalog takes: not JSON, nested too deeply, or with a
    number too long to read. ``reason`` is the short why, without the "not valid JSON"."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _Repeated(key)
        found[key] = value
    return found


def loads(
    text: str | bytes, limit: int = MAX_DEPTH, *, counted: bool = True, strict: bool = False
) -> Any:
    """JSON text as data, refusing what ``json.loads`` fails on other than a syntax error
    (nesting past Python's recursion limit, integers past its digit limit) and nesting deeper
    than ``limit`` (see :func:`too_deep` for ``counted``): all as :class:`DataError`.

    ``strict`` also refuses what JSON lets through but people never mean: a key given twice
    in one object (``json`` keeps the last silently), and a string holding a lone surrogate
    (``"\\ud800"``: no text, and nothing can print it)."""
    try:
        value = json.loads(text, object_pairs_hook=_unique if strict else None)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc}", exc.msg) from None
    except RecursionError:
        raise DataError(nesting_problem(limit), nesting_problem(limit)) from None
    except _Repeated as exc:
        why = f"the key {exc.key!r} is given twice in one object"
        raise DataError(why, why) from None
    except ValueError:  # an integer of thousands of digits
        why = f"a number too long to read (more than {sys.get_int_max_str_digits()} digits)"
        raise DataError(why, why) from None
    path = too_deep(value, limit, counted=counted)
    if path is not None:
        where = f" at {describe_path(path)}" if path else ""
        raise DataError(nesting_problem(limit) + where, nesting_problem(limit) + where)
    if strict and not isinstance(text, bytes):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            why = f"a string holds {exc.object[exc.start : exc.end]!r}, a lone surrogate: no text"
            raise DataError(why, why) from None
    return value


def text_problem(text: str) -> str | None:
    """Why ``text`` (from the command line) is no text, or None: bytes that were not UTF-8
    reach Python as lone surrogates, which nothing can print or store as text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"{exc.object[exc.start : exc.end]!r} is not text (not UTF-8, or a lone surrogate)"
    return None
