"""The request size limit: a JSON body larger than ``MAX_BODY`` is refused with 413.

CSV uploads (paths ending in ``/csv``) are exempt: they are streamed to disk, not parsed in memory.
The limit holds for bodies sent without a ``Content-Length`` too (read up to the limit first).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wayfare.api.errors import error_response

MAX_BODY = 64 * 1024 * 1024
"""The largest JSON body accepted (a batch of 10,000 events is a few MB)."""


class BodyLimit:
    """ASGI middleware refusing bodies over ``limit`` bytes, except uploads."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, with its body counted."""
        if scope["type"] != "http" or str(scope.get("path", "")).endswith("/csv"):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is not None:  # the server holds the body to its announced length
            if length.isdigit() and int(length) > self.limit:
                await error_response(413, "too_large", self._message())(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        # No length given (chunked): read the body here, up to the limit, then hand it on.
        # FastAPI reads a JSON body whole anyway, so this costs no extra memory.
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await error_response(413, "too_large", self._message())(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    def _message(self) -> str:
        return f"the request body is larger than {self.limit:,} bytes"
