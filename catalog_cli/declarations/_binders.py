"""Argument checks compiled per version, for the call path.

``Version.bind`` runs on every call, so each version gets a function generated for its own
parameters (as dataclasses generate ``__init__``): it reads every argument once and checks the
common types inline. Anything else (defaults to fill, a wrong or unusual value) goes to the
general, slower check, which also writes the error report.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._model import Parameter

Binder = Callable[[dict[str, Any]], dict[str, Any]]


def condition(value: str, key: str, parameter: Parameter, env: dict[str, Any]) -> str:
    """Python source that is true when the variable ``value`` fits ``parameter``'s type;
    what it needs is put in ``env`` under names ending in ``key``."""
    data_type = parameter.type
    assert data_type is not None
    if data_type.display in ("str", "int", "bool"):
        return f"type({value}) is {data_type.display}"
    if data_type.display == "float":
        return f"(type({value}) is float and {value} - {value} == 0.0)"  # finite floats only
    if data_type.choices:
        env[f"_catalog_choices{key}"] = data_type.choices
        return f"(type({value}) is str and {value} in _catalog_choices{key})"
    env[f"_catalog_check{key}"] = data_type.check
    return f"_catalog_check{key}({value}) is None"


def compile_binder(parameters: Sequence[Parameter], general: Binder) -> Binder:
    """A function that returns the arguments when all are given and fit, else asks ``general``."""
    env: dict[str, Any] = {"general": general}
    reads = "; ".join(f"v{i} = arguments[{p.name!r}]" for i, p in enumerate(parameters))
    conditions = (
        " and ".join(condition(f"v{i}", str(i), p, env) for i, p in enumerate(parameters)) or "True"
    )
    source = (
        "def bind(arguments):\n"
        f"    if len(arguments) == {len(parameters)}:\n"
        "        try:\n"
        f"            {reads or 'pass'}\n"
        "        except KeyError:\n"
        "            return general(arguments)\n"
        f"        if {conditions}:\n"
        "            return arguments\n"
        "    return general(arguments)\n"
    )
    exec(compile(source, "<catalog argument check>", "exec"), env)
    binder: Binder = env["bind"]
    return binder
