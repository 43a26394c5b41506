"""Validation: check what plugins return against the declared return types.

Two checks, each switched by a setting:

* ``plugin_points``: each plugin's result at a plugin point against the point's return
  annotation. At ``collect`` and ``first`` points None means "no answer" and is not checked; at
  ``wrap`` points it is a value like any other. A wrong value raises ResultValidationError
  naming the plugin that produced it (under the ``isolate`` error policy the catalog leaves that
  plugin's answer out instead, like any other failure of the plugin).
* ``results``: the method's return value against the version's return annotation. The value
  comes from the built-in implementing the entry point, which the error names; tenant wrappers
  on the entry point may have changed it, so the error lists them too.

Only the implementations at a plugin point are checked, not tenant wrappers around a ``wrap``
point (their result reaches the method's own code). Annotations that are not data types
(``compile_type`` rejects them) are not checked.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from catalog_cli import PluginMeta, hookimpl
from catalog_cli._options import Option, Options
from catalog_cli.errors import ResultValidationError

if TYPE_CHECKING:
    from catalog_cli._intercept import Call, PointCall
    from catalog_cli._types import DataType

PLUGIN: Final = PluginMeta(
    description="Checks plugin results and method results against the declared return types",
    settings=Options(
        Option("plugin_points", "bool", True, "check each plugin's result at plugin points"),
        Option("results", "bool", True, "check the method's return value"),
    ),
)

ORDER: Final = 800


class Declared(NamedTuple):
    """A hook's compiled return type, and whether None is "no answer" rather than a value."""

    type: DataType | None
    none_is_no_answer: bool


#: hookspec function -> its declared return type (hookspecs change only with a restart)
_declared: dict[Any, Declared] = {}


def declared(call: Call, hook: str) -> Declared:
    """The return type declared for ``hook`` (an entry point or plugin point of the call).

    The compiled types exist as ``Version.return_type`` and ``PluginPoint.return_type``, but a
    Call does not reach them yet; until it does, they are compiled again, once, from the
    hookspec in the tenant's manager with the catalog's own function.
    """
    function = getattr(call._chain.pm.hook, hook).spec.function
    found = _declared.get(function)
    if found is None:
        from catalog_cli._declare import ATTRIBUTE, PointDeclaration
        from catalog_cli._interfaces import _parameters

        # The catalog's own reading of a hookspec: the same type as the Version's.
        data_type = _parameters(function, {}, checked=False)[2]
        declaration = getattr(function, ATTRIBUTE, None)
        no_answer = isinstance(declaration, PointDeclaration) and declaration.policy != "wrap"
        found = _declared.setdefault(function, Declared(data_type, no_answer))
    return found


def _problem(data_type: DataType, value: Any) -> str | None:
    problem = data_type.check(value)
    if problem is None:
        return None
    # The error says "expected <type>" itself: keep the rest ("got str 'x'").
    head = f"expected {data_type.display}, "
    return problem[len(head) :] if problem.startswith(head) else problem


def _wrappers(call: Call, hook: str) -> list[str]:
    """The tenant plugins wrapping the entry point (the catalog's own wrappers left out)."""
    plugins = {binding.name for binding in call.ctx._scope.bindings.values()}
    return [
        impl.plugin_name
        for impl in getattr(call._chain.pm.hook, hook).get_hookimpls()
        if (impl.wrapper or impl.hookwrapper) and impl.plugin_name in plugins
    ]


@hookimpl(wrapper=True)
def catalog_call(call: Call) -> Generator[None, Any, Any]:
    check = call.settings["results"]
    result = yield
    if not check:
        return result
    hook = f"{call.interface}_v{call.version}"
    data_type = declared(call, hook).type
    if data_type is None:
        return result
    problem = _problem(data_type, result)
    if problem is not None:
        wrappers = _wrappers(call, hook)
        if wrappers:
            names = ", ".join(repr(w) for w in wrappers)
            problem += f" (the result passed through tenant wrappers {names}, which may change it)"
        raise ResultValidationError(
            plugin=call.ctx._scope.implementation,
            tenant=call.tenant,
            interface=call.interface,
            version=call.version,
            where="entry point",
            expected=data_type.display,
            problem=problem,
            call_id=call.call_id,
        )
    return result


@hookimpl(wrapper=True)
def catalog_point_call(call: Call, point: PointCall) -> Generator[None, Any, Any]:
    check = call.settings["plugin_points"]
    result = yield
    if not check:
        return result
    found = declared(call, point.hook)
    if found.type is None or (result is None and found.none_is_no_answer):
        return result
    problem = _problem(found.type, result)
    if problem is not None:
        raise ResultValidationError(
            plugin=point.plugin,
            tenant=call.tenant,
            interface=call.interface,
            version=call.version,
            where=f"plugin point {point.point!r}",
            expected=found.type.display,
            problem=problem,
            call_id=call.call_id,
        )
    return result
