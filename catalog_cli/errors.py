"""Exceptions raised by task-catalog, each carrying the context that caused it.

::

    CatalogError
    ├── ConfigError (ValueError)              catalog.toml missing, malformed or invalid
    │   ├── JobStoreError                     the job store cannot be opened, read or written
    │   ├── StateFileError                    the plugin state file cannot be read or written
    │   └── LockFileError                     the contract lock file cannot be read
    ├── DeclarationError (TypeError)          an interface's hookspecs are invalid
    ├── UnknownNameError (LookupError)
    │   ├── UnknownInterfaceError
    │   ├── UnknownVersionError
    │   ├── UnknownTenantError
    │   ├── UnknownPluginError
    │   ├── UnknownInterceptorError
    │   ├── UnknownJobError
    │   ├── UnknownPluginPointError
    │   └── UnknownRevisionError              no such git revision (`catalog check --against`)
    ├── InvalidArgumentsError (TypeError)     a method called with bad arguments
    ├── PluginError
    │   ├── PluginLoadError                   a selected plugin failed to import
    │   ├── PluginStartupError                a plugin's startup hook failed or timed out
    │   ├── PluginValidationError             a plugin does not match the hookspecs
    │   │   ├── PluginIncompatibleError       ... or needs an API or interface we lack
    │   │   └── PluginDependencyError         ... or its dependencies are missing or cyclic
    │   ├── PluginCallError                   a plugin raised during a call
    │   │   └── WorkerLimitError              ... an isolated plugin's worker broke a limit
    │   └── ResultValidationError             a plugin returned a value of the wrong type
    ├── CallTimeoutError (TimeoutError)       a call did not finish in time
    ├── AsyncRequiredError (RuntimeError)     a plain call of async plugins on a running loop
    ├── CallRefusedError                      an interceptor refused the call: try later
    │   ├── CircuitOpenError                  ... its circuit breaker is open
    │   ├── RateLimitedError                  ... the tenant is over its rate limit
    │   ├── ConcurrencyLimitError             ... the tenant has too many calls running
    │   └── OverloadedError                   ... too many timed-out calls still run
    ├── ReloadError                           a reload was refused: the old catalog serves on
    │   └── PluginChangeError                 a plugin change at run time was refused
    ├── ExecutorError                         a batch's executor (Dask) cannot be used
    ├── BatchFailedError                      items of a batch failed (--fail-on-error)
    ├── ServeError                            `catalog serve` could not start
    ├── RevisionError                         the declarations at a git revision cannot be read
    └── ScaffoldError                         `catalog init`/`new` would overwrite files

Every class has a ``kind``, a stable name for what went wrong; :meth:`CatalogError.record`
turns an error into data (:class:`ErrorRecord`). The command line maps kinds to exit codes
(``catalog_cli.cli``), the HTTP API to statuses (``catalog_cli.http``): the engine knows neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple


def listing(names: Iterable[object], limit: int = 12) -> str:
    """Names for a message, at most ``limit`` of them: a hundred plugins are no help."""
    shown = [str(n) for n in names]
    if len(shown) > limit:
        return ", ".join(shown[:limit]) + f" and {len(shown) - limit} more"
    return ", ".join(shown)


def closest(name: object, choices: Iterable[object]) -> str | None:
    """The one choice ``name`` was most likely meant to be, if there is one: the same name
    in other case, else the closest by similarity, else (for short names, where similarity
    says little) the only choice one typo away."""
    import difflib

    text = str(name)
    known = [str(c) for c in choices]
    folded = [c for c in known if c.casefold() == text.casefold()]
    if len(folded) == 1:
        return folded[0]
    close = difflib.get_close_matches(text, known, n=1)
    if close:
        return close[0]
    if len(text) <= 4:
        near = [c for c in known if _one_typo(text, c)]
        if len(near) == 1:
            return near[0]
    return None


def _one_typo(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by one changed, added, dropped or swapped character."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(differ) == 1:
            return True
        i = differ[0]
        return len(differ) == 2 and differ[1] == i + 1 and a[i] == b[i + 1] and a[i + 1] == b[i]
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def hint(name: object, choices: Iterable[object]) -> str:
    """``"; did you mean 'x'?"`` for a message that goes on, or nothing."""
    found = closest(name, choices)
    return f"; did you mean {found!r}?" if found is not None else ""


def _did_you_mean(name: object, choices: Sequence[object]) -> str:
    found = closest(name, choices)
    return f" Did you mean {found!r}?" if found is not None else ""


def _choices(label: str, names: Iterable[object]) -> str:
    listed = listing(names)
    return f" {label[0].upper()}{label[1:]}: {listed}." if listed else f" There are no {label}."


class ErrorRecord(NamedTuple):
    """An error as data: what the CLI, the HTTP API, jobs and batches report.

    ``kind`` names what went wrong (``invalid_arguments``, ``plugin_call``, ...); the other
    fields say where, when known.
    """

    kind: str
    message: str
    #: the exception class, for people
    type: str = ""
    tenant: str | None = None
    plugin: str | None = None
    interface: str | None = None
    version: int | None = None
    call_id: str | None = None
    #: facts of this kind of error (the arguments that were wrong, seconds waited, ...)
    details: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self._asdict()
        data["details"] = dict(self.details or {})
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorRecord:
        """A record read back from JSON (unknown fields are ignored)."""
        known = {name: data[name] for name in cls._fields if name in data}
        known.setdefault("kind", "error")
        known.setdefault("message", "")
        known["details"] = dict(known.get("details") or {})
        return cls(**known)


class CatalogError(Exception):
    """Base class of every error task-catalog raises on purpose."""

    kind: ClassVar[str] = "error"
    #: for a traced call that failed: its trace (``catalog_cli.runtime.Trace``)
    trace: object | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def record(self) -> ErrorRecord:
        """This error as data."""
        return ErrorRecord(
            self.kind,
            self.message,
            type(self).__name__,
            _text(getattr(self, "tenant", None)),
            _text(getattr(self, "plugin", None)),
            _text(getattr(self, "interface", None)),
            _number(getattr(self, "version", None)),
            _text(getattr(self, "call_id", None)),
            self._details(),
        )

    def _details(self) -> dict[str, Any]:
        return {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def record_of(exc: BaseException) -> ErrorRecord:
    """Any exception as data: a catalog error's own record, else an internal error."""
    if isinstance(exc, CatalogError):
        return exc.record()
    return ErrorRecord("internal", f"{type(exc).__name__}: {exc}", type(exc).__name__)


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

    kind = "config"

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

    def _details(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path is not None else None,
            "problems": [p._asdict() for p in self.problems],
        }


