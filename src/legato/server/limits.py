"""Caps on request bodies, answered with 413 before any route sees the request.

Batches (``POST /api/bulk``) may be large: that route validates them a slice at a time
in a thread. Every other body is parsed and validated whole by FastAPI on the event
loop, during which no other request (``/api/health`` included) is answered, so those
get a much smaller cap."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BATCH_PATHS = frozenset({"/api/bulk"})
"""The routes whose bodies may be as large as ``max_bytes``; others get ``max_other_bytes``."""


class BodySizeLimit:
    """Pure ASGI middleware: refuse bodies over the cap of their route with a JSON 413.

    A declared ``Content-Length`` over the limit is refused without reading; otherwise
    the body is read (at most ``max_bytes`` + one chunk) and replayed to the app, so a
    chunked upload cannot get past the limit either.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_other_bytes: int | None = None):
        self.app = app
        self.batch_max_bytes = max_bytes
        self.other_max_bytes = min(max_bytes, max_other_bytes or max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.batch_max_bytes if scope.get("path") in BATCH_PATHS else self.other_max_bytes
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False
            if too_large:
                await self._refuse(send, limit)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)

    async def _refuse(self, send: Send, limit: int) -> None:
        payload = json.dumps(
            {"detail": f"request body too large: the limit is {limit} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    # Read by legato's client, which splits what it sends to fit.
                    (b"x-legato-max-body-bytes", str(limit).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
