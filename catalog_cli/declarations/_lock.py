"""The published contract of a catalog's interface versions, as data and as a lock file.

The contract of a version is what its callers and the authors of plugins for it rely on: its
parameters (name, type, whether required, default), its return type, its plugin points (result
policy, error policy, parameters, return type) and its deprecation. Docstrings, hook and module
names and the code behind a version are left out: changing them breaks no one, and a lock that
changed with every reworded docstring would be noise in every review.

A lock file is that contract as JSON: indented, keys in a fixed order (interfaces and plugin
points by name, versions by number, parameters in declaration order), one value per line where
it matters, and a newline at the end. The same declarations always give the same bytes, so the
file diffs line by line in review and ``catalog lock --check`` can compare bytes. ``format``
says which shape of file this is; a reader refuses a newer one rather than misread it.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from ..errors import ConfigProblem, LockFileError
from ._model import Interface, Parameter, PluginPoint, Version

#: The shape of the lock file this code writes and reads.
FORMAT: Final = 1

_POLICIES: Final = ("collect", "first", "wrap")
_ERROR_POLICIES: Final = ("raise", "isolate")


def plain(value: Any) -> Any:
    """A default value as JSON data that reads back equal, in one spelling only.

    Defaults are immutable data, mostly JSON already; anything else (a frozenset, an object an
    ``Any`` parameter defaults to) is recorded by a text that stays the same from run to run.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        try:
            str(value)
        except ValueError:  # beyond the digits Python turns into text
            return {"python": f"int of {value.bit_length()} bits"}
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"python": repr(value)}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (set, frozenset)):
        # Set order follows string hashing, which changes from process to process.
        items = [plain(item) for item in value]
        return {"set": sorted(items, key=lambda item: json.dumps(item, sort_keys=True))}
    if isinstance(value, Mapping) and all(isinstance(key, str) for key in value):
        return {key: plain(value[key]) for key in sorted(value)}
    return {"python": repr(value)}


def _parameter(param: Parameter) -> dict[str, Any]:
    data: dict[str, Any] = {"name": param.name, "type": param.annotation}
    data["required"] = param.required
    if not param.required:
        data["default"] = plain(param.default)
    return data


def _point(point: PluginPoint) -> dict[str, Any]:
    return {
        "policy": point.policy,
        "errors": point.errors,
        # A point's parameters have no defaults: the built-in passes every one of them.
        "parameters": [{"name": p.name, "type": p.annotation} for p in point.parameters],
        "returns": point.returns,
    }


def _version(version: Version, interface: Interface) -> dict[str, Any]:
    # A version served by a newer one's code has the points its version changes map, and no
    # others: a plugin at an unmapped one is refused, so for plugins that point is gone.
    route = interface.route(version.number) if version.served_by is not None else None
    points = sorted(version.points if route is None else route.points)
    data: dict[str, Any] = {
        "parameters": [_parameter(p) for p in version.parameters],
        "returns": version.returns,
        "plugin_points": {name: _point(version.points[name]) for name in points},
        "deprecated": version.deprecation,
    }
    if version.idempotent:
        # Recorded only when promised: locks written before the promise existed stay valid.
        data["idempotent"] = True
    return data


def contract(interfaces: Iterable[Interface]) -> dict[str, Any]:
    """The published contract of ``interfaces``: plain data, as a lock file holds it."""
    found = {interface.name: interface for interface in interfaces}
    return {
        "format": FORMAT,
        "interfaces": {
            name: {
                "versions": {
                    str(number): _version(found[name].versions[number], found[name])
                    for number in sorted(found[name].versions)
                }
            }
            for name in sorted(found)
        },
    }


def render(snapshot: Mapping[str, Any]) -> str:
    """The text of a lock file recording ``snapshot`` (a :func:`contract` or a read lock)."""
    return json.dumps(_canonical(snapshot), indent=2, ensure_ascii=False) + "\n"


