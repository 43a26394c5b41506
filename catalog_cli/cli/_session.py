"""The object every command receives: global options, the catalog, and output helpers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from ..execution._catalog import Catalog


def json_option(help: str) -> Any:
    """``--json``, for a command to pass to ``session(ctx, as_json=...)`` so that its errors
    are JSON too; ``help`` says what the JSON holds."""
    return typer.Option("--json", help=help)


#: The ``--json`` option every listing command takes.
JsonOption = Annotated[bool, json_option("Print JSON instead of tables.")]


def dumps(data: Any, indent: int | None = None) -> str:
    """Strict JSON: dates as ISO text, non-finite floats as strings, other objects by repr."""
    from .._json import dumps as strict

    return strict(data, indent)


def json_object(text: str, option: str, *, shape: str = "") -> dict[str, Any]:
    """The JSON object an option gives: inline, ``-`` for stdin, or ``@FILE``; anything else
    is a usage error naming the option."""
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL byte
            raise typer.BadParameter(f"cannot read {text[1:]}: {exc}", param_hint=option) from None
    from .._json import DataError, loads

    try:
        # The object itself is not a level: its values may nest as deep as an argument may.
        value = loads(text, counted=False, strict=True)
    except DataError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None
    if not isinstance(value, dict):
        expected = f"a JSON object {shape}" if shape else "a JSON object"
        raise typer.BadParameter(f"expected {expected}", param_hint=option)
    return value


class Session:
    """Global options and lazily created resources, shared by all commands of one run."""

    def __init__(self, catalog_path: Path | None, debug: bool, verbose: int = 0) -> None:
        self.catalog_path = catalog_path
        self.debug = debug
        #: -v given: plugin logs are shown
        self.verbose = verbose
        self._located: tuple[Path, str] | None = None
        #: Set by commands given --json, so errors are reported as JSON too.
        self.as_json = False
        self._catalog: Catalog | None = None
        self._out: Console | None = None
        self._err: Console | None = None

    def locate(self) -> tuple[Path, str]:
        """The catalog file to use, and how it was found (see ``find_catalog``). When none
        was found and the example is used, the user is told so, once."""
        if self._located is None:
            from ..config import find_catalog

            path, why = find_catalog(self.catalog_path)
            if why == "example":
                sys.stderr.write(
                    "note: no catalog.toml in this folder or its parents, and $CATALOG_FILE is "
                    f"not set: using the example catalog ({path}); `catalog init` makes one "
                    "of your own\n"
                )
            self._located = (path, why)
        return self._located

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            from ..execution._catalog import Catalog

            self._catalog = Catalog(self.locate()[0])
        return self._catalog

    @property
    def may_reuse(self) -> bool:
        """Whether a listing kept from an earlier run may stand for loading the catalog: not
        once this run loaded it (what it read then was not recorded), nor with -v (a kept
        listing shows no plugin logs)."""
        return self._catalog is None and not self.verbose

    @property
    def out(self) -> Console:
        if self._out is None:
            from rich.console import Console

            self._out = Console(highlight=False)
            if not self._out.is_terminal:
                # Into a pipe or a file nothing is wrapped: one line stays one line.
                self._out.width = 100_000
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False)
            if not self._err.is_terminal:
                # A diagnostic in a log stays one line: a path or id in it is never split.
                self._err.width = 100_000
        return self._err

    def close(self) -> None:
        """Shut down the plugins this run started; failures are reported, not fatal."""
        if self._catalog is None:
            return
        catalog, self._catalog = self._catalog, None
        for tenant, plugin, exc in catalog.close():
            sys.stderr.write(
                f"warning: plugin {plugin!r} failed to shut down for tenant {tenant!r}: "
                f"{type(exc).__name__}: {exc}\n"
            )

    def json(self, data: Any) -> None:
        """Print ``data`` as JSON on stdout (no rich involved)."""
        sys.stdout.write(dumps(data, indent=2) + "\n")

    def abort(self, message: str, code: int, kind: str | None = None) -> NoReturn:
        """Report ``message`` (an error of ``kind``) on stderr and exit with ``code``."""
        if self.as_json:
            error: dict[str, object] = {"message": message}
            if kind is not None:
                error["kind"] = kind
            error["exit_code"] = code
            sys.stderr.write(json.dumps({"error": error}) + "\n")
        else:
            from rich.markup import escape

            self.err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
        raise typer.Exit(code)


def session(ctx: typer.Context, *, as_json: bool = False) -> Session:
    """The Session of the running command; ``as_json`` makes its errors JSON too."""
    found = ctx.find_object(Session)
    if found is None:  # a sub-app invoked on its own, as in some tests
        found = Session(None, False)
        ctx.obj = found
    found.as_json = found.as_json or as_json
    return found
