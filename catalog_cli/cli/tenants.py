"""``catalog tenants``: what runs for each customer, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import _complete as complete
from ._group import Group
from ._session import JsonOption, dumps, session

if TYPE_CHECKING:
    from ..execution._catalog import Catalog
    from ..runtime import StepPlan

app = typer.Typer(
    cls=Group, help="List tenants (customers) and show what runs for one.", no_args_is_help=True
)


def _errors(catalog: Catalog, tenant: str, interface: str, step: StepPlan) -> str | None:
    """The effective error policy of a plugin point for the tenant (None for an entry point).
    The point's own version: a served version's call runs a newer version's points."""
    if step.point is None:
        return None
    version = catalog.registry.hooks[step.hook].version
    return catalog.error_policy(interface, step.point, customer=tenant, version=version)


@app.command("list")
def list_tenants(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List tenants with their status, plugins and resolved versions."""
    current = session(ctx, as_json=as_json)
    infos = current.catalog.tenants()
    if as_json:
        current.json([info.to_dict() for info in infos])
        return
    from ._render import status, table

    current.out.print(
        table(
            "Tenants",
            ("tenant", "description", "status", "plugins", "versions"),
            (
                (
                    info.id,
                    info.description,
                    status(info.status),
                    "\n".join(info.plugins) or "-",
                    "\n".join(f"{v.interface} v{v.version} ({v.source})" for v in info.versions),
                )
                for info in infos
            ),
        )
    )


@app.command("show")
def show_tenant(
    ctx: typer.Context,
    tenant: Annotated[
        str, typer.Argument(help="The tenant (customer) id.", autocompletion=complete.tenants)
    ],
    as_json: JsonOption = False,
) -> None:
    """Show, per interface, the version a tenant runs (and why) and who runs at each step."""
    current = session(ctx, as_json=as_json)
    catalog = current.catalog
    info = catalog.tenant(tenant)
    plans: dict[str, Any] = {}
    if info.status == "ok":
        for choice in info.versions:
            plans[choice.interface] = catalog.call_plan(choice.interface, customer=tenant)
    if as_json:
        data = info.to_dict()
        data["plans"] = {
            name: [
                {**step.to_dict(), "errors": _errors(catalog, tenant, name, step)} for step in steps
            ]
            for name, steps in plans.items()
        }
        current.json(data)
        return
    from rich.text import Text

    from ._render import status, table

    out = current.out
    out.print(Text(f"{info.id}", style="bold"), Text(f"— {info.description}"), status(info.status))
    if info.error:
        out.print(Text(info.error, style="red"))
    out.print(Text("plugins (call order): " + (", ".join(info.plugins) or "none")))
    for record in info.disabled:
        out.print(Text(f"{record.plugin}: {record.describe()}", style="yellow"))
    if info.interceptors:
        wrap = " → ".join(f"{use.name} ({use.order})" for use in info.interceptors)
        out.print(Text(f"interceptors (outermost first): {wrap}"))
    for choice in info.versions:
        steps = plans.get(choice.interface, ())
        out.print()
        out.print(
            Text(
                f"{choice.interface} v{choice.version}  (version from: {choice.source})",
                style="bold cyan",
            )
        )
        canary = info.canaries.get(choice.interface)
        if canary is not None:
            by = f"by argument {canary.key!r}, sticky" if canary.key else "by chance, per call"
            out.print(
                Text(
                    f"canary: v{canary.version} for {canary.share:.0%} of calls ({by})",
                    style="magenta",
                )
            )
        around = [use.name for use in info.interceptors if use.applies(choice.interface)]
        if info.interceptors:
            out.print(Text(f"interceptors: {' → '.join(around) or 'none'}", style="magenta"))
        declared = catalog.interface(choice.interface).versions[choice.version]
        if declared.deprecated is not None:
            until = f", sunset {declared.sunset}" if declared.sunset else ""
            out.print(Text(f"deprecated{until}: {declared.deprecated}", style="yellow"))
        if steps:
            out.print(
                table(
                    None,
                    (
                        "step",
                        "policy",
                        "wrappers (outermost first)",
                        "implementations (call order)",
                    ),
                    (
                        (
                            step.point or "entry point",
                            step.policy
                            + (
                                ", isolate errors"
                                if _errors(catalog, tenant, choice.interface, step) == "isolate"
                                else ""
                            ),
                            ", ".join(step.wrappers) or "-",
                            ", ".join(step.implementations) or "-",
                        )
                        for step in steps
                    ),
                )
            )
    if info.settings:
        out.print()
        out.print(
            table(
                "Settings",
                ("plugin", "key", "value"),
                (
                    (plugin, key, dumps(value))
                    for plugin, values in info.settings.items()
                    for key, value in values.items()
                ),
            )
        )
