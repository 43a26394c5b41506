"""The root ``catalog`` app: global options, and where errors become exit codes. Its commands
and sub-apps are listed in ``_commands``, and imported only when a run needs them."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from ._commands import PRETTY_EXCEPTIONS_SHORT
from ._group import RootGroup
from ._session import Session, session


def _setup_logging(verbose: int) -> None:
    if not verbose:
        return
    import logging  # only with -v: logging stays out of the start-up of other runs

    class CallFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            text = super().format(record)
            tenant = getattr(record, "catalog_tenant", None)
            if tenant is not None:
                text += f"  [tenant={tenant} call={getattr(record, 'catalog_call_id', '?')}]"
            return text

    class CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
        # Whatever sys.stderr is when a record comes: a call abandoned at its deadline may log
        # after the command ended (and, embedded or in tests, after its stream was closed).
        @property
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

    handler = CurrentStderr()
    handler.setFormatter(CallFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("catalog")
    for old in [h for h in root.handlers if getattr(h, "catalog_cli", False)]:
        root.removeHandler(old)  # an earlier run in this process (tests, embedding)
    handler.catalog_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def _show_version(value: bool) -> None:
    if value:
        from .. import __version__

        sys.stdout.write(f"catalog (task-catalog) {__version__}\n")
        raise typer.Exit()


app = typer.Typer(
    cls=RootGroup,
    name="catalog",
    help="Inspect and run the versioned methods of a task catalog, per customer (tenant).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_short=PRETTY_EXCEPTIONS_SHORT,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    ctx: typer.Context,
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog",
            "-c",
            help="The catalog file. Default: $CATALOG_FILE, else the nearest ./catalog.toml "
            "(this folder or a parent), else the catalog shipped with task-catalog.",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show Python tracebacks for errors.")
    ] = False,
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, help="Show plugin logs on stderr (-vv: debug)."
        ),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Show the version of task-catalog and exit.",
            is_eager=True,
            callback=_show_version,
        ),
    ] = False,
) -> None:
    from .. import _interrupts

    # Ctrl-C is the user's to stop a command with, whatever handler came before: it is never
    # taken for a plugin's own KeyboardInterrupt.
    _interrupts.install(force=True)
    from_env = os.environ.get("CATALOG_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    ctx.obj = Session(catalog, debug or from_env, verbose)
    _setup_logging(verbose)


__all__ = ["app", "main", "session"]


def main(prog_name: str = "catalog") -> None:
    """Console-script entry point."""
    # One completion variable however the command is started (`python -m` has spaces in it).
    complete_var = "_CATALOG_COMPLETE"
    try:
        app(prog_name=prog_name, complete_var=complete_var)
    except SystemExit as exc:
        _exit_despite_threads(exc.code)
        raise
    _exit_despite_threads(0)


def _exit_despite_threads(code: object) -> None:
    """End the process now with ``code`` (as ``SystemExit(code)`` would) if threads that are
    not daemons are still running; otherwise return, and let Python exit as usual.

    Python waits for every such thread before it exits, and a plugin may have started one
    that never ends (a client library's background loop, say): the command would print its
    result and then hang, its exit code never given. It has said all it had to say, so the
    output is flushed and the process ends without waiting for them. Only the console entry
    point does this: a program that embeds the app, or a test runner, keeps its threads.
    """
    current = threading.current_thread()
    if not any(
        thread is not current and not thread.daemon and thread.is_alive()
        for thread in threading.enumerate()
    ):
        return
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # SystemExit("message"): Python prints it and exits 1
        with contextlib.suppress(Exception):
            sys.stderr.write(f"{code}\n")
        status = 1
    if "logging" in sys.modules:  # -v: records still buffered in handlers
        with contextlib.suppress(Exception):
            sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)
