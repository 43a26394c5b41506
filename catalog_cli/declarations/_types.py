"""Checking and parsing of the data types a method's parameters may declare.

Method arguments are data (they travel as JSON between executors), so a parameter may be
annotated with ``str``, ``int``, ``float``, ``bool``, ``None``, ``Any``, ``list[T]``,
``dict[str, T]``, ``Literal[...]`` and unions of these. Each annotation is compiled once into a
:class:`DataType` whose ``check`` is cheap enough for every call.
"""

from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from .._json import DataError, loads, nesting_problem, too_deep

#: A check returns None when the value fits, else a short description of what is wrong.
Check = Callable[[Any], "str | None"]

_SCALAR_NAMES: Final = frozenset({"str", "int", "float", "bool", "None"})
_TRUE: Final = frozenset({"true", "yes", "on", "1"})
_FALSE: Final = frozenset({"false", "no", "off", "0"})


class UnsupportedTypeError(TypeError):
    """The annotation is not one of the data types a method parameter may use."""


class DataType(NamedTuple):
    """A compiled annotation: its display name, a fast check and a parser for CLI text."""

    display: str
    check: Check
    #: Whether text from the command line is taken as-is (str) rather than parsed as JSON.
    textual: bool = False
    #: For scalar types, how CLI text becomes a value; None means "parse as JSON".
    parse_scalar: Callable[[str], Any] | None = None
    #: For a Literal of strings only: the allowed strings (lets the call path inline the check).
    choices: frozenset[str] = frozenset()

    def parse(self, text: str) -> Any:
        """Turn command-line text into a value of this type (raises ValueError)."""
        if self.textual:
            return text
        if self.parse_scalar is not None:
            return self.parse_scalar(text)
        try:
            return loads(text)
        except DataError as exc:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise ValueError(
                f"expected JSON for {self.display}, got {shown!r} ({exc.reason})"
            ) from None


def _describe(value: Any) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past the digit limit of int -> str
        return f"{type(value).__name__} of about {int(value.bit_length() * 0.30103)} digits"
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def _parse_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {text!r}")
    return value


def _parse_none(text: str) -> None:
    if text.strip().lower() in {"", "none", "null"}:
        return None
    raise ValueError(f"expected null, got {text!r}")


def _exact(kind: type, name: str) -> Check:
    def check(value: Any) -> str | None:
        # `type(...) is` rather than isinstance: bool must not pass for int.
        if type(value) is kind or (isinstance(value, kind) and not isinstance(value, bool)):
            return None
        return f"expected {name}, got {_describe(value)}"

    return check


def _check_float(value: Any) -> str | None:
    if type(value) is float or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        # NaN and infinities are no JSON numbers, and no business quantity either.
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int beyond any float: no quantity either
            finite = False
        return None if finite else f"expected a finite number, got {_describe(value)}"
    return f"expected float, got {_describe(value)}"


def _check_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"expected bool, got {_describe(value)}"


def _check_none(value: Any) -> str | None:
    return None if value is None else f"expected None, got {_describe(value)}"


def _check_any(value: Any) -> str | None:
    return None


_SCALARS: Final[dict[Any, DataType]] = {
    str: DataType("str", _exact(str, "str"), textual=True),
    int: DataType("int", _exact(int, "int"), parse_scalar=_parse_int),
    float: DataType("float", _check_float, parse_scalar=_parse_float),
    bool: DataType("bool", _check_bool, parse_scalar=_parse_bool),
    type(None): DataType("None", _check_none, parse_scalar=_parse_none),
    Any: DataType("Any", _check_any),
    object: DataType("object", _check_any),
}


def _list_of(item: DataType) -> DataType:
    def check(value: Any) -> str | None:
        if not isinstance(value, (list, tuple)):
            return f"expected list[{item.display}], got {_describe(value)}"
        for index, element in enumerate(value):
            problem = item.check(element)
            if problem is not None:
                return f"item {index}: {problem}"
        return None

    return DataType(f"list[{item.display}]", check)


