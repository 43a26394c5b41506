"""A call of one interface version for one tenant, prepared once: check, number, invoke, blame.

Every way of calling a method (``Catalog.run``, a ``Method``, ``Catalog.call`` for the CLI,
HTTP, jobs and batches) ends here, so the arguments are checked and a plugin's failure is
reported the same way whatever the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import CodeType, TracebackType
from typing import Any, final

from .. import _interrupts
from ..declarations import Version
from ..errors import CatalogError, PluginCallError
from ._context import CURRENT, call_id_of, next_serial
from ._guards import WrapperMisbehaved


def blame(exc: BaseException, codes: Mapping[CodeType, str], fallback: str) -> str:
    """The plugin whose code raised: the innermost traceback frame that runs one of the
    tenant's hook functions (each plugin's are known by their code), else ``fallback``."""
    if isinstance(exc, WrapperMisbehaved):
        return exc.plugin
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

    __slots__ = ("bind", "codes", "declared", "entry", "implementation", "source", "tenant")

    def __init__(
        self,
        tenant: str,
        declared: Version,
        source: str,
        entry: Callable[..., Any],
        implementation: str,
        codes: Mapping[CodeType, str],
    ) -> None:
        self.tenant = tenant
        self.declared = declared
        #: which rule chose the version (requested, canary, tenant, catalog, latest)
        self.source = source
        #: the entry point's hook caller, or the interceptor chain in its place
        self.entry = entry
        #: the built-in plugin implementing the entry point
        self.implementation = implementation
        self.codes = codes
        #: checks the arguments, fills in defaults (raises InvalidArgumentsError)
        self.bind = declared.bind

    def __call__(self, arguments: dict[str, Any]) -> Any:
        """Check ``arguments`` (a dict the caller no longer uses), then run the method."""
        arguments = self.bind(arguments)
        token = CURRENT.set(next_serial())
        try:
            return self.entry(**arguments)
        except CatalogError:
            raise
        except BaseException as exc:
            # Everything a plugin raises is its own failure (sys.exit() and a stray
            # KeyboardInterrupt too); a real Ctrl-C still stops the program.
            if _interrupts.is_real(exc):
                raise
            raise self.failure(exc, CURRENT.get()) from exc
        finally:
            CURRENT.reset(token)

    def invoke(self, arguments: dict[str, Any], serial: int | str) -> Any:
        """Run the method with arguments already checked, as call number ``serial``."""
        token = CURRENT.set(serial)
        try:
            return self.entry(**arguments)
        except CatalogError:
            raise
        except BaseException as exc:
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
