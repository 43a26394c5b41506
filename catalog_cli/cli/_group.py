"""What every command group of ``catalog`` does: ``--catalog`` wherever it is given, and
(the root) each catalog error as a message and its exit code, and commands made only when
asked for (see ``_commands``). Typer itself suggests a command for a misspelt one."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup, TyperOption

from . import _exits as exits
from ._commands import Commands, Options, summary
from ._exits import exit_code
from ._session import Session

_CATALOG_HELP = (
    "The catalog file (also before the command). Default: $CATALOG_FILE, else the nearest "
    "catalog.toml (this folder or a parent), else the example catalog."
)


def _use_catalog(ctx: Any, param: Any, value: str | None) -> None:
    if value is not None:
        ctx.meta["catalog_file"] = value  # for shell completion, which runs no callbacks
        found = ctx.find_object(Session)
        if found is not None:
            found.catalog_path = Path(value)


def _with_catalog_option(command: Any) -> None:
    """Let ``command`` take ``--catalog/-c`` after its name too (``catalog run ... -c x``)."""
    if any(param.name == "catalog_file" for param in command.params):
        return
    command.params.append(
        TyperOption(
            param_decls=["--catalog", "-c", "catalog_file"],
            type=str,
            expose_value=False,
            is_eager=True,
            callback=_use_catalog,
            metavar="FILE",
            help=_CATALOG_HELP,
        )
    )


class Group(TyperGroup):
    """A command group of ``catalog`` (see the module docstring)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not hasattr(command, "commands"):  # a command, not a group
            _with_catalog_option(command)
        return command

    def list_commands(self, ctx: Any) -> list[str]:
        # The names alone, in order: Typer's own reads every command, which makes them all.
        return list(self.commands)


class RootGroup(Group):
    """The ``catalog`` command itself: where errors become exit codes, once for all; its
    commands are ``_commands.COMMANDS``, each imported and made when asked for."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        options = Options(self.rich_markup_mode, self.suggest_commands)
        self.commands = options.root(self.commands)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # Listed with the help ``COMMANDS`` gives for those not made yet: none is imported.
        commands = self.commands
        if not isinstance(commands, Commands):
            super().format_commands(ctx, formatter)
            return
        self.commands = {name: commands.made(name) or summary(name) for name in commands}
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = commands

    def invoke(self, ctx: Any) -> Any:
        try:
            return self._invoke(ctx)
        finally:
            closing = ctx.find_object(Session)
            if closing is not None:
                closing.close()  # the plugins started for this command shut down

    def _invoke(self, ctx: Any) -> Any:
        from ..errors import CatalogError

        try:
            return super().invoke(ctx)
        except CatalogError as exc:
            current = ctx.find_object(Session) or Session(None, False)
            if current.debug:
                traceback.print_exc()  # and still the documented exit code
            current.abort(str(exc), exit_code(exc), exc.kind)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            raise typer.Exit(exits.INTERRUPTED) from None
        except BaseException as exc:
            # Anything else is a bug of ours, reported as one, not as a traceback; so is a
            # plugin's own BaseException that got past the catalog (not an exit or interrupt).
            if isinstance(exc, (SystemExit, GeneratorExit)) or (
                isinstance(exc, Exception) and _is_usage_error(exc)
            ):
                raise
            current = ctx.find_object(Session) or Session(None, False)
            if current.debug:
                traceback.print_exc()
            current.abort(
                f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the "
                "traceback, and please report it)",
                exits.INTERNAL,
            )


def _is_usage_error(exc: Exception) -> bool:
    # Typer's own usage errors (bad option, missing argument) keep its message and exit 2.
    return type(exc).__module__.startswith(("typer", "click"))
