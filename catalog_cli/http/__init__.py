"""The HTTP API of a task catalog (extra ``serve``): ``create_app`` builds the ASGI app.

``catalog serve`` runs it with uvicorn; any ASGI server can, through the factory:
``uvicorn --factory catalog_cli.http:create_app`` (the catalog from $CATALOG_FILE, else the
usual lookup).
"""

from __future__ import annotations

from ._app import create_app
from ._server import ServeSettings

__all__ = ["ServeSettings", "create_app"]
