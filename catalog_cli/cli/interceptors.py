"""``catalog interceptors``: what wraps the method calls, in which order, for which tenants."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from . import _complete as complete
from ._group import Group
from ._session import JsonOption, dumps, session

if TYPE_CHECKING:
    from ..config import Scope

app = typer.Typer(
    cls=Group,
    help="List the interceptors around method calls (logging, metrics, retry, ...).",
    no_args_is_help=True,
)


def _scope(include: Scope, exclude: Scope) -> str:
    parts = []
    for label, scope in (("", include), ("not ", exclude)):
        for what, names in (("tenants", scope.tenants), ("interfaces", scope.interfaces)):
            if names:
                parts.append(f"{label}{what}: {', '.join(names)}")
    return "\n".join(parts) or "everywhere"


@app.command("list")
def list_interceptors(
    ctx: typer.Context,
    available: Annotated[
        bool,
        typer.Option(
            "--available", help="Also list the built-ins catalog.toml does not switch on."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List configured interceptors in the order they wrap (outermost first)."""
    current = session(ctx, as_json=as_json)
    infos = current.catalog.interceptors(available=available)
    if as_json:
        current.json([info.to_dict() for info in infos])
        return
    from rich.text import Text

    from ._render import table

    def state(enabled: bool, configured: bool, error: str | None) -> Text:
        if error:
            return Text("failed", style="bold red")
        if not configured:
            return Text("available", style="dim")
        return Text("on", style="green") if enabled else Text("off", style="yellow")

    current.out.print(
        table(
            "Interceptors (outermost first)",
            ("interceptor", "order", "state", "scope", "tenants", "description"),
            (
                (
                    info.name + ("" if info.builtin else " (plugin)"),
                    "-" if info.order is None else info.order,
                    state(info.enabled, info.configured, info.error),
                    _scope(info.include, info.exclude),
                    ", ".join(info.tenants) or "-",
                    info.error or info.description,
                )
                for info in infos
            ),
        )
    )


@app.command("show")
def show_interceptor(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="The interceptor's name in catalog.toml.", autocompletion=complete.interceptors
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Show one interceptor: scope, tenants, settings and the settings it accepts."""
    from ..errors import UnknownInterceptorError

    current = session(ctx, as_json=as_json)
    infos = {info.name: info for info in current.catalog.interceptors(available=True)}
    info = infos.get(name)
    if info is None:
        raise UnknownInterceptorError(name, infos)
    if as_json:
        current.json(info.to_dict())
        return
    from rich.text import Text

    from ._render import table

    out = current.out
    kind = "built-in" if info.builtin else "plugin"
    out.print(Text(info.name, style="bold"), Text(f"({kind}) — {info.description}"))
    if info.error:
        out.print(Text(info.error, style="red"))
    out.print(f"order: {'-' if info.order is None else info.order}")
    out.print(f"enabled: {'yes' if info.enabled else 'no'}")
    out.print(f"scope: {_scope(info.include, info.exclude)}".replace("\n", "; "))
    out.print(f"tenants: {', '.join(info.tenants) or 'none'}")
    out.print(f"hooks: {', '.join(info.hooks) or '-'}")
    if info.schema:
        out.print(
            table(
                "Settings",
                ("setting", "type", "default", "value here", "description"),
                (
                    (
                        row["name"],
                        row["type"],
                        dumps(row.get("default")) if not row["required"] else "(required)",
                        dumps(info.settings[row["name"]]) if row["name"] in info.settings else "-",
                        row.get("description", ""),
                    )
                    for row in info.schema
                ),
            )
        )
