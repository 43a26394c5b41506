"""A call of a version served by a newer version's code (see ``registry._served``).

The served version's entry point keeps an implementation in the tenant's manager, so its
callers, the tenant's wrappers of it and the interceptors see the version they asked for:
this one. It moves the arguments up through the version changes, runs the newer version on
the tenant's served manager, moves the result back down, and checks it against the served
version's return type: the old contract holds at its edge.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, final

from ..declarations import Route, Version, hookimpl
from ..errors import InvalidArgumentsError, ResultValidationError
from ._context import current_call_id
from ._direct import direct_entry

if TYPE_CHECKING:
    from ._tenant import TenantRuntime

#: The first parameter of the generated step, bound to the tenant's ServedCall.
_SELF: Final = "_catalog_served"

#: Each ServedCall's tenant runtime, kept here and not on the object: the served manager is
#: built on the first served call, from the runtime, whose registry knows every tenant. A
#: ServedCall is reachable from the tenant's plugins (it is registered in their manager), and
#: nothing reachable from a plugin may lead to another tenant (weakly held both ways: the
#: runtime holds its ServedCalls).
_OWNERS: weakref.WeakKeyDictionary[ServedCall, weakref.ref[TenantRuntime]] = (
    weakref.WeakKeyDictionary()
)


@final
class ServedCall:
    """One tenant's calls of one served version."""

    __slots__ = (
        "__weakref__",
        "_acaller",
        "_caller",
        "implementation",
        "route",
        "running",
        "tenant",
        "version",
    )

    def __init__(
        self,
        runtime: TenantRuntime,
        version: Version,
        route: Route,
        running: Version,
        implementation: str,
    ) -> None:
        _OWNERS[self] = weakref.ref(runtime)
        self.tenant = runtime.id
        self.version = version
        self.route = route
        self.running = running
        #: the name the version change goes by (what its converters raise is blamed on it)
        self.implementation = implementation
        self._caller: Any = None
        self._acaller: Any = None

    def _running(self) -> Any:
        """The newer version's entry point on the tenant's served manager (made once)."""
        caller = self._caller
        if caller is None:
            runtime = _OWNERS[self]()
            assert runtime is not None, "a served call outlived its tenant's runtime"
            view = runtime.served_view(self.version.hook)
            caller = getattr(view.pm.hook, self.running.hook)
            if view.traced:
                from ._trace import TracedCaller

                caller = TracedCaller(
                    caller,
                    "implementation",
                    self.implementation,
                    runs=f"{self.running.interface} v{self.running.number}",
                )
            else:  # as every entry point the catalog calls (see ``_direct``)
                names = tuple(parameter.name for parameter in self.running.parameters)
                caller = direct_entry(view.pm, caller, names)
            self._caller = caller
        return caller

    def _arunning(self) -> Any:
        """``_running`` on the async path: awaited (made once)."""
        caller = self._acaller
        if caller is None:
            from ._async import AwaitablePoint

            runtime = _OWNERS[self]()
            assert runtime is not None, "a served call outlived its tenant's runtime"
            view = runtime.served_view(self.version.hook)
            trace = None
            if view.traced:
                runs = f"{self.running.interface} v{self.running.number}"
                trace = ("implementation", self.implementation, {"runs": runs})
            caller = AwaitablePoint(getattr(view.pm.hook, self.running.hook), trace=trace)
            self._acaller = caller
        return caller

    def serve(self, arguments: dict[str, Any]) -> Any:
        """The served version's answer to ``arguments`` (already checked against it)."""
        return self._answer(self._running()(**self._moved(arguments)))

    async def aserve(self, arguments: dict[str, Any]) -> Any:
        """``serve`` when the version that serves runs on the async path."""
        return self._answer(await self._arunning()(**self._moved(arguments)))

    def _moved(self, arguments: dict[str, Any]) -> dict[str, Any]:
        moved = self.route.up(arguments)
        try:
            moved = self.running.bind(dict(moved))
        except InvalidArgumentsError as exc:
            # The caller's arguments fit their version: the change moved them wrongly.
            raise TypeError(
                f"version change {self.route.name} gave v{self.running.number} arguments "
                f"that do not fit it: {exc}"
            ) from None
        return moved

    def _answer(self, answer: Any) -> Any:
        result = self.route.down(answer)
        data_type = self.version.return_type
        if data_type is not None and (problem := data_type.check(result)) is not None:
            version = self.version
            raise ResultValidationError(
                plugin=self.implementation,
                tenant=self.tenant,
                interface=version.interface,
                version=version.number,
                where=f"version change {self.route.name}",
                expected=version.returns,
                problem=problem,
                call_id=current_call_id() or "-",
            )
        return result


def served_step(version: Version, *, asynchronous: bool = False) -> Callable[..., Any]:
    """The implementation of ``version``'s entry point a tenant registers bound to its
    ServedCall: the version's own parameters (pluggy passes an implementation the arguments
    its signature names), handed on as a dict; ``async def`` when the version that serves it
    runs on the async path."""
    return _step(tuple(p.name for p in version.parameters), version.hook, asynchronous)


@functools.cache
def _step(names: tuple[str, ...], hook: str, asynchronous: bool) -> Callable[..., Any]:
    packed = "{" + ", ".join(f"{name!r}: {name}" for name in names) + "}"
    head, serve = (
        ("async def", "await " + _SELF + ".aserve") if asynchronous else ("def", _SELF + ".serve")
    )
    source = f"{head} {hook}({', '.join((_SELF, *names))}):\n    return {serve}({packed})\n"
    env: dict[str, Any] = {}
    exec(compile(source, f"<catalog served {hook}>", "exec"), env)
    step: Callable[..., Any] = hookimpl(env[hook])
    return step
