"""JSON for responses: strict JSON whatever a method returns."""

from __future__ import annotations

from typing import Any

from .._json import dumps


def encode(data: Any) -> bytes:
    """UTF-8 JSON: dates as ISO text, non-finite floats as strings, other objects by repr."""
    return dumps(data, compact=True).encode("utf-8")
