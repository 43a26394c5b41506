"""catalog.toml: finding it, reading it (through a cache when it is large) and checking it.

Names are imported on first use: the TOML parser is not needed by every command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._lazy import attribute

if TYPE_CHECKING:
    from ._canary import Canary
    from ._config import (
        CatalogConfig,
        InterceptorConfig,
        JobsConfig,
        Limits,
        Scope,
        TenantConfig,
        freeze,
        parse_config,
        read_config,
        thaw,
    )
    from ._locate import find_catalog
    from ._options import Option, Options, at_least, one_of, positive

__all__ = [
    "Canary",
    "CatalogConfig",
    "InterceptorConfig",
    "JobsConfig",
    "Limits",
    "Option",
    "Options",
    "Scope",
    "TenantConfig",
    "at_least",
    "find_catalog",
    "freeze",
    "one_of",
    "parse_config",
    "positive",
    "read_config",
    "thaw",
]

_HOMES = {
    **dict.fromkeys(
        (
            "CatalogConfig",
            "InterceptorConfig",
            "JobsConfig",
            "Limits",
            "Scope",
            "TenantConfig",
            "freeze",
            "parse_config",
            "read_config",
            "thaw",
        ),
        "._config",
    ),
    "Canary": "._canary",
    "find_catalog": "._locate",
    **dict.fromkeys(("Option", "Options", "at_least", "one_of", "positive"), "._options"),
}


def __getattr__(name: str) -> Any:
    return attribute(globals(), _HOMES, name)


def __dir__() -> list[str]:
    return sorted(__all__)
