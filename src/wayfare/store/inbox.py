"""The in-app inbox: messages waiting in a customer's app or web page, read by the SDKs.

Rows are written by the in-app channel in the dispatch transaction (once per outbox row, so a
retried dispatch adds nothing); SDKs list them newest first and report reads and clicks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select, update

from wayfare.errors import NotFound
from wayfare.store.common import Page, checked_page
from wayfare.store.database import dialect_of
from wayfare.store.schema import inbox_messages

__all__ = [
    "InboxMessage",
    "add_messages",
    "delete_inbox",
    "get_message",
    "list_inbox",
    "mark_clicked",
    "mark_read",
]


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One message of a customer's inbox.

    ``id`` is the inbox message's own id (the ``{messageId}`` of the SDK routes); ``outbox_id``
    is the outbox row it came from (the ``messageId`` of its events), None once that is gone.
    """

    id: int
    application_id: int
    customer_id: str
    outbox_id: int | None
    campaign_id: int | None
    content: Mapping[str, Any]
    created_at: datetime
    expires_at: datetime | None
    read_at: datetime | None
    clicked_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """The message as the SDK routes show it (camelCase keys)."""
        return {
            "id": self.id,
            "customerId": self.customer_id,
            "campaignId": self.campaign_id,
            "content": dict(self.content),
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
            "readAt": self.read_at,
            "clickedAt": self.clicked_at,
        }


def _message(row: Any) -> InboxMessage:
    return InboxMessage(
        id=int(row.id),
        application_id=int(row.application_id),
        customer_id=row.customer_id,
        outbox_id=None if row.outbox_id is None else int(row.outbox_id),
        campaign_id=None if row.campaign_id is None else int(row.campaign_id),
        content=row.content,
        created_at=row.created_at,
        expires_at=row.expires_at,
        read_at=row.read_at,
        clicked_at=row.clicked_at,
    )


def add_messages(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert inbox rows in one batch; a row whose ``outbox_id`` is stored already is left out.

    Each row: ``application_id, customer_id, outbox_id, campaign_id, content, created_at,
    expires_at``. Returns how many rows were new.
    """
    if not rows:
        return 0
    statement = (
        dialect_of(conn)
        .insert(inbox_messages)
        .on_conflict_do_nothing(index_elements=["outbox_id"])
        .returning(inbox_messages.c.id)
    )
    return len(conn.execute(statement, list(rows)).all())


def list_inbox(
    conn: Connection,
    application_id: int,
    customer_id: str,
    now: datetime,
    limit: int = 50,
    page: int = 0,
) -> Page[InboxMessage]:
    """A page of the customer's inbox at ``now``, newest first, expired messages left out."""
    checked_page(limit, limit * page)
    where = (
        inbox_messages.c.application_id == application_id,
        inbox_messages.c.customer_id == customer_id,
        or_(inbox_messages.c.expires_at.is_(None), inbox_messages.c.expires_at > now),
    )
    count = conn.execute(select(func.count()).select_from(inbox_messages).where(*where))
    rows = conn.execute(
        select(inbox_messages)
        .where(*where)
        .order_by(inbox_messages.c.id.desc())
        .limit(limit)
        .offset(limit * page)
    )
    return Page([_message(row) for row in rows], int(count.scalar_one()))


def get_message(conn: Connection, application_id: int, message_id: int) -> InboxMessage:
    """The inbox message ``message_id``; ``NotFound`` if the application has none."""
    row = conn.execute(
        select(inbox_messages).where(
            inbox_messages.c.application_id == application_id,
            inbox_messages.c.id == message_id,
        )
    ).first()
    if row is None:
        raise NotFound(f"in-app message {message_id} does not exist")
    return _message(row)


def _mark(
    conn: Connection, application_id: int, message_id: int, column: str, now: datetime
) -> InboxMessage:
    target = inbox_messages.c[column]
    conn.execute(
        update(inbox_messages)
        .where(
            inbox_messages.c.application_id == application_id,
            inbox_messages.c.id == message_id,
            target.is_(None),
        )
        .values({column: now})
    )
    return get_message(conn, application_id, message_id)


def mark_read(
    conn: Connection, application_id: int, message_id: int, now: datetime
) -> InboxMessage:
    """Mark the message read at ``now`` (the first time only); the message, or ``NotFound``."""
    return _mark(conn, application_id, message_id, "read_at", now)


def mark_clicked(
    conn: Connection, application_id: int, message_id: int, now: datetime
) -> InboxMessage:
    """Mark the message clicked (and read) at ``now``, the first time only; or ``NotFound``.

    A click implies the message was seen, so ``read_at`` is set too when it was not.
    """
    _mark(conn, application_id, message_id, "read_at", now)
    return _mark(conn, application_id, message_id, "clicked_at", now)


def delete_inbox(conn: Connection, application_id: int, customer_id: str) -> int:
    """Delete the customer's inbox (right to erasure); how many messages were removed."""
    result = conn.execute(
        inbox_messages.delete().where(
            inbox_messages.c.application_id == application_id,
            inbox_messages.c.customer_id == customer_id,
        )
    )
    return int(result.rowcount)
