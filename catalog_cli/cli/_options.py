"""Options that several commands take with one meaning, declared once so that their flags,
metavar, bounds and validation cannot drift apart between the commands.

Each factory returns the ``typer.Option`` for an ``Annotated[...]`` parameter. Where commands
describe an option differently on purpose, the factory takes the help text; ``run`` takes
``--workers`` and ``--dask`` for its ``--batch`` only, and its help says so first.

Every command module imports this at start-up: nothing heavy here.
"""

from __future__ import annotations

import math
import os
from typing import Any

import typer

from . import _complete as complete

_WORKERS_HELP = (
    "worker processes (default: one per CPU; 0: in this process), or the size of --dask local."
)
_DASK_HELP = (
    "run on the Dask scheduler at ADDRESS, or on a Dask cluster started for the run ('local'); "
    "default $CATALOG_DASK. Needs the dask extra."
)


def _positive_seconds(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and 0 < value <= 86400):
        raise typer.BadParameter(f"expected seconds above 0 and at most 86400, got {value}")
    return value


def _help(text: str, only_with: str | None) -> str:
    return f"With {only_with}: {text}" if only_with else text[0].upper() + text[1:]


def customer_option(help: str, *names: str) -> Any:
    """``--customer/-C ID``, completed from the catalog's tenants; ``names`` come first
    (``jobs list`` is also ``--tenant``)."""
    return typer.Option(
        *names, "--customer", "-C", metavar="ID", help=help, autocompletion=complete.tenants
    )


def version_option(help: str) -> Any:
    """``--version N``: the version of an interface to run."""
    return typer.Option("--version", metavar="N", min=1, help=help, show_default=False)


def limit_option(help: str, *, max: int | None = None) -> Any:
    """``--limit N``: at most N of what the command lists or runs."""
    return typer.Option("--limit", metavar="N", min=1, max=max, help=help)


def timeout_option(help: str) -> Any:
    """``--timeout SECONDS``: a call's time limit, above 0 and at most a day."""
    return typer.Option("--timeout", metavar="SECONDS", help=help, callback=_positive_seconds)


def workers_option(*, only_with: str | None = None) -> Any:
    """``--workers N``: the local pool's size; ``only_with`` names the option it needs."""
    return typer.Option(
        "--workers",
        metavar="N",
        min=0,
        help=_help(_WORKERS_HELP, only_with),
        show_default=False,
    )


def dask_option(*, only_with: str | None = None) -> Any:
    """``--dask ADDRESS``; ``only_with`` names the option it needs."""
    return typer.Option(
        "--dask", metavar="ADDRESS", help=_help(_DASK_HELP, only_with), show_default=False
    )


def check_workers(workers: int | None, dask: str | None) -> None:
    """Usage error (exit 2): ``--workers`` with a Dask scheduler, which has its own."""
    if workers is not None and dask is not None and dask != "local":
        raise typer.BadParameter(
            "sets the size of the local pool or of --dask local; a Dask scheduler has its own "
            "workers",
            param_hint="--workers",
        )


def dask_address(dask: str | None, workers: int | None) -> str | None:
    """``--dask``, else ``$CATALOG_DASK`` unless ``--workers`` chose the local pool."""
    if dask is None and workers is None:
        return os.environ.get("CATALOG_DASK", "").strip() or None  # explicit options win
    return dask
