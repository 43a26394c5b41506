"""``catalog serve``: the HTTP API with uvicorn (extra ``serve``)."""

from __future__ import annotations

import copy
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer

from ..errors import ServeError
from ._session import session

if TYPE_CHECKING:
    from ..execution._catalog import Catalog

#: uvicorn's log levels
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug", "trace")


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with the catalog's loggers (``catalog.serve``: failed calls with
    their call id, refused keys, spoofing attempts) on the same handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    python_level = "DEBUG" if level == "trace" else level.upper()
    config["loggers"]["catalog"] = {
        "handlers": ["default"],
        "level": python_level,
        "propagate": False,
    }
    return config


def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="The address to listen on.", metavar="ADDRESS")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", help="The TCP port.", min=0, max=65535)
    ] = 8000,
    workers: Annotated[
        int,
        typer.Option("--workers", "-w", help="Worker processes, each with its own catalog.", min=1),
    ] = 1,
    log_level: Annotated[
        str,
        typer.Option("--log-level", help=f"One of {', '.join(LOG_LEVELS)}.", metavar="LEVEL"),
    ] = "info",
    job_threads: Annotated[
        int | None,
        typer.Option(
            "--job-threads",
            help="Threads per worker running background jobs (0: none here). "
            "Default: $CATALOG_JOB_THREADS, else 2.",
            min=0,
            max=64,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the catalog over HTTP (JSON under /v1, OpenAPI at /openapi.json, docs at /docs).

    Every request needs a tenant's API key or an admin key (see `catalog keys new`).
    """
    if log_level.lower() not in LOG_LEVELS:
        raise typer.BadParameter(
            f"expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}", param_hint="--log-level"
        )
    level = log_level.lower()
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise ServeError(
            f"catalog serve needs the serve extra ({exc.name} is not installed): "
            "pip install 'task-catalog[serve]'"
        ) from None
    from ..config._keys import KeyRing
    from ..http import create_app
    from ..http._server import JOB_THREADS_ENV, ServeSettings, config_of

    current = session(ctx)
    ServeSettings.from_env()  # a bad $CATALOG_MAX_TIMEOUT stops here, before uvicorn starts
    catalog = current.catalog  # a broken catalog file stops here, with its own exit code
    check_job_store(catalog)  # so does a job store that cannot be opened (exit 3)
    ring = KeyRing.from_config(config_of(catalog))
    for problem in ring.problems:
        sys.stderr.write(f"warning: API key unusable: {problem}\n")
    if not len(ring):
        sys.stderr.write(
            "warning: no API key can authenticate, so every request will get 401: add "
            "api_keys to a tenant or [serve] admin_keys (see `catalog keys new`)\n"
        )
    if job_threads is not None:
        os.environ[JOB_THREADS_ENV] = str(job_threads)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": level,
        "log_config": _log_config(level),
        "ws": "none",
        "lifespan": "on",
    }
    try:
        if workers == 1:
            uvicorn.run(create_app(catalog), **options)
        else:
            # Each worker process builds its own app from the same file.
            os.environ["CATALOG_FILE"] = str(catalog.path)
            _run_workers(workers, options)
    except SystemExit as exc:  # uvicorn exits like this when it cannot start
        if exc.code not in (None, 0):
            raise ServeError(
                f"the server on {host}:{port} stopped: see the messages above"
            ) from None


def check_job_store(catalog: Catalog) -> None:
    """Open the catalog's job store once (and close it): raises its ConfigError now, before
    any server starts, rather than in every worker's start-up."""
    from ..execution._jobs import JobStore

    JobStore.for_catalog(catalog).close()


def _run_workers(workers: int, options: dict[str, Any]) -> None:
    """``uvicorn.run`` with worker processes, but one that tells a failed start: uvicorn's
    supervisor stops when a worker cannot start, and returns as after Ctrl-C."""
    from uvicorn import Config
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = Config("catalog_cli.http:create_app", factory=True, workers=workers, **options)
    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        raise ServeError(
            f"the server on {options['host']}:{options['port']} stopped: a worker process "
            f"(pid {', '.join(map(str, failed))}) could not start; see the messages above"
        )
