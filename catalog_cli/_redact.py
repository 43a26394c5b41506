"""Keeping secrets out of what the catalog reports: log records and traces of calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

REDACTED: Final = "***"

#: Argument names that hold secrets, by default: any name containing one of these.
SECRET_NAMES: Final = ("password", "secret", "token", "api_key", "authorization")


def folded(name: str) -> str:
    # "X-Api-Key" is a header spelling of api_key: dashes and underscores match each other.
    return name.lower().replace("-", "_")


def redact(value: Any, patterns: tuple[str, ...] = SECRET_NAMES) -> Any:
    """``value`` with the values of keys that contain one of ``patterns`` (lower case, ``_``
    for ``-``) replaced by ``***``, in nested mappings, lists and tuples too. Other objects are
    left as they are."""
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and any(p in folded(key) for p in patterns)
            else redact(item, patterns)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item, patterns) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item, patterns) for item in value)
    return value
