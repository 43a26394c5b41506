"""Decorators that turn hookspec functions into interface versions and plugin points.

An interface version is a hookspec named ``<interface>_v<N>`` (its *entry point*); a plugin
point of that version is a hookspec named ``<interface>_v<N>_<point>``. The decorators apply the
real pluggy ``hookspec`` marker and attach a small declaration record that discovery reads.
"""

from __future__ import annotations

import datetime
import inspect
import re
from collections.abc import Callable
from typing import Any, Final, Literal, NamedTuple, TypeVar, get_args, overload

from ..errors import DeclarationError
from ._markers import hookspec

F = TypeVar("F", bound=Callable[..., Any])

#: How the results of a plugin point's implementations combine.
#: ``collect``: a list of every non-None result, in call order;
#: ``first``: the first non-None result (later implementations are not called);
#: ``wrap``: one step, implemented by the catalog, that plugins may only wrap (``wrapper=True``).
Policy = Literal["collect", "first", "wrap"]
POLICIES: Final[tuple[str, ...]] = get_args(Policy)

#: What a plugin point does when one plugin's implementation raises.
#: ``raise``: the call fails, naming the plugin; ``isolate``: the plugin's result is left out,
#: the error is logged and attributed, and the other plugins' results are kept.
ErrorPolicy = Literal["raise", "isolate"]
ERROR_POLICIES: Final[tuple[str, ...]] = get_args(ErrorPolicy)

#: The attribute that carries a declaration on a hookspec function.
ATTRIBUTE: Final = "catalog_declaration"

#: Parameter names a method may not use: they are taken by ``Catalog.run`` and the context.
RESERVED: Final = frozenset({"ctx", "customer", "version", "interface"})

_ENTRYPOINT_NAME: Final = re.compile(r"^(?P<interface>[a-z][a-z0-9_]*?)_v(?P<version>[1-9][0-9]*)$")
_POINT_NAME: Final = re.compile(r"^[a-z][a-z0-9_]*$")


class EntrypointDeclaration(NamedTuple):
    """The hookspec is version ``version`` of ``interface``; ``defaults`` were stripped from it."""

    interface: str
    version: int
    defaults: dict[str, Any]
    #: why the version should no longer be used, and what to use instead
    deprecated: str | None = None
    #: ISO date after which the version may be removed
    sunset: str | None = None
    #: running a call twice with the same arguments does no more than running it once
    idempotent: bool = False


class PointDeclaration(NamedTuple):
    """The hookspec is plugin point ``point`` of ``interface`` version ``version``."""

    interface: str
    version: int
    point: str
    policy: Policy
    entrypoint: str
    errors: ErrorPolicy = "raise"


def _positional_parameters(func: Callable[..., Any]) -> list[inspect.Parameter]:
    params = list(inspect.signature(func).parameters.values())
    for param in params:
        if param.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            raise DeclarationError(
                f"parameter {param.name!r} must be a plain parameter (no *, *args, **kwargs "
                "or positional-only marker): plugins receive arguments by name",
                module=func.__module__,
                hook=func.__name__,
            )
    if not params or params[0].name != "ctx":
        raise DeclarationError(
            "the first parameter must be `ctx: Context`", module=func.__module__, hook=func.__name__
        )
    return params


@overload
def entrypoint(func: F, /) -> F: ...


@overload
def entrypoint(
    *, deprecated: str | None = None, sunset: str | None = None, idempotent: bool = False
) -> Callable[[F], F]: ...


def entrypoint(
    func: F | None = None,
    /,
    *,
    deprecated: str | None = None,
    sunset: str | None = None,
    idempotent: bool = False,
) -> F | Callable[[F], F]:
    """Declare ``func`` (named ``<interface>_v<N>``) as version N of an interface's method.

    ``@entrypoint(deprecated="use v2", sunset="2027-06-30")`` marks the version deprecated:
    listings show it, and calls warn through logging. ``idempotent=True`` declares that a
    call may run again with the same arguments without harm: a background job of the
    version that failed is then retried per ``[jobs.retry]``.
    """
    if func is None:
        return lambda f: _entrypoint(f, deprecated, sunset, idempotent)
    return _entrypoint(func, deprecated, sunset, idempotent)


