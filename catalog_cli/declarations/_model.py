"""The interface model: interfaces, their versions, and the plugin points of each version."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ..errors import InvalidArgumentsError, UnknownVersionError
from ..errors import hint as did_you_mean
from ._binders import compile_binder
from ._decorators import ErrorPolicy, Policy
from ._types import DataType

if TYPE_CHECKING:
    from ._changes import Route, VersionChange

REQUIRED: Final[Any] = inspect.Parameter.empty


def first_line(doc: str | None) -> str:
    """The summary line of a docstring."""
    return inspect.cleandoc(doc).split("\n", 1)[0] if doc else ""


class Parameter(NamedTuple):
    """One parameter of a method or plugin point, with its compiled data type."""

    name: str
    annotation: str
    type: DataType | None
    default: Any = REQUIRED
    #: the annotation itself, resolved (what plugin implementations are compared with)
    hint: Any = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.annotation}
        data["required"] = self.required
        if not self.required:
            data["default"] = self.default
        return data


class PluginPoint(NamedTuple):
    """A named hook inside one version where tenant plugins add or change behaviour."""

    interface: str
    version: int
    name: str
    hook: str
    policy: Policy
    parameters: tuple[Parameter, ...]
    returns: str
    doc: str
    #: as declared; catalog.toml may override it per catalog or tenant
    errors: ErrorPolicy = "raise"
    #: the return annotation compiled for checks (None: not a data type the catalog checks)
    return_type: DataType | None = None
    #: the return annotation itself, resolved
    return_hint: Any = None

    @property
    def key(self) -> str:
        """How catalog.toml names the point: ``<interface>.v<N>.<point>``."""
        return f"{self.interface}.v{self.version}.{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hook": self.hook,
            "policy": self.policy,
            "errors": self.errors,
            "parameters": [p.to_dict() for p in self.parameters],
            "returns": self.returns,
            "doc": self.doc,
        }


@dataclass(frozen=True)
class Version:
    """One version of an interface: its entry-point hook, parameters and plugin points."""

    interface: str
    number: int
    hook: str
    module: str
    parameters: tuple[Parameter, ...]
    returns: str
    doc: str
    points: Mapping[str, PluginPoint]
    #: why the version should no longer be used (None: it is current)
    deprecated: str | None = None
    #: ISO date after which the version may be removed
    sunset: str | None = None
    #: the return annotation compiled for checks (None: not a data type the catalog checks)
    return_type: DataType | None = field(default=None, compare=False)
    #: the return annotation itself, resolved
    return_hint: Any = field(default=None, compare=False)
    #: the change through which a newer version's code serves this one (None: its own code)
    served_by: VersionChange | None = field(default=None, compare=False)
    #: a call may run again with the same arguments without harm (jobs are retried then)
    idempotent: bool = False
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    _checks: Mapping[str, Any] = field(init=False, repr=False, compare=False)
    _exact: Mapping[str, type] = field(init=False, repr=False, compare=False)
    _defaults: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_names", frozenset(p.name for p in self.parameters))
        checks = {p.name: p.type.check for p in self.parameters if p.type is not None}
        object.__setattr__(self, "_checks", checks)
        # Values of exactly these types pass without calling their check: the common case.
        exact = {
            p.name: kind
            for p in self.parameters
            for kind in (str, int, bool)  # not float: a float must also be finite
            if p.type is not None and p.type.display == kind.__name__
        }
        object.__setattr__(self, "_exact", exact)
        defaults = {p.name: p.default for p in self.parameters if not p.required}
        object.__setattr__(self, "_defaults", defaults)
        if all(p.type is not None for p in self.parameters):
            # The instance attribute shadows the method below: the same contract, faster.
            object.__setattr__(self, "bind", compile_binder(self.parameters, self._bind))

    @property
    def summary(self) -> str:
        return first_line(self.doc)

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check ``arguments`` against the declaration and return them with defaults filled in.

        Raises InvalidArgumentsError naming every missing, unknown and wrongly typed parameter.
        ``arguments`` may be returned itself: pass a dict the caller does not keep using.
        """
        return self._bind(arguments)

    def _bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        # Only a failure pays for the full report.
        exact = self._exact
        checks = self._checks
        for name, value in arguments.items():
            if type(value) is not exact.get(name):
                check = checks.get(name)
                if check is None or check(value) is not None:
                    raise self._invalid(arguments)
        if len(arguments) == len(self._names):
            return arguments
        complete = {**self._defaults, **arguments}
        if len(complete) != len(self._names):
            raise self._invalid(arguments)
        return complete

    def _invalid(self, arguments: Mapping[str, Any]) -> InvalidArgumentsError:
        problems: dict[str, str] = {}
        for name, value in arguments.items():
            check = self._checks.get(name)
            if check is None:
                problems[name] = self._unknown(name)
            elif (problem := check(value)) is not None:
                problems[name] = problem
        for param in self.parameters:
            if param.required and param.name not in arguments:
                problems[param.name] = f"missing (a required {param.annotation})"
        return InvalidArgumentsError(self.interface, self.number, problems)

    def _unknown(self, name: str) -> str:
        hint = did_you_mean(name, self._names)
        accepted = ", ".join(p.name for p in self.parameters) or "none"
        return f"unknown parameter (accepted: {accepted}){hint}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "interface": self.interface,
            "version": self.number,
            "hook": self.hook,
            "module": self.module,
            "doc": self.doc,
            "parameters": [p.to_dict() for p in self.parameters],
            "returns": self.returns,
            "plugin_points": [pt.to_dict() for pt in self.points.values()],
            "deprecated": self.deprecation,
            "served_by": None if self.served_by is None else self.served_by.to_dict(),
            "idempotent": self.idempotent,
        }

    @property
    def deprecation(self) -> dict[str, str | None] | None:
        """``{"message", "sunset"}`` for a deprecated version, else None."""
        if self.deprecated is None:
            return None
        return {"message": self.deprecated, "sunset": self.sunset}


@dataclass(frozen=True)
class Interface:
    """A named method with one or more versions."""

    name: str
    doc: str
    versions: Mapping[int, Version]

    @property
    def latest(self) -> int:
        return max(self.versions)

    @property
    def summary(self) -> str:
        return first_line(self.doc)

    def version(self, number: int) -> Version:
        try:
            return self.versions[number]
        except KeyError:
            raise UnknownVersionError(self.name, number, sorted(self.versions)) from None

    def route(self, number: int) -> Route | None:
        """How version ``number`` is served by a newer version's code (None: by its own)."""
        from ._changes import route

        changes = {n: v.served_by for n, v in self.versions.items() if v.served_by is not None}
        return route(changes, number) if changes else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "latest": self.latest,
            "versions": [v.to_dict() for v in self.versions.values()],
        }
