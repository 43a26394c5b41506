"""Which changes to a published contract break its callers or its plugins, and which do not.

:func:`compare` is a pure function over two contracts as :func:`._lock.contract` makes them
(the lock file's, a git revision's, the declarations'). Each difference becomes one
:class:`ContractChange` with a kind, an effect and where it is.

What breaks depends on which way data goes at each place:

- a method's **parameters** come from callers: accepting more (``int`` -> ``int | None``,
  ``int`` -> ``float``, a new value in a ``Literal``) breaks no call; accepting less does;
- a method's **return** goes to callers: returning less is safe, returning more (``str`` ->
  ``str | None``) hands callers values they never had to handle;
- a plugin point's **parameters** go to plugins: passing less is safe, passing more breaks the
  plugins written (and annotated, which is checked when they load) for the old type;
- a plugin point's **return** comes from plugins: accepting more is safe, accepting less
  refuses answers plugins give today (at ``collect`` and ``first`` points None is "no answer"
  and always accepted, so dropping ``| None`` there breaks nothing).

Types are read back from their text (the lock keeps them as people write them) into unions of
simple forms, with the catalog's own rules for data: an ``int`` passes for a ``float``, a
``bool`` does not pass for an ``int``. A type this module cannot read is compared as text:
the same text is the same type, other text is a change it cannot judge, so it is breaking.
"""

from __future__ import annotations

import ast
import datetime
import functools
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, NamedTuple

#: What a change does to the people who rely on a version: ``breaking`` (some call or plugin
#: that works today stops working), ``additive`` (something new), ``compatible`` (a change
#: that keeps everything working).
Effect = Literal["breaking", "additive", "compatible"]

#: Every kind of change, and what it means (the docs list the same).
KINDS: Final[Mapping[str, str]] = {
    "interface_added": "a new interface",
    "interface_removed": "an interface and its versions are gone",
    "interface_retired": "an interface is gone, every version of it after its sunset date",
    "version_added": "a new version of an interface",
    "version_removed": "a version is gone",
    "version_retired": "a version is gone after its locked sunset date",
    "parameter_added": "a new optional parameter",
    "required_parameter_added": "a new parameter without a default",
    "parameter_removed": "a parameter is gone",
    "parameter_renamed": "a parameter has another name (same type, same place)",
    "parameter_type_widened": "a parameter accepts more values",
    "parameter_type_narrowed": "a parameter accepts fewer values",
    "parameter_type_changed": "a parameter's type changed otherwise",
    "parameter_made_required": "a parameter lost its default",
    "parameter_made_optional": "a parameter got a default",
    "default_changed": "a parameter's default changed",
    "return_type_widened": "a version may return more kinds of value",
    "return_type_narrowed": "a version returns fewer kinds of value",
    "return_type_changed": "a version's return type changed otherwise",
    "point_added": "a new plugin point",
    "point_removed": "a plugin point is gone",
    "point_policy_changed": "a plugin point combines results otherwise (collect, first, wrap)",
    "point_error_policy_changed": "a plugin point handles a plugin's error otherwise",
    "point_parameter_added": "a plugin point passes a new parameter",
    "point_parameter_removed": "a plugin point no longer passes a parameter",
    "point_parameter_renamed": "a plugin point passes a parameter under another name",
    "point_parameter_type_widened": "a plugin point may pass more kinds of value",
    "point_parameter_type_narrowed": "a plugin point passes fewer kinds of value",
    "point_parameter_type_changed": "a plugin point parameter's type changed otherwise",
    "point_return_type_widened": "a plugin point accepts more answers",
    "point_return_type_narrowed": "a plugin point accepts fewer answers",
    "point_return_type_changed": "a plugin point's return type changed otherwise",
    "deprecation_added": "a version is deprecated",
    "deprecation_removed": "a version is no longer deprecated",
    "deprecation_changed": "a deprecation's message changed",
    "sunset_changed": "a deprecated version's sunset date changed",
    "idempotent_added": "the version promises that a call may run twice without harm",
    "idempotent_removed": "the version no longer promises that a call may run twice",
}


