"""``catalog plugins``: where plugins come from, what they implement, who uses them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from . import _complete as complete
from ._group import Group
from ._options import customer_option
from ._session import JsonOption, json_option, session

if TYPE_CHECKING:
    from ..registry import HookUse

app = typer.Typer(cls=Group, help="List plugins and their load status.", no_args_is_help=True)


def hook_summary(uses: tuple[HookUse, ...]) -> str:
    """One line per interface version: ``interface_a v2: greeting, extra_lines (wrapper)``."""
    lines: dict[str, list[str]] = {}
    for use in uses:
        where = f"{use.interface} v{use.version}" if use.interface else "lifecycle"
        step = (use.point or "entry point") + (" (wrapper)" if use.wrapper else "")
        lines.setdefault(where, []).append(step)
    return "\n".join(f"{where}: {', '.join(steps)}" for where, steps in lines.items())


def _where(kind: str, location: str) -> str:
    from ._render import short_path

    return short_path(location) if kind == "file" else location


@app.command("list")
def list_plugins(
    ctx: typer.Context,
    customer: Annotated[str | None, customer_option("Only plugins this tenant runs.")] = None,
    available: Annotated[
        bool,
        typer.Option("--available", help="Also list plugins no tenant selects (not imported)."),
    ] = False,
    as_json: Annotated[bool, json_option("Print JSON instead of a table.")] = False,
) -> None:
    """List built-in and selected plugins: source, hooks, tenants and load status."""
    current = session(ctx, as_json=as_json)
    infos = current.catalog.plugins(customer=customer, available=available)
    if as_json:
        current.json([info.to_dict() for info in infos])
        return
    from ._render import status, table

    title = "Plugins" + (f" for tenant {customer}" if customer else "")
    current.out.print(
        table(
            title,
            ("plugin", "source", "status", "hooks", "tenants"),
            (
                (
                    info.name,
                    "built-in" if info.kind == "builtin" else _where(info.kind, info.location),
                    status(info.status),
                    info.error if info.error else hook_summary(info.hooks) or "-",
                    ", ".join(info.tenants) or "-",
                )
                for info in infos
            ),
        )
    )


@app.command("show")
def show_plugin(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The plugin name.", autocompletion=complete.plugins)],
    as_json: JsonOption = False,
) -> None:
    """Show a plugin's metadata, source, hooks (and plugin points), tenants and status."""
    current = session(ctx, as_json=as_json)
    info = current.catalog.plugin(name)
    if as_json:
        current.json(info.to_dict())
        return
    from rich.text import Text

    from ._render import status, table

    out = current.out
    meta = info.meta
    out.print(Text(info.name, style="bold"), status(info.status))
    if info.error:
        out.print(Text(info.error, style="red"), soft_wrap=True)
    targets = ", ".join(
        f"{interface} v{', v'.join(str(v) for v in versions)}"
        for interface, versions in meta.interfaces.items()
    )
    out.print(
        table(
            None,
            ("field", "value"),
            (
                ("source", f"{info.kind}: {_where(info.kind, info.location)}"),
                ("distribution", info.distribution or "-"),
                ("version", meta.version or "-"),
                ("description", meta.description or "-"),
                ("author", meta.author or "-"),
                ("plugin API", meta.requires_api),
                ("targets", targets or "any interface version"),
                ("depends on", ", ".join(meta.depends) or "-"),
                ("tenants", ", ".join(info.tenants) or "none (not imported)"),
            ),
        )
    )
    schema = meta.to_dict()["settings"]
    if schema:
        out.print(
            table(
                "Settings schema",
                ("setting", "type", "default", "description"),
                (
                    (
                        row["name"],
                        row["type"],
                        "required" if row["required"] else repr(row.get("default")),
                        row.get("description", ""),
                    )
                    for row in schema
                ),
            )
        )
    if info.hooks:
        out.print(
            table(
                "Hooks",
                ("hook", "interface", "step", "kind"),
                (
                    (
                        use.hook,
                        f"{use.interface} v{use.version}" if use.interface else "lifecycle",
                        use.point or "entry point",
                        "wrapper" if use.wrapper else "implementation",
                    )
                    for use in info.hooks
                ),
            )
        )
