"""Shell completion of names from the catalog in use: interfaces, tenants, plugins and
interceptors. Completion must never fail loudly, so a catalog that does not load completes
nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import typer


def _catalog_file(ctx: typer.Context) -> str | None:
    # `-c` after the command is recorded in meta by its callback; before it, it is the root's.
    given = ctx.meta.get("catalog_file")
    if given is not None:
        return str(given)
    root = ctx.find_root()
    value = root.params.get("catalog")
    return str(value) if value is not None else None


def _matching(names: Iterable[str], incomplete: str) -> list[str]:
    return sorted(name for name in names if name.startswith(incomplete))


def _names(read: Callable[[Any], Iterable[str]], *, registry: bool) -> Callable[..., list[str]]:
    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        from ..config import find_catalog, read_config

        try:
            path, _why = find_catalog(_catalog_file(ctx))
            if registry:
                from ..registry import load_registry

                return _matching(read(load_registry(path)), incomplete)
            return _matching(read(read_config(path)), incomplete)
        except Exception:
            return []

    return complete


interfaces = _names(lambda registry: registry.interfaces, registry=True)
plugins = _names(lambda registry: registry.sources, registry=True)
tenants = _names(lambda config: config.tenants, registry=False)


def _interceptor_names(config: Any) -> Iterable[str]:
    from ..registry._interceptors import BUILTIN

    return {*BUILTIN, *config.interceptors}


interceptors = _names(_interceptor_names, registry=False)
