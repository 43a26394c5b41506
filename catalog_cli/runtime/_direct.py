"""A version's entry point called directly, while pluggy would call just one function.

Only the catalog calls a version's entry point, and for nearly every tenant its hook holds one
implementation (the catalog's built-in, bound to the tenant's context) and no wrapper. pluggy's
hook call then checks that the arguments are given, copies the list of implementations and runs
its general loop to call that one function: about 1 us a call, more than all the work the
catalog adds to a call. So the catalog calls the function itself, with the arguments pluggy
would pass it (those it names, in its order).

Only while that is exactly what pluggy would do: the hook returns the first result and holds
that one implementation, no wrapper; the call gives every parameter of the version (else pluggy
is called, and warns as it does). The tenant's manager (a ``TenantManager``) says when a
plugin is registered or unregistered or hook calls are monitored on it: from then on the hook
caller is called, as usual. Plugin points are always called through pluggy.
"""

from __future__ import annotations

import functools
import types
from typing import Any, Final

from ..registry import TenantManager

#: The value of a parameter the caller did not pass.
_MISSING: Final = object()
#: The generated code's own names start with this: a version parameter must not.
_INTERNAL: Final = "_catalog_"


def direct_entry(pm: Any, caller: Any, names: tuple[str, ...]) -> Any:
    """``caller`` (the pluggy hook caller of a version's entry point in ``pm``; ``names``, the
    version's parameters), or a function taking the same keyword arguments that calls its one
    implementation directly."""
    if not isinstance(pm, TenantManager) or pm.catalog_monitored:
        return caller
    seen = pm.catalog_changes  # before reading what the hook holds
    spec = caller.spec
    if spec is None or not spec.opts.get("firstresult") or spec.opts.get("historic"):
        return caller
    if getattr(spec, "kwargdefaults", None):  # pluggy 1.6+ fills in a spec's defaults
        return caller
    impls = caller.get_hookimpls()
    if len(impls) != 1 or impls[0].wrapper or impls[0].hookwrapper or impls[0].kwargnames:
        return caller
    impl = impls[0]
    argnames = tuple(impl.argnames)
    if any(name.startswith(_INTERNAL) for name in names) or not {
        *argnames,
        *spec.argnames,
    } <= set(names):
        return caller
    env: dict[str, Any] = {
        "_catalog_fn": impl.function,
        "_catalog_caller": caller,
        "_catalog_given": _given,
        "_catalog_missing": _MISSING,
    }
    entry = types.FunctionType(_code(names, argnames), env, caller.name)
    entry.__kwdefaults__ = dict.fromkeys(names, _MISSING)
    # After the manager's next change (or at once, if one came since ``seen``), every call
    # goes to pluggy.
    pm.catalog_watch(functools.partial(env.__setitem__, "_catalog_fn", None), seen)
    return entry


def _given(**arguments: Any) -> dict[str, Any]:
    return {name: value for name, value in arguments.items() if value is not _MISSING}


@functools.lru_cache(maxsize=256)
def _code(names: tuple[str, ...], argnames: tuple[str, ...]) -> types.CodeType:
    """The code of ``entry(**arguments)`` for a version of parameters ``names`` whose entry
    point's implementation takes ``argnames``: made once per shape, shared by every tenant."""
    signature = ", ".join([f"{name}=_catalog_missing" for name in names])
    head = f"*, {signature}, **_catalog_rest" if names else "**_catalog_rest"
    not_direct = " or ".join(
        ["_catalog_f is None", *(f"{name} is _catalog_missing" for name in names)]
    )
    given = ", ".join(f"{name}={name}" for name in names)
    # The function is read once: a change on another thread may set it to None meanwhile.
    source = (
        f"def entry({head}):\n"
        "    _catalog_f = _catalog_fn\n"
        f"    if {not_direct}:\n"
        f"        return _catalog_caller(**_catalog_given({given}), **_catalog_rest)\n"
        f"    return _catalog_f({', '.join(argnames)})\n"
    )
    namespace: dict[str, Any] = {"_catalog_missing": _MISSING}
    exec(compile(source, "<catalog entry point>", "exec"), namespace)
    code: types.CodeType = namespace["entry"].__code__
    return code
