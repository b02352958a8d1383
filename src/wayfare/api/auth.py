"""Who is calling: the ``Authorization: ServerKey <key>`` of a request, checked, as a ``Caller``.

Also what every endpoint takes besides its input: the database and the time (read here, the
one place the API reads the clock).

Keys read from the database are kept in a cache of the process, per database, for
``KEY_CACHE_SECONDS`` (by the hash of the secret; secrets are never kept): a key disabled or
rotated by another process stops working within that time, one disabled or rotated through
this process at once (``forget_keys``, called by the API and the console after a key is rotated
or disabled, empties the cache). Unknown secrets are not kept, so they cannot fill it.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool

from wayfare.api.errors import Refused
from wayfare.store.database import Database
from wayfare.store.keys import LAST_USED_EVERY, ServerKey, find_key, hash_secret, touch_key

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


KEY_CACHE_SECONDS = 2.0
"""How long a key read from the database is trusted without reading it again."""

MAX_CACHED_KEYS = 10_000
"""Keys kept at most (the cache is emptied when full)."""


class KeyCache:
    """Server keys recently read, by the hash of their secret, each for ``seconds``."""

    def __init__(self, seconds: float = KEY_CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._keys: dict[str, tuple[float, ServerKey]] = {}

    def get(self, digest: str) -> ServerKey | None:
        """The key cached for ``digest`` if read less than ``seconds`` ago."""
        found = self._keys.get(digest)
        if found is None or time.monotonic() - found[0] >= self.seconds:
            return None
        return found[1]

    def put(self, digest: str, key: ServerKey) -> None:
        """Keep ``key``, read from the database now."""
        if len(self._keys) >= MAX_CACHED_KEYS:
            self._keys.clear()
        self._keys[digest] = (time.monotonic(), key)

    def touched(self, digest: str, key: ServerKey) -> None:
        """``key`` was marked used: keep it with its new ``last_used_at`` (same read time)."""
        found = self._keys.get(digest)
        if found is not None:
            self._keys[digest] = (found[0], key)

    def clear(self) -> None:
        """Forget every key (a key was rotated or disabled)."""
        self._keys.clear()


_caches: weakref.WeakKeyDictionary[Database, KeyCache] = weakref.WeakKeyDictionary()


def key_cache(database: Database) -> KeyCache:
    """The key cache of ``database`` in this process."""
    cache = _caches.get(database)
    if cache is None:
        cache = _caches.setdefault(database, KeyCache())
    return cache


def forget_keys(database: Database) -> None:
    """Empty ``database``'s key cache in this process: call it once a key change is committed.

    A key rotated or disabled then stops working at once here (within ``KEY_CACHE_SECONDS``
    in other processes).
    """
    key_cache(database).clear()


def server_key(database: Database, secret: str) -> ServerKey | None:
    """The key whose secret is ``secret`` (enabled or not), from the cache or the database.

    Blocking on a cache miss: call it in a worker thread from async code.
    """
    digest = hash_secret(secret)
    cache = key_cache(database)
    key = cache.get(digest)
    if key is None:
        with database.read() as conn:
            key = find_key(conn, secret)
        if key is not None:
            cache.put(digest, key)
    return key


def database_of(request: Request) -> Database:
    """The database of the application serving ``request``."""
    database: Database = request.app.state.database
    return database


async def _database(request: Request) -> Database:
    """``database_of`` as a dependency (async: no worker thread needed to read an attribute)."""
    return database_of(request)


async def authenticate(
    request: Request, authorization: Annotated[str | None, Security(_header)] = None
) -> Caller:
    """The caller of ``request``; ``Refused`` (401 / 403) when its key does not allow it.

    A key in the cache costs no database access nor worker thread.
    """
    if not authorization:
        raise Refused(401, "missing_key", "Authorization: ServerKey <key> is required")
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != SCHEME.lower() or not secret:
        raise Refused(401, "bad_authorization", "Authorization must be: ServerKey <key>")
    database = database_of(request)
    cache = key_cache(database)
    digest = hash_secret(secret)
    key = cache.get(digest)
    if key is None:
        key = await run_in_threadpool(server_key, database, secret)
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
        await run_in_threadpool(_touch, database, key, now)
        cache.touched(digest, dataclasses.replace(key, last_used_at=now))
    return Caller(key.application_id, key.id, key.role)


def _touch(database: Database, key: ServerKey, now: datetime) -> None:
    with database.write() as conn:
        touch_key(conn, key, now)


Auth = Annotated[Caller, Depends(authenticate)]
"""An endpoint parameter: the checked caller."""

Db = Annotated[Database, Depends(_database)]
"""An endpoint parameter: the database."""
