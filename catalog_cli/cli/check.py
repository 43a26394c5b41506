"""``catalog check``: validate the catalog and every selected plugin without running anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from . import _exits as exits
from ._contract import Verdict, show_changes, verdict
from ._exits import exit_code
from ._session import Session, json_object, json_option, session

if TYPE_CHECKING:
    from ..errors import CatalogError

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
    as_json: Annotated[bool, json_option("Print the report as JSON.")] = False,
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
    against: Annotated[
        str | None,
        typer.Option(
            "--against",
            metavar="REV",
            help="Compare the declarations with those at this git revision (a branch, tag or "
            "commit) instead of catalog.lock; a breaking change exits 15.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Load the catalog, every tenant and every selected plugin; report all problems (broken
    plugin files no tenant selects too, without failing any tenant). With a catalog.lock, or
    --against REV, also compare the declarations with the contract recorded there.

    Exit 0 when clean, 15 when a locked interface version changed in a breaking way, 10 when a
    tenant or plugin has a problem, or the error's own code when the catalog itself cannot
    load.
    """
    from ..errors import CatalogError

    current = session(ctx, as_json=as_json)
    if settings is not None and plugin is None:
        raise typer.BadParameter("--settings goes with --plugin", param_hint="--settings")
    if jobs is not None and plugin is not None:
        raise typer.BadParameter("--jobs checks tenants, not a --plugin", param_hint="--jobs")
    if against is not None and plugin is not None:
        raise typer.BadParameter(
            "--against compares the declarations, not a --plugin", param_hint="--against"
        )
    if plugin is not None:
        _check_plugin(current, plugin, settings, as_json=as_json)
        return
    try:
        catalog = current.catalog
    except CatalogError as exc:
        # A breaking change often breaks the catalog too (a built-in annotated for the old
        # type no longer fits): the change is what to tell first, so it is looked for anyway.
        broken = _contract_of_declarations(current, against)
        if broken is None or not broken.breaking:
            broken = None
            if not as_json:
                raise
        _failed(current, exc, broken, as_json=as_json)
    try:
        contract = verdict(current.locate()[0], catalog.registry.interfaces, against)
    except CatalogError as exc:
        if not as_json:
            raise
        _failed(current, exc, None, as_json=as_json)
    report = catalog.check(jobs=jobs)
    if as_json:
        data = report.to_dict()
        data["contract"] = None if contract is None else contract.to_dict()
        if contract is not None and contract.breaking:
            data["ok"] = False
        current.json(data)
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
        problems = [f"[{problem.kind}] {problem.message}" for problem in report.problems]
        if contract is not None:
            _show_contract(current, contract)
            problems += [f"[contract] {change.describe()}" for change in contract.breaking]
        _verdict(current, problems)
    if contract is not None and contract.breaking:
        raise typer.Exit(exits.CONTRACT_BROKEN)
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEMS)


def _contract_of_declarations(current: Session, against: str | None) -> Verdict | None:
    """The contract verdict from the declarations alone, when the whole catalog does not load
    (None when they do not load either, or there is nothing to compare with)."""
    from ..config import read_config
    from ..errors import CatalogError
    from ..registry._declared import declared_interfaces

    path = current.locate()[0]
    try:
        return verdict(path, declared_interfaces(read_config(path)), against)
    except CatalogError:
        return None


def _failed(
    current: Session, exc: CatalogError, contract: Verdict | None, *, as_json: bool
) -> NoReturn:
    """Report ``exc`` (and a broken ``contract``) and exit: 15 for the contract, else the
    error's own code."""
    code = exits.CONTRACT_BROKEN if contract is not None else exit_code(exc)
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
                "contract": None if contract is None else contract.to_dict(),
            }
        )
        raise typer.Exit(code)
    assert contract is not None
    from rich.markup import escape

    _show_contract(current, contract)
    _verdict(current, [f"[contract] {change.describe()}" for change in contract.breaking])
    current.err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
    raise typer.Exit(code)


def _show_contract(current: Session, contract: Verdict) -> None:
    """The changes since the lock (or revision), and whether the lock needs updating."""
    from rich.text import Text

    from ._render import short_path

    against = (
        f"revision {contract.revision}" if contract.lock is None else short_path(str(contract.lock))
    )
    if not contract.changes:
        current.out.print(Text(f"Contract: as {against} records it"))
        return
    show_changes(current, contract.changes, f"Contract changes since {against}")
    if contract.lock is not None and not contract.breaking and not contract.up_to_date:
        current.out.print(
            Text(f"{against} does not record these changes yet: run `catalog lock`"),
            soft_wrap=True,
        )


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