class JobStoreError(ConfigError):
    """The job store cannot be used: its file is empty, truncated or not a job store, or
    reading or writing it failed (a full disk, an I/O error, a read-only file). Named by its
    path; nothing is created over an existing file."""

    kind = "job_store"

    def __init__(self, path: Path, message: str, *, transient: bool = False) -> None:
        super().__init__(path, [ConfigProblem("", f"job store: {message}")])
        #: whether trying again later may work (another process held its lock too long)
        self.transient = transient


class StateFileError(ConfigError):
    """The plugin state file (the plugins disabled at run time, ``<stem>.state.json``) or
    its audit log cannot be used: unreadable, not JSON, not of its shape, written by a newer
    task-catalog, or not writable. Named by its path; never ignored, never overwritten."""

    kind = "state_file"

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(path, [ConfigProblem("", message)])


class DeclarationError(CatalogError, TypeError):
    """An interface declaration (a hookspec module) is invalid."""

    kind = "declaration"

    def __init__(self, message: str, *, module: str | None = None, hook: str | None = None):
        where = " ".join(
            part
            for part in (f"module {module}" if module else "", f"hook {hook}" if hook else "")
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)
        self.module = module
        self.hook = hook

    def _details(self) -> dict[str, Any]:
        return {"module": self.module, "hook": self.hook}


class UnknownNameError(CatalogError, LookupError):
    """A name given by the user does not exist; ``choices`` lists the ones that do."""

    kind = "unknown_name"
    #: what kind of name, for messages ("interface", "tenant", ...)
    noun: ClassVar[str] = "name"

    def __init__(self, name: object, choices: Iterable[object], *, context: str = "") -> None:
        self.name = name
        self.choices = tuple(choices)
        where = f" {context}" if context else ""
        hint = _did_you_mean(name, self.choices)
        super().__init__(
            f"unknown {self.noun} {name!r}{where}.{hint}"
            + _choices(f"known {self.noun}s", self.choices)
        )

    def _details(self) -> dict[str, Any]:
        return {"name": str(self.name), "choices": [str(c) for c in self.choices[:50]]}


class UnknownInterfaceError(UnknownNameError):
    """No interface has this name."""

    kind = "unknown_interface"
    noun = "interface"


