"""Reading hookspec modules into the interface model, checking the declarations as a whole."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Iterable, Mapping
from types import MappingProxyType, ModuleType
from typing import Any

from ..errors import DeclarationError
from ._changes import VersionChange, changes_in
from ._decorators import ATTRIBUTE, EntrypointDeclaration, PointDeclaration
from ._model import REQUIRED, Interface, Parameter, PluginPoint, Version
from ._types import (
    DataType,
    UnsupportedTypeError,
    bounded,
    compile_type,
    display_annotation,
)


def _hints(func: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except Exception as exc:  # NameError for a missing import, TypeError for bad syntax
        raise DeclarationError(
            f"cannot resolve annotations: {type(exc).__name__}: {exc}",
            module=func.__module__,
            hook=func.__name__,
        ) from exc


def _parameters(
    func: Any, defaults: Mapping[str, Any], *, checked: bool
) -> tuple[tuple[Parameter, ...], str, DataType | None, Any]:
    hints = _hints(func)
    names = list(inspect.signature(func).parameters)[1:]  # [0] is ctx
    params = []
    for name in names:
        if name not in hints:
            raise DeclarationError(
                f"parameter {name!r} needs a type annotation",
                module=func.__module__,
                hook=func.__name__,
            )
        data_type: DataType | None = None
        if checked:
            try:
                data_type = bounded(compile_type(hints[name]))
            except UnsupportedTypeError as exc:
                raise DeclarationError(
                    f"parameter {name!r}: {exc}", module=func.__module__, hook=func.__name__
                ) from None
        default = defaults.get(name, REQUIRED)
        if data_type is not None and default is not REQUIRED:
            problem = data_type.check(default)
            if problem is not None:
                raise DeclarationError(
                    f"default of parameter {name!r} does not fit its type: {problem}",
                    module=func.__module__,
                    hook=func.__name__,
                )
        params.append(
            Parameter(name, display_annotation(hints[name]), data_type, default, hints[name])
        )
    if "return" not in hints:
        raise DeclarationError(
            "the return type needs an annotation", module=func.__module__, hook=func.__name__
        )
    try:
        # For the validation interceptor; a return type it cannot check is left unchecked.
        return_type: DataType | None = compile_type(hints["return"])
    except UnsupportedTypeError:
        return_type = None
    return tuple(params), display_annotation(hints["return"]), return_type, hints["return"]


def declarations(module: ModuleType) -> list[tuple[str, Any]]:
    """The (hook name, function) pairs of ``module`` that carry a catalog declaration."""
    found = []
    for name in dir(module):
        func = getattr(module, name)
        if getattr(func, ATTRIBUTE, None) is not None and getattr(func, "__module__", None) == (
            module.__name__
        ):
            found.append((name, func))
    return found


def build_interfaces(modules: Iterable[ModuleType]) -> dict[str, Interface]:
    """Read every declaration in ``modules`` into interfaces, checking them as a whole."""
    entries: dict[tuple[str, int], tuple[Any, EntrypointDeclaration]] = {}
    points: dict[tuple[str, int], list[tuple[Any, PointDeclaration]]] = {}
    hooks: dict[str, str] = {}
    docs: dict[str, str] = {}
    changes: list[VersionChange] = []
    for module in modules:
        changes += changes_in(module)
        for hook, func in declarations(module):
            if hook in hooks and hooks[hook] != module.__name__:
                raise DeclarationError(
                    f"hook {hook} is declared twice: in {hooks[hook]} and {module.__name__}",
                    hook=hook,
                )
            hooks[hook] = module.__name__
            decl = getattr(func, ATTRIBUTE)
            key = (decl.interface, decl.version)
            if isinstance(decl, EntrypointDeclaration):
                entries[key] = (func, decl)
                docs.setdefault(decl.interface, inspect.getdoc(module) or "")
            else:
                points.setdefault(key, []).append((func, decl))

    for key, declared in points.items():
        if key not in entries:
            func, decl = declared[0]
            raise DeclarationError(
                f"plugin point of {decl.entrypoint}, which is not declared",
                module=func.__module__,
                hook=func.__name__,
            )

    versions: dict[str, dict[int, Version]] = {}
    for (interface, number), (func, decl) in sorted(entries.items()):
        params, returns, return_type, return_hint = _parameters(func, decl.defaults, checked=True)
        version_points = {}
        for point_func, point in sorted(
            points.get((interface, number), []), key=lambda p: p[1].point
        ):
            point_params, point_returns, point_type, point_hint = _parameters(
                point_func, {}, checked=False
            )
            version_points[point.point] = PluginPoint(
                interface,
                number,
                point.point,
                point_func.__name__,
                point.policy,
                point_params,
                point_returns,
                inspect.getdoc(point_func) or "",
                point.errors,
                point_type,
                point_hint,
            )
        versions.setdefault(interface, {})[number] = Version(
            interface,
            number,
            func.__name__,
            func.__module__,
            params,
            returns,
            inspect.getdoc(func) or "",
            MappingProxyType(version_points),
            decl.deprecated,
            decl.sunset,
            return_type,
            return_hint,
            idempotent=decl.idempotent,
        )
    for change in changes:
        found = versions.get(change.interface, {})
        _check_change(change, found)
        found[change.source] = dataclasses.replace(found[change.source], served_by=change)
    return {
        name: Interface(name, docs.get(name, ""), MappingProxyType(dict(sorted(found.items()))))
        for name, found in sorted(versions.items())
    }


def _check_change(change: VersionChange, versions: Mapping[int, Version]) -> None:
    """A version change whose plugin points fit: a plugin written for the old point must get
    every parameter it may ask for, of the same type, and answer what the newer point wants."""

    def fail(problem: str) -> DeclarationError:
        return DeclarationError(f"version change {change.name}: {problem}", module=change.module)

    old, new = versions.get(change.source), versions.get(change.target)
    if old is None or new is None:
        raise fail(
            f"{change.interface} has no version {change.source if old is None else change.target}"
        )
    if old.served_by is not None:
        raise fail(
            f"{change.interface} v{change.source} is served twice: by v{old.served_by.target} "
            f"({old.served_by.name}) and by v{change.target}"
        )
    for name, onto in change.points.items():
        before, after = old.points.get(name), new.points.get(onto)
        if before is None:
            known = ", ".join(old.points) or "none"
            raise fail(f"v{change.source} has no plugin point {name!r} (points: {known})")
        if after is None:
            known = ", ".join(new.points) or "none"
            raise fail(f"v{change.target} has no plugin point {onto!r} (points: {known})")
        where = f"point {name!r} of v{change.source} onto {onto!r} of v{change.target}"
        if before.policy != after.policy:
            raise fail(f"{where}: the policies differ ({before.policy}, {after.policy})")
        given = {p.name: p.annotation for p in after.parameters}
        for param in before.parameters:
            if given.get(param.name) != param.annotation:
                passes = ", ".join(f"{n}: {a}" for n, a in given.items()) or "nothing"
                raise fail(
                    f"{where}: v{change.target}'s point passes no {param.name}: "
                    f"{param.annotation} (it passes {passes})"
                )
        if before.returns != after.returns:
            raise fail(f"{where}: the return types differ ({before.returns}, {after.returns})")
