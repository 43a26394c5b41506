"""``catalog plugins``: where plugins come from, what they implement, who uses them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import _complete as complete
from ._group import Group
from ._options import customer_option
from ._session import JsonOption, json_option, session

if TYPE_CHECKING:
    from ..execution._management import PluginChange
    from ..execution._views import PluginInfo
    from ..registry import HookUse
    from ._session import Session

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
    rows = _listing(current, customer, available)
    if as_json:
        current.json([row["json"] for row in rows])
        return
    from ._render import status, table

    title = "Plugins" + (f" for tenant {customer}" if customer else "")
    current.out.print(
        table(
            title,
            ("plugin", "source", "status", "hooks", "tenants"),
            (
                (
                    row["name"],
                    "built-in"
                    if row["kind"] == "builtin"
                    else _where(row["kind"], row["location"]),
                    _status(row, status),
                    row["error"] if row["error"] else row["hooks"] or "-",
                    ", ".join(row["tenants"]) or "-",
                )
                for row in rows
            ),
        )
    )


def _listing(current: Session, customer: str | None, available: bool) -> list[dict[str, Any]]:
    """The rows of ``plugins list``: kept from an earlier run when nothing they were made
    from has changed since (see ``_listing_cache``), else made from the catalog."""
    if not current.may_reuse:
        return [
            _row(info) for info in current.catalog.plugins(customer=customer, available=available)
        ]
    from . import _listing_cache as kept

    options = (str(current.locate()[0]), customer, available)
    rows: list[dict[str, Any]] | None = kept.lookup("plugins", options)
    if rows is None:
        with kept.recording() as recorded:
            catalog = current.catalog
            infos = catalog.plugins(customer=customer, available=available)
            rows = [_row(info) for info in infos]
        # The catalog file may have been read through the configuration cache, and the state
        # file of plugins disabled at run time may not exist yet: both count all the same.
        recorded.depends_on(str(catalog.path), str(catalog.plugin_state_path))
        kept.store("plugins", options, rows, recorded)
    return rows


def _row(info: PluginInfo) -> dict[str, Any]:
    """What ``plugins list`` shows of ``info``, as plain data (kept on disk as it is)."""
    disabled = []
    for record in info.disabled:
        whom = "every tenant" if record.tenant is None else record.tenant
        disabled.append(record.describe().replace("disabled", f"disabled for {whom}", 1))
    return {
        "json": info.to_dict(),
        "name": info.name,
        "kind": info.kind,
        "location": info.location,
        "status": info.status,
        "disabled": disabled,
        "error": info.error,
        "hooks": hook_summary(info.hooks),
        "tenants": list(info.tenants),
    }


def _status(row: dict[str, Any], status: Any) -> Any:
    """The load status, and below it each disabling at run time: ``disabled for c1 (by
    cli (ada), 'flaky', 2024-05-01T10:00:00Z)``."""
    shown = status(row["status"])
    for line in row["disabled"]:
        shown.append(f"\n{line}")
    return shown


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


# -- changing plugins at run time -------------------------------------------------------------

ReasonOption = Annotated[
    str, typer.Option("--reason", metavar="TEXT", help="Why, for the state file and audit log.")
]
PluginName = Annotated[
    str, typer.Argument(help="The plugin name.", autocompletion=complete.plugins)
]


def _actor() -> str:
    from ..execution._plugin_state import os_user

    return f"cli ({os_user()})"


def _report(current: Session, done: PluginChange, as_json: bool) -> None:
    catalog = current.catalog
    if as_json:
        current.json(
            {
                "change": done.to_dict(),
                "state_file": str(catalog.plugin_state_path),
                "audit_log": str(catalog.plugin_audit_path),
            }
        )
        return
    from rich.text import Text

    whom = f"for tenant {done.tenant}" if done.tenant is not None else "for every tenant"
    verb = {"disable": "disabled", "enable": "enabled", "reload": "reloaded"}[done.action]
    if done.action == "reload":
        whom = "(its new code imports, and its tenants build and start)"
    if done.outcome == "unchanged":
        current.out.print(Text(f"plugin {done.plugin} is {verb} {whom} already; nothing changed"))
        return
    current.out.print(Text(f"{verb} plugin {done.plugin} {whom}", style="bold"))
    current.out.print(Text(f"tenants built anew: {', '.join(done.rebuilt) or 'none'}"))
    if done.action != "reload":
        current.out.print(Text(f"kept in {catalog.plugin_state_path}"))
    current.err.print(
        Text(
            "a running server applies this at its next reload (POST /v1/admin/reload); "
            f"or make the change there: see `catalog plugins {done.action} --help`",
            style="dim",
        )
    )


@app.command("disable")
def disable_plugin(
    ctx: typer.Context,
    name: PluginName,
    customer: Annotated[
        str | None, customer_option("Only for this tenant (default: every tenant).")
    ] = None,
    reason: ReasonOption = "",
    as_json: Annotated[bool, json_option("Print the change as JSON.")] = False,
) -> None:
    """Stop running a plugin for one tenant or every tenant that selects it, until it is
    enabled again (kept in the state file next to the catalog, across restarts).

    Refused, changing nothing, for a built-in, a plugin another plugin the tenant runs
    depends on, or a tenant that would then fail. A running server applies it at its next
    reload; PUT /v1/admin/plugins/NAME/disabled makes the change in the server itself.
    """
    current = session(ctx, as_json=as_json)
    done = current.catalog.disable_plugin(name, customer=customer, reason=reason, actor=_actor())
    _report(current, done, as_json)


@app.command("enable")
def enable_plugin(
    ctx: typer.Context,
    name: PluginName,
    customer: Annotated[
        str | None,
        customer_option("Only for this tenant (default: every tenant; all its disablings)."),
    ] = None,
    reason: ReasonOption = "",
    as_json: Annotated[bool, json_option("Print the change as JSON.")] = False,
) -> None:
    """Run a disabled plugin again, for one tenant or (removing every disabling of it) for
    every tenant that selects it. DELETE /v1/admin/plugins/NAME/disabled does it in a
    running server."""
    current = session(ctx, as_json=as_json)
    done = current.catalog.enable_plugin(name, customer=customer, reason=reason, actor=_actor())
    _report(current, done, as_json)


@app.command("reload")
def reload_plugin(
    ctx: typer.Context,
    name: PluginName,
    reason: ReasonOption = "",
    as_json: Annotated[bool, json_option("Print the change as JSON.")] = False,
) -> None:
    """Check a plugin's new code: import it afresh and build and start the tenants that run
    it, as a running server's POST /v1/admin/plugins/NAME/reload does (there only those
    tenants are built anew). Refused if it does not import or a tenant would fail."""
    current = session(ctx, as_json=as_json)
    done = current.catalog.reload_plugin(name, reason=reason, actor=_actor())
    _report(current, done, as_json)
