"""``Idempotency-Key`` on the POSTs that create or send: a repeat gets the first answer back.

The first request with a key claims it and runs; its answer (any status below 500) is kept for
24 hours. A repeat with the same body gets that answer with ``Idempotent-Replayed: true`` and the
handler does not run; the same key with another body (or path) is a 422
``idempotency_key_reused``; a repeat while the first still runs is a 409 ``idempotency_in_flight``.
Bodies are hashed as they stream (CSV uploads included, never held in memory; a multipart
body's boundary does not count).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wayfare.api.auth import server_key, utcnow
from wayfare.api.errors import error_response
from wayfare.store.database import Database
from wayfare.store.idempotency import StoredKey, claim, complete, purge_expired, release

log = logging.getLogger("wayfare.api")

HEADER = b"idempotency-key"
MAX_KEY = 255
"""The longest key accepted."""

MAX_KEPT_BODY = 1024 * 1024
"""Answers larger than this are not kept (the key is released)."""

PURGE_EVERY = timedelta(minutes=10)
"""How often a process deletes expired keys (lazily, on an idempotent request)."""

ROUTES = re.compile(
    r"^/v1/(?:customer|event|event/batch|campaign|journey|list|campaign/[^/]+/send/[^/]+)/?$"
)
"""The POST paths that honour ``Idempotency-Key``."""


class Idempotency:
    """ASGI middleware applying ``Idempotency-Key`` to the POSTs of ``ROUTES``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._purged_at = utcnow() - PURGE_EVERY

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request once per key, or replay its answer."""
        if scope["type"] != "http" or scope["method"] != "POST" or not ROUTES.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY:
            message = f"Idempotency-Key: 1 to {MAX_KEY} characters"
            await error_response(400, "invalid_idempotency_key", message)(scope, receive, send)
            return
        database: Database = scope["app"].state.database
        application_id = await run_in_threadpool(_application_of, database, scope, headers)
        if application_id is None:  # the endpoint refuses it (no key, read-only, ...)
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        now = utcnow()
        purge = now - self._purged_at >= PURGE_EVERY
        if purge:
            self._purged_at = now
        found = await run_in_threadpool(
            _claim, database, application_id, key, scope["method"], path, purge
        )
        if found is not None:
            await self._repeat(found, scope, receive, send)
            return
        await self._first(database, application_id, key, scope, receive, send)

    async def _repeat(self, found: StoredKey, scope: Scope, receive: Receive, send: Send) -> None:
        if found.status_code is None:
            text = "a request with this Idempotency-Key is still running"
            await error_response(409, "idempotency_in_flight", text)(scope, receive, send)
            return
        digest = BodyHash(scope)
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            digest.update(message.get("body", b""))
            if not message.get("more_body", False):
                break
        if (found.method, found.path, found.request_hash) != (
            scope["method"],
            scope["path"],
            digest.hexdigest(),
        ):
            text = "this Idempotency-Key was used with another request (path or body)"
            await error_response(422, "idempotency_key_reused", text)(scope, receive, send)
            return
        body = (found.response_body or "").encode()
        await send(
            {
                "type": "http.response.start",
                "status": found.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"idempotent-replayed", b"true"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _first(
        self,
        database: Database,
        application_id: int,
        key: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        digest = BodyHash(scope)
        read_all = False
        status = 500
        chunks: list[bytes] = []
        size = 0

        async def hashing_receive() -> Message:
            nonlocal read_all
            message = await receive()
            if message["type"] == "http.request" and not read_all:
                digest.update(message.get("body", b""))
                read_all = not message.get("more_body", False)
            return message

        async def keeping_send(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
                # The body must be hashed whole: read what the endpoint left unread first.
                while not read_all:
                    if (await hashing_receive())["type"] != "http.request":
                        break
            elif message["type"] == "http.response.body" and size <= MAX_KEPT_BODY:
                chunk = message.get("body", b"")
                size += len(chunk)
                chunks.append(chunk)
            await send(message)

        kept = False
        try:
            await self.app(scope, hashing_receive, keeping_send)
            if read_all and status < 500 and size <= MAX_KEPT_BODY:
                body = b"".join(chunks).decode("utf-8", errors="replace")
                await run_in_threadpool(
                    _complete, database, application_id, key, digest.hexdigest(), status, body
                )
                kept = True
        finally:
            if not kept:
                await run_in_threadpool(_release, database, application_id, key)


class BodyHash:
    """The SHA-256 of a request's query and body, fed as the body streams.

    A multipart body has its boundary replaced by a fixed mark first: clients draw a new
    boundary for each request, so the same file sent twice would otherwise differ.
    """

    def __init__(self, scope: Scope) -> None:
        self._digest = hashlib.sha256(bytes(scope.get("query_string", b"")) + b"\n")
        self._boundary = _boundary(scope)
        self._carry = b""

    def update(self, chunk: bytes) -> None:
        """Feed the next piece of the body."""
        if not self._boundary:
            self._digest.update(chunk)
            return
        data = (self._carry + chunk).replace(self._boundary, b"\0boundary\0")
        keep = len(self._boundary) - 1  # a boundary may straddle two pieces
        cut = max(0, len(data) - keep)
        self._digest.update(data[:cut])
        self._carry = data[cut:]

    def hexdigest(self) -> str:
        """The hash of everything fed."""
        self._digest.update(self._carry)
        self._carry = b""
        return self._digest.hexdigest()


def _boundary(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-type" and value.lower().startswith(b"multipart/"):
            for parameter in value.split(b";")[1:]:
                key, _, given = parameter.strip().partition(b"=")
                if key.lower() == b"boundary" and given.strip(b'"'):
                    return bytes(given.strip(b'"'))
    return None


def _application_of(database: Database, scope: Scope, headers: dict[bytes, bytes]) -> int | None:
    """The application of a request's server key when it may POST, else None."""
    scheme, _, secret = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "serverkey" or not secret:
        return None
    key = server_key(database, secret)
    client = scope.get("client")
    if key is None or not key.enabled or key.role != "full":
        return None
    if not key.allows_ip(client[0] if client else None):
        return None
    return key.application_id


def _claim(
    database: Database,
    application_id: int,
    key: str,
    method: str,
    path: str,
    purge: bool,
) -> StoredKey | None:
    now = utcnow()
    with database.write() as conn:
        if purge:
            purged = purge_expired(conn, now)
            if purged:
                log.info("deleted %d expired idempotency keys", purged)
        return claim(conn, application_id, key, method, path, now)


def _complete(
    database: Database, application_id: int, key: str, digest: str, status: int, body: str
) -> None:
    with database.write() as conn:
        complete(conn, application_id, key, digest, status, body)


def _release(database: Database, application_id: int, key: str) -> None:
    with database.write() as conn:
        release(conn, application_id, key)
