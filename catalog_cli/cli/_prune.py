"""The app as one run needs it: only the command it names.

Typer turns every registered command and sub-app into a click command on each start (it reads
their signatures and evaluates their annotations: about 10 ms for all of ours), though a run
uses one of them. ``for_args`` gives ``main`` a copy of the app that holds only the command the
arguments name, when they name it plainly after the root's options. Anything else (no command,
an unknown one, an option it does not know here, shell completion) gets the whole app, so
help, errors and suggestions stay Typer's own.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from typing import Any

import typer

#: The root's options, as ``_app._root`` declares them.
_FLAGS = frozenset({"--debug", "--verbose"})
_WITH_VALUE = frozenset({"--catalog", "-c"})


def _named(args: Sequence[str]) -> tuple[str | None, bool]:
    """(The command ``args`` run: None when there is none, "" when unsure because an option
    not known here comes first; whether the root's ``--version`` is given.)"""
    version = False
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in _WITH_VALUE:
            index += 2
        elif arg in _FLAGS or arg.startswith("--catalog=") or _is_verbose(arg):
            index += 1
        elif arg == "--version":
            version = True
            index += 1
        elif arg.startswith("-"):
            return "", version  # --help, completion, --, a mistake: for Typer to deal with
        else:
            return arg, version
    return None, version


def _is_verbose(arg: str) -> bool:
    return len(arg) > 1 and arg[0] == "-" and set(arg[1:]) == {"v"}  # -v, -vv, ...


def _command_name(info: Any) -> str | None:
    if isinstance(info.name, str):
        return info.name
    callback = getattr(info, "callback", None)
    return None if callback is None else typer.main.get_command_name(callback.__name__)


def for_args(app: typer.Typer, args: Sequence[str], complete_var: str) -> typer.Typer:
    """``app``, or a copy of it with only the command ``args`` run (see the module)."""
    if os.environ.get(complete_var):
        return app
    if not all(isinstance(group.name, str) for group in app.registered_groups):
        return app  # a sub-app named by its own callback: not worth guessing
    name, version = _named(args)
    if name is None:
        if not version:
            return app  # `catalog` alone, or options without a command: all of them, for help
        commands, groups = [], []  # the eager --version answers before any command is needed
    else:
        commands = [c for c in app.registered_commands if _command_name(c) == name]
        groups = [g for g in app.registered_groups if g.name == name]
        if not commands and not groups:
            return app  # unsure, or misspelt: Typer suggests from all of them
    lean = copy.copy(app)
    lean.registered_commands = commands
    lean.registered_groups = groups
    return lean
