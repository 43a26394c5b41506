"""Loading and checking ``catalog.toml`` into an immutable configuration."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from .._json import nesting_problem, too_deep
from ..errors import ConfigError, ConfigProblem
from ..errors import hint as did_you_mean
from . import _toml
from ._canary import Canary
from ._canary import canaries as _canaries
from ._document import Document, ParsedDocument
from ._isolation import DEFAULT_WORKER_LIMITS, TenantIsolation, WorkerLimits
from ._isolation import read_catalog as _read_isolation
from ._isolation import read_tenant as _read_tenant_isolation
from ._jobs import JobsConfig as JobsConfig  # noqa: PLC0414 (re-exported by catalog_cli.config)
from ._jobs import read_jobs

_TENANT_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MODULE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_PLUGIN_NAME: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_WILDCARDS: Final = str.maketrans("*?[]!", "xxxxx")
#: The keys of a path too deep that a message shows.
_SHOWN_KEYS: Final = 8

_CATALOG_KEYS: Final = (
    "description",
    "hookspecs_dir",
    "builtins_dir",
    "plugin_dirs",
    "modules",
    "versions",
    "hookspecs",
    "builtins",
    "packages",
    "import_timeout",
    "startup_timeout",
    "health_timeout",
    "errors",
)
_TENANT_KEYS: Final = (
    "description",
    "plugins",
    "versions",
    "canary",
    "settings",
    "interceptors",
    "errors",
    "api_keys",
    "limits",
    "isolation",
)
_INTERCEPTOR_KEYS: Final = ("enabled", "order", "include", "exclude", "settings")
_SCOPE_KEYS: Final = ("tenants", "interfaces")
_SERVE_KEYS: Final = ("admin_keys",)
_LIMITS_KEYS: Final = ("concurrent_calls", "call_timeout", "interfaces")
_INTERFACE_LIMITS_KEYS: Final = ("call_timeout",)
#: ``[limits]`` defaults: concurrent calls per tenant, and a call's deadline (seconds).
DEFAULT_CONCURRENT_CALLS: Final = 8
DEFAULT_CALL_TIMEOUT: Final = 30.0
#: An API key in catalog.toml: its SHA-256 hash, or a reference to an environment variable.
_KEY_HASH: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
_KEY_ENV: Final = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$")
#: What happens to a job found "running" when its process is gone: run it again, or fail it.
#: How a plugin point treats a plugin that raises: fail the call, or leave its result out.
ERROR_POLICIES: Final = ("raise", "isolate")
_POINT_KEY: Final = re.compile(
    r"^(?P<interface>[a-z][a-z0-9_]*)\.v(?P<version>[1-9][0-9]*)\.(?P<point>[a-z][a-z0-9_]*)$"
)


class Scope(NamedTuple):
    """Tenant and interface patterns (fnmatch wildcards); empty means "any"."""

    tenants: tuple[str, ...] = ()
    interfaces: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {"tenants": list(self.tenants), "interfaces": list(self.interfaces)}


@dataclass(frozen=True)
class InterceptorConfig:
    """``[interceptors.<name>]``: whether, where and in which order an interceptor runs."""

    name: str
    enabled: bool = True
    #: lower wraps further out; None: the interceptor's own default
    order: int | None = None
    include: Scope = field(default_factory=Scope)
    #: wins over ``include``
    exclude: Scope = field(default_factory=Scope)
    settings: Mapping[str, Any] = field(default_factory=dict)

    def covers_tenant(self, tenant: str) -> bool:
        from fnmatch import fnmatchcase

        if any(fnmatchcase(tenant, p) for p in self.exclude.tenants):
            return False
        return not self.include.tenants or any(fnmatchcase(tenant, p) for p in self.include.tenants)


#: The empty mapping every tenant without a value shares (read-only).
EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})


class Limits(NamedTuple):
    """``[limits]``, or a tenant's ``[tenants.<id>.limits]`` (None: not set there)."""

    #: calls of one tenant running at once in a server (0: no limit)
    concurrent_calls: int | None = None
    #: seconds a call may run before the caller gets a timeout
    call_timeout: float | None = None
    #: interface -> its own call_timeout
    interfaces: Mapping[str, float] = EMPTY


