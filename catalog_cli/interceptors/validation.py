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

At plugin points only the implementations are checked (``catalog_point_call`` wraps those),
not tenant wrappers around a point: what a wrapper returns goes to the method's own code, whose
result is checked in turn. Return annotations that are not data types are not checked
(``Version.return_type`` / ``PluginPoint.return_type`` is None for them).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Final

from catalog_cli import PluginMeta, hookimpl
from catalog_cli.config import Option, Options
from catalog_cli.errors import ResultValidationError

if TYPE_CHECKING:
    from catalog_cli import Call, InterceptorContext, PointCall
    from catalog_cli.declarations import DataType

PLUGIN: Final = PluginMeta(
    description="Checks plugin results and method results against the declared return types",
    settings=Options(
        Option("plugin_points", "bool", True, "check each plugin's result at plugin points"),
        Option("results", "bool", True, "check the method's return value"),
    ),
)

ORDER: Final = 800


def _problem(data_type: DataType, value: Any) -> str | None:
    problem = data_type.check(value)
    if problem is None:
        return None
    # The error says "expected <type>" itself: keep the rest ("got str 'x'").
    head = f"expected {data_type.display}, "
    return problem[len(head) :] if problem.startswith(head) else problem


@hookimpl(wrapper=True)
def catalog_call(ctx: InterceptorContext, call: Call) -> Generator[None, Any, Any]:
    check = ctx.settings["results"]
    result = yield
    data_type = call.declared.return_type
    if not check or data_type is None:
        return result
    problem = _problem(data_type, result)
    if problem is not None:
        wrappers = call.wrappers
        if wrappers:
            names = ", ".join(repr(w) for w in wrappers)
            problem += f" (the result passed through tenant wrappers {names}, which may change it)"
        raise ResultValidationError(
            plugin=call.implementation,
            tenant=call.tenant,
            interface=call.interface,
            version=call.version,
            where="entry point",
            expected=data_type.display,
            problem=problem,
            call_id=call.call_id,
        )
    return result


def _list_problem(data_type: DataType, result: Any) -> str | None:
    if not isinstance(result, list):
        return f"a list of answers, got {type(result).__name__} {result!r:.40}"
    for index, item in enumerate(result):
        problem = None if item is None else _problem(data_type, item)
        if problem is not None:
            return f"item {index}: {problem}"
    return None


@hookimpl(wrapper=True)
def catalog_point_call(
    ctx: InterceptorContext, call: Call, point: PointCall
) -> Generator[None, Any, Any]:
    check = ctx.settings["plugin_points"]
    result = yield
    declared = point.declared or call.declared.points[point.point]
    data_type = declared.return_type
    if not check or data_type is None:
        return result
    # At collect and first points None is "no answer"; a wrap point's step must answer.
    if result is None and declared.policy != "wrap":
        return result
    if point.wrapper and declared.policy == "collect":
        # a wrapper at a collect point returns the list of answers
        problem = _list_problem(data_type, result)
    else:
        problem = _problem(data_type, result)
    if problem is not None:
        raise ResultValidationError(
            plugin=point.plugin,
            tenant=call.tenant,
            interface=call.interface,
            version=call.version,
            where=f"plugin point {point.point!r}",
            expected=data_type.display,
            problem=problem,
            call_id=call.call_id,
        )
    return result
