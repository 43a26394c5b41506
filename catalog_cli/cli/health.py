"""``catalog health``: run the plugins' health checks, per tenant."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _exits as exits
from ._options import customer_option
from ._session import JsonOption, session

#: Exit code when any check reports unhealthy (or a tenant fails closed).
EXIT_UNHEALTHY = exits.UNHEALTHY


def health(
    ctx: typer.Context,
    customer: Annotated[str | None, customer_option("Only this tenant's plugins.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run every plugin's health check for each tenant (a timeout or exception is unhealthy).

    Exit 0 when nothing is unhealthy (degraded is reported, not failed), else 11.
    """
    current = session(ctx, as_json=as_json)
    results = current.catalog.health(customer=customer)
    unhealthy = any(r.status == "unhealthy" for r in results)
    if as_json:
        current.json({"ok": not unhealthy, "checks": [r.to_dict() for r in results]})
    else:
        from ._render import status, table

        current.out.print(
            table(
                "Health",
                ("tenant", "plugin", "status", "details", "ms"),
                (
                    (
                        r.tenant,
                        r.plugin,
                        status(r.status),
                        r.details,
                        f"{r.seconds * 1000:.1f}" if r.checked else "-",
                    )
                    for r in results
                ),
                names=2,
            )
        )
    if unhealthy:
        raise typer.Exit(EXIT_UNHEALTHY)