def _canonical(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """``snapshot`` with every key in its fixed place: how it was built or read is no matter."""

    def parameter(data: Mapping[str, Any], *, point: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"name": data["name"], "type": data["type"]}
        if not point:
            out["required"] = data["required"]
            if "default" in data:
                out["default"] = data["default"]
        return out

    def version(data: Mapping[str, Any]) -> dict[str, Any]:
        points = data["plugin_points"]
        deprecated = data["deprecated"]
        return {
            "parameters": [parameter(p, point=False) for p in data["parameters"]],
            "returns": data["returns"],
            "plugin_points": {
                name: {
                    "policy": points[name]["policy"],
                    "errors": points[name]["errors"],
                    "parameters": [parameter(p, point=True) for p in points[name]["parameters"]],
                    "returns": points[name]["returns"],
                }
                for name in sorted(points)
            },
            "deprecated": None
            if deprecated is None
            else {"message": deprecated["message"], "sunset": deprecated["sunset"]},
            **({"idempotent": True} if data.get("idempotent") else {}),
        }

    interfaces = snapshot["interfaces"]
    return {
        "format": snapshot["format"],
        "interfaces": {
            name: {
                "versions": {
                    number: version(interfaces[name]["versions"][number])
                    for number in sorted(interfaces[name]["versions"], key=int)
                }
            }
            for name in sorted(interfaces)
        },
    }


# -- reading ------------------------------------------------------------------------------


class _Shape:
    """Checks a read lock's shape, gathering every problem with the key path it is at."""

    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []

    def wrong(self, where: tuple[str, ...], message: str) -> None:
        self.problems.append(ConfigProblem(".".join(where), message))

    def table(self, value: Any, where: tuple[str, ...], keys: Iterable[str]) -> bool:
        """Whether ``value`` is an object with exactly the required ``keys``."""
        if not isinstance(value, dict):
            self.wrong(where, f"expected an object, got {_kind(value)}")
            return False
        wanted = list(keys)
        missing = [key for key in wanted if key not in value]
        unknown = sorted(key for key in value if key not in wanted)
        for key in missing:
            self.wrong((*where, key), "missing")
        for key in unknown:
            self.wrong((*where, key), "unknown key")
        return not missing and not unknown

    def text(self, value: Any, where: tuple[str, ...], choices: Iterable[str] = ()) -> None:
        allowed = tuple(choices)
        if not isinstance(value, str):
            self.wrong(where, f"expected a string, got {_kind(value)}")
        elif allowed and value not in allowed:
            self.wrong(where, f"expected one of {', '.join(allowed)}, got {value!r}")

    def parameters(self, value: Any, where: tuple[str, ...], *, point: bool) -> None:
        if not isinstance(value, list):
            self.wrong(where, f"expected an array, got {_kind(value)}")
            return
        seen: set[str] = set()
        for index, item in enumerate(value):
            at = (*where, str(index))
            if not isinstance(item, dict):
                self.wrong(at, f"expected an object, got {_kind(item)}")
                continue
            keys = ["name", "type"]
            if not point:
                keys.append("required")
                if item.get("required") is False or "default" in item:
                    keys.append("default")
            if not self.table(item, at, keys):
                continue
            self.text(item["name"], (*at, "name"))
            self.text(item["type"], (*at, "type"))
            if not point and not isinstance(item["required"], bool):
                self.wrong(
                    (*at, "required"), f"expected true or false, got {_kind(item['required'])}"
                )
            elif not point and item["required"] == ("default" in item):
                self.wrong((*at, "required"), "a parameter has a default exactly when optional")
            if isinstance(item["name"], str):
                if item["name"] in seen:
                    self.wrong((*at, "name"), f"parameter {item['name']!r} listed twice")
                seen.add(item["name"])

    def version(self, value: Any, where: tuple[str, ...]) -> None:
        keys = ["parameters", "returns", "plugin_points", "deprecated"]
        if isinstance(value, dict) and "idempotent" in value:
            keys.append("idempotent")
            if value["idempotent"] is not True:
                self.wrong((*where, "idempotent"), "expected true (left out when not promised)")
        if not self.table(value, where, keys):
            return
        self.parameters(value["parameters"], (*where, "parameters"), point=False)
        self.text(value["returns"], (*where, "returns"))
        points = value["plugin_points"]
        if not isinstance(points, dict):
            self.wrong((*where, "plugin_points"), f"expected an object, got {_kind(points)}")
        else:
            for name, point in points.items():
                at = (*where, "plugin_points", name)
                if self.table(point, at, ("policy", "errors", "parameters", "returns")):
                    self.text(point["policy"], (*at, "policy"), _POLICIES)
                    self.text(point["errors"], (*at, "errors"), _ERROR_POLICIES)
                    self.parameters(point["parameters"], (*at, "parameters"), point=True)
                    self.text(point["returns"], (*at, "returns"))
        deprecated = value["deprecated"]
        at = (*where, "deprecated")
        if deprecated is not None and self.table(deprecated, at, ("message", "sunset")):
            self.text(deprecated["message"], (*at, "message"))
            sunset = deprecated["sunset"]
            if sunset is not None:
                self.text(sunset, (*at, "sunset"))
                if isinstance(sunset, str) and not _is_date(sunset):
                    self.wrong(
                        (*at, "sunset"), f"expected a date such as 2027-06-30, got {sunset!r}"
                    )


def _is_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def parse(text: str, path: Path) -> dict[str, Any]:
    """The contract a lock file's ``text`` records; raises LockFileError naming what is
    wrong (with its key path), never a bare KeyError on a file someone edited by hand."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LockFileError(
            path, [ConfigProblem("", f"not a lock file (not JSON: {exc})")]
        ) from None
    if isinstance(data, dict) and isinstance(data.get("format"), int) and data["format"] > FORMAT:
        raise LockFileError(
            path,
            [
                ConfigProblem(
                    "format",
                    f"written in lock format {data['format']} by a newer task-catalog; this one "
                    f"reads format {FORMAT}: upgrade it, or run `catalog lock` to write it anew",
                )
            ],
        )
    shape = _Shape()
    if shape.table(data, (), ("format", "interfaces")):
        if data["format"] != FORMAT or isinstance(data["format"], bool):
            shape.wrong(("format",), f"expected {FORMAT}, got {data['format']!r}")
        interfaces = data["interfaces"]
        if not isinstance(interfaces, dict):
            shape.wrong(("interfaces",), f"expected an object, got {_kind(interfaces)}")
        else:
            for name, interface in interfaces.items():
                where = ("interfaces", name)
                if not shape.table(interface, where, ("versions",)):
                    continue
                versions = interface["versions"]
                if not isinstance(versions, dict):
                    shape.wrong((*where, "versions"), f"expected an object, got {_kind(versions)}")
                    continue
                for number, version in versions.items():
                    at = (*where, "versions", number)
                    if not (number.isascii() and number.isdigit() and number[0] != "0"):
                        shape.wrong(at, "a version is a number from 1 up")
                        continue
                    shape.version(version, at)
    if shape.problems:
        raise LockFileError(path, shape.problems)
    return _canonical(data)
