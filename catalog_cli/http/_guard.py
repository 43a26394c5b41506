"""The door of the app: who is calling, decided before a byte of the body is read, and how
much body anyone may send.

A plain ASGI middleware, because FastAPI reads and parses a route's body before it resolves
the route's dependencies: checking the key there would let anyone without a key make the
server read and parse whatever they send. Here, a request under /v1 without a valid key (or
naming another tenant) is answered from its headers alone, and every body is capped at
``ServeSettings.max_body`` bytes: a larger ``Content-Length`` is refused unread (413), and a
body sent without one is counted as it arrives and refused when it passes the cap. A body
whose next chunk takes longer than the body timeout (see ``_connections``) is answered 408.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.datastructures import Headers

from . import _connections
from ._problems import ProblemError, render
from ._security import identify

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from ._server import Server


def _route_path(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class Guard:
    """Authenticates /v1 requests from their headers, and caps request bodies."""

    def __init__(self, app: ASGIApp, *, server: Server) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _route_path(scope)
        try:
            if path == "/v1" or path.startswith("/v1/"):
                identify(self.server, scope)
            limit = self.server.settings.max_body
            length = Headers(scope=scope).get("content-length")
            if length is not None and length.strip().isdigit() and int(length) > limit:
                raise _too_large(limit)
        except ProblemError as problem:
            await render(problem, scope.get("path"))(scope, receive, send)
            return
        tracker = _connections.TRACKER
        if tracker is None:
            await self._capped(scope, receive, send, limit, _connections.ConnectionLimits())
            return
        client = scope.get("client")
        tracker.request_started(client)
        try:
            await self._capped(scope, receive, send, limit, tracker.limits)
        finally:
            tracker.request_ended(client)

    async def _capped(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        limit: int,
        limits: _connections.ConnectionLimits,
    ) -> None:
        received = 0
        over = refused = started = complete = False

        async def counting_receive() -> Message:
            nonlocal received, over, refused, complete
            if over:
                return {"type": "http.disconnect"}
            if complete:  # after the body: waiting for a disconnect may take as long as it takes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), limits.body_timeout)
            except TimeoutError:
                over = True
                if not started:
                    refused = True
                    await render(_too_slow(limits.body_timeout), scope.get("path"))(
                        scope, receive, send
                    )
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                complete = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    if not started:  # else the app answered without the body: let it finish
                        refused = True
                        response = render(_too_large(limit), scope.get("path"))
                        await response(scope, receive, send)
                    # The app stops reading as if the client had gone; what it answers then
                    # is dropped below, as the 413 is already sent.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
                # Which catalog answered: after a reload, every worker's answers say the new
                # generation within a bounded time (see ``_coherence``).
                headers = list(message.get("headers", ()))
                headers.append((b"x-catalog-generation", str(self.server.generation()).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _too_slow(seconds: float) -> ProblemError:
    return ProblemError(
        "request-timeout",
        f"the request body did not arrive in time (more than {seconds:g} s between two parts)",
        headers={"Connection": "close"},
    )


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        "too-large",
        f"the request body is larger than this server takes ({limit} bytes)",
        headers={"Connection": "close"},
    )
