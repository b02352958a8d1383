"""Idempotency keys: the claim a request makes on its ``Idempotency-Key``, and the answer kept.

A claim is a row without a status (the request is running); ``complete`` stores the answer,
``release`` drops the claim of a request whose answer is not kept. Keys live ``KEY_TTL``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from wayfare.store.database import dialect_of
from wayfare.store.schema import idempotency_keys

KEY_TTL = timedelta(hours=24)
"""How long a key is remembered; after that the same key is a new request."""

STALE_CLAIM = timedelta(hours=1)
"""A claim without an answer this old belongs to a process that died: it may be taken over."""


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A key already claimed: by a running request (``status_code`` None) or with its answer."""

    method: str
    path: str
    request_hash: str | None
    status_code: int | None
    response_body: str | None
    created_at: datetime


def claim(
    conn: Connection, application_id: int, key: str, method: str, path: str, now: datetime
) -> StoredKey | None:
    """Claim ``key`` for a request; None when claimed, else what the key already holds.

    An expired key, or a claim left by a dead process, is taken over.
    """
    table = idempotency_keys
    values = {
        "application_id": application_id,
        "key": key,
        "method": method,
        "path": path,
        "request_hash": None,
        "status_code": None,
        "response_body": None,
        "created_at": now,
    }
    insert = dialect_of(conn).insert(table).values(**values).on_conflict_do_nothing()
    if conn.execute(insert.returning(table.c.id)).first() is not None:
        return None
    row = conn.execute(
        select(table).where(table.c.application_id == application_id, table.c.key == key)
    ).first()
    if row is None:  # released in between: try once more
        if conn.execute(insert.returning(table.c.id)).first() is not None:
            return None
        return claim(conn, application_id, key, method, path, now)
    found = StoredKey(
        method=row.method,
        path=row.path,
        request_hash=row.request_hash,
        status_code=row.status_code,
        response_body=row.response_body,
        created_at=row.created_at,
    )
    expired = found.created_at <= now - KEY_TTL
    stale = found.status_code is None and found.created_at <= now - STALE_CLAIM
    if expired or stale:
        taken = conn.execute(
            update(table)
            .where(table.c.id == row.id, table.c.created_at == row.created_at)
            .values(**values)
            .returning(table.c.id)
        ).first()
        if taken is not None:
            return None
    return found


def complete(
    conn: Connection,
    application_id: int,
    key: str,
    request_hash: str,
    status_code: int,
    response_body: str,
) -> None:
    """Keep the answer of the request that claimed ``key``."""
    table = idempotency_keys
    conn.execute(
        update(table)
        .where(table.c.application_id == application_id, table.c.key == key)
        .values(request_hash=request_hash, status_code=status_code, response_body=response_body)
    )


def release(conn: Connection, application_id: int, key: str) -> None:
    """Drop the claim on ``key`` (its request ended without an answer to keep)."""
    table = idempotency_keys
    conn.execute(
        delete(table).where(
            table.c.application_id == application_id,
            table.c.key == key,
            table.c.status_code.is_(None),
        )
    )


def purge_expired(conn: Connection, now: datetime) -> int:
    """Delete the keys older than ``KEY_TTL``; how many were."""
    table = idempotency_keys
    return conn.execute(delete(table).where(table.c.created_at <= now - KEY_TTL)).rowcount
