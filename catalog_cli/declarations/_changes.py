"""Version changes: an old version served by the code of a newer one.

Keeping every old version's code forever is what makes old versions expensive. Instead, a
version may be declared *served by* a newer version through a version change: a class that
moves a call's arguments up to the newer version (``arguments``), its result back down
(``result``), and says which of the old version's plugin points are which of the newer one's
(``points``). The old version keeps its declaration, so its callers keep their contract: its
arguments are checked against it, and what the change gives back against its return type.
Its built-in implementation goes away; a tenant's plugins written for its points keep running,
at the newer points they are mapped to.

::

    @version_change(price_quote_v1, price_quote_v2, points={"discounts": "discounts"})
    class QuantityBecomesUnits:
        '''v2 calls the quantity ``units`` and adds the net amount to its answer.'''

        @staticmethod
        def arguments(old: dict[str, Any]) -> dict[str, Any]:
            new = dict(old)
            new["units"] = new.pop("quantity")
            return new

        @staticmethod
        def result(new: dict[str, Any]) -> dict[str, Any]:
            return {key: value for key, value in new.items() if key != "net"}
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, NamedTuple, TypeVar

from ..errors import DeclarationError
from ._decorators import ATTRIBUTE, EntrypointDeclaration

#: The attribute that carries a version change on its class.
CHANGE_ATTRIBUTE: Final = "catalog_version_change"

C = TypeVar("C", bound=type)


class ChangeDeclaration(NamedTuple):
    """What ``@version_change`` records on its class."""

    interface: str
    #: the version served, and the version whose code serves it
    source: int
    target: int
    points: Mapping[str, str]


@dataclass(frozen=True)
class VersionChange:
    """How version ``source`` of ``interface`` is served by version ``target``'s code."""

    interface: str
    source: int
    target: int
    #: the class that declares it, and its module
    name: str
    module: str
    #: what changed, for people (the class's docstring)
    description: str
    #: the old version's arguments -> the newer version's (None: the same)
    arguments: Callable[[dict[str, Any]], dict[str, Any]] | None = field(compare=False)
    #: the newer version's result -> the old version's (None: the same)
    result: Callable[[Any], Any] | None = field(compare=False)
    #: the old version's plugin point -> the newer version's it is served by
    points: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "change": self.name,
            "version": self.target,
            "description": self.description,
            "points": dict(self.points),
        }


def version_change(
    old: Callable[..., Any], new: Callable[..., Any], *, points: Mapping[str, str] | None = None
) -> Callable[[C], C]:
    """Declare that the version whose entry point is ``old`` is served by ``new``'s code,
    through the decorated class (see the module docstring). ``points`` maps each plugin point
    of the old version that plugins may still implement to the newer version's point that
    serves it; a point left out is gone (``catalog check`` names the tenants that implement
    it)."""
    source, target = _entry(old, "old"), _entry(new, "new")
    if source.interface != target.interface:
        raise DeclarationError(
            f"a version change stays within one interface: {old.__name__} and {new.__name__} "
            "are versions of different interfaces",
            module=old.__module__,
        )
    if target.version <= source.version:
        raise DeclarationError(
            f"{old.__name__} can only be served by a newer version, not by {new.__name__}",
            module=old.__module__,
        )
    mapping = dict(points or {})
    for name, onto in mapping.items():
        if not isinstance(name, str) or not isinstance(onto, str):
            raise DeclarationError(
                f"points maps plugin point names to plugin point names, got {name!r}: {onto!r}",
                module=old.__module__,
            )

    def decorate(cls: C) -> C:
        if not isinstance(cls, type):
            raise DeclarationError(
                f"@version_change decorates a class, not {cls!r}", module=old.__module__
            )
        for method in ("arguments", "result"):
            found = inspect.getattr_static(cls, method, None)
            if found is not None and not isinstance(found, (staticmethod, classmethod)):
                raise DeclarationError(
                    f"{cls.__name__}.{method} must be a @staticmethod (it is given the "
                    "arguments or the result, not an instance)",
                    module=cls.__module__,
                )
        setattr(
            cls,
            CHANGE_ATTRIBUTE,
            ChangeDeclaration(
                source.interface,
                source.version,
                target.version,
                MappingProxyType(mapping),
            ),
        )
        return cls

    return decorate


def _entry(func: Callable[..., Any], which: str) -> EntrypointDeclaration:
    declaration = getattr(func, ATTRIBUTE, None)
    if not isinstance(declaration, EntrypointDeclaration):
        raise DeclarationError(
            f"version_change({which}=...) needs an @entrypoint function, got {func!r}",
            module=getattr(func, "__module__", None),
        )
    return declaration


def changes_in(module: Any) -> list[VersionChange]:
    """The version changes declared in ``module`` (by classes defined there)."""
    found = []
    for name in dir(module):
        cls = getattr(module, name)
        declaration = getattr(cls, CHANGE_ATTRIBUTE, None)
        if not isinstance(declaration, ChangeDeclaration) or not isinstance(cls, type):
            continue
        if cls.__module__ != module.__name__:
            continue  # imported from elsewhere: declared there
        found.append(
            VersionChange(
                declaration.interface,
                declaration.source,
                declaration.target,
                cls.__qualname__,
                cls.__module__,
                inspect.getdoc(cls) or "",
                getattr(cls, "arguments", None),
                getattr(cls, "result", None),
                declaration.points,
            )
        )
    return found


class Route(NamedTuple):
    """How a served version's call reaches the code that runs it: through one version change
    or several (v1 served by v2, v2 by v3: v1 runs v3's code)."""

    #: the version whose code runs
    target: int
    #: the changes on the way, from the served version up
    changes: tuple[VersionChange, ...]
    #: the served version's plugin point -> the running version's point (only those mapped
    #: all the way)
    points: Mapping[str, str]

    def up(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The served version's arguments, as the running version takes them."""
        for change in self.changes:
            if change.arguments is not None:
                arguments = change.arguments(dict(arguments))
        return arguments

    def down(self, result: Any) -> Any:
        """The running version's result, as the served version answers."""
        for change in reversed(self.changes):
            if change.result is not None:
                result = change.result(result)
        return result

    @property
    def name(self) -> str:
        """The changes, for messages and listings: ``A`` or ``A + B``."""
        return " + ".join(change.name for change in self.changes)


def route(changes: Mapping[int, VersionChange], number: int) -> Route | None:
    """The route of version ``number`` of an interface whose versions are served through
    ``changes`` (served version -> its change); None if the version runs its own code."""
    first = changes.get(number)
    if first is None:
        return None
    steps = [first]
    points = dict(first.points)
    while (step := changes.get(steps[-1].target)) is not None:
        steps.append(step)
        points = {old: step.points[mid] for old, mid in points.items() if mid in step.points}
    return Route(steps[-1].target, tuple(steps), MappingProxyType(points))
