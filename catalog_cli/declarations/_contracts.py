"""Whether an implementation's annotations fit the declaration it implements.

A plugin need not annotate anything; where it does, what it says must not contradict the hook:
a parameter must accept every value the hook passes (``a: int`` where the hook passes ``str``
is wrong; ``a: object`` or ``a: float`` for an ``int`` is fine), and a return annotation must
promise no more than the hook allows (``-> str`` where the hook returns ``float | None`` is
wrong). Forms this module cannot judge (type variables, protocols, callables, annotations that
do not resolve) are given the benefit of the doubt: only certain contradictions are reported.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any, Final

_ANY: Final = (Any, object, inspect.Parameter.empty)
#: Numbers a wider numeric type accepts (PEP 484's numeric tower).
_PROMOTIONS: Final = {bool: (int, float, complex), int: (float, complex), float: (complex,)}


def _normal(hint: Any) -> Any:
    return type(None) if hint is None else hint


def _members(hint: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return tuple(_normal(a) for a in typing.get_args(hint))
    return None


def is_subtype(sub: Any, sup: Any) -> bool:
    """Whether every value of type ``sub`` is a value of type ``sup`` (True when unsure)."""
    sub, sup = _normal(sub), _normal(sup)
    if sup in _ANY or sub in _ANY or sub == sup:
        return True
    members = _members(sub)
    if members is not None:
        return all(is_subtype(m, sup) for m in members)
    members = _members(sup)
    if members is not None:
        return any(is_subtype(sub, m) for m in members)
    if typing.get_origin(sub) is typing.Literal:
        return all(_literal_fits(value, sup) for value in typing.get_args(sub))
    if typing.get_origin(sup) is typing.Literal:
        return False
    sub_origin = typing.get_origin(sub) or sub
    sup_origin = typing.get_origin(sup) or sup
    if not (isinstance(sub_origin, type) and isinstance(sup_origin, type)):
        return True  # a TypeVar, a string that did not resolve, ...: not ours to judge
    if sub_origin in _PROMOTIONS.get(sup_origin, ()):
        return False
    if sup_origin in _PROMOTIONS.get(sub_origin, ()):
        return True
    try:
        if not issubclass(sub_origin, sup_origin):
            return False
    except TypeError:
        return True
    sub_args, sup_args = typing.get_args(sub), typing.get_args(sup)
    if not sub_args or not sup_args or len(sub_args) != len(sup_args):
        return True
    return all(
        is_subtype(a, b) for a, b in zip(sub_args, sup_args, strict=True) if a is not Ellipsis
    )


def _literal_fits(value: Any, sup: Any) -> bool:
    if typing.get_origin(sup) is typing.Literal:
        return value in typing.get_args(sup)
    members = _members(sup)
    if members is not None:
        return any(_literal_fits(value, m) for m in members)
    return is_subtype(type(value), sup)


def generator_return(hint: Any) -> Any:
    """What a wrapper (a generator) returns, from ``Generator[Y, S, R]``; None if unsaid."""
    origin = typing.get_origin(hint)
    if origin in (collections.abc.Generator, typing.Generator):
        args = typing.get_args(hint)
        if len(args) == 3:
            return args[2]
    return None


def resolved_hints(func: Any) -> dict[str, Any]:
    """The annotations of ``func`` that resolve; the others are left out (not judged).

    A plugin may import the types it annotates with only for type checkers; that must not make
    it fail here.
    """
    target = inspect.unwrap(func)
    target = getattr(target, "__func__", target)
    raw = getattr(target, "__annotations__", None) or {}
    if not raw:
        return {}
    try:
        return typing.get_type_hints(target)
    except Exception:
        pass
    found: dict[str, Any] = {}
    namespace = getattr(target, "__globals__", {})
    for name, annotation in raw.items():
        if not isinstance(annotation, str):
            found[name] = annotation
            continue
        try:
            found[name] = eval(annotation, namespace)  # what get_type_hints does, one by one
        except Exception:
            continue
    return found


def show(hint: Any) -> str:
    """An annotation as people write it."""
    hint = _normal(hint)
    if hint is type(None):
        return "None"
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("collections.abc.", "")