def _dict_of(item: DataType) -> DataType:
    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return f"expected dict[str, {item.display}], got {_describe(value)}"
        for key, element in value.items():
            if not isinstance(key, str):
                return f"key {key!r}: expected str"
            problem = item.check(element)
            if problem is not None:
                return f"key {key!r}: {problem}"
        return None

    return DataType(f"dict[str, {item.display}]", check)


def _literal(values: tuple[Any, ...]) -> DataType:
    allowed = list(values)
    shown = " | ".join(repr(v) for v in values)

    def check(value: Any) -> str | None:
        for option in allowed:
            if value == option and type(value) is type(option):
                return None
        return f"expected one of {shown}, got {_describe(value)}"

    def parse(text: str) -> Any:
        for option in allowed:
            if isinstance(option, str) and text == option:
                return option
            if not isinstance(option, str) and text == json.dumps(option):
                return option
        raise ValueError(f"expected one of {shown}, got {text!r}")

    strings = frozenset(v for v in values if isinstance(v, str))
    return DataType(
        f"Literal[{', '.join(repr(v) for v in values)}]",
        check,
        parse_scalar=parse,
        choices=strings if len(strings) == len(values) else frozenset(),
    )


def _union(options: list[DataType]) -> DataType:
    checks = [o.check for o in options]
    shown = " | ".join(o.display for o in options)

    def check(value: Any) -> str | None:
        for option_check in checks:
            if option_check(value) is None:
                return None
        return f"expected {shown}, got {_describe(value)}"

    # `str | None` from the command line: text is the string, except an explicit null.
    non_null = [o for o in options if o.display != "None"]
    has_null = len(non_null) != len(options)
    parse_scalar: Callable[[str], Any] | None = None
    if len(non_null) == 1 and (non_null[0].textual or non_null[0].parse_scalar is not None):
        only = non_null[0]

        def parse_scalar(text: str) -> Any:
            if has_null and text.strip().lower() in {"none", "null"}:
                return None
            return only.parse(text)

    elif any(o.textual for o in options):
        # `int | str`: text that reads as JSON of a fitting type is that value, else the text.
        def parse_scalar(text: str) -> Any:
            try:
                value = loads(text)
            except DataError:
                return text
            return value if check(value) is None else text

    return DataType(shown, check, parse_scalar=parse_scalar)


def compile_type(annotation: Any) -> DataType:
    """Compile a resolved annotation; raise UnsupportedTypeError for anything else."""
    if annotation is None:
        annotation = type(None)
    try:
        scalar = _SCALARS.get(annotation)
    except TypeError:  # unhashable, such as `x: [int]`: not an annotation at all
        scalar = None
    if scalar is not None:
        return scalar
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple) or annotation in (list, tuple):
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            raise UnsupportedTypeError(f"{annotation!r}: only tuple[T, ...] is supported")
        return _list_of(compile_type(args[0]) if args else _SCALARS[Any])
    if origin is dict or annotation is dict:
        if args and args[0] is not str:
            raise UnsupportedTypeError(f"{annotation!r}: dictionary keys must be str")
        return _dict_of(compile_type(args[1]) if args else _SCALARS[Any])
    if origin is typing.Literal:
        return _literal(args)
    if origin is typing.Union or origin is types.UnionType:
        return _union([compile_type(a) for a in args])
    raise UnsupportedTypeError(
        f"{annotation!r} is not a data type; use str, int, float, bool, None, Any, "
        "list[T], dict[str, T], Literal[...] or a union of these"
    )


def bounded(data_type: DataType) -> DataType:
    """``data_type`` for a parameter: a value nested deeper than ``MAX_DEPTH`` is refused
    before its check (or a plugin, or the JSON encoder) walks it recursively."""
    if data_type.display in _SCALAR_NAMES or data_type.choices:
        return data_type  # no arrays or objects get past its check
    inner = data_type.check

    def check(value: Any) -> str | None:
        if isinstance(value, (dict, list, tuple)) and too_deep(value) is not None:
            return nesting_problem()
        return inner(value)

    return data_type._replace(check=check)


def display_annotation(annotation: Any) -> str:
    """A readable name for any annotation, supported or not (for return types and docs)."""
    if annotation is None or annotation is type(None):
        return "None"
    try:
        return compile_type(annotation).display
    except UnsupportedTypeError:
        pass
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")
