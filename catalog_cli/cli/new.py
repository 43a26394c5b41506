"""``catalog new``: add an interface, a version or a customer plugin to the catalog in use."""

from __future__ import annotations

from typing import Annotated

import typer

from . import _complete as complete
from ._group import Group
from ._session import JsonOption, session
from .init import show_created

app = typer.Typer(
    cls=Group,
    help="Add an interface, a version or a plugin: files that pass `catalog check`.",
    no_args_is_help=True,
)


@app.command("interface")
def new_interface(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The new interface's name, e.g. invoice.")],
    as_json: JsonOption = False,
) -> None:
    """Declare interface NAME (version 1 with a plugin point) in hookspecs/NAME.py and
    implement it in builtin_plugins/NAME.py."""
    from ..authoring import new_interface as write

    current = session(ctx, as_json=as_json)
    show_created(current, write(current.catalog.registry, name), as_json=as_json)


@app.command("version")
def new_version(
    ctx: typer.Context,
    interface: Annotated[
        str,
        typer.Argument(
            help="The interface to add a version to.", autocompletion=complete.interfaces
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Add the next version of INTERFACE: a copy of its latest version (declaration, plugin
    points, built-in implementation) in files of its own, to change."""
    from ..authoring import new_version as write

    current = session(ctx, as_json=as_json)
    show_created(current, write(current.catalog.registry, interface), as_json=as_json)


@app.command("plugin")
def new_plugin(
    ctx: typer.Context,
    customer: Annotated[
        str,
        typer.Argument(
            help="The customer folder (plugins/CUSTOMER/), usually the tenant id.",
            autocompletion=complete.tenants,
        ),
    ],
    interface: Annotated[
        str,
        typer.Argument(
            help="The interface it adds behaviour to.", autocompletion=complete.interfaces
        ),
    ],
    version: Annotated[
        int | None,
        typer.Option("--version", "-V", min=1, help="The version (default: the latest)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Write plugins/CUSTOMER/INTERFACE.py implementing every plugin point of the version,
    adding nothing yet, and say how to select it."""
    from ..authoring import new_plugin as write

    current = session(ctx, as_json=as_json)
    created = write(current.catalog.registry, customer, interface, version)
    show_created(current, created, as_json=as_json)
