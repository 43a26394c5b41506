"""Exceptions raised by task-catalog, each carrying the context that caused it.

::

    CatalogError
    ├── ConfigError (ValueError)              catalog.toml missing, malformed or invalid
    ├── DeclarationError (TypeError)          an interface's hookspecs are invalid
    ├── UnknownNameError (LookupError)
    │   ├── UnknownInterfaceError
    │   ├── UnknownVersionError
    │   ├── UnknownTenantError
    │   ├── UnknownPluginError
    │   ├── UnknownInterceptorError
    │   ├── UnknownJobError
    │   └── UnknownPluginPointError
    ├── InvalidArgumentsError (TypeError)     a method called with bad arguments
    ├── PluginError
    │   ├── PluginLoadError                   a selected plugin failed to import
    │   ├── PluginStartupError                a plugin's startup hook failed or timed out
    │   ├── PluginValidationError             a plugin does not match the hookspecs
    │   │   ├── PluginIncompatibleError       ... or needs an API or interface we lack
    │   │   └── PluginDependencyError         ... or its dependencies are missing or cyclic
    │   ├── PluginCallError                   a plugin raised during a call
    │   └── ResultValidationError             a plugin returned a value of the wrong type
    ├── CallTimeoutError (TimeoutError)       a call did not finish in time
    ├── CallRefusedError                      an interceptor refused the call: try later
    │   ├── CircuitOpenError                  ... its circuit breaker is open
    │   ├── RateLimitedError                  ... the tenant is over its rate limit
    │   └── OverloadedError                   ... too many timed-out calls still run
    ├── ReloadError                           a reload was refused: the old catalog serves on
    ├── ExecutorError                         a batch's executor (Dask) cannot be used
    ├── BatchFailedError                      items of a batch failed (--fail-on-error)
    └── ServeError                            `catalog serve` could not start

Every class has an ``exit_code``: the CLI exits with it (see the README's table).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar, NamedTuple


def listing(names: Iterable[object], limit: int = 12) -> str:
    """Names for a message, at most ``limit`` of them: a hundred plugins are no help."""
    shown = [str(n) for n in names]
    if len(shown) > limit:
        return ", ".join(shown[:limit]) + f" and {len(shown) - limit} more"
    return ", ".join(shown)


def _choices(label: str, names: Iterable[object]) -> str:
    listed = listing(names)
    return f" {label[0].upper()}{label[1:]}: {listed}." if listed else f" There are no {label}."


class CatalogError(Exception):
    """Base class of every error task-catalog raises on purpose."""

    exit_code: ClassVar[int] = 1
    #: for a traced call that failed: its trace (``catalog_cli._trace.Trace``)
    trace: object | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigProblem(NamedTuple):
    """One thing wrong in a catalog file: where (key path and line) and what."""

    key: str
    message: str
    line: int | None = None
    tenant: str | None = None

    def describe(self, path: Path | None = None) -> str:
        where = str(path) if path is not None else "catalog"
        if self.line is not None:
            where += f":{self.line}"
        key = f" {self.key}:" if self.key else ""
        return f"{where}:{key} {self.message}"


class ConfigError(CatalogError, ValueError):
    """The catalog file is missing, is not valid TOML, or has invalid content."""

    exit_code = 3

    def __init__(
        self,
        path: Path | None,
        problems: Sequence[ConfigProblem],
        *,
        tenant: str | None = None,
    ) -> None:
        self.path = path
        self.problems = tuple(problems)
        self.tenant = tenant
        first = self.problems[0] if self.problems else ConfigProblem("", "invalid")
        self.key = first.key
        self.line = first.line
        lines = [p.describe(path) for p in self.problems]
        head = f"tenant {tenant!r} is unusable: " if tenant else ""
        if len(lines) == 1:
            super().__init__(head + lines[0])
        else:
            body = "\n".join(f"  - {line}" for line in lines)
            super().__init__(f"{head}{len(lines)} problems in the catalog:\n{body}")


class DeclarationError(CatalogError, TypeError):
    """An interface declaration (a hookspec module) is invalid."""

    exit_code = 9

    def __init__(self, message: str, *, module: str | None = None, hook: str | None = None):
        where = " ".join(
            part
            for part in (f"module {module}" if module else "", f"hook {hook}" if hook else "")
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.module = module
        self.hook = hook


class UnknownNameError(CatalogError, LookupError):
    """A name given by the user does not exist; ``choices`` lists the ones that do."""

    exit_code = 4
    kind: ClassVar[str] = "name"

    def __init__(self, name: object, choices: Iterable[object], *, context: str = "") -> None:
        self.name = name
        self.choices = tuple(choices)
        where = f" {context}" if context else ""
        super().__init__(
            f"unknown {self.kind} {name!r}{where}." + _choices(f"known {self.kind}s", self.choices)
        )


class UnknownInterfaceError(UnknownNameError):
    """No interface has this name."""

    kind = "interface"


class UnknownVersionError(UnknownNameError):
    """The interface has no such version."""

    kind = "version"

    def __init__(self, interface: str, version: object, choices: Iterable[int]) -> None:
        self.interface = interface
        super().__init__(version, choices, context=f"of interface {interface!r}")


class UnknownTenantError(UnknownNameError):
    """No tenant (customer) has this id in the catalog."""

    kind = "tenant"


class UnknownPluginError(UnknownNameError):
    """No plugin has this name in any plugin source."""

    kind = "plugin"


class UnknownInterceptorError(UnknownNameError):
    """No interceptor has this name (built-in or configured)."""

    kind = "interceptor"


class UnknownPluginPointError(UnknownNameError, AttributeError):  # type: ignore[misc]
    """An implementation asked for a plugin point its version does not declare."""

    kind = "plugin point"

    def __init__(self, interface: str, version: int, point: str, choices: Iterable[str]) -> None:
        self.interface = interface
        self.version = version
        super().__init__(point, choices, context=f"in {interface} v{version}")


class InvalidArgumentsError(CatalogError, TypeError):
    """A method was called with missing, unknown or wrongly typed arguments."""

    exit_code = 5

    def __init__(self, interface: str, version: int, problems: dict[str, str]) -> None:
        self.interface = interface
        self.version = version
        #: parameter name -> what is wrong with it
        self.problems = dict(problems)
        body = "; ".join(f"{name}: {why}" for name, why in self.problems.items())
        super().__init__(f"invalid arguments for {interface} v{version}: {body}")


class PluginError(CatalogError):
    """Base class of errors that a plugin causes; ``plugin`` names it."""

    exit_code = 6

    def __init__(self, message: str, *, plugin: str, tenant: str | None = None) -> None:
        self.plugin = plugin
        self.tenant = tenant
        super().__init__(message)


class PluginLoadError(PluginError):
    """A selected plugin could not be imported: its tenants fail closed."""

    def __init__(
        self, plugin: str, source: str, cause: BaseException, *, tenant: str | None = None
    ) -> None:
        self.source = source
        self.cause = cause
        who = f" (selected by tenant {tenant!r}, which fails closed)" if tenant else ""
        super().__init__(
            f"plugin {plugin!r} from {source} failed to import{who}: "
            f"{type(cause).__name__}: {cause}",
            plugin=plugin,
            tenant=tenant,
        )


class PluginStartupError(PluginError):
    """A plugin's startup hook raised or did not finish in time: its tenant fails closed."""

    def __init__(self, plugin: str, tenant: str, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(
            f"plugin {plugin!r} failed to start for tenant {tenant!r} (which fails closed): "
            f"{type(cause).__name__}: {cause}",
            plugin=plugin,
            tenant=tenant,
        )


class PluginValidationError(PluginError):
    """A plugin's hook implementation does not fit its hookspec."""

    def __init__(
        self,
        plugin: str,
        problem: str,
        *,
        hook: str | None = None,
        expected: Sequence[str] | None = None,
        found: Sequence[str] | None = None,
        tenant: str | None = None,
    ) -> None:
        self.problem = problem
        self.hook = hook
        self.expected = tuple(expected) if expected is not None else None
        self.found = tuple(found) if found is not None else None
        parts = [f"plugin {plugin!r}"]
        if hook:
            parts.append(f"hook {hook}")
        text = ", ".join(parts) + f": {problem}"
        if self.expected is not None:
            text += f"; expected parameters ({', '.join(self.expected)})"
        if self.found is not None:
            text += f", found ({', '.join(self.found)})"
        if tenant:
            text += f" [tenant {tenant!r} fails closed]"
        super().__init__(text, plugin=plugin, tenant=tenant)

    def for_tenant(self, tenant: str) -> PluginValidationError:
        """The same error, as the reason ``tenant`` fails closed."""
        if self.tenant == tenant:
            return self
        # A copy without calling __init__: subclasses take other arguments.
        other = type(self).__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.tenant = tenant
        other.message = f"{self.message} [tenant {tenant!r} fails closed]"
        other.args = (other.message,)
        return other


class PluginIncompatibleError(PluginValidationError):
    """A plugin needs a plugin API version or interface versions this catalog lacks."""

    def __init__(
        self, plugin: str, problem: str, *, required: str, provided: str, tenant: str | None = None
    ) -> None:
        self.required = required
        self.provided = provided
        super().__init__(plugin, f"incompatible: {problem}", tenant=tenant)


class PluginDependencyError(PluginValidationError):
    """A plugin depends on plugins its tenant does not select, or dependencies form a cycle."""

    def __init__(self, plugin: str, problem: str, *, tenant: str | None = None) -> None:
        super().__init__(plugin, problem, tenant=tenant)


class PluginCallError(PluginError):
    """A plugin raised while a method ran; the original exception is ``cause``."""

    exit_code = 7

    def __init__(
        self,
        *,
        plugin: str,
        tenant: str,
        interface: str,
        version: int,
        call_id: str,
        cause: BaseException,
    ) -> None:
        self.interface = interface
        self.version = version
        self.call_id = call_id
        self.cause = cause
        super().__init__(
            f"plugin {plugin!r} raised {type(cause).__name__} in {interface} v{version} "
            f"for tenant {tenant!r} (call {call_id}): {cause}",
            plugin=plugin,
            tenant=tenant,
        )


class CallTimeoutError(CatalogError, TimeoutError):
    """A call did not finish before its deadline; the call may still be running."""

    exit_code = 8

    def __init__(
        self, *, tenant: str, interface: str, version: int, call_id: str, seconds: float
    ) -> None:
        self.tenant = tenant
        self.interface = interface
        self.version = version
        self.call_id = call_id
        self.seconds = seconds
        super().__init__(
            f"{interface} v{version} for tenant {tenant!r} did not finish within "
            f"{seconds:g} s (call {call_id}); a plugin may be hanging"
        )


class ResultValidationError(PluginError):
    """A value a plugin produced does not fit the declared return type (validation
    interceptor); ``plugin`` produced it, ``where`` is the entry point or plugin point."""

    exit_code = 7

    def __init__(
        self,
        *,
        plugin: str,
        tenant: str,
        interface: str,
        version: int,
        where: str,
        expected: str,
        problem: str,
        call_id: str,
    ) -> None:
        self.interface = interface
        self.version = version
        self.where = where
        self.expected = expected
        self.problem = problem
        self.call_id = call_id
        super().__init__(
            f"plugin {plugin!r} returned a wrong value from {where} of {interface} v{version} "
            f"for tenant {tenant!r} (call {call_id}): expected {expected}, {problem}",
            plugin=plugin,
            tenant=tenant,
        )


class CallRefusedError(CatalogError):
    """An interceptor refused to run the call now; it may succeed later."""

    exit_code = 12

    def __init__(
        self,
        message: str,
        *,
        interceptor: str,
        tenant: str,
        interface: str,
        version: int,
        retry_after: float | None = None,
    ) -> None:
        self.interceptor = interceptor
        self.tenant = tenant
        self.interface = interface
        self.version = version
        #: seconds after which the call may succeed, when the interceptor knows
        self.retry_after = retry_after
        super().__init__(message)


class CircuitOpenError(CallRefusedError):
    """The circuit breaker for this tenant, interface and version is open: failing fast."""


class OverloadedError(CallRefusedError):
    """Too many calls abandoned at their deadline are still running in this process: calls
    with a deadline are refused until some end (a dependency is probably hanging)."""


class RateLimitedError(CallRefusedError):
    """The tenant (or the tenant on this interface) is over its rate limit."""


class ReloadError(CatalogError):
    """A reload was refused because the new catalog would not work; the old one serves on."""

    exit_code = 3

    def __init__(self, path: str, causes: Sequence[CatalogError]) -> None:
        self.path = path
        self.causes = tuple(causes)
        listed = "\n".join(f"  - {cause}" for cause in self.causes)
        super().__init__(
            f"reload of {path} refused; the catalog as loaded before serves on:\n{listed}"
        )


class UnknownJobError(UnknownNameError):
    """No background job has this id in the job store."""

    kind = "job"

    def __init__(self, job_id: str, database: object = None) -> None:
        # Job ids are not worth listing: say where we looked and how to see what is there.
        self.name = job_id
        self.choices = ()
        self.database = database
        where = f" in the job store {database}" if database is not None else ""
        CatalogError.__init__(
            self, f"unknown job {job_id!r}{where}; `catalog jobs list` lists the jobs"
        )


class ExecutorError(CatalogError):
    """A batch's executor could not be set up: Dask missing, its scheduler unreachable or
    without workers, or workers that cannot load the catalog."""

    exit_code = 3


class BatchFailedError(CatalogError):
    """``catalog run --batch ... --fail-on-error``: some items of the batch failed."""

    exit_code = 13

    def __init__(self, failed: int, total: int, *, output: str | None = None) -> None:
        self.failed = failed
        self.total = total
        where = f"; the answers are in {output}" if output else ""
        super().__init__(f"{failed} of {total} items of the batch failed{where}")


class ServeError(CatalogError):
    """``catalog serve`` cannot run: the ``serve`` extra is missing, or the server could not
    start (the address is in use, say)."""

    exit_code = 14
