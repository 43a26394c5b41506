"""``catalog serve``: the HTTP API with uvicorn (extra ``serve``)."""

from __future__ import annotations

import copy
import os
import sys
import tempfile
from pathlib import Path
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
    call_threads: Annotated[
        int | None,
        typer.Option(
            "--call-threads",
            help="Threads per worker running calls. Default: $CATALOG_CALL_THREADS, else 16.",
            min=1,
            max=1024,
            show_default=False,
        ),
    ] = None,
    max_connections: Annotated[
        int,
        typer.Option(
            "--max-connections",
            help="Open connections per worker; more are closed at once (bounded by the "
            "open-file limit).",
            min=1,
        ),
    ] = 1000,
    max_client_connections: Annotated[
        int,
        typer.Option(
            "--max-client-connections",
            help="Open connections per worker from one client address (0: no limit; use 0 "
            "behind a reverse proxy).",
            min=0,
        ),
    ] = 64,
    header_timeout: Annotated[
        float,
        typer.Option(
            "--header-timeout",
            help="Seconds a client has to send a whole request head.",
            min=0.1,
            max=3600,
        ),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout",
            help="Seconds between two parts of a request body (then 408).",
            min=0.1,
            max=3600,
        ),
    ] = 30.0,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Reload when catalog.toml or the catalog's code changes (extra watch).",
        ),
    ] = False,
    keep_alive: Annotated[
        float,
        typer.Option(
            "--keep-alive",
            help="Seconds an idle keep-alive connection stays open.",
            min=0,
            max=3600,
        ),
    ] = 5.0,
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
    from ..http import _calls, _coherence, _connections
    from ..http._server import JOB_THREADS_ENV, WATCH_ENV, ServeSettings, config_of
    from ..interceptors.ratelimit import SHARED_DIR_ENV

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
    if call_threads is not None:
        os.environ[_calls.THREADS_ENV] = str(call_threads)
    if watch:
        from ..execution._watch import Watcher

        Watcher.check_installed()  # a missing extra stops here, before any server starts
        os.environ[WATCH_ENV] = "1"
    files = _connections.raise_file_limit(max_connections + _connections.RESERVED_FILES)
    usable = max(1, files - _connections.RESERVED_FILES)
    if max_connections > usable:
        sys.stderr.write(
            f"warning: --max-connections {max_connections} is more than the open-file limit "
            f"allows ({files}); {usable} are taken\n"
        )
        max_connections = usable
    limits = _connections.ConnectionLimits(
        max_connections, max_client_connections, header_timeout, body_timeout, keep_alive
    )
    # Worker processes read them from the environment, as they build their own protocol.
    os.environ[_connections.LIMITS_ENV] = _connections.to_env(limits)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": level,
        "log_config": _log_config(level),
        "ws": "none",
        "lifespan": "on",
        "http": _connections.PROTOCOL,
        "timeout_keep_alive": keep_alive,
    }
    try:
        if workers == 1:
            from ..http import create_app

            uvicorn.run(create_app(catalog), **options)
        else:
            # Each worker process builds its own app from the same file; a reload in one
            # reaches the others through a shared epoch (see http._coherence).
            os.environ["CATALOG_FILE"] = str(catalog.path)
            with tempfile.TemporaryDirectory(prefix="catalog-serve-") as shared:
                os.environ[_coherence.EPOCH_ENV] = str(Path(shared) / "epoch")
                # State interceptors may share between the workers (shared rate-limit
                # buckets), unless the operator names a folder of their own.
                os.environ.setdefault(SHARED_DIR_ENV, shared)
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
