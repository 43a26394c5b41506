"""``catalog init``: a new catalog that works at once."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._session import JsonOption, Session, session

if TYPE_CHECKING:
    from ..authoring import Created


def init(
    ctx: typer.Context,
    folder: Annotated[
        Path,
        typer.Argument(help="The folder of the new catalog (created if missing).", metavar="DIR"),
    ] = Path("."),
    description: Annotated[
        str, typer.Option("--description", help="The catalog's description in catalog.toml.")
    ] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a working catalog in DIR: catalog.toml, an interface with two versions and a
    plugin point, its built-in, two tenants (one with a customer plugin), tests and a README.
    Nothing existing is overwritten."""
    from ..authoring import init_catalog

    current = session(ctx, as_json=as_json)
    created = init_catalog(folder, description=description)
    show_created(current, created, as_json=as_json)


def show_created(current: Session, created: Created, *, as_json: bool) -> None:
    """Print what a scaffolding command wrote and the next steps."""
    from ._render import short_path

    if as_json:
        current.json(created.to_dict())
        return
    from rich.text import Text

    out = current.out
    out.print(Text("created:", style="bold"))
    for path in created.files:
        out.print(Text(f"  {short_path(str(path))}"), soft_wrap=True)
    out.print(Text("next:", style="bold"))
    for number, step in enumerate(created.next, 1):
        out.print(Text(f"  {number}. {step}"), soft_wrap=True)
