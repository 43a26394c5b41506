"""The ASGI app: ``create_app(catalog)``, for ``catalog serve`` and for any ASGI server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import CatalogError
from . import _describe, _jobroutes, _manage, _operate, _run
from ._guard import Guard
from ._openapi import build
from ._problems import (
    ProblemError,
    on_catalog_error,
    on_http_error,
    on_problem,
    on_unexpected,
    on_validation_error,
)
from ._server import Server, ServeSettings

if TYPE_CHECKING:
    from ..execution._catalog import Catalog

DESCRIPTION = """\
The methods of a task catalog over HTTP, per tenant.

Every request needs an API key (`Authorization: Bearer <key>` or `X-API-Key`), checked before
the request body is read. A tenant's key runs methods as that tenant and sees only that tenant;
naming another tenant is refused (403). Admin keys (`[serve] admin_keys`) reload the catalog and
see every tenant (`?tenant=` narrows it), but run no methods. Request bodies are capped
(`$CATALOG_MAX_BODY` bytes, default 1 MiB; 413). Errors are RFC 9457 problem details
(`application/problem+json`).
"""


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    server: Server = app.state.catalog_server
    await run_in_threadpool(server.start)
    try:
        yield
    finally:
        await run_in_threadpool(server.stop)


class _QuietStartFailure:
    """A start that fails with an error of the catalog (an unusable job store, say) is told
    in one line, which ``Server.start`` logs: the server is not also handed the traceback
    Starlette attaches to ``lifespan.startup.failed``. A bug keeps its traceback."""

    def __init__(self, app: ASGIApp, *, server: Server) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def quiet_send(message: Message) -> None:
            failed = message["type"] == "lifespan.startup.failed"
            if failed and self.server.start_error is not None:
                message = {**message, "message": ""}
            await send(message)

        await self.app(scope, receive, quiet_send)


def create_app(
    catalog: Catalog | str | os.PathLike[str] | None = None,
    *,
    settings: ServeSettings | None = None,
) -> FastAPI:
    """The app serving ``catalog``: a Catalog (left open at shutdown), or a catalog file to
    load (None: $CATALOG_FILE, the nearest ./catalog.toml, or the shipped one), which the app
    closes at shutdown. ``settings``: default from $CATALOG_MAX_TIMEOUT,
    $CATALOG_JOB_THREADS and $CATALOG_MAX_BODY.

    For any ASGI server: ``uvicorn --factory catalog_cli.http:create_app``.
    """
    from .. import __version__
    from ..execution._catalog import Catalog

    owned = not isinstance(catalog, Catalog)
    loaded = catalog if isinstance(catalog, Catalog) else Catalog.load(catalog)
    server = Server(loaded, owned=owned, settings=settings or ServeSettings.from_env())
    app = FastAPI(
        title="task-catalog",
        version=str(__version__),
        description=DESCRIPTION,
        lifespan=_lifespan,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.catalog_server = server
    # Inside Starlette's error middleware (an unexpected error is still a problem), outside
    # the routes: the key is checked before any body is read.
    app.add_middleware(Guard, server=server)
    app.add_middleware(_QuietStartFailure, server=server)
    for module in (_run, _describe, _operate, _manage, _jobroutes):
        app.include_router(module.router)
    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(CatalogError, on_catalog_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
    app.openapi = lambda: build(app)  # type: ignore[method-assign]
    return app
