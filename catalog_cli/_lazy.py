"""Package attributes imported from their home module on first use: a light ``import``."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def attribute(namespace: dict[str, Any], homes: Mapping[str, str], name: str) -> Any:
    """Attribute ``name`` of the package whose globals are ``namespace``: imported from its
    home module (``homes``, relative to the package) and kept there for the next use."""
    home = homes.get(name)
    package = namespace["__name__"]
    if home is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, package), name)
    namespace[name] = value
    return value
