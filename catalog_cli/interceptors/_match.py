"""Naming exception types in settings (retry's ``on``, the circuit breaker's ``exclude``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from catalog_cli.errors import PluginCallError

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def exception_names(value: Any) -> str | None:
    """A settings check: a non-empty array of class names or dotted paths."""
    if not value:
        return "must name at least one exception type"
    bad = [name for name in value if not _DOTTED.fullmatch(name)]
    if bad:
        return f"{bad[0]!r} is not a class name or dotted path"
    return None


def matches(exc: BaseException, names: Iterable[str]) -> bool:
    """Whether ``exc`` is an instance of a class named in ``names`` (by name or dotted path).

    A PluginCallError matches by its cause too: a plugin's ConnectionError arrives wrapped in
    one from a timeout interceptor that runs the method in another process.
    """
    wanted = set(names)
    classes = list(type(exc).__mro__)
    if isinstance(exc, PluginCallError):
        classes += type(exc.cause).__mro__
    return any(
        cls.__name__ in wanted or f"{cls.__module__}.{cls.__qualname__}" in wanted
        for cls in classes
    )