class UnknownVersionError(UnknownNameError):
    """The interface has no such version."""

    kind = "unknown_version"
    noun = "version"

    def __init__(self, interface: str, version: object, choices: Iterable[int]) -> None:
        self.interface = interface
        super().__init__(version, choices, context=f"of interface {interface!r}")


class UnknownTenantError(UnknownNameError):
    """No tenant (customer) has this id in the catalog."""

    kind = "unknown_tenant"
    noun = "tenant"


class UnknownCanaryError(UnknownNameError):
    """The tenant has no canary of this interface."""

    kind = "unknown_canary"
    noun = "canary"


class UnknownPluginError(UnknownNameError):
    """No plugin has this name in any plugin source."""

    kind = "unknown_plugin"
    noun = "plugin"


class UnknownInterceptorError(UnknownNameError):
    """No interceptor has this name (built-in or configured)."""

    kind = "unknown_interceptor"
    noun = "interceptor"


class UnknownPluginPointError(UnknownNameError, AttributeError):  # type: ignore[misc]
    """An implementation asked for a plugin point its version does not declare."""

    kind = "unknown_plugin_point"
    noun = "plugin point"

    def __init__(self, interface: str, version: int, point: str, choices: Iterable[str]) -> None:
        self.interface = interface
        self.version = version
        super().__init__(point, choices, context=f"in {interface} v{version}")


class InvalidArgumentsError(CatalogError, TypeError):
    """A method was called with missing, unknown or wrongly typed arguments."""

    kind = "invalid_arguments"

    def __init__(self, interface: str, version: int, problems: dict[str, str]) -> None:
        self.interface = interface
        self.version = version
        #: parameter name -> what is wrong with it
        self.problems = dict(problems)
        body = "; ".join(f"{name}: {why}" for name, why in self.problems.items())
        super().__init__(f"invalid arguments for {interface} v{version}: {body}")

    def _details(self) -> dict[str, Any]:
        return {"problems": dict(self.problems)}


class PluginError(CatalogError):
    """Base class of errors that a plugin causes; ``plugin`` names it."""

    kind = "plugin"

    def __init__(self, message: str, *, plugin: str, tenant: str | None = None) -> None:
        self.plugin = plugin
        self.tenant = tenant
        super().__init__(message)


class PluginLoadError(PluginError):
    """A selected plugin could not be imported: its tenants fail closed."""

    kind = "plugin_load"

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

    def _details(self) -> dict[str, Any]:
        return {"source": self.source, "cause": type(self.cause).__name__}


class PluginStartupError(PluginError):
    """A plugin's startup hook raised or did not finish in time: its tenant fails closed."""

    kind = "plugin_startup"

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

    kind = "plugin_validation"

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

    def _details(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "expected": list(self.expected) if self.expected is not None else None,
            "found": list(self.found) if self.found is not None else None,
        }

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

    kind = "plugin_incompatible"

    def __init__(
        self, plugin: str, problem: str, *, required: str, provided: str, tenant: str | None = None
    ) -> None:
        self.required = required
        self.provided = provided
        super().__init__(plugin, f"incompatible: {problem}", tenant=tenant)


class PluginDependencyError(PluginValidationError):
    """A plugin depends on plugins its tenant does not select, or dependencies form a cycle."""

    kind = "plugin_dependency"

    def __init__(self, plugin: str, problem: str, *, tenant: str | None = None) -> None:
        super().__init__(plugin, problem, tenant=tenant)


class PluginCallError(PluginError):
    """A plugin raised while a method ran; the original exception is ``cause``."""

    kind = "plugin_call"

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

    def _details(self) -> dict[str, Any]:
        return {"cause": type(self.cause).__name__}


class WorkerLimitError(PluginCallError):
    """An isolated plugin's worker process broke a limit, crashed, hung or misbehaved: it
    was killed and replaced, and the call fails as that plugin's, for its tenant only.

    ``limit`` is what happened (``memory``, ``cpu``, ``wall``, ``open_files``, ``processes``,
    ``died``, ``start``, ``protocol``, ``busy``, ``closed``); ``reason`` says it for people
    ("memory limit 256 MiB", "worker died (signal SIGSEGV)")."""

    def __init__(
        self,
        *,
        plugin: str,
        tenant: str,
        interface: str,
        version: int,
        call_id: str,
        limit: str,
        reason: str,
        detail: str = "",
    ) -> None:
        self.interface = interface
        self.version = version
        self.call_id = call_id
        self.limit = limit
        self.reason = reason
        self.cause = WorkerFailure(f"{reason}: {detail}" if detail else reason)
        PluginError.__init__(
            self,
            f"plugin {plugin!r} failed in its isolated worker process in {interface} "
            f"v{version} for tenant {tenant!r} (call {call_id}): {reason}"
            + (f" ({detail})" if detail else ""),
            plugin=plugin,
            tenant=tenant,
        )

    def _details(self) -> dict[str, Any]:
        return {"cause": "WorkerFailure", "limit": self.limit, "reason": self.reason}


