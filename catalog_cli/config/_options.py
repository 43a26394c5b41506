"""Settings schemas for the catalog's own interceptors, checked without pydantic.

Third-party plugins declare a pydantic model (``PluginMeta(settings=Model)``); the catalog's
built-ins must work without that extra installed, so they declare :class:`Options` instead.
Both kinds of schema are validated, described and reported the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

Kind = Literal["bool", "int", "float", "str", "strings", "numbers"]

_KIND_NAMES = {
    "bool": "a boolean",
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "strings": "an array of strings",
    "numbers": "an array of numbers",
}


class Option(NamedTuple):
    """One setting: its name, kind, default and a one-line help."""

    name: str
    kind: Kind
    default: Any
    help: str
    #: a further check of a value of the right kind: None when fine, else why not
    check: Callable[[Any], str | None] | None = None


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _convert(kind: Kind, value: Any) -> tuple[bool, Any]:
    if kind == "bool":
        return isinstance(value, bool), value
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool), value
    if kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
        return ok, float(value) if ok else value
    if kind == "str":
        return isinstance(value, str), value
    if not isinstance(value, (list, tuple)):
        return False, value
    if kind == "strings":
        return all(isinstance(v, str) for v in value), tuple(value)
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ok = ok and all(_finite(v) for v in value)
    return ok, tuple(float(v) for v in value) if ok else ()


class Options:
    """A schema of plain settings (booleans, numbers, strings and arrays of them)."""

    def __init__(self, *options: Option) -> None:
        self.options = {option.name: option for option in options}

    def defaults(self) -> dict[str, Any]:
        return {name: option.default for name, option in self.options.items()}

    def validate_settings(
        self, values: Mapping[str, Any], key: tuple[str, ...], problems: list[Any]
    ) -> dict[str, Any]:
        """The settings with defaults filled in; problems are appended as (key, message)."""
        result = self.defaults()
        for name, value in values.items():
            option = self.options.get(name)
            if option is None:
                allowed = ", ".join(self.options) or "none"
                problems.append(((*key, name), f"unknown setting (allowed: {allowed})"))
                continue
            ok, converted = _convert(option.kind, value)
            if not ok:
                problems.append(
                    ((*key, name), f"expected {_KIND_NAMES[option.kind]}, got {value!r}")
                )
                continue
            why = option.check(converted) if option.check is not None else None
            if why is not None:
                problems.append(((*key, name), f"{why}, got {value!r}"))
                continue
            result[name] = converted
        return result

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": o.name,
                "type": o.kind,
                "required": False,
                "default": list(o.default) if isinstance(o.default, tuple) else o.default,
                "description": o.help,
            }
            for o in self.options.values()
        ]


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be above 0"


def at_least(low: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value >= low else f"must be at least {low:g}"

    return check


def one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check
