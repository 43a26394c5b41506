"""``catalog interfaces``: the methods, their versions, parameters and plugin points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import _complete as complete
from ._group import Group
from ._session import JsonOption, session

if TYPE_CHECKING:
    from ..declarations import PluginPoint, VersionChange

app = typer.Typer(
    cls=Group,
    help="List and describe interfaces (methods) and their versions.",
    no_args_is_help=True,
)


def _pins(ctx: typer.Context, name: str) -> dict[int, list[dict[str, str]]]:
    users = session(ctx).catalog.version_users(name)
    return {n: [{"tenant": t, "source": s} for t, s in found] for n, found in users.items()}


def _signature(point: PluginPoint) -> str:
    params = ", ".join(f"{a.name}: {a.annotation}" for a in point.parameters)
    return f"{point.hook}(ctx, {params}) -> {point.returns}"


@app.command("list")
def list_interfaces(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List every interface with its versions and the catalog's default version."""
    current = session(ctx, as_json=as_json)
    catalog = current.catalog
    rows: list[dict[str, Any]] = []
    for interface in catalog.interfaces():
        rows.append(
            {
                "name": interface.name,
                "summary": interface.summary,
                "versions": list(interface.versions),
                "latest": interface.latest,
                "default": catalog.default_version(interface.name),
                "deprecated": [v.number for v in interface.versions.values() if v.deprecated],
            }
        )
    if as_json:
        current.json(rows)
        return
    from ._render import table

    current.out.print(
        table(
            "Interfaces",
            ("interface", "versions", "default", "summary"),
            (
                (
                    r["name"],
                    ", ".join(
                        f"v{v}" + (" (deprecated)" if v in r["deprecated"] else "")
                        for v in r["versions"]
                    ),
                    f"v{r['default']}",
                    r["summary"],
                )
                for r in rows
            ),
        )
    )


@app.command("show")
def show_interface(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The interface name.", autocompletion=complete.interfaces)
    ],
    as_json: JsonOption = False,
) -> None:
    """Describe every version: parameters, plugin points and which tenants run it."""
    current = session(ctx, as_json=as_json)
    interface = current.catalog.interface(name)
    pins = _pins(ctx, name)
    if as_json:
        data = interface.to_dict()
        for version in data["versions"]:
            version["tenants"] = pins.get(version["version"], [])
        current.json(data)
        return
    from rich.text import Text

    from ._render import table

    out = current.out
    out.print(Text(f"{interface.name}", style="bold"), Text(f"— {interface.summary}"))
    for version in interface.versions.values():
        latest = " (latest)" if version.number == interface.latest else ""
        out.print()
        out.print(
            Text(
                f"v{version.number}{latest}  hook {version.hook} -> {version.returns}",
                style="bold cyan",
            )
        )
        out.print(Text(version.doc))
        if version.deprecated is not None:
            until = f" Sunset: {version.sunset}." if version.sunset else ""
            out.print(Text(f"Deprecated: {version.deprecated}.{until}", style="yellow"))
        if version.served_by is not None:
            out.print(Text(_served(version.served_by), style="magenta"))
        if version.idempotent:
            out.print(Text("Idempotent: a call may run twice; failed background jobs are retried"))
        out.print(
            table(
                "Parameters",
                ("name", "type", "default"),
                (
                    (p.name, p.annotation, "required" if p.required else repr(p.default))
                    for p in version.parameters
                ),
            )
        )
        if version.points:
            out.print(
                table(
                    "Plugin points",
                    ("point", "policy", "signature", "contract"),
                    (
                        (
                            p.name,
                            p.policy,
                            _signature(p),
                            p.doc,
                        )
                        for p in version.points.values()
                    ),
                )
            )
        else:
            out.print(Text("No plugin points.", style="dim"))
        users = pins.get(version.number, [])
        who = ", ".join(f"{u['tenant']} ({u['source']})" for u in users) or "none"
        out.print(Text(f"Tenants on v{version.number}: {who}"))


def _served(change: VersionChange) -> str:
    mapped = ", ".join(f"{old} -> {new}" for old, new in change.points.items()) or "none"
    return (
        f"Served by v{change.target}'s code through version change {change.name} "
        f"(plugin points: {mapped})"
    )


#: How each effect of a change is marked for people.
_MARKS = {"additive": "+", "breaking": "!", "compatible": "~"}


@app.command("changelog")
def changelog(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="The interface name.", autocompletion=complete.interfaces)
    ],
    as_json: JsonOption = False,
) -> None:
    """The history of an interface: each version, what changed from the version before, and
    which versions newer code serves (and how)."""
    from ..declarations._changelog import changelog as history

    current = session(ctx, as_json=as_json)
    interface = current.catalog.interface(name)
    entries = history(interface)
    if as_json:
        current.json({"interface": interface.name, "versions": [e.to_dict() for e in entries]})
        return
    from rich.text import Text

    out = current.out
    out.print(Text(f"{interface.name}", style="bold"), Text(f"— {interface.summary}"))
    for entry in entries:
        out.print()
        out.print(Text(f"v{entry.version}  {entry.summary}", style="bold cyan"))
        if entry.deprecated is not None:
            until = f" Sunset: {entry.deprecated['sunset']}." if entry.deprecated["sunset"] else ""
            out.print(Text(f"  Deprecated: {entry.deprecated['message']}.{until}", style="yellow"))
        if entry.served_by is not None:
            out.print(Text(f"  {_served(entry.served_by)}", style="magenta"))
            if entry.served_by.description:
                out.print(Text(f"    {' '.join(entry.served_by.description.split())}"))
        if entry.changes:
            out.print(Text(f"  Changes from v{entry.version - 1}:"))
        for change in entry.changes:
            where = change.where.removeprefix(interface.name).strip() or "the method"
            detail = f": {change.detail}" if change.detail else ""
            mark = _MARKS.get(change.effect, "~")
            out.print(Text(f"    {mark} {change.kind} ({where}){detail}"))
