"""``catalog tenants``: what runs for each customer, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from . import _complete as complete
from ._group import Group
from ._session import JsonOption, dumps, session

if TYPE_CHECKING:
    from ..config import Canary
    from ..execution._catalog import Catalog
    from ..registry._rollout import CanaryStatus
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
    if info.isolation is not None:
        for line in _isolation_lines(info.isolation):
            out.print(Text(line, style="blue"))
    for choice in info.versions:
        steps = plans.get(choice.interface, ())
        out.print()
        awaited = (
            "  · async (some of what runs is async def)"
            if (choice.interface in info.runs_async)
            else ""
        )
        out.print(
            Text(
                f"{choice.interface} v{choice.version}  (version from: {choice.source}){awaited}",
                style="bold cyan",
            )
        )
        canary = info.canaries.get(choice.interface)
        if canary is not None:
            for line, style in _canary_lines(
                info.id, choice.interface, canary, info.rollouts.get(choice.interface)
            ):
                out.print(Text(line, style=style))
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


def _isolation_lines(pool: dict[str, Any]) -> list[str]:
    """What ``tenants show`` says of the tenant's worker pool of isolated plugins."""
    limits = pool["limits"]
    workers = ", ".join(map(str, pool["workers"])) or "none"
    lines = [
        f"isolated in worker processes: {', '.join(pool['plugins'])}",
        f"  workers: {len(pool['workers'])} of {limits['workers']} up (pids {workers}), "
        f"{pool['busy']} busy; {pool['calls']} calls answered, {pool['raised']} raised",
        f"  limits: memory {limits['memory_mib']} MiB, CPU {limits['cpu_seconds']} s per call, "
        f"wall-clock {limits['wall_seconds']:g} s per call, {limits['open_files']} open files, "
        "no child processes",
    ]
    restarts = ", ".join(f"{count} {why}" for why, count in sorted(pool["restarts"].items()))
    last = pool["last_restart"]
    lines.append(
        f"  restarts: {pool['restarts_total']}"
        + (f" ({restarts}); last: {last['reason']}" if last is not None else "")
    )
    return lines


def _share(share: float) -> str:
    """A share as people read it: 10%, 0.5%, 100%."""
    text = f"{share * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _canary_lines(
    tenant: str, interface: str, canary: Canary, status: CanaryStatus | None
) -> list[tuple[str, str]]:
    """What ``tenants show`` says of a canary: its split, ramp and rule, whether it is rolled
    back (and why), and what its candidate's calls did in this process."""
    from ..config._canary import iso_time

    by = f"by argument {canary.key!r}, sticky" if canary.key else "by chance, per call"
    version = f"v{canary.version}"
    if canary.ramp:
        share = status.planned if status is not None else 0.0
        upcoming = status.next_step if status is not None else None
        then = f", {_share(upcoming.share)} from {upcoming.when}" if upcoming else ""
        amount = f"{_share(share)} of calls now{then}"
    else:
        assert canary.share is not None
        amount = f"{_share(canary.share)} of calls"
    if canary.mode == "shadow":
        head = f"shadow canary: {version} also runs for {amount}, compared, never answering ({by})"
    else:
        head = f"canary: {version} for {amount} ({by})"
    lines = [(head, "magenta")]
    if canary.ramp:
        steps = ", ".join(f"{_share(step.share)} from {step.when}" for step in canary.ramp)
        lines.append((f"ramp: {steps}", "magenta"))
    rule = canary.rollback
    if rule is not None:
        rates = [
            f"above {_share(threshold)} {what}"
            for threshold, what in ((rule.error_rate, "errors"), (rule.mismatch_rate, "mismatches"))
            if threshold is not None
        ]
        lines.append(
            (
                f"rollback: {' or '.join(rates)} over the candidate's last {rule.window} calls "
                f"(judged from {rule.min_calls})",
                "magenta",
            )
        )
    if status is None:
        return lines
    rolled_back = status.rolled_back
    if rolled_back is not None:
        lines.append(
            (
                f"ROLLED BACK at {iso_time(rolled_back.at)}: {rolled_back.reason} "
                f"[call {rolled_back.call_id}]; to resume: catalog tenants reset-canary "
                f"{tenant} {interface}",
                "bold red",
            )
        )
    counts = status.counts
    seen: tuple[str, ...] = ("ok", "error")
    if canary.mode == "shadow":
        seen = ("matched", "mismatched", "failed", "timed_out", "skipped")
    if any(counts.get(name) for name in seen):
        told = ", ".join(f"{counts.get(name, 0)} {name.replace('_', ' ')}" for name in seen)
        lines.append((f"candidate's calls in this process: {told}", "magenta"))
    return lines


@app.command("reset-canary")
def reset_canary(
    ctx: typer.Context,
    tenant: Annotated[
        str, typer.Argument(help="The tenant (customer) id.", autocompletion=complete.tenants)
    ],
    interface: Annotated[
        str, typer.Argument(help="The interface of its canary.", autocompletion=complete.interfaces)
    ],
    as_json: JsonOption = False,
) -> None:
    """Undo a canary's rollback: its candidate version gets its share again, in every process
    of the catalog (within a second), judged afresh by its rule."""
    from ..config._canary import iso_time

    current = session(ctx, as_json=as_json)
    undone = current.catalog.reset_canary(interface, customer=tenant)
    if as_json:
        current.json(
            {
                "tenant": tenant,
                "interface": interface,
                "reset": undone is not None,
                "rollback": undone.to_dict() if undone is not None else None,
            }
        )
        return
    if undone is None:
        current.out.print(f"tenant {tenant!r}'s canary of {interface} was not rolled back")
        return
    current.out.print(
        f"tenant {tenant!r}'s canary of {interface}: v{undone.version} gets its share again "
        f"(rolled back at {iso_time(undone.at)}: {undone.reason})"
    )