class WorkerFailure(RuntimeError):
    """The cause of a WorkerLimitError: what became of the plugin's worker process."""


class CallTimeoutError(CatalogError, TimeoutError):
    """A call did not finish before its deadline; the call may still be running."""

    kind = "call_timeout"

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

    def _details(self) -> dict[str, Any]:
        return {"seconds": self.seconds}


class AsyncRequiredError(CatalogError, RuntimeError):
    """A plain (not awaited) call of a method whose tenant runs ``async def`` implementations,
    made on a running event loop, which it cannot wait on without blocking it."""

    kind = "async_required"

    def __init__(self, *, tenant: str, interface: str, version: int) -> None:
        self.tenant = tenant
        self.interface = interface
        self.version = version
        super().__init__(
            f"{interface} v{version} for tenant {tenant!r} runs async def implementations "
            "and was called without await from a running event loop: use "
            f"`await catalog.arun({interface!r}, customer={tenant!r}, ...)`, "
            "`await catalog.acall(request)` or `await method.acall(...)`"
        )


class ResultValidationError(PluginError):
    """A value a plugin produced does not fit the declared return type (validation
    interceptor); ``plugin`` produced it, ``where`` is the entry point or plugin point."""

    kind = "result_validation"

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

    def _details(self) -> dict[str, Any]:
        return {"where": self.where, "expected": self.expected, "problem": self.problem}


class CallRefusedError(CatalogError):
    """An interceptor refused to run the call now; it may succeed later."""

    kind = "call_refused"

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

    def _details(self) -> dict[str, Any]:
        return {"interceptor": self.interceptor, "retry_after": self.retry_after}


class CircuitOpenError(CallRefusedError):
    """The circuit breaker for this tenant, interface and version is open: failing fast."""

    kind = "circuit_open"


class ConcurrencyLimitError(CallRefusedError):
    """The tenant already has as many calls running as ``[limits] concurrent_calls`` allows:
    this one is refused at once (no other tenant waits behind them)."""

    kind = "concurrency_limited"

    def __init__(self, *, tenant: str, interface: str, version: int, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"tenant {tenant!r} already has {limit} calls running (its limit, [limits] "
            f"concurrent_calls): {interface} v{version} refused; retry when one has ended",
            interceptor="bulkhead",
            tenant=tenant,
            interface=interface,
            version=version,
            retry_after=1.0,
        )

    def _details(self) -> dict[str, Any]:
        return {**super()._details(), "limit": self.limit}


class OverloadedError(CallRefusedError):
    """Too many calls abandoned at their deadline are still running in this process: calls
    with a deadline are refused until some end (a dependency is probably hanging)."""

    kind = "overloaded"

    @classmethod
    def refusing(
        cls,
        reason: object,
        *,
        interceptor: str,
        tenant: str,
        interface: str,
        version: int,
        call_id: str,
    ) -> OverloadedError:
        """The refusal of call ``call_id``, for ``reason``."""
        return cls(
            f"{interface} v{version} for tenant {tenant!r} refused (call {call_id}): {reason}",
            interceptor=interceptor,
            tenant=tenant,
            interface=interface,
            version=version,
        )


class RateLimitedError(CallRefusedError):
    """The tenant (or the tenant on this interface) is over its rate limit."""

    kind = "rate_limited"


class ReloadError(CatalogError):
    """A reload was refused because the new catalog would not work; the old one serves on."""

    kind = "reload"

    def __init__(self, path: str, causes: Sequence[CatalogError]) -> None:
        self.path = path
        self.causes = tuple(causes)
        listed = "\n".join(f"  - {cause}" for cause in self.causes)
        super().__init__(
            f"reload of {path} refused; the catalog as loaded before serves on:\n{listed}"
        )

    def _details(self) -> dict[str, Any]:
        return {"causes": [cause.record().to_dict() for cause in self.causes]}


