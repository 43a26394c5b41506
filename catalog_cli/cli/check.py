"""``catalog check``: validate the catalog and every selected plugin without running anything."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _exits as exits
from ._exits import exit_code
from ._session import Session, json_object, session

#: Exit code when the catalog loads but a tenant or plugin has a problem.
EXIT_PROBLEMS = exits.PROBLEMS


def check(
    ctx: typer.Context,
    plugin: Annotated[
        str | None,
        typer.Option(
            "--plugin",
            metavar="NAME|PATH",
            help="Check only this plugin (by name, or the path of its file), also one no "
            "tenant selects yet: hooks, annotations, metadata, settings, lifecycle hooks.",
            show_default=False,
        ),
    ] = None,
    settings: Annotated[
        str | None,
        typer.Option(
            "--settings",
            metavar="JSON",
            help="With --plugin: the settings to check it with, as a tenant would give them "
            "(a JSON object, - for stdin, or @FILE).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            metavar="N",
            min=1,
            help="Build and start the tenants in N worker processes (1: in this process); "
            "the report is the same. Default: one per CPU (at most 8) for a catalog of "
            "thousands of tenants, else in this process.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Load the catalog, every tenant and every selected plugin; report all problems (broken
    plugin files no tenant selects too, without failing any tenant).

    Exit 0 when clean, 10 when a tenant or plugin has a problem, or the error's own code when
    the catalog itself cannot load.
    """
    from ..errors import CatalogError

    current = session(ctx, as_json=as_json)
    if settings is not None and plugin is None:
        raise typer.BadParameter("--settings goes with --plugin", param_hint="--settings")
    if jobs is not None and plugin is not None:
        raise typer.BadParameter("--jobs checks tenants, not a --plugin", param_hint="--jobs")
    if plugin is not None:
        _check_plugin(current, plugin, settings, as_json=as_json)
        return
    try:
        catalog = current.catalog
    except CatalogError as exc:
        if as_json:
            current.json(
                {
                    "catalog": str(getattr(exc, "path", None) or current.catalog_path or ""),
                    "ok": False,
                    "problems": [
                        {
                            "kind": type(exc).__name__,
                            "message": str(exc),
                            "tenant": None,
                            "plugin": None,
                        }
                    ],
                }
            )
            raise typer.Exit(exit_code(exc)) from None
        raise
    report = catalog.check(jobs=jobs)
    if as_json:
        current.json(report.to_dict())
    else:
        from rich.text import Text

        from ._render import status, table

        out = current.out
        out.print(Text(f"catalog {report.catalog}", style="bold"))
        out.print(
            table(
                "Tenants",
                ("tenant", "status", "plugins"),
                ((t.id, status(t.status), ", ".join(t.plugins) or "-") for t in report.tenants),
            )
        )
        out.print(
            table(
                "Plugins",
                ("plugin", "status", "tenants"),
                ((p.name, status(p.status), ", ".join(p.tenants) or "-") for p in report.plugins),
            )
        )
        _verdict(current, [f"[{problem.kind}] {problem.message}" for problem in report.problems])
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def _verdict(current: Session, problems: list[str]) -> None:
    """OK on stdout, or every problem on stderr."""
    from rich.text import Text

    if not problems:
        current.out.print(Text("OK: no problems found.", style="green"))
        return
    current.err.print(Text(f"{len(problems)} problem(s):", style="bold red"))
    for problem in problems:
        current.err.print(Text(f"- {problem}"), soft_wrap=True)


def _check_plugin(current: Session, plugin: str, settings: str | None, *, as_json: bool) -> None:
    given = json_object(settings, "--settings") if settings is not None else {}
    report = current.catalog.check_plugin(plugin, settings=given)
    if as_json:
        current.json(report.to_dict())
    else:
        from rich.text import Text

        current.out.print(Text(f"plugin {report.plugin} ({report.source})", style="bold"))
        _verdict(current, list(report.problems))
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)
