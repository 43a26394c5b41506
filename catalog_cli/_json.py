"""Strict JSON of whatever a method returns or a listing holds: for the CLI and the HTTP API."""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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
