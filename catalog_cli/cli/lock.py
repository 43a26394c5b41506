"""``catalog lock``: record the published contract of every interface version in catalog.lock."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import _exits as exits
from ._session import JsonOption, Session, session

if TYPE_CHECKING:
    from ..declarations._compat import ContractChange


def lock(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 0 if the lock records exactly what is declared, 15 if "
            "the declarations break it, 16 if it is missing or out of date.",
        ),
    ] = False,
    allow_breaking: Annotated[
        bool,
        typer.Option(
            "--allow-breaking",
            help="Record breaking changes too (a version removed on purpose, say), instead of "
            "refusing with exit 15.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Write catalog.lock next to the catalog file: every interface version's parameters,
    return type, plugin points and deprecation, which `catalog check` then holds the
    declarations to. Only the declarations are imported: no built-in, no plugin.

    Breaking changes to what the lock records are refused (exit 15, nothing written) unless
    --allow-breaking; new versions, interfaces, optional parameters and plugin points are
    recorded. A lock that is up to date is left untouched.
    """
    from ..config import read_config
    from ..declarations._compat import compare
    from ..declarations._lock import contract, render
    from ..registry._declared import declared_interfaces
    from ._contract import lock_path, read_lock, write_lock

    current = session(ctx, as_json=as_json)
    if check and allow_breaking:
        raise typer.BadParameter(
            "--check writes nothing, so it has nothing to allow", param_hint="--allow-breaking"
        )
    catalog = current.locate()[0]
    # Afresh: in a process that ran other commands before (tests, embedding), the files may
    # have changed since.
    snapshot = contract(declared_interfaces(read_config(catalog), fresh=True).values())
    text = render(snapshot)
    path = lock_path(catalog)
    found = read_lock(path)
    changes = compare(found[1], snapshot) if found is not None else []
    breaking = [change for change in changes if change.breaking]
    up_to_date = found is not None and found[0] == text
    refused = bool(breaking) and not allow_breaking
    written = not check and not refused and not up_to_date
    if written:
        write_lock(path, text)
    if check:
        code = exits.OK if up_to_date else exits.CONTRACT_BROKEN if breaking else exits.LOCK_STALE
    else:
        code = exits.CONTRACT_BROKEN if refused else exits.OK
    versions = sum(len(i["versions"]) for i in snapshot["interfaces"].values())
    if as_json:
        current.json(
            {
                "lock": str(path),
                "existed": found is not None,
                "up_to_date": up_to_date,
                "written": written,
                "interfaces": len(snapshot["interfaces"]),
                "versions": versions,
                "breaking": len(breaking),
                "changes": [change.to_dict() for change in changes],
            }
        )
    else:
        _show(current, path, found is not None, up_to_date, written, check, changes, versions)
    if code != exits.OK:
        raise typer.Exit(code)


def _show(
    current: Session,
    path: Path,
    existed: bool,
    up_to_date: bool,
    written: bool,
    check: bool,
    changes: list[ContractChange],
    versions: int,
) -> None:
    from rich.text import Text

    from ._contract import show_changes
    from ._render import short_path

    shown = short_path(str(path))
    if changes:
        show_changes(current, changes, f"Changes since {shown}")
    breaking = sum(1 for change in changes if change.breaking)
    if up_to_date:
        current.out.print(Text(f"{shown} is up to date ({versions} versions)", style="green"))
    elif written:
        verb = "updated" if existed else "wrote"
        current.out.print(Text(f"{verb} {shown} ({versions} versions)", style="green"))
    elif breaking and not check:
        current.err.print(
            Text(
                f"{breaking} breaking change(s) to what {shown} records: nothing written. Keep "
                "the locked versions as they were (add a version instead), or record them "
                "anyway with --allow-breaking",
                style="bold red",
            ),
            soft_wrap=True,
        )
    elif breaking:
        current.err.print(
            Text(f"{breaking} breaking change(s) to what {shown} records", style="bold red"),
            soft_wrap=True,
        )
    elif not existed:
        current.err.print(Text(f"no lock: {shown} does not exist; run `catalog lock`"))
    else:
        what = "changes it does not record" if changes else "a form it no longer has"
        current.err.print(
            Text(f"{shown} is out of date ({what}); run `catalog lock`", style="yellow"),
            soft_wrap=True,
        )
