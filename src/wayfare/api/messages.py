"""``/v1/message``: what was sent to whom, on which channel, with its status and content."""

from __future__ import annotations

from fastapi import APIRouter, Query

from wayfare.api.auth import Auth, Db
from wayfare.api.envelope import Json, Page, ok
from wayfare.store.outbox import list_messages

router = APIRouter(prefix="/v1/message", tags=["messages"])


@router.get("")
def index(
    caller: Auth,
    database: Db,
    page: Page,
    customer_id: str | None = Query(None, alias="customerId", max_length=200),
    journey_id: int | None = Query(None, alias="journeyId"),
    channel: str | None = Query(None, max_length=20),
) -> Json:
    """Messages, newest first: status (pending, sent, skipped, failed), reason, content."""
    with database.read() as conn:
        found = list_messages(
            conn,
            caller.application_id,
            customer_id=customer_id,
            journey_id=journey_id,
            channel=channel,
            limit=page.limit,
            offset=page.offset,
        )
    return ok(found.items, count=found.count)