#: The catalog's limits when catalog.toml sets none.
DEFAULT_LIMITS: Final = Limits(DEFAULT_CONCURRENT_CALLS, DEFAULT_CALL_TIMEOUT)


@dataclass(frozen=True, slots=True)
class TenantConfig:
    """One tenant's section of the catalog, as written (plugin patterns not yet expanded)."""

    id: str
    description: str = ""
    plugins: tuple[str, ...] = ()
    versions: Mapping[str, int] = field(default_factory=dict)
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: interface -> the canary share of another version (``[tenants.<id>.canary.<interface>]``)
    canaries: Mapping[str, Canary] = field(default_factory=dict)
    #: interceptor -> settings that override ``[interceptors.<name>.settings]`` for this tenant
    interceptors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: "<interface>.v<N>.<point>" -> error policy, over the catalog's and the declaration's
    errors: Mapping[str, str] = field(default_factory=dict)
    #: API keys that authenticate as this tenant: "sha256:<hex>" hashes or "${env:NAME}"
    api_keys: tuple[str, ...] = ()
    #: ``[tenants.<id>.limits]``: over the catalog's ``[limits]``
    limits: Limits = field(default_factory=Limits)
    #: ``isolation``: the plugins that run in the tenant's worker processes (None: none)
    isolation: TenantIsolation | None = None
    #: Problems in this tenant's own section: the tenant fails closed, the others keep working.
    problems: tuple[ConfigProblem, ...] = ()


#: The folders a catalog has by default, next to its catalog.toml.
DEFAULT_HOOKSPECS_DIR: Final = "hookspecs"
DEFAULT_BUILTINS_DIR: Final = "builtin_plugins"
DEFAULT_PLUGIN_DIRS: Final = ("plugins",)


@dataclass(frozen=True)
class CatalogConfig:
    """The whole catalog file, checked for shape (names are checked against code later).

    ``tenants`` is read lazily: a tenant's section is checked when it is first looked up, so a
    command about one tenant does not check the others.
    """

    path: Path | None
    description: str = ""
    #: the folder of interface declarations (``hookspecs/``); None: the catalog has none
    hookspecs_dir: Path | None = None
    #: the folder of the catalog's built-in implementations (``builtin_plugins/``)
    builtins_dir: Path | None = None
    plugin_dirs: tuple[Path, ...] = ()
    #: folders named in catalog.toml (they must exist); the defaults may be absent
    explicit_dirs: frozenset[Path] = frozenset()
    modules: Mapping[str, str] = field(default_factory=dict)
    versions: Mapping[str, int] = field(default_factory=dict)
    #: extra importable modules of declarations and of built-in implementations
    hookspecs: tuple[str, ...] = ()
    builtins: tuple[str, ...] = ()
    #: installed packages (entry-point names) whose interfaces and built-ins join the catalog
    packages: tuple[str, ...] = ()
    #: Seconds a plugin import may take before the plugin counts as failed.
    import_timeout: float = 30.0
    #: Seconds a plugin's startup (and shutdown) hook may take.
    startup_timeout: float = 30.0
    #: Seconds a plugin's health check may take before it counts as unhealthy.
    health_timeout: float = 5.0
    #: "<interface>.v<N>.<point>" -> error policy, over the declaration's
    errors: Mapping[str, str] = field(default_factory=dict)
    interceptors: Mapping[str, InterceptorConfig] = field(default_factory=dict)
    #: ``[serve] admin_keys``: keys for the admin endpoints ("sha256:<hex>" or "${env:NAME}")
    admin_keys: tuple[str, ...] = ()
    #: ``[jobs]``: where background jobs are stored, and what happens to interrupted ones
    jobs: JobsConfig = field(default_factory=JobsConfig)
    #: ``[limits]``: each tenant's concurrent calls in a server, and calls' deadlines
    limits: Limits = DEFAULT_LIMITS
    #: ``[isolation]``: the limits of each tenant's worker pool of isolated plugins
    isolation: WorkerLimits = DEFAULT_WORKER_LIMITS
    tenants: Mapping[str, TenantConfig] = field(default_factory=dict)
    document: Document | None = field(default=None, repr=False, compare=False)

    @property
    def root(self) -> Path:
        return self.path.parent if self.path is not None else Path.cwd()

    def problem(
        self, key: tuple[str, ...], message: str, tenant: str | None = None
    ) -> ConfigProblem:
        """A problem at ``key``, with the line it is on."""
        line = self.document.line_of(key) if self.document is not None else None
        return ConfigProblem(_toml.format_key(key), message, line, tenant)


def freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Plain dicts and lists again, for JSON and for people."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


def _type_name(value: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


class _Checker:
    """Collects problems while reading the parsed document."""

    def __init__(self, document: Document) -> None:
        self.document = document
        self.problems: list[ConfigProblem] = []
        self.tenant: str | None = None

    def add(self, key: tuple[str, ...], message: str) -> None:
        self.problems.append(
            ConfigProblem(_toml.format_key(key), message, self.document.line_of(key), self.tenant)
        )

    def folder(self, table: Mapping[str, Any], name: str, default: str) -> str:
        value = table.get(name, default)
        if not isinstance(value, str) or not value:
            self.add(("catalog", name), f"expected a folder path, got {value!r}")
            return default
        problem = _path_problem(value)
        if problem:
            self.add(("catalog", name), problem)
            return default
        return value

    def table(self, value: Any, key: tuple[str, ...]) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        self.add(key, f"expected a table, got {_type_name(value)}")
        return {}

    def known_keys(
        self, table: Mapping[str, Any], key: tuple[str, ...], allowed: tuple[str, ...]
    ) -> None:
        for name in table:
            if name not in allowed:
                hint = did_you_mean(name, allowed)
                self.add((*key, name), f"unknown key (allowed: {', '.join(allowed)}){hint}")

    def string(self, table: Mapping[str, Any], key: tuple[str, ...], name: str) -> str:
        value = table.get(name, "")
        if not isinstance(value, str):
            self.add((*key, name), f"expected a string, got {_type_name(value)}")
            return ""
        return value

    def strings(
        self,
        table: Mapping[str, Any],
        key: tuple[str, ...],
        name: str,
        valid: Callable[[str], str | None] | None = None,
        *,
        secret: bool = False,
    ) -> tuple[str, ...]:
        value = table.get(name, [])
        if not isinstance(value, list):
            self.add((*key, name), f"expected an array of strings, got {_type_name(value)}")
            return ()
        result = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.add((*key, name), f"item {index}: expected a string, got {_type_name(item)}")
                continue
            problem = valid(item) if valid else None
            if problem:
                # A secret written in clear must not be repeated in messages and logs.
                shown = "" if secret else f" ({item!r})"
                self.add((*key, name), f"item {index}{shown}: {problem}")
                continue
            if item in result:
                self.add((*key, name), f"{item!r} is listed twice")
                continue
            result.append(item)
        return tuple(result)

    def seconds(self, table: Mapping[str, Any], name: str, default: float) -> float:
        value = table.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
            self.add(
                ("catalog", name),
                f"expected a number of seconds above 0 and at most 3600, got {value!r}",
            )
            return default
        return float(value)

    def canaries(self, table: Mapping[str, Any], key: tuple[str, ...]) -> dict[str, Canary]:
        return _canaries(self, table, key)

    def api_keys(self, table: Mapping[str, Any], key: tuple[str, ...]) -> tuple[str, ...]:
        return self.strings(table, key, "api_keys", _api_key_problem, secret=True)

    def jobs(self, raw: Any, base: Path) -> JobsConfig:
        return read_jobs(self, raw, base)

    def limits(self, raw: Any, key: tuple[str, ...], defaults: Limits) -> Limits:
        """``[limits]`` (``defaults``: the built-in ones) or a tenant's (``Limits()``)."""
        table = self.table(raw, key)
        self.known_keys(table, key, _LIMITS_KEYS)
        concurrent = table.get("concurrent_calls", defaults.concurrent_calls)
        if concurrent is not None and (
            isinstance(concurrent, bool)
            or not isinstance(concurrent, int)
            or not 0 <= concurrent <= 100_000
        ):
            self.add(
                (*key, "concurrent_calls"),
                f"expected an integer from 0 (no limit) to 100000, got {concurrent!r}",
            )
            concurrent = defaults.concurrent_calls
        timeout = self.call_timeout(table, key, defaults.call_timeout)
        interfaces = {}
        for name, raw_spec in self.table(table.get("interfaces", {}), (*key, "interfaces")).items():
            where = (*key, "interfaces", name)
            spec = self.table(raw_spec, where)
            self.known_keys(spec, where, _INTERFACE_LIMITS_KEYS)
            seconds = self.call_timeout(spec, where, None)
            if seconds is not None:
                interfaces[name] = seconds
        return Limits(concurrent, timeout, MappingProxyType(interfaces))

    def call_timeout(
        self, table: Mapping[str, Any], key: tuple[str, ...], default: float | None
    ) -> float | None:
        value = table.get("call_timeout", default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 86400:
            self.add(
                (*key, "call_timeout"),
                f"expected a number of seconds above 0 and at most 86400, got {value!r}",
            )
            return default
        return float(value)

    def errors(self, table: Mapping[str, Any], key: tuple[str, ...]) -> dict[str, str]:
        found = {}
        for point, policy in self.table(table.get("errors", {}), (*key, "errors")).items():
            if not _POINT_KEY.match(point):
                self.add(
                    (*key, "errors", point),
                    "expected a plugin point as <interface>.v<N>.<point>, e.g. "
                    '"price_quote.v1.discounts"',
                )
            elif policy not in ERROR_POLICIES:
                self.add(
                    (*key, "errors", point),
                    f"expected one of {', '.join(ERROR_POLICIES)}, got {policy!r}",
                )
            else:
                found[point] = policy
        return found

    def scope(self, table: Mapping[str, Any], key: tuple[str, ...]) -> Scope:
        spec = self.table(table.get(key[-1], {}), key)
        self.known_keys(spec, key, _SCOPE_KEYS)
        return Scope(
            self.strings(spec, key, "tenants", _plugin_pattern_problem),
            self.strings(spec, key, "interfaces", _plugin_pattern_problem),
        )

    def interceptor(self, name: str, raw: Any) -> InterceptorConfig:
        key = ("interceptors", name)
        table = self.table(raw, key)
        self.known_keys(table, key, _INTERCEPTOR_KEYS)
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            self.add((*key, "enabled"), f"expected a boolean, got {_type_name(enabled)}")
            enabled = True
        order = table.get("order")
        if order is not None and (isinstance(order, bool) or not isinstance(order, int)):
            self.add((*key, "order"), f"expected an integer, got {_type_name(order)}")
            order = None
        settings = self.table(table.get("settings", {}), (*key, "settings"))
        return InterceptorConfig(
            name,
            enabled,
            order,
            self.scope(table, (*key, "include")),
            self.scope(table, (*key, "exclude")),
            freeze(settings),
        )

    def versions(self, table: Mapping[str, Any], key: tuple[str, ...]) -> dict[str, int]:
        value = self.table(table.get("versions", {}), (*key, "versions"))
        result = {}
        for interface, number in value.items():
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                self.add(
                    (*key, "versions", interface),
                    f"expected a version number (an integer >= 1), got {number!r}",
                )
                continue
            result[interface] = number
        return result


def _path_problem(value: str) -> str | None:
    # The system refuses such a path wherever it is used, with an error naming no key.
    return "a path cannot contain a NUL byte (\\0)" if "\0" in value else None


def _module_problem(name: str) -> str | None:
    return None if _MODULE.match(name) else "not an importable module name"


def _package_problem(name: str) -> str | None:
    if _PLUGIN_NAME.match(name):
        return None
    return "not a package's entry-point name (letters, digits, '_', '-', '.')"


def _api_key_problem(value: str) -> str | None:
    if _KEY_HASH.match(value) or _KEY_ENV.match(value):
        return None
    return (
        'not a key reference: write the key\'s hash, "sha256:<64 hex digits>" (see '
        '`catalog keys new`), or "${env:NAME}" for a key in an environment variable; a plain '
        "key does not belong in the file"
    )


def _plugin_pattern_problem(name: str) -> str | None:
    if _PLUGIN_NAME.match(name.translate(_WILDCARDS)):
        return None
    return "not a plugin name (letters, digits, '_', '-', '.'; wildcards *, ? and [...])"


def _identity(value: Any) -> Hashable:
    """What makes two values of a TOML table the same, as a key (order and types count)."""
    if isinstance(value, dict):
        return (dict, tuple((k, _identity(v)) for k, v in value.items()))
    if isinstance(value, list):
        return (list, tuple(_identity(v) for v in value))
    if isinstance(value, float):
        return (float, repr(value))  # -0.0 is not 0.0, and NaN is itself
    return (type(value), value)


class Recent:
    """The ``size`` values used most recently, by key (thread-safe): a memo whose size stays
    bounded however many keys it is asked for."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._found: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value kept for ``key`` (now the most recently used), or None."""
        with self._lock:
            found = self._found.pop(key, None)
            if found is not None:
                self._found[key] = found
            return found

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep ``value`` for ``key`` (forgetting the least recently used); return it."""
        with self._lock:
            self._found.pop(key, None)
            if len(self._found) >= self._size:
                del self._found[next(iter(self._found))]
            self._found[key] = value
        return value


class Interner:
    """Frozen tables, one per content: tenants that write the same settings share one frozen
    copy. Holds the most recently used ones, so unique tables cost nothing for long."""

    def __init__(self, size: int = 512) -> None:
        self._recent = Recent(size)

    def freeze(self, value: dict[str, Any]) -> Mapping[str, Any]:
        if not value:
            return EMPTY
        key = _identity(value)
        found: Mapping[str, Any] | None = self._recent.get(key)
        if found is None:
            found = self._recent.put(key, freeze(value))
        return found


def _frozen(found: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(found) if found else EMPTY


def _tables(
    check: _Checker, table: Mapping[str, Any], key: tuple[str, ...], interner: Interner
) -> Mapping[str, Any]:
    """A table of tables (``settings``, ``interceptors``), each frozen."""
    found: dict[str, Any] = {}
    for name, values in check.table(table.get(key[-1], {}), key).items():
        if isinstance(values, dict):
            found[name] = interner.freeze(values)
        else:
            check.add((*key, name), f"expected a table, got {_type_name(values)}")
    return _frozen(found)


def _tenant(check: _Checker, tenant_id: str, raw: Any, interner: Interner) -> TenantConfig:
    """One tenant's section; its problems stay with it (the tenant fails closed)."""
    before = len(check.problems)
    check.tenant = tenant_id
    key = ("tenants", tenant_id)
    if not _TENANT_ID.match(tenant_id):
        check.add(key, "a tenant id is letters, digits, '_', '-' and '.'")
    table = check.table(raw, key)
    check.known_keys(table, key, _TENANT_KEYS)
    return TenantConfig(
        tenant_id,
        check.string(table, key, "description"),
        check.strings(table, key, "plugins", _plugin_pattern_problem),
        _frozen(check.versions(table, key)),
        _tables(check, table, (*key, "settings"), interner),
        _frozen(check.canaries(table, key)),
        _tables(check, table, (*key, "interceptors"), interner),
        _frozen(check.errors(table, key)),
        check.api_keys(table, key),
        check.limits(table.get("limits", {}), (*key, "limits"), Limits()),
        _read_tenant_isolation(check, table, key, _plugin_pattern_problem),
        tuple(check.problems[before:]),
    )


class TenantTable(Mapping[str, TenantConfig]):
    """``[tenants]``, each tenant's section checked when it is first looked up."""

    def __init__(self, document: Document) -> None:
        self._document = document
        self._built: dict[str, TenantConfig] = {}
        self._interner = Interner()

    def __getitem__(self, tenant: str) -> TenantConfig:
        found = self._built.get(tenant)
        if found is None:
            if tenant not in self._document.tenant_ids:
                raise KeyError(tenant)
            checked = _tenant(
                _Checker(self._document), tenant, self._document.tenant(tenant), self._interner
            )
            found = self._built.setdefault(tenant, checked)
        return found

    def forget(self, tenants: Iterable[str]) -> None:
        """Drop the checked sections of ``tenants`` (checked again when next looked up): a
        process that goes through many tenants once need not keep them all."""
        for tenant in tenants:
            self._built.pop(tenant, None)

    def __contains__(self, tenant: object) -> bool:
        return tenant in self._document.tenant_ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._document.tenant_ids)

    def __len__(self) -> int:
        return len(self._document.tenant_ids)

    def __repr__(self) -> str:
        return f"<TenantTable of {len(self)} tenants>"


def parse_config(text: str, path: Path | None) -> CatalogConfig:
    """Parse and shape-check a catalog document.

    Problems in the ``[catalog]`` section raise ConfigError; problems inside one tenant's
    section are kept on that tenant, which then fails closed while the others keep working.
    """
    return config_of(_parse(text, path))


def _parse(text: str, path: Path | None) -> ParsedDocument:
    try:
        document = _toml.loads(text)
    except _toml.TOMLDecodeError as exc:
        message = str(exc)
        raise ConfigError(
            path,
            [ConfigProblem("", f"not valid TOML: {message}", _toml.decode_error_line(exc, text))],
        ) from None
    except RecursionError:
        raise ConfigError(
            path, [ConfigProblem("", f"not valid TOML: {nesting_problem(toml=True)}")]
        ) from None
    except ValueError:  # tomllib lets int()'s digit limit through as it is
        too_long = f"a number too long to read (more than {sys.get_int_max_str_digits()} digits)"
        raise ConfigError(path, [ConfigProblem("", f"not valid TOML: {too_long}")]) from None
    deep = too_deep(document, counted=False)
    if deep is not None:
        # Before anything walks the tables recursively (checks, freezing, the cache's pickle).
        raise ConfigError(path, [_nesting(deep, text)])
    return ParsedDocument(path, document, text)


def _nesting(deep: tuple[str | int, ...], text: str) -> ConfigProblem:
    keys: list[str] = []
    for part in deep:
        if not isinstance(part, str):
            break  # inside an array: the key holding it is where
        keys.append(part)
    shown = _toml.format_key(keys[:_SHOWN_KEYS]) + ("..." if len(keys) > _SHOWN_KEYS else "")
    index = _toml.LineIndex.of(text)
    # Where a key at or below the path is defined (one header or dotted key may hold it all),
    # else where the closest table above it is.
    size = len(keys)
    below = [n for k, n in index.lines.items() if list(k[:size]) == keys]
    line = min(below) if below else index.line_of(keys)
    return ConfigProblem(shown, nesting_problem(toml=True), line)


def config_of(document: Document) -> CatalogConfig:
    """The configuration of a parsed document: every section but the tenants' checked now."""
    path = document.path
    top = document.top
    check = _Checker(document)
    check.known_keys(
        top, (), ("catalog", "tenants", "interceptors", "serve", "jobs", "limits", "isolation")
    )
    if document.tenants_table is not None:
        check.add(("tenants",), f"expected a table, got {_type_name(document.tenants_table)}")
    section = check.table(top.get("catalog", {}), ("catalog",))
    check.known_keys(section, ("catalog",), _CATALOG_KEYS)
    description = check.string(section, ("catalog",), "description")
    base = path.parent if path is not None else Path.cwd()
    explicit = set()
    hookspecs_dir = base / check.folder(section, "hookspecs_dir", DEFAULT_HOOKSPECS_DIR)
    builtins_dir = base / check.folder(section, "builtins_dir", DEFAULT_BUILTINS_DIR)
    if "hookspecs_dir" in section:
        explicit.add(hookspecs_dir)
    if "builtins_dir" in section:
        explicit.add(builtins_dir)
    if "plugin_dirs" in section:
        plugin_dirs = tuple(
            base / d for d in check.strings(section, ("catalog",), "plugin_dirs", _path_problem)
        )
        explicit.update(plugin_dirs)
    else:
        plugin_dirs = tuple(base / d for d in DEFAULT_PLUGIN_DIRS)
    modules: dict[str, str] = {}
    for name, module in check.table(section.get("modules", {}), ("catalog", "modules")).items():
        if not isinstance(module, str) or _module_problem(module):
            check.add(("catalog", "modules", name), f"expected a module name, got {module!r}")
        elif not _PLUGIN_NAME.match(name):
            check.add(("catalog", "modules", name), "not a valid plugin name")
        else:
            modules[name] = module
    default_versions = check.versions(section, ("catalog",))
    hookspecs = check.strings(section, ("catalog",), "hookspecs", _module_problem)
    builtins = check.strings(section, ("catalog",), "builtins", _module_problem)
    packages = check.strings(section, ("catalog",), "packages", _package_problem)
    import_timeout = check.seconds(section, "import_timeout", 30.0)
    startup_timeout = check.seconds(section, "startup_timeout", 30.0)
    health_timeout = check.seconds(section, "health_timeout", 5.0)
    errors = check.errors(section, ("catalog",))
    serve = check.table(top.get("serve", {}), ("serve",))
    check.known_keys(serve, ("serve",), _SERVE_KEYS)
    admin_keys = check.strings(serve, ("serve",), "admin_keys", _api_key_problem, secret=True)
    jobs = check.jobs(top.get("jobs", {}), base)
    limits = check.limits(top.get("limits", {}), ("limits",), DEFAULT_LIMITS)
    isolation = _read_isolation(check, top.get("isolation", {}))
    interceptors = {
        name: check.interceptor(name, raw)
        for name, raw in check.table(top.get("interceptors", {}), ("interceptors",)).items()
    }
    if check.problems:
        raise ConfigError(path, check.problems)
    return CatalogConfig(
        path=path,
        description=description,
        hookspecs_dir=hookspecs_dir,
        builtins_dir=builtins_dir,
        plugin_dirs=plugin_dirs,
        explicit_dirs=frozenset(explicit),
        modules=MappingProxyType(modules),
        versions=MappingProxyType(default_versions),
        hookspecs=hookspecs,
        builtins=builtins,
        packages=packages,
        import_timeout=import_timeout,
        startup_timeout=startup_timeout,
        health_timeout=health_timeout,
        errors=MappingProxyType(errors),
        interceptors=MappingProxyType(interceptors),
        admin_keys=admin_keys,
        jobs=jobs,
        limits=limits,
        isolation=isolation,
        tenants=TenantTable(document),
        document=document,
    )


def read_config(path: Path) -> CatalogConfig:
    """Read and parse the catalog file at ``path`` (a large one through the cache)."""
    from . import _cache

    try:
        stat = path.stat()
        cached = None
        if stat.st_size >= _cache.THRESHOLD and _cache.enabled():
            cached = _cache.load(path, stat)
        if cached is not None:
            return config_of(cached)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, [ConfigProblem("", "catalog file not found")]) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        # ValueError: a path the system cannot take (a NUL byte in it, say)
        raise ConfigError(
            path, [ConfigProblem("", f"cannot read the catalog file: {exc}")]
        ) from None
    document = _parse(text, path)
    if len(text) >= _cache.THRESHOLD and _cache.enabled():
        _cache.store(path, stat, document)
    return config_of(document)
