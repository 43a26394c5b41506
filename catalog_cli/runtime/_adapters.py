"""Functions with a hook implementation's exact parameters, in its place for one tenant.

Pluggy passes an implementation the arguments its own signature names, so a step the
catalog adds around one (see ``_guards``) must take exactly the same parameters. These are
generated from source, once per parameter list and shape, then made by a closure call: no
``*args`` packing and no ``functools.wraps`` on a call path.

The checks of what a customer plugin returns (``checked`` and ``relay``) take the plugin's
context as their first parameter: one is made per plugin function and shared by every tenant,
each tenant registering it bound to its own context (as the plugin's own functions are), so a
tenant costs one bound method per implementation, not a function of its own.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Final

from ..declarations import hookimpl

#: Names the generated code uses; they start so, and a hook parameter may not.
PREFIX: Final = "_catalog_"

_RESULT: Final = "_catalog_result"
#: Results that surely fit, by kind of check: no answer (None), a value of the exact type,
#: a finite float (NaN and infinities are no data).
_FITS: Final = {
    "exact": f"type({_RESULT}) is _catalog_exact",
    "exact or none": f"{_RESULT} is None or type({_RESULT}) is _catalog_exact",
    "float": f"type({_RESULT}) is float and {_RESULT} - {_RESULT} == 0.0",
    "float or none": f"{_RESULT} is None or (type({_RESULT}) is float and "
    f"{_RESULT} - {_RESULT} == 0.0)",
    "none": f"{_RESULT} is None",
    "nothing": "False",
}

Body = Callable[[tuple[Any, ...]], Any]


def usable(argnames: tuple[str, ...]) -> bool:
    """Whether functions can be generated for these parameter names."""
    return not any(name.startswith(PREFIX) for name in argnames)


#: The first parameter of a step bound to a plugin's context.
_CTX: Final = "_catalog_ctx"


@functools.cache
def _factory(
    shape: str, argnames: tuple[str, ...], passes_ctx: bool = False
) -> Callable[..., Callable[..., Any]]:
    params = ", ".join(argnames)
    packed = f"({params},)" if argnames else "()"
    # The shapes of plugin functions (checked, relay) take the plugin's context first, and
    # hand it on to the function when it takes one; the check is told it (whose call it was).
    bound = shape.startswith(("checked", "relay", "achecked"))
    signature = ", ".join((_CTX, *argnames)) if bound else params
    passed = ", ".join((_CTX, *argnames)) if passes_ctx else params
    bodies = {
        # body(args): a step around the implementation, given its arguments as a tuple
        "call": f"    return _catalog_body({packed})\n",
        "yield": f"    return (yield from _catalog_body({packed}))\n",
        # the same around an async def implementation: body(args) is awaited
        "acall": f"    return await _catalog_body({packed})\n",
        # an async wrapper as pluggy registers it (pluggy takes only generator functions as
        # wrappers): a generator that hands the async generator over to the async path's
        # driver (see ``_async``), and refuses to be driven as a plain wrapper
        "handover": (
            f"    yield _catalog_check(_catalog_body({params}))\n    raise _catalog_thrown()\n"
        ),
        # ... around an async wrapper: body(args) is an async generator that yields once to
        # run what it wraps and once more with the value to give (see ``_async``)
        "ayield": (
            f"    _catalog_gen = _catalog_body({packed})\n"
            "    await _catalog_gen.__anext__()\n"
            "    try:\n"
            "        _catalog_received = yield\n"
            "    except BaseException as _catalog_exc:\n"
            "        _catalog_value = await _catalog_gen.athrow(_catalog_exc)\n"
            "    else:\n"
            "        _catalog_value = await _catalog_gen.asend(_catalog_received)\n"
            "    await _catalog_gen.aclose()\n"
            "    yield _catalog_value\n"
        ),
    }
    if shape.startswith("relay"):
        # a new-style wrapper driven as pluggy drives it, naming it if it breaks the protocol;
        # what it returns let through when it surely fits, else checked by ``_catalog_check``
        # (when there is one)
        kind = shape.removeprefix("relay").strip()
        fits = _FITS[kind].replace(_RESULT, "_catalog_stop.value") if kind else ""
        back = (
            f"_catalog_stop.value if {fits} else _catalog_check(_catalog_stop.value, {_CTX})"
            if kind
            else "_catalog_stop.value"
        )
        bodies[shape] = (
            f"    _catalog_gen = _catalog_function({passed})\n"
            "    try:\n"
            "        _catalog_gen.send(None)\n"
            "    except StopIteration:\n"
            '        raise _catalog_body("did not yield") from None\n'
            "    try:\n"
            "        _catalog_received = yield\n"
            "    except BaseException as _catalog_exc:\n"
            "        _catalog_value = _catalog_thrown(_catalog_gen, _catalog_exc)\n"
            "        return _catalog_value if _catalog_check is None else "
            f"_catalog_check(_catalog_value, {_CTX})\n"
            "    try:\n"
            "        _catalog_gen.send(_catalog_received)\n"
            "    except StopIteration as _catalog_stop:\n"
            f"        return {back}\n"
            '    raise _catalog_body("yielded twice")\n'
        )
    if shape.startswith(("checked", "achecked")):
        # the implementation, its result let through inline when it surely fits (``fits``),
        # else checked by ``_catalog_check`` (``achecked``: an async def one, awaited)
        fits = _FITS[shape.split(" ", 1)[1]]
        awaited = "await " if shape.startswith("a") else ""
        bodies[shape] = (
            f"    _catalog_result = {awaited}_catalog_function({passed})\n"
            f"    if {fits}:\n"
            "        return _catalog_result\n"
            f"    return _catalog_check(_catalog_result, {_CTX})\n"
        )
    asynchronous = "async " if shape.startswith(("acall", "ayield", "achecked")) else ""
    source = (
        "def _catalog_make(\n"
        "    _catalog_body, _catalog_function, _catalog_exact, _catalog_check, _catalog_thrown\n"
        "):\n"
        f"    {asynchronous}def _catalog_step({signature}):\n"
        + "".join("    " + line + "\n" for line in bodies[shape].splitlines())
        + "    return _catalog_step\n"
    )
    env: dict[str, Any] = {}
    exec(compile(source, f"<catalog step {shape}({signature})>", "exec"), env)
    make: Callable[..., Callable[..., Any]] = env["_catalog_make"]
    return make


def _marked(
    function: Callable[..., Any],
    opts: Mapping[str, Any],
    name: str,
    wrapped: Callable[..., Any] | None,
) -> Callable[..., Any]:
    function.__name__ = function.__qualname__ = name
    if wrapped is not None:
        # What it stands in for (the plugin's function, its ctx bound): the same parameters.
        function.__wrapped__ = wrapped  # type: ignore[attr-defined]
    marked: Callable[..., Any] = hookimpl(**opts)(function)
    return marked


#: A check of what a plugin function returned: ``check(value, ctx)`` returns the value, or
#: raises naming the plugin and the tenant ``ctx`` belongs to.
Check = Callable[[Any, Any], Any]


def relay(
    argnames: tuple[str, ...],
    function: Callable[..., Any],
    misbehaved: Callable[[str], BaseException],
    thrown: Callable[[Any, BaseException], Any],
    check: Check | None,
    exact: type | None,
    opts: Mapping[str, Any],
    name: str,
    *,
    takes_ctx: bool,
) -> Callable[..., Any]:
    """A new-style wrapper (``function``, the plugin's own) run through a step that keeps
    pluggy's protocol: ``misbehaved(problem)`` is raised when it does not yield or yields
    twice; ``thrown(gen, exc)`` hands it an exception (and returns what it returns); what it
    returns is let through when it is of the type ``exact``, else ``check`` sees it.

    The step takes the plugin's context first (bind it per tenant), and passes it on to
    ``function`` if ``takes_ctx``."""
    shape = "relay"
    if check is not None:
        shape += " " + _kind(exact, none_is_no_answer=False)
    make = _factory(shape, argnames, takes_ctx)
    return _marked(make(misbehaved, function, exact, check, thrown), opts, name, None)


def around(
    argnames: tuple[str, ...],
    body: Body,
    opts: Mapping[str, Any],
    name: str,
    wrapped: Callable[..., Any],
    *,
    generator: bool = False,
) -> Callable[..., Any]:
    """A hook implementation standing in for ``wrapped`` (taking ``argnames``) whose work is
    ``body(arguments)`` (a wrapper's: ``yield from body(arguments)``), marked with ``opts``."""
    make = _factory("yield" if generator else "call", argnames)
    return _marked(make(body, None, None, None, None), opts, name, wrapped)


def generator(
    argnames: tuple[str, ...], body: Body, opts: Mapping[str, Any], name: str
) -> Callable[..., Any]:
    """A wrapper of its own taking ``argnames`` whose work is ``yield from body(arguments)``,
    marked with ``opts``: nothing stands behind it, pluggy reads its own parameters."""
    make = _factory("yield", argnames)
    return _marked(make(body, None, None, None, None), opts, name, None)


def handover(
    argnames: tuple[str, ...],
    function: Callable[..., Any],
    opts: Mapping[str, Any],
    name: str,
    wrap: Callable[[Any], Any],
    misuse: Callable[[], BaseException],
) -> Callable[..., Any]:
    """An async wrapper ``function`` as pluggy can register it: a generator function with its
    parameters that yields ``wrap(function(...))`` (what the async path's driver runs), and
    raises ``misuse()`` if driven on as a plain wrapper."""
    make = _factory("handover", argnames)
    return _marked(make(function, None, None, wrap, misuse), opts, name, function)


def aaround(
    argnames: tuple[str, ...],
    body: Callable[[tuple[Any, ...]], Any],
    opts: Mapping[str, Any],
    name: str,
    wrapped: Callable[..., Any],
    *,
    generator: bool = False,
) -> Callable[..., Any]:
    """``around`` for the async path: an ``async def`` step that awaits ``body(arguments)``,
    or (``generator``) an async wrapper driving the async generator ``body(arguments)``, which
    yields once to run what it wraps and once more with the value to give."""
    make = _factory("ayield" if generator else "acall", argnames)
    return _marked(make(body, None, None, None, None), opts, name, wrapped)


def checked(
    argnames: tuple[str, ...],
    function: Callable[..., Any],
    exact: type | None,
    check: Check,
    opts: Mapping[str, Any],
    name: str,
    *,
    none_is_no_answer: bool,
    takes_ctx: bool,
) -> Callable[..., Any]:
    """``function`` (the plugin's own), its result let through when it is None (if
    ``none_is_no_answer``) or a value of the type ``exact``, else passed through ``check``
    (which returns it, or raises). The step takes the plugin's context first (bind it per
    tenant), and passes it on to ``function`` if ``takes_ctx``."""
    shape = f"checked {_kind(exact, none_is_no_answer=none_is_no_answer)}"
    if inspect.iscoroutinefunction(function):
        shape = "a" + shape
    make = _factory(shape, argnames, takes_ctx)
    return _marked(make(None, function, exact, check, None), opts, name, None)


def _kind(exact: type | None, *, none_is_no_answer: bool) -> str:
    """Which values surely fit (see ``_FITS``)."""
    if exact is float:
        kind = "float"
    elif exact is not None:
        kind = "exact"
    else:
        return "none" if none_is_no_answer else "nothing"
    return kind + " or none" if none_is_no_answer else kind
