"""Who is calling: the ``Authorization: ServerKey <key>`` of a request, checked, as a ``Caller``.

Also what every endpoint takes besides its input: the database and the time (read here, the
one place the API reads the clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from wayfare.api.errors import Refused
from wayfare.store.database import Database
from wayfare.store.keys import LAST_USED_EVERY, find_key, touch_key

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods a read-only key may use."""

SCHEME = "ServerKey"

_header = APIKeyHeader(
    name="Authorization",
    scheme_name=SCHEME,
    description="`ServerKey <key>`; a key comes from `wayfare keys create --application NAME`.",
    auto_error=False,
)


@dataclass(frozen=True, slots=True)
class Caller:
    """The application a request acts for, and the key it came with."""

    application_id: int
    key_id: int
    role: str


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


def database_of(request: Request) -> Database:
    """The database of the application serving ``request``."""
    database: Database = request.app.state.database
    return database


def authenticate(
    request: Request, authorization: Annotated[str | None, Security(_header)] = None
) -> Caller:
    """The caller of ``request``; ``Refused`` (401 / 403) when its key does not allow it."""
    if not authorization:
        raise Refused(401, "missing_key", "Authorization: ServerKey <key> is required")
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != SCHEME.lower() or not secret:
        raise Refused(401, "bad_authorization", "Authorization must be: ServerKey <key>")
    database = database_of(request)
    with database.read() as conn:
        key = find_key(conn, secret)
    if key is None:
        raise Refused(401, "unknown_key", "that server key is not valid")
    if not key.enabled:
        raise Refused(401, "disabled_key", f"server key {key.id} is disabled")
    client = request.client.host if request.client else None
    if not key.allows_ip(client):
        raise Refused(403, "ip_not_allowed", f"server key {key.id} is not allowed from {client}")
    if key.role != "full" and request.method not in READ_METHODS:
        raise Refused(403, "read_only_key", f"server key {key.id} is read-only")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_EVERY:
        with database.write() as conn:
            touch_key(conn, key, now)
    return Caller(key.application_id, key.id, key.role)


Auth = Annotated[Caller, Depends(authenticate)]
"""An endpoint parameter: the checked caller."""

Db = Annotated[Database, Depends(database_of)]
"""An endpoint parameter: the database."""
