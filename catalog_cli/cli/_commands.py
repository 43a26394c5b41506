"""The commands of ``catalog``: each module imported, and each command converted by Typer,
only when a run needs it.

Typer turns every command it holds into a click command on each start: it imports the module,
reads the signature and evaluates the annotations of each (about 10 ms for all of ours), though
a run uses one. So the root holds none of them: ``COMMANDS`` names each command's module and
what ``catalog --help`` says of it, and a command is made when it is asked for by name (to run
it, show its own help, or complete its name in a shell). A sub-app is made the same way, one
level down: ``catalog plugins list`` converts ``list`` and none of the other plugins commands.
tests/test_startup_imports.py keeps ``COMMANDS`` equal to what the modules say.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from functools import partial
from typing import Any, Final

import typer
from typer.core import TyperCommand
from typer.models import CommandInfo, TyperInfo

#: Typer's traceback guard in each command's callback (our app keeps Typer's default; its
#: pretty tracebacks are off anyway): the root and the commands made here get the same.
PRETTY_EXCEPTIONS_SHORT: Final = True


class Entry:
    """One command of the root: where it lives and what the root's help says of it."""

    __slots__ = ("attribute", "help", "module", "no_args_is_help")

    def __init__(
        self, module: str, attribute: str, help: str, *, no_args_is_help: bool = False
    ) -> None:
        #: the module in this package, and its function (a command) or Typer app (a group)
        self.module = module
        self.attribute = attribute
        #: the first paragraph of the command's help, as the command itself has it
        self.help = help
        self.no_args_is_help = no_args_is_help


#: Every command of ``catalog``, in the order its help lists them.
COMMANDS: Final[Mapping[str, Entry]] = {
    "run": Entry(
        "run", "run", "Run INTERFACE for a customer and print its result.", no_args_is_help=True
    ),
    "check": Entry(
        "check",
        "check",
        "Load the catalog, every tenant and every selected plugin; report all problems (broken "
        "plugin files no tenant selects too, without failing any tenant). With a catalog.lock, "
        "or --against REV, also compare the declarations with the contract recorded there.",
    ),
    "info": Entry(
        "info",
        "info",
        "Show which catalog file is in use and why, its folders, how many interfaces and "
        "tenants it has, the version of task-catalog, and where its job store is.",
    ),
    "init": Entry(
        "init",
        "init",
        "Create a working catalog in DIR: catalog.toml, an interface with two versions and a "
        "plugin point, its built-in, two tenants (one with a customer plugin), tests and a "
        "README. Nothing existing is overwritten.",
    ),
    "lock": Entry(
        "lock",
        "lock",
        "Write catalog.lock next to the catalog file: every interface version's parameters, "
        "return type, plugin points and deprecation, which `catalog check` then holds the "
        "declarations to. Only the declarations are imported: no built-in, no plugin.",
    ),
    "docs": Entry(
        "docs",
        "docs",
        "Generate the hook reference (Markdown) from the catalog's declarations: every "
        "interface, version, entry point and plugin point with signature, policy and "
        "docstring, and the hooks every catalog has.",
    ),
    "health": Entry(
        "health",
        "health",
        "Run every plugin's health check for each tenant (a timeout or exception is unhealthy).",
    ),
    "serve": Entry(
        "serve",
        "serve",
        "Serve the catalog over HTTP (JSON under /v1, OpenAPI at /openapi.json, docs at /docs).",
    ),
    "replay": Entry(
        "replay",
        "replay",
        "Run the calls of RECORDING again, on the catalog in use, and report for each whether "
        "it gives the same answer as recorded: same, different (with where), failed or skipped.",
        no_args_is_help=True,
    ),
    "interceptors": Entry(
        "interceptors",
        "app",
        "List the interceptors around method calls (logging, metrics, retry, ...).",
    ),
    "interfaces": Entry(
        "interfaces", "app", "List and describe interfaces (methods) and their versions."
    ),
    "jobs": Entry(
        "jobs",
        "app",
        "Background jobs: list them, show one, run a worker; retry, requeue and purge them.",
    ),
    "keys": Entry("keys", "app", "Make API keys for `catalog serve`."),
    "new": Entry(
        "new", "app", "Add an interface, a version or a plugin: files that pass `catalog check`."
    ),
    "plugins": Entry("plugins", "app", "List plugins and their load status."),
    "tenants": Entry("tenants", "app", "List tenants (customers) and show what runs for one."),
}