class PluginChangeError(ReloadError):
    """Disabling, enabling or reloading a plugin at run time was refused (the plugin or a
    tenant is not one it can apply to, a plugin depends on it, its new code does not import,
    a tenant would fail): nothing changed, the catalog serves on as it was."""

    kind = "plugin_change"

    def __init__(
        self,
        action: str,
        plugin: str,
        causes: Sequence[CatalogError],
        *,
        tenant: str | None = None,
        path: str = "",
    ) -> None:
        self.path = path
        self.causes = tuple(causes)
        self.action = action
        self.plugin = plugin
        self.tenant = tenant
        whom = f" for tenant {tenant!r}" if tenant is not None else ""
        listed = "\n".join(f"  - {cause}" for cause in self.causes)
        CatalogError.__init__(
            self,
            f"{action} of plugin {plugin!r}{whom} refused; the catalog serves on as it "
            f"was:\n{listed}",
        )

    def _details(self) -> dict[str, Any]:
        return {"action": self.action, **super()._details()}


class UnknownJobError(UnknownNameError):
    """No background job has this id in the job store."""

    kind = "unknown_job"
    noun = "job"

    def __init__(self, job_id: str, database: object = None) -> None:
        # Job ids are not worth listing: say where we looked and how to see what is there.
        self.name = job_id
        self.choices = ()
        self.database = database
        where = f" in the job store {database}" if database is not None else ""
        CatalogError.__init__(
            self, f"unknown job {job_id!r}{where}; `catalog jobs list` lists the jobs"
        )


class JobStateError(CatalogError):
    """A job cannot be acted on in its status: only a failed or dead job runs again by hand."""

    kind = "job_state"

    def __init__(self, job_id: str, status: str, action: str, allowed: Sequence[str]) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(
            f"job {job_id!r} is {status}: only {' or '.join(allowed)} jobs can be {action}"
        )

    def _details(self) -> dict[str, Any]:
        return {"job": self.job_id, "status": self.status}


class ExecutorError(CatalogError):
    """A batch's executor could not be set up: Dask missing, its scheduler unreachable or
    without workers, or workers that cannot load the catalog."""

    kind = "executor"


class BatchFailedError(CatalogError):
    """``catalog run --batch ... --fail-on-error``: some items of the batch failed."""

    kind = "batch_failed"

    def __init__(self, failed: int, total: int, *, output: str | None = None) -> None:
        self.failed = failed
        self.total = total
        where = f"; the answers are in {output}" if output else ""
        super().__init__(f"{failed} of {total} items of the batch failed{where}")


class ServeError(CatalogError):
    """``catalog serve`` cannot run: the ``serve`` extra is missing, or the server could not
    start (the address is in use, say)."""

    kind = "serve"


class ScaffoldError(CatalogError):
    """``catalog init`` or ``catalog new`` cannot write its files: some exist already (nothing
    is overwritten), or a name is not usable."""

    kind = "scaffold"

    def __init__(self, existing: Sequence[Path] = (), *, message: str | None = None) -> None:
        self.existing = tuple(existing)
        if message is None:
            shown = ", ".join(str(path) for path in self.existing)
            message = f"refusing to overwrite existing files: {shown}; nothing was written"
        super().__init__(message)

    def _details(self) -> dict[str, Any]:
        return {"existing": [str(path) for path in self.existing]} if self.existing else {}


class LockFileError(ConfigError):
    """The contract lock file (``catalog.lock``) cannot be used: it cannot be read or written,
    is not JSON, does not have the shape of a lock, or was written in a newer format. Named by
    its path and the key that is wrong; ``catalog lock`` writes a good one."""

    kind = "lock_file"

    def __init__(self, path: Path, problems: Sequence[ConfigProblem]) -> None:
        super().__init__(path, problems)


class RevisionError(CatalogError):
    """``catalog check --against REV`` cannot read the declarations at that git revision: git
    is not installed, the catalog is not in a git repository, the revision has no such
    catalog file, or its declarations do not load."""

    kind = "revision"

    def __init__(self, message: str, *, revision: str | None = None) -> None:
        self.revision = revision
        super().__init__(message)

    def _details(self) -> dict[str, Any]:
        return {"revision": self.revision}


class UnknownRevisionError(UnknownNameError):
    """``catalog check --against REV``: the git repository has no revision ``REV``; the
    choices are its branches and tags."""

    kind = "unknown_revision"
    noun = "revision"

    def __init__(self, revision: str, choices: Iterable[str], *, repository: object) -> None:
        self.repository = repository
        super().__init__(revision, choices, context=f"in the git repository {repository}")
