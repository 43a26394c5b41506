"""A call of one interface version for one tenant, prepared once: check, number, invoke, blame.

Every way of calling a method (``Catalog.run``, a ``Method``, ``Catalog.call`` for the CLI,
HTTP, jobs and batches) ends here, so the arguments are checked and a plugin's failure is
reported the same way whatever the caller.

``PreparedCall.call`` is generated for the version's own parameters (as dataclasses generate
``__init__``): Python binds the keyword arguments, fills in the defaults and the common types
are checked inline; anything else (a missing or unknown argument, a value of another type)
goes to the general path, which checks it fully and writes the error report.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import CodeType, TracebackType
from typing import Any, Final, final

from .. import _interrupts
from ..declarations import Version
from ..declarations._binders import condition
from ..errors import CatalogError, PluginCallError
from ._async import run_sync
from ._context import CURRENT, call_id_of, next_serial
from ._guards import WrapperMisbehaved
from ._intercept import Chain

#: The value of a parameter the caller did not pass.
_MISSING: Final = object()
#: Names the generated code uses; a parameter of one of these names is called the slow way.
_INTERNAL: Final = "_catalog_"


def blame(exc: BaseException, codes: Mapping[CodeType, str], fallback: str) -> str:
    """The plugin whose code raised: the innermost traceback frame that runs one of the
    tenant's hook functions (each plugin's are known by their code), else ``fallback``."""
    if isinstance(exc, WrapperMisbehaved):
        return exc.plugin
    if type(exc) is RuntimeError and isinstance(exc.__cause__, StopIteration):
        # Python's RuntimeError for a StopIteration out of a generator or coroutine: the
        # plugin that raised the StopIteration is the one to blame, if its code did
        raiser = blame(exc.__cause__, codes, "")
        if raiser:
            return raiser
    culprit = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        found = codes.get(tb.tb_frame.f_code)
        if found is not None:
            culprit = found
        tb = tb.tb_next
    return culprit or fallback


@final
class PreparedCall:
    """One version of one interface for one tenant, ready to call with arguments."""

    __slots__ = (
        "aentry",
        "call",
        "codes",
        "declared",
        "entry",
        "implementation",
        "source",
        "tenant",
    )

    def __init__(
        self,
        tenant: str,
        declared: Version,
        source: str,
        entry: Callable[..., Any],
        implementation: str,
        codes: Mapping[CodeType, str],
        *,
        asynchronous: bool = False,
    ) -> None:
        self.tenant = tenant
        self.declared = declared
        #: which rule chose the version (requested, canary, tenant, catalog, latest)
        self.source = source
        #: on the async path (see ``_async``): what ``entry`` stands for, awaited
        self.aentry: Callable[..., Any] | None = None
        if asynchronous:
            self.aentry = entry.acall if isinstance(entry, Chain) else entry
            entry = self._bridge
        #: the entry point's hook caller, or the interceptor chain in its place (for a call
        #: on the async path: the bridge to it from plain code)
        self.entry = entry
        #: the built-in plugin implementing the entry point
        self.implementation = implementation
        self.codes = codes
        #: ``call(**arguments)``: check the arguments, then run the method
        self.call: Callable[..., Any] = _compile(self)

    @property
    def asynchronous(self) -> bool:
        """Whether its calls run on the async path (some of what they run is async def)."""
        return self.aentry is not None

    def _bridge(self, **arguments: Any) -> Any:
        declared = self.declared
        return run_sync(
            lambda: self._arun(arguments), self.tenant, declared.interface, declared.number
        )

    async def _arun(self, arguments: dict[str, Any]) -> Any:
        aentry = self.aentry
        assert aentry is not None
        return await aentry(**arguments)

    async def acall(self, **arguments: Any) -> Any:
        """``call`` awaited: check the arguments, then run the method on the async path (a
        version with only plain implementations runs as ``call`` does, in this thread)."""
        if self.aentry is None:
            return self.call(**arguments)
        return await self.ainvoke(self.declared.bind(arguments), next_serial())

    async def ainvoke(self, arguments: dict[str, Any], serial: int | str) -> Any:
        """``invoke`` awaited (see ``acall``)."""
        if self.aentry is None:
            return self.invoke(arguments, serial)
        import asyncio

        token = CURRENT.set(serial)
        try:
            return await self._arun(arguments)
        except CatalogError:
            raise
        except asyncio.CancelledError as exc:
            if _cancelled():
                raise  # the caller stopped waiting (a deadline, a client gone): no failure
            raise self.failure(exc, serial) from exc  # a plugin raised it of its own
        except BaseException as exc:
            if _interrupts.is_real(exc):
                raise
            raise self.failure(exc, serial) from exc
        finally:
            CURRENT.reset(token)

    def __call__(self, arguments: dict[str, Any]) -> Any:
        """Check ``arguments``, then run the method."""
        return self.call(**arguments)

    def checked(self, arguments: dict[str, Any]) -> Any:
        """Check ``arguments`` fully (a dict the caller no longer uses), then run the method:
        the general path, for what the generated one does not take itself."""
        return self.invoke(self.declared.bind(arguments), next_serial())

    def invoke(self, arguments: dict[str, Any], serial: int | str) -> Any:
        """Run the method with arguments already checked, as call number ``serial``."""
        token = CURRENT.set(serial)
        try:
            return self.entry(**arguments)
        except CatalogError:
            raise
        except BaseException as exc:
            # Everything a plugin raises is its own failure (sys.exit() and a stray
            # KeyboardInterrupt too); a real Ctrl-C still stops the program.
            if _interrupts.is_real(exc):
                raise
            raise self.failure(exc, serial) from exc
        finally:
            CURRENT.reset(token)

    def failure(self, exc: BaseException, serial: int | str) -> PluginCallError:
        declared = self.declared
        return PluginCallError(
            plugin=blame(exc, self.codes, self.implementation),
            tenant=self.tenant,
            interface=declared.interface,
            version=declared.number,
            call_id=call_id_of(serial),
            cause=exc,
        )

    def __repr__(self) -> str:
        return (
            f"<PreparedCall {self.declared.interface} v{self.declared.number} "
            f"for tenant {self.tenant!r}>"
        )


def _cancelled() -> bool:
    """Whether the task in progress was asked to stop (a CancelledError is then the caller's,
    not a plugin's). Before Python 3.11 a task cannot tell: every one is the caller's."""
    import asyncio

    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or bool(cancelling())


def _slow(prepared: PreparedCall) -> Callable[..., Any]:
    def slow(_catalog_unknown: dict[str, Any], **given: Any) -> Any:
        arguments = {name: value for name, value in given.items() if value is not _MISSING}
        arguments.update(_catalog_unknown)
        return prepared.checked(arguments)

    return slow


def _compile(prepared: PreparedCall) -> Callable[..., Any]:
    """``call(**arguments)`` for the prepared call's version (see the module docstring)."""
    parameters = prepared.declared.parameters
    slow = _slow(prepared)
    if any(p.name.startswith(_INTERNAL) or p.type is None for p in parameters):
        return lambda **arguments: slow({}, **arguments)
    env: dict[str, Any] = {
        "_catalog_entry": prepared.entry,
        "_catalog_slow": slow,
        "_catalog_set": CURRENT.set,
        "_catalog_reset": CURRENT.reset,
        "_catalog_next": next_serial,
        "_catalog_failure": prepared.failure,
        "_catalog_error": CatalogError,
        "_catalog_real": _interrupts.is_real,
        "_catalog_missing": _MISSING,
    }
    signature = []
    missing = []
    for index, param in enumerate(parameters):
        if param.required:
            signature.append(f"{param.name}=_catalog_missing")
            missing.append(f"{param.name} is _catalog_missing")
        else:
            env[f"_catalog_default{index}"] = param.default
            signature.append(f"{param.name}=_catalog_default{index}")
    checks = [
        condition(param.name, str(index), param, env) for index, param in enumerate(parameters)
    ]
    names = [p.name for p in parameters]
    passed = ", ".join(f"{name}={name}" for name in names)
    refuse = " or ".join(["_catalog_unknown", *missing, f"not ({' and '.join(checks) or 'True'})"])
    source = (
        f"def call(*, {', '.join([*signature, '**_catalog_unknown'])}):\n"
        f"    if {refuse}:\n"
        f"        return _catalog_slow(_catalog_unknown, {passed})\n"
        "    _catalog_serial = _catalog_next()\n"
        "    _catalog_token = _catalog_set(_catalog_serial)\n"
        "    try:\n"
        f"        return _catalog_entry({passed})\n"
        "    except _catalog_error:\n"
        "        raise\n"
        "    except BaseException as _catalog_exc:\n"
        "        if _catalog_real(_catalog_exc):\n"
        "            raise\n"
        "        raise _catalog_failure(_catalog_exc, _catalog_serial) from _catalog_exc\n"
        "    finally:\n"
        "        _catalog_reset(_catalog_token)\n"
    )
    if not names:
        source = source.replace("def call(*, ", "def call(")
    exec(compile(source, f"<catalog call {prepared!r}>", "exec"), env)
    call: Callable[..., Any] = env["call"]
    return call