class ContractChange(NamedTuple):
    """One difference between a contract and a later one."""

    kind: str
    effect: Effect
    interface: str
    version: int | None = None
    point: str | None = None
    parameter: str | None = None
    #: the values before and after, and what that does, for people
    detail: str = ""

    @property
    def breaking(self) -> bool:
        return self.effect == "breaking"

    @property
    def where(self) -> str:
        """``price_quote v1 point discounts parameter subtotal``."""
        parts = [self.interface]
        if self.version is not None:
            parts.append(f"v{self.version}")
        if self.point is not None:
            parts.append(f"point {self.point}")
        if self.parameter is not None:
            parts.append(f"parameter {self.parameter}")
        return " ".join(parts)

    def describe(self) -> str:
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.where}: {self.kind}{detail}"

    def to_dict(self) -> dict[str, Any]:
        return {**self._asdict(), "where": self.where}


#: Makes a change at one place (a version, a plugin point): kind, effect, detail, and where
#: inside that place (``parameter=``, ``point=``).
Make = Callable[..., ContractChange]


def compare(
    old: Mapping[str, Any], new: Mapping[str, Any], *, today: datetime.date | None = None
) -> list[ContractChange]:
    """Every change from contract ``old`` to contract ``new``, interfaces by name, versions by
    number. ``today`` decides whether a locked sunset date has passed (default: today)."""
    day = today if today is not None else datetime.date.today()
    before, after = old["interfaces"], new["interfaces"]
    changes: list[ContractChange] = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            changes.append(_interface_gone(name, before[name]["versions"], day))
            continue
        if name not in before:
            numbers = ", ".join(f"v{n}" for n in sorted(after[name]["versions"], key=int))
            changes.append(ContractChange("interface_added", "additive", name, detail=numbers))
            continue
        was, now = before[name]["versions"], after[name]["versions"]
        for key in sorted(was.keys() | now.keys(), key=int):
            number = int(key)
            if key not in now:
                changes.append(_version_gone(name, number, was[key], day))
            elif key not in was:
                changes.append(ContractChange("version_added", "additive", name, number))
            else:
                changes += _version(name, number, was[key], now[key])
    return changes


# -- versions -------------------------------------------------------------------------------


def _sunset_passed(version: Mapping[str, Any], day: datetime.date) -> str | None:
    """The version's locked sunset date, if it has passed by ``day``."""
    deprecated = version["deprecated"]
    sunset = deprecated.get("sunset") if deprecated is not None else None
    if sunset is None:
        return None
    try:
        passed = datetime.date.fromisoformat(sunset) < day
    except ValueError:
        return None
    return sunset if passed else None


def _version_gone(
    interface: str, number: int, version: Mapping[str, Any], day: datetime.date
) -> ContractChange:
    sunset = _sunset_passed(version, day)
    if sunset is not None:
        detail = f"removed after its sunset date {sunset}"
        return ContractChange("version_retired", "compatible", interface, number, detail=detail)
    deprecated = version["deprecated"]
    if deprecated is None:
        why = "calls of it fail; deprecate it with a sunset date first, and remove it after"
    elif deprecated["sunset"] is None:
        why = "calls of it fail; it is deprecated, but with no sunset date to remove it after"
    else:
        why = f"calls of it fail; its sunset date {deprecated['sunset']} has not passed"
    return ContractChange("version_removed", "breaking", interface, number, detail=why)


def _interface_gone(
    interface: str, versions: Mapping[str, Any], day: datetime.date
) -> ContractChange:
    kept = [f"v{n}" for n in sorted(versions, key=int) if _sunset_passed(versions[n], day) is None]
    if not kept:
        detail = "every version removed after its sunset date"
        return ContractChange("interface_retired", "compatible", interface, detail=detail)
    detail = f"calls of {', '.join(kept)} fail (before any sunset date of theirs passed)"
    return ContractChange("interface_removed", "breaking", interface, detail=detail)


