"""``catalog info``: which catalog is in use, where its parts are, and what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ._session import JsonOption, session


def _folder(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    return {"path": str(path), "exists": path.is_dir()}


def info(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show which catalog file is in use and why, its folders, how many interfaces and
    tenants it has, the version of task-catalog, and where its job store is."""
    from .. import __version__
    from ..execution._jobs import database_path

    current = session(ctx, as_json=as_json)
    path, why = current.locate()
    catalog = current.catalog
    config = catalog.config
    interfaces = catalog.interfaces()
    data: dict[str, Any] = {
        "catalog": str(path.resolve()),
        "found": why,
        "description": config.description,
        "folders": {
            "hookspecs": _folder(config.hookspecs_dir),
            "builtin_plugins": _folder(config.builtins_dir),
            "plugins": [_folder(d) for d in config.plugin_dirs],
        },
        "interfaces": len(interfaces),
        "versions": sum(len(i.versions) for i in interfaces),
        "tenants": len(config.tenants),
        "plugins": sum(1 for s in catalog.registry.sources.values() if s.kind != "builtin"),
        "job_store": str(database_path(path, config.jobs)),
        "task_catalog": __version__,
    }
    if as_json:
        current.json(data)
        return
    from ._render import table

    def where(folder: dict[str, Any] | None) -> str:
        if folder is None:
            return "-"
        return str(folder["path"]) + ("" if folder["exists"] else " (absent)")

    folders: dict[str, Any] = data["folders"]
    rows = [
        ("catalog", f"{data['catalog']} ({why})"),
        ("description", config.description or "-"),
        ("hookspecs", where(folders["hookspecs"])),
        ("builtin_plugins", where(folders["builtin_plugins"])),
        ("plugins", "\n".join(where(f) for f in folders["plugins"]) or "-"),
        ("interfaces", f"{data['interfaces']} ({data['versions']} versions)"),
        ("tenants", str(data["tenants"])),
        ("plugins found", str(data["plugins"])),
        ("job store", data["job_store"]),
        ("task-catalog", data["task_catalog"]),
    ]
    current.out.print(table(None, ("", ""), rows))
