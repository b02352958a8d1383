"""``/v1/inapp``: the in-app inbox for app and web SDKs.

SDKs list a customer's messages and report reads and clicks, which become ``inapp.read`` and
``inapp.click`` events.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import Connection, select

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, Page, ok
from wayfare.store.events import record_events
from wayfare.store.inbox import InboxMessage, list_inbox, mark_clicked, mark_read
from wayfare.store.schema import customers

router = APIRouter(prefix="/v1/inapp", tags=["in-app"])


class ClickBody(Body):
    """A click on an in-app message, with the URL of the button or link when there is one."""

    url: str | None = Field(None, max_length=2000)


def _events(
    conn: Connection, message: InboxMessage, steps: tuple[str, ...], url: str | None = None
) -> None:
    """Record ``inapp.<step>`` events for ``message`` (once each), if its customer exists."""
    exists = conn.execute(
        select(customers.c.id).where(
            customers.c.application_id == message.application_id,
            customers.c.customer_id == message.customer_id,
        )
    ).first()
    if exists is None:  # an erased customer is not brought back by a late report
        return
    data: dict[str, Any] = {"inboxId": message.id, "campaignId": message.campaign_id}
    if message.outbox_id is not None:
        data["messageId"] = message.outbox_id
    events = []
    for step in steps:
        extra = {"url": url} if step == "click" and url else {}
        events.append(
            {
                "eventId": f"inapp:{message.id}:{step}",
                "eventCode": f"inapp.{step}",
                "customerId": message.customer_id,
                "customData": data | extra,
            }
        )
    record_events(conn, message.application_id, events, utcnow())


@router.get("/{customerId}")
def inbox(customerId: str, caller: Auth, database: Db, page: Page) -> Json:
    """The customer's in-app messages, newest first; expired ones are left out."""
    with database.read() as conn:
        found = list_inbox(conn, caller.application_id, customerId, utcnow(), page.limit, page.page)
    return ok([m.to_dict() for m in found.items], count=found.count)


@router.post("/{messageId}/read")
def read(messageId: int, caller: Auth, database: Db) -> Json:
    """The customer saw the message (records ``inapp.read`` the first time)."""
    with database.write() as conn:
        message = mark_read(conn, caller.application_id, messageId, utcnow())
        _events(conn, message, ("read",))
    return ok(message.to_dict())


@router.post("/{messageId}/click")
def click(messageId: int, caller: Auth, database: Db, body: ClickBody | None = None) -> Json:
    """The customer clicked the message or a button (``inapp.click``; ``inapp.read`` too)."""
    url = body.url if body is not None else None
    with database.write() as conn:
        message = mark_clicked(conn, caller.application_id, messageId, utcnow())
        _events(conn, message, ("read", "click"), url)
    return ok(message.to_dict())