def _version(
    interface: str, number: int, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[ContractChange]:
    def change(kind: str, effect: Effect, detail: str, **where: Any) -> ContractChange:
        return ContractChange(kind, effect, interface, number, detail=detail, **where)

    changes = _parameters(change, old["parameters"], new["parameters"], point=None)
    judged = _judge(old["returns"], new["returns"], incoming=False)
    if judged is not None:
        how, effect = judged
        detail = f"{old['returns']} -> {new['returns']}{_RETURN_WHY[how]}"
        changes.append(change(f"return_type_{how}", effect, detail))
    was, now = old["plugin_points"], new["plugin_points"]
    for name in sorted(was.keys() | now.keys()):
        if name not in now:
            detail = "the plugins implementing it are refused when they load"
            changes.append(change("point_removed", "breaking", detail, point=name))
        elif name not in was:
            changes.append(change("point_added", "additive", now[name]["policy"], point=name))
        else:
            changes += _point(change, name, was[name], now[name])
    changes += _deprecation(change, old["deprecated"], new["deprecated"])
    was_idempotent, now_idempotent = bool(old.get("idempotent")), bool(new.get("idempotent"))
    if was_idempotent and not now_idempotent:
        detail = "its failed background jobs are no longer retried"
        changes.append(change("idempotent_removed", "breaking", detail))
    elif now_idempotent and not was_idempotent:
        detail = "its failed background jobs may be retried (a call may run twice)"
        changes.append(change("idempotent_added", "additive", detail))
    return changes


_RETURN_WHY: Final = {
    "widened": ": callers may get values the old type did not allow",
    "narrowed": "",
    "changed": ": callers get values of another type",
}


def _deprecation(
    change: Make, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[ContractChange]:
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        sunset = f" (sunset {new['sunset']})" if new["sunset"] else ""
        return [change("deprecation_added", "compatible", f"{new['message']}{sunset}")]
    if new is None:
        return [change("deprecation_removed", "compatible", "")]
    changes = []
    if old["message"] != new["message"]:
        changes.append(change("deprecation_changed", "compatible", new["message"]))
    if old["sunset"] != new["sunset"]:
        earlier = (
            old["sunset"] is not None
            and new["sunset"] is not None
            and new["sunset"] < old["sunset"]
        )
        detail = f"{old['sunset'] or 'none'} -> {new['sunset'] or 'none'}"
        if earlier:
            detail += ": the version may be removed sooner than its callers were promised"
        changes.append(change("sunset_changed", "breaking" if earlier else "compatible", detail))
    return changes


# -- plugin points --------------------------------------------------------------------------


def _point(
    change: Make, name: str, old: Mapping[str, Any], new: Mapping[str, Any]
) -> list[ContractChange]:
    changes = []
    if old["policy"] != new["policy"]:
        detail = (
            f"{old['policy']} -> {new['policy']}: plugins written for one policy answer "
            "otherwise than the other expects"
        )
        changes.append(change("point_policy_changed", "breaking", detail, point=name))
    if old["errors"] != new["errors"]:
        if new["errors"] == "isolate":
            why = "a plugin's error no longer fails the call: its answer is left out"
        else:
            why = "a plugin's error now fails the call instead of leaving its answer out"
        detail = f"{old['errors']} -> {new['errors']}: {why}"
        changes.append(change("point_error_policy_changed", "breaking", detail, point=name))

    def in_point(kind: str, effect: Effect, detail: str, **where: Any) -> ContractChange:
        return change(kind, effect, detail, point=name, **where)

    changes += _parameters(in_point, old["parameters"], new["parameters"], point=name)
    judged = _judge(old["returns"], new["returns"], incoming=True)
    if judged is not None:
        how, effect = judged
        detail = f"{old['returns']} -> {new['returns']}"
        if effect == "breaking" and old["policy"] == new["policy"] != "wrap":
            # None is "no answer" at collect and first points: accepted whatever the type says.
            accepted = _union(old["returns"]) | {_NONE}
            if is_subtype(accepted, _union(new["returns"]) | {_NONE}):
                effect = "compatible"
        if effect == "breaking":
            detail += ": answers plugins give under the old type are refused"
        changes.append(in_point(f"point_return_type_{how}", effect, detail))
    return changes


# -- parameters -----------------------------------------------------------------------------


def _parameters(
    change: Make,
    old: list[Mapping[str, Any]],
    new: list[Mapping[str, Any]],
    *,
    point: str | None,
) -> list[ContractChange]:
    """The changes between two parameter lists of a version (``point`` None) or of a plugin
    point. One parameter gone and another new at the same place with the same type is taken
    for a rename, which is what it is for everyone who passes or takes it by name."""
    prefix = "" if point is None else "point_"
    before = {p["name"]: p for p in old}
    after = {p["name"]: p for p in new}
    renamed: dict[str, Mapping[str, Any]] = {}
    for index, param in enumerate(old):
        if param["name"] in after or index >= len(new):
            continue
        other = new[index]
        if other["name"] not in before and _same_type(param["type"], other["type"]):
            renamed[param["name"]] = other
    taken = {p["name"] for p in renamed.values()}
    changes = []
    for param in old:
        name = param["name"]
        if name in renamed:
            if point is None:
                why = f"calls passing {name} are refused"
            else:
                why = f"plugins that take {name} are refused when they load"
            detail = f"{name} -> {renamed[name]['name']}: {why}"
            changes.append(change(f"{prefix}parameter_renamed", "breaking", detail, parameter=name))
        elif name not in after:
            if point is None:
                why = "calls passing it are refused"
            else:
                why = "plugins that take it are refused when they load"
            changes.append(change(f"{prefix}parameter_removed", "breaking", why, parameter=name))
        else:
            changes += _parameter(change, param, after[name], prefix=prefix)
    for param in new:
        name = param["name"]
        if name in before or name in taken:
            continue
        if point is not None:
            detail = f"{param['type']}: plugins take the parameters they need"
            changes.append(change("point_parameter_added", "additive", detail, parameter=name))
        elif param["required"]:
            detail = f"{param['type']}, no default: calls without it are refused"
            changes.append(change("required_parameter_added", "breaking", detail, parameter=name))
        else:
            detail = f"{param['type']} = {_shown(param['default'])}"
            changes.append(change("parameter_added", "additive", detail, parameter=name))
    return changes


def _parameter(
    change: Make, old: Mapping[str, Any], new: Mapping[str, Any], *, prefix: str
) -> list[ContractChange]:
    name = old["name"]
    changes = []
    if not prefix:  # a plugin point's parameters have no defaults
        if old["required"] and not new["required"]:
            detail = f"default {_shown(new['default'])}"
            changes.append(change("parameter_made_optional", "compatible", detail, parameter=name))
        elif new["required"] and not old["required"]:
            detail = (
                f"default {_shown(old['default'])} removed: calls that leave it out are refused"
            )
            changes.append(change("parameter_made_required", "breaking", detail, parameter=name))
        elif not old["required"] and _shown(old["default"]) != _shown(new["default"]):
            detail = (
                f"{_shown(old['default'])} -> {_shown(new['default'])}: calls that leave it out "
                "get another answer"
            )
            changes.append(change("default_changed", "breaking", detail, parameter=name))
    judged = _judge(old["type"], new["type"], incoming=not prefix)
    if judged is not None:
        how, effect = judged
        detail = f"{old['type']} -> {new['type']}"
        if effect == "breaking":
            if prefix:
                detail += ": plugins may be passed values the old type did not allow"
            else:
                detail += ": calls passing values the old type allowed are refused"
        changes.append(change(f"{prefix}parameter_type_{how}", effect, detail, parameter=name))
    return changes


def _shown(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# -- types ----------------------------------------------------------------------------------

#: A type is a union of atoms: ("any",), ("scalar", name), ("literal", type name, value),
#: ("list", items), ("dict", values) with items and values unions again, ("opaque", text).
Atom = tuple[Any, ...]
Union = frozenset[Atom]

_ANY: Final[Atom] = ("any",)
_NONE: Final[Atom] = ("scalar", "None")
_FLOAT: Final[Atom] = ("scalar", "float")
_SCALARS: Final = frozenset({"str", "int", "float", "bool"})
_TOPS: Final = frozenset({"Any", "object", "typing.Any"})


def _judge(old: str, new: str, *, incoming: bool) -> tuple[str, Effect] | None:
    """("widened" | "narrowed" | "changed", its effect) for a type that changed from ``old``
    to ``new`` where values come in (from callers or plugins) or go out; None if the same."""
    if old == new:
        return None
    before, after = _union(old), _union(new)
    wider = is_subtype(before, after)
    narrower = is_subtype(after, before)
    if wider and narrower:
        return None  # the same type, written otherwise
    if wider:
        return "widened", "compatible" if incoming else "breaking"
    if narrower:
        return "narrowed", "breaking" if incoming else "compatible"
    return "changed", "breaking"


def _same_type(old: str, new: str) -> bool:
    return old == new or _judge(old, new, incoming=True) is None


def is_subtype(sub: Union, sup: Union) -> bool:
    """Whether every value of type ``sub`` is a value of type ``sup``."""
    return all(_fits(atom, sup) for atom in sub)


def _fits(atom: Atom, union: Union) -> bool:
    if _ANY in union or atom in union:
        return True
    kind = atom[0]
    if kind == "scalar":
        return atom[1] == "int" and _FLOAT in union
    if kind == "literal":
        return ("scalar", atom[1]) in union or (atom[1] == "int" and _FLOAT in union)
    if kind in ("list", "dict"):
        return any(other[0] == kind and is_subtype(atom[1], other[1]) for other in union)
    return False


@functools.lru_cache(maxsize=1024)
def _union(text: str) -> Union:
    """The type a display text names (see the module docstring)."""
    try:
        node = ast.parse(text, mode="eval").body
        return _atoms(node)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset({("opaque", text)})


def _atoms(node: ast.expr) -> Union:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _atoms(node.left) | _atoms(node.right)
    if isinstance(node, ast.Constant) and node.value is None:
        return frozenset({_NONE})
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = ast.unparse(node)
        if name in _TOPS:
            return frozenset({_ANY})
        if name in _SCALARS:
            return frozenset({("scalar", name)})
        if name == "NoneType":
            return frozenset({_NONE})
        if name in ("list", "tuple", "dict"):
            return frozenset({("dict" if name == "dict" else "list", frozenset({_ANY}))})
        return frozenset({("opaque", name)})
    if isinstance(node, ast.Subscript):
        found = _subscript(ast.unparse(node.value), _arguments(node.slice))
        if found is not None:
            return found
    return frozenset({("opaque", ast.unparse(node))})


def _arguments(node: ast.expr) -> list[ast.expr]:
    return list(node.elts) if isinstance(node, ast.Tuple) else [node]


def _subscript(base: str, args: list[ast.expr]) -> Union | None:
    base = base.removeprefix("typing.")
    if base == "list" and len(args) == 1:
        return frozenset({("list", _atoms(args[0]))})
    if base == "tuple" and len(args) == 2:
        last = args[1]
        if isinstance(last, ast.Constant) and last.value is Ellipsis:
            return frozenset({("list", _atoms(args[0]))})
    if base == "dict" and len(args) == 2 and ast.unparse(args[0]) == "str":
        return frozenset({("dict", _atoms(args[1]))})
    if base == "Optional" and len(args) == 1:
        return _atoms(args[0]) | {_NONE}
    if base == "Union":
        return frozenset().union(*(_atoms(arg) for arg in args))
    if base == "Literal":
        return _literal(args)
    return None


def _literal(args: Iterable[ast.expr]) -> Union | None:
    atoms: set[Atom] = set()
    for arg in args:
        try:
            value = ast.literal_eval(arg)
        except (ValueError, TypeError, SyntaxError):
            return None
        if value is None:
            atoms.add(_NONE)
        elif isinstance(value, (str, int, float, bool, bytes)):
            atoms.add(("literal", type(value).__name__, value))
        else:
            return None
    return frozenset(atoms)
