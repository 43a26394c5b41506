"""The HTTP benchmark's anchor: the run endpoint written with plain FastAPI over plain pluggy.

No code of task-catalog is used here. It is what a good engineer would write without the
catalog: bearer keys checked against their SHA-256 hashes, the body validated by a pydantic
model, the tenant's plain-pluggy manager (``benchmarks/plain_pluggy.py``) called for the
interface and version asked for, and the answer written as JSON; unknown names are a 404,
arguments that do not fit a 422. Served by uvicorn like ``catalog serve``.

Two styles of the same endpoint: ``def`` (FastAPI runs it on Starlette's thread pool, as one
writes an endpoint that calls blocking code) and ``async`` (an ``async def`` endpoint, run on
the event loop itself: the lowest latency FastAPI offers, for work that never blocks):

    python -m benchmarks.plain_fastapi PORT KEY_HASH_OF_C2 [def|async]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
import uuid
from typing import Any

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import Response
from pydantic import BaseModel, Field

from benchmarks import plain_pluggy


class RunRequest(BaseModel):
    version: int | None = Field(default=None, ge=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


#: the version each tenant runs when none is asked for
DEFAULT_VERSIONS = {"price_quote": 1, "interface_a": 1}


def create_app(key_hashes: dict[str, str], style: str = "def") -> FastAPI:
    """``key_hashes``: tenant -> the hex SHA-256 of its key; ``style``: ``def`` or ``async``."""
    managers = plain_pluggy.managers()
    hashes = [(bytes.fromhex(digest), tenant) for tenant, digest in key_hashes.items()]
    app = FastAPI()

    def tenant_of(authorization: str | None) -> str:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            raise HTTPException(401, "a bearer key is needed")
        digest = hashlib.sha256(key.encode()).digest()
        for known, tenant in hashes:
            if hmac.compare_digest(digest, known):
                return tenant
        raise HTTPException(401, "unknown key")

    def answer(interface: str, body: RunRequest, authorization: str | None) -> Response:
        tenant = tenant_of(authorization)
        version = body.version or DEFAULT_VERSIONS.get(interface)
        hook = getattr(managers[tenant].hook, f"{interface}_v{version}", None)
        if hook is None:
            raise HTTPException(404, f"no interface {interface} v{version}")
        started = time.perf_counter()
        try:
            result = hook(**body.arguments)
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None
        data = {
            "result": result,
            "interface": interface,
            "version": version,
            "tenant": tenant,
            "call_id": uuid.uuid4().hex,
            "seconds": time.perf_counter() - started,
        }
        return Response(json.dumps(data), media_type="application/json")

    if style == "async":

        @app.post("/v1/interfaces/{interface}/run")
        async def run_async(
            interface: str, body: RunRequest, authorization: str | None = Header(default=None)
        ) -> Response:
            return answer(interface, body, authorization)

    else:

        @app.post("/v1/interfaces/{interface}/run")
        def run(
            interface: str, body: RunRequest, authorization: str | None = Header(default=None)
        ) -> Response:
            return answer(interface, body, authorization)

    return app


def main() -> None:
    import uvicorn

    port, c2_hash = int(sys.argv[1]), sys.argv[2]
    style = sys.argv[3] if len(sys.argv) > 3 else "def"
    app = create_app({"c2": c2_hash}, style)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", ws="none")


if __name__ == "__main__":
    main()
