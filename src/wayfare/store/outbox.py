"""The outbox as the engine writes and dispatches it: one row per message, in sets.

Rows are written with their batch (``executemany``, or one ``INSERT ... SELECT`` per message
for a group of alike enrollments), each idempotency key once; due rows are claimed and marked
sent in batches. The caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    Text,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    select,
    true,
    update,
)

from wayfare.store.database import dialect_of
from wayfare.store.enrollments import aware
from wayfare.store.schema import enrollments, outbox

PENDING = outbox.c.status == literal_column("'pending'")
"""``status = 'pending'`` as the partial index ``ix_outbox_due`` has it (as ``enrollments.DUE``)."""


def insert_outbox(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert outbox rows; a row whose idempotency key exists already is left out."""
    if not rows:
        return
    statement = (
        dialect_of(conn).insert(outbox).on_conflict_do_nothing(index_elements=["idempotency_key"])
    )
    conn.execute(statement, list(rows))


# ---------------------------------------------------------------------------------------------
# The outbox dispatch (the ``log`` channel for now)


def claim_outbox(conn: Connection, now: datetime, limit: int) -> list[tuple[int, str]]:
    """Lock up to ``limit`` pending outbox rows due at ``now``: (id, channel) pairs."""
    query = (
        select(outbox.c.id, outbox.c.channel)
        .where(PENDING, outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(int(row[0]), str(row[1])) for row in conn.execute(query)]


def mark_sent(conn: Connection, ids: Sequence[int], now: datetime) -> None:
    """Mark outbox rows sent at ``now``."""
    if not ids:
        return
    statement = (
        update(outbox)
        .where(outbox.c.id == bindparam("b_id"))
        .values(
            status="sent",
            sent_at=bindparam("b_now", type_=outbox.c.sent_at.type),
            attempts=outbox.c.attempts + 1,
        )
    )
    conn.execute(statement, [{"b_id": i, "b_now": now} for i in ids])


def next_attempt(conn: Connection) -> datetime | None:
    """The earliest ``next_attempt_at`` of a pending outbox row, or None."""
    value = conn.execute(select(func.min(outbox.c.next_attempt_at)).where(PENDING)).scalar()
    return aware(value, outbox.c.next_attempt_at.type, conn)


def dispatch_log(conn: Connection, now: datetime, limit: int) -> int:
    """The ``log`` channel: mark up to ``limit`` due pending outbox rows sent, in one update."""
    due = (
        select(outbox.c.id)
        .where(PENDING, outbox.c.next_attempt_at <= now)
        .order_by(outbox.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(outbox)
        .where(outbox.c.id.in_(due.scalar_subquery()))
        .values(status="sent", sent_at=now, attempts=outbox.c.attempts + 1)
    )
    return int(conn.execute(statement).rowcount)


# ---------------------------------------------------------------------------------------------
# Whole groups at once (see ``enrollments.claim_light``)


def outbox_for_group(
    conn: Connection,
    ids: Sequence[int],
    template: Mapping[str, Any],
    key_suffix: str,
    *,
    test: bool,
) -> None:
    """Insert one outbox row per enrollment ``ids`` from ``template`` (one ``INSERT ... SELECT``).

    The idempotency key is ``journey:customer:entry:`` + ``key_suffix``, the payload
    ``{entryNumber, context, campaignId}`` (and ``test``) from each enrollment.
    """
    e = enrollments
    postgres = dialect_of(conn).is_postgres
    colon = literal(":")
    key = (
        cast(e.c.journey_id, String)
        .op("||")(colon)
        .op("||")(e.c.customer_id)
        .op("||")(colon)
        .op("||")(cast(e.c.entry_number, String))
        .op("||")(colon)
        .op("||")(literal(key_suffix))
    )
    parts: list[Any] = [
        literal("entryNumber"),
        e.c.entry_number,
        literal("context"),
        e.c.context if postgres else func.json(e.c.context),
        literal("campaignId"),
        literal(template["campaign_id"] or template["payload"]["campaignId"]),
    ]
    if test:
        parts += [literal("test"), true() if postgres else func.json(literal("true"))]
    payload = (func.jsonb_build_object if postgres else func.json_object)(*parts)
    names = [
        "application_id",
        "idempotency_key",
        "enrollment_id",
        "journey_id",
        "state_id",
        "customer_id",
        "channel",
        "campaign_id",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "reason",
        "created_at",
    ]
    for start in range(0, len(ids), 5000):
        query = select(
            e.c.application_id,
            key,
            e.c.id,
            e.c.journey_id,
            literal(template["state_id"]),
            e.c.customer_id,
            literal(template["channel"]),
            literal(template["campaign_id"], type_=outbox.c.campaign_id.type),
            payload,
            literal(template["status"]),
            literal(0),
            bindparam("next", template["next_attempt_at"], type_=outbox.c.next_attempt_at.type),
            literal(template["reason"], type_=Text),
            bindparam("created", template["created_at"], type_=outbox.c.created_at.type),
        ).where(e.c.id.in_(ids[start : start + 5000]))
        statement = (
            dialect_of(conn)
            .insert(outbox)
            .from_select(names, query)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
        conn.execute(statement)
