"""The root ``catalog`` app: global options, sub-apps, and where errors become exit codes."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from . import _exits as exits
from . import check, health, interceptors, interfaces, keys, plugins, run, serve, tenants
from . import jobs as jobs_cli
from ._exits import exit_code
from ._session import Session, session


class CatalogGroup(TyperGroup):
    """Turns every CatalogError into a one-paragraph message on stderr and its exit code."""

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
        except Exception as exc:
            if _is_usage_error(exc):
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
    # Typer's own usage errors (bad option, missing argument) keep Typer's message and exit 2.
    return type(exc).__module__.startswith("typer")


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

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CallFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("catalog")
    for old in [h for h in root.handlers if getattr(h, "catalog_cli", False)]:
        root.removeHandler(old)  # an earlier run in this process (tests, embedding)
    handler.catalog_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


app = typer.Typer(
    cls=CatalogGroup,
    name="catalog",
    help="Inspect and run the versioned methods of a task catalog, per customer (tenant).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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
) -> None:
    from_env = os.environ.get("CATALOG_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    ctx.obj = Session(catalog, debug or from_env)
    _setup_logging(verbose)


app.command("run", no_args_is_help=True)(run.run)
app.command("check")(check.check)
app.command("health")(health.health)
app.command("serve")(serve.serve)
app.add_typer(interceptors.app, name="interceptors")
app.add_typer(interfaces.app, name="interfaces")
app.add_typer(jobs_cli.app, name="jobs")
app.add_typer(keys.app, name="keys")
app.add_typer(plugins.app, name="plugins")
app.add_typer(tenants.app, name="tenants")

__all__ = ["app", "main", "session"]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="catalog")
