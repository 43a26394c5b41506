"""``catalog docs``: the hook reference of the catalog in use, for plugin authors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ._session import session


def docs(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Write index.md and one page per interface into DIR (default: print one "
            "Markdown document).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Generate the hook reference (Markdown) from the catalog's declarations: every
    interface, version, entry point and plugin point with signature, policy and docstring,
    and the hooks every catalog has."""
    from ..authoring._reference import reference, single_page

    current = session(ctx)
    catalog = current.catalog
    interfaces = catalog.registry.interfaces
    title = catalog.config.description or ""
    if out is None:
        sys.stdout.write(single_page(interfaces, title=title))
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, text in reference(interfaces, title=title).items():
        (out / name).write_text(text, encoding="utf-8")
        current.err.print(f"wrote {out / name}", highlight=False, soft_wrap=True)
