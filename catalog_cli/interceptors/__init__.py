"""The catalog's own interceptors, switched on per catalog in ``[interceptors.<name>]``.

Each is a plugin module exactly like a user's interceptor: ``catalog_call`` (and maybe
``catalog_point_call``) wrappers, ``PLUGIN`` metadata with a settings schema, and ``ORDER``,
its default place in the chain (lower wraps further out).
"""

from __future__ import annotations

from types import ModuleType
from typing import Final

#: name in catalog.toml -> module
BUILTIN: Final = {
    "opentelemetry": "catalog_cli.interceptors.otel",
    "logging": "catalog_cli.interceptors.log",
    "metrics": "catalog_cli.interceptors.metrics",
    "rate_limit": "catalog_cli.interceptors.ratelimit",
    "circuit_breaker": "catalog_cli.interceptors.breaker",
    "cache": "catalog_cli.interceptors.cache",
    "retry": "catalog_cli.interceptors.retry",
    "timeout": "catalog_cli.interceptors.timeout",
    "validation": "catalog_cli.interceptors.validation",
}

#: The order of a user interceptor that names none (the built-ins use 50-800).
DEFAULT_ORDER: Final = 1000


def default_order(module: ModuleType) -> int:
    """The interceptor's own place in the chain: its ``ORDER``, else DEFAULT_ORDER."""
    declared = getattr(module, "ORDER", DEFAULT_ORDER)
    return declared if isinstance(declared, int) else DEFAULT_ORDER