class Commands(MutableMapping[str, Any]):
    """A group's commands by name, each made by its maker when first asked for (and kept).

    Iterating gives the names alone; reading a value (``[]``, ``get``, ``values``, ``items``)
    makes that command."""

    def __init__(self, makers: Mapping[str, Callable[[], Any]]) -> None:
        self._makers = dict(makers)
        self._made: dict[str, Any] = {}
        #: every name, in order (a dict: ordered, and a fast ``in``)
        self._names: dict[str, None] = dict.fromkeys(self._makers)

    def made(self, name: str) -> Any:
        """The command ``name`` if it was made already, else None (nothing is made)."""
        return self._made.get(name)

    def __getitem__(self, name: str) -> Any:
        found = self._made.get(name)
        if found is None:
            if name not in self._names:
                raise KeyError(name)
            found = self._made[name] = self._makers[name]()
        return found

    def __setitem__(self, name: str, command: Any) -> None:
        self._made[name] = command
        self._names[name] = None

    def __delitem__(self, name: str) -> None:
        del self._names[name]
        self._made.pop(name, None)
        self._makers.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._names))

    def __len__(self) -> int:
        return len(self._names)


class Options:
    """What Typer gives every command of one app as it converts it."""

    __slots__ = ("rich_markup_mode", "suggest_commands")

    def __init__(self, rich_markup_mode: Any, suggest_commands: bool) -> None:
        self.rich_markup_mode = rich_markup_mode
        self.suggest_commands = suggest_commands

    def command(self, info: CommandInfo) -> Any:
        # Looked up on typer.main at each call (tests count the conversions through it).
        return typer.main.get_command_from_info(
            info,
            pretty_exceptions_short=PRETTY_EXCEPTIONS_SHORT,
            rich_markup_mode=self.rich_markup_mode,
        )

    def group(self, sub_app: typer.Typer, name: str) -> Any:
        """``sub_app`` as ``app.add_typer(sub_app, name=name)`` would make it, its commands
        (and its own sub-apps) made when asked for."""
        lean = copy.copy(sub_app)
        lean.registered_commands = []
        lean.registered_groups = []
        group = typer.main.get_group_from_info(
            TyperInfo(lean, name=name),
            pretty_exceptions_short=PRETTY_EXCEPTIONS_SHORT,
            suggest_commands=self.suggest_commands,
            rich_markup_mode=self.rich_markup_mode,
        )
        makers: dict[str, Callable[[], Any]] = {}
        for info in sub_app.registered_commands:
            makers[command_name(info)] = partial(self.command, info)
        for sub in sub_app.registered_groups:
            if not isinstance(sub.name, str) or sub.typer_instance is None:
                raise TypeError(f"sub-app of {name!r} without a name of its own")
            makers[sub.name] = partial(self.group, sub.typer_instance, sub.name)
        group.commands = Commands(makers)
        return group

    def entry(self, name: str, entry: Entry) -> Any:
        """The command ``COMMANDS[name]`` describes, its module imported now."""
        target = getattr(importlib.import_module(f".{entry.module}", __package__), entry.attribute)
        if isinstance(target, typer.Typer):
            return self.group(target, name)
        return self.command(
            CommandInfo(name=name, callback=target, no_args_is_help=entry.no_args_is_help)
        )

    def root(self, made: Mapping[str, Any]) -> Commands:
        """The root's commands: ``COMMANDS``, then any command Typer ``made`` already (one
        registered on the app itself)."""
        makers: dict[str, Callable[[], Any]] = {
            name: partial(self.entry, name, entry) for name, entry in COMMANDS.items()
        }
        commands = Commands(makers)
        for name, command in made.items():
            commands[name] = command
        return commands


def command_name(info: CommandInfo) -> str:
    """The name Typer gives the command ``info`` registers."""
    if info.name:
        return info.name
    if info.callback is None:
        raise TypeError("a command without a callback")
    return typer.main.get_command_name(info.callback.__name__)


def summary(name: str) -> Any:
    """A stand-in for the command ``name`` of ``COMMANDS``, enough for the root's help to list
    it (its name and help) without importing it."""
    return TyperCommand(name=name, help=COMMANDS[name].help)