def _entrypoint(func: F, deprecated: str | None, sunset: str | None, idempotent: bool) -> F:
    match = _ENTRYPOINT_NAME.match(func.__name__)
    if match is None:
        raise DeclarationError(
            "an entry point must be named <interface>_v<N> (lower case, N >= 1)",
            module=func.__module__,
            hook=func.__name__,
        )
    if not isinstance(idempotent, bool):
        raise DeclarationError(
            f"idempotent must be True or False, not {idempotent!r}",
            module=func.__module__,
            hook=func.__name__,
        )
    if sunset is not None:
        try:
            datetime.date.fromisoformat(sunset)
        except (TypeError, ValueError):
            raise DeclarationError(
                f"sunset {sunset!r} is not a date such as '2027-06-30'",
                module=func.__module__,
                hook=func.__name__,
            ) from None
        if not deprecated:
            raise DeclarationError(
                "a sunset date needs a deprecation message (deprecated=...)",
                module=func.__module__,
                hook=func.__name__,
            )
    defaults: dict[str, Any] = {}
    for param in _positional_parameters(func)[1:]:
        if param.name in RESERVED:
            raise DeclarationError(
                f"parameter name {param.name!r} is reserved "
                f"(reserved: {', '.join(sorted(RESERVED))})",
                module=func.__module__,
                hook=func.__name__,
            )
        if param.default is not inspect.Parameter.empty:
            if isinstance(param.default, (list, dict, set)):
                raise DeclarationError(
                    f"parameter {param.name!r} has a mutable default; use None or a tuple",
                    module=func.__module__,
                    hook=func.__name__,
                )
            defaults[param.name] = param.default
    # pluggy never passes parameters that have defaults to implementations, so the defaults are
    # kept in the declaration (and filled in by the catalog) and removed from the function.
    func.__defaults__ = None
    func.__kwdefaults__ = None
    hookspec(firstresult=True)(func)
    setattr(
        func,
        ATTRIBUTE,
        EntrypointDeclaration(
            match["interface"], int(match["version"]), defaults, deprecated, sunset, idempotent
        ),
    )
    return func


def plugin_point(
    of: Callable[..., Any], *, policy: Policy = "collect", errors: ErrorPolicy = "raise"
) -> Callable[[F], F]:
    """Declare a plugin point of the version whose entry point is ``of``.

    The decorated hookspec must be named ``<entry point name>_<point>``. ``errors`` is what
    happens when a plugin's implementation raises (catalog.toml may override it).
    """
    declaration = getattr(of, ATTRIBUTE, None)
    if not isinstance(declaration, EntrypointDeclaration):
        raise DeclarationError(
            f"plugin_point(of=...) needs an @entrypoint function, got {of!r}",
            module=getattr(of, "__module__", None),
        )
    if policy not in POLICIES:
        raise DeclarationError(
            f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}",
            module=of.__module__,
        )
    if errors not in ERROR_POLICIES:
        raise DeclarationError(
            f"unknown error policy {errors!r}; choose one of {', '.join(ERROR_POLICIES)}",
            module=of.__module__,
        )
    if errors == "isolate" and policy == "wrap":
        raise DeclarationError(
            "a wrap point has one implementation, the catalog's: it cannot isolate errors",
            module=of.__module__,
        )
    entry: EntrypointDeclaration = declaration

    def decorate(func: F) -> F:
        prefix = f"{of.__name__}_"
        point = func.__name__[len(prefix) :] if func.__name__.startswith(prefix) else ""
        if not _POINT_NAME.match(point):
            raise DeclarationError(
                f"a plugin point of {of.__name__} must be named {prefix}<point>",
                module=func.__module__,
                hook=func.__name__,
            )
        for param in _positional_parameters(func):
            if param.default is not inspect.Parameter.empty:
                raise DeclarationError(
                    f"parameter {param.name!r} of a plugin point may not have a default: "
                    "the implementation passes every argument",
                    module=func.__module__,
                    hook=func.__name__,
                )
        hookspec(firstresult=policy != "collect")(func)
        setattr(
            func,
            ATTRIBUTE,
            PointDeclaration(entry.interface, entry.version, point, policy, of.__name__, errors),
        )
        return func

    return decorate
