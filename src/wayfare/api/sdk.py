"""``/v1/push/event``: app SDKs acknowledge a push they received or that was clicked.

The acknowledgement names the outbox message (``messageId``, which the push payload carries)
and becomes a ``push.received`` or ``push.click`` event of its customer with ``customData``
``{messageId, campaignId}``: it feeds statistics and moves journeys waiting in
``FLOW_PUSH_CLICK``. Each is recorded once (``eventId`` ``push:<messageId>:<type>``); a click
also records the receipt it implies.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import and_, select

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, ok
from wayfare.errors import NotFound
from wayfare.store.events import record_events
from wayfare.store.schema import customers, outbox

router = APIRouter(prefix="/v1/push", tags=["SDK"])


class PushEventBody(Body):
    """What happened to a push: ``received`` by the device or ``click`` ed by the customer."""

    type: Literal["received", "click"]
    message_id: int = Field(alias="messageId", ge=1)


@router.post("/event")
def push_event(body: PushEventBody, caller: Auth, database: Db) -> Json:
    """Record ``push.received`` / ``push.click`` for the customer of push message ``messageId``.

    404 when the application has no such push message. A customer erased since is not brought
    back by a late acknowledgement (nothing is recorded).
    """
    now = utcnow()
    with database.write() as conn:
        row = conn.execute(
            select(outbox.c.id, outbox.c.customer_id, outbox.c.campaign_id, customers.c.id)
            .select_from(
                outbox.outerjoin(
                    customers,
                    and_(
                        customers.c.application_id == outbox.c.application_id,
                        customers.c.customer_id == outbox.c.customer_id,
                    ),
                )
            )
            .where(
                outbox.c.id == body.message_id,
                outbox.c.application_id == caller.application_id,
                outbox.c.channel == "push",
            )
        ).first()
        if row is None:
            raise NotFound(f"push message {body.message_id} does not exist")
        message_id, customer_id, campaign_id, stored = row
        steps = ("received",) if body.type == "received" else ("received", "click")
        recorded = 0
        if stored is not None:
            data = {"messageId": int(message_id), "campaignId": campaign_id}
            result = record_events(
                conn,
                caller.application_id,
                [
                    {
                        "eventId": f"push:{message_id}:{step}",
                        "eventCode": f"push.{step}",
                        "customerId": customer_id,
                        "customData": data,
                    }
                    for step in steps
                ],
                now,
            )
            recorded = result.recorded
    return ok({"messageId": int(message_id), "type": body.type, "recorded": recorded})
