"""``/v1/campaign``: reusable message content for one channel, created, listed, edited, deleted.

``POST /v1/campaign/{id}/preview`` renders a campaign for one stored customer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, Page, created, ok
from wayfare.channels import rendering
from wayfare.store.campaigns import (
    StoredCampaign,
    create_campaign,
    delete_campaign,
    get_campaign,
    list_campaigns,
    update_campaign,
)

router = APIRouter(prefix="/v1/campaign", tags=["campaigns"])


class CampaignBody(Body):
    """A new campaign: its channel and its content (Liquid templates)."""

    name: str
    channel: str
    content: dict[str, Any]


class CampaignChanges(Body):
    """What to change in a campaign (the keys given)."""

    name: str | None = None
    channel: str | None = None
    content: dict[str, Any] | None = None


class PreviewEvent(Body):
    """The event a preview pretends triggered the message."""

    event_code: str = Field(alias="eventCode", min_length=1, max_length=200)
    date: datetime | None = None
    custom_data: dict[str, Any] = Field(default_factory=dict, alias="customData")


class PreviewBody(Body):
    """Whom to render a campaign for: a stored customer, context values, a triggering event."""

    customer_id: str = Field(alias="customerId", min_length=1, max_length=200)
    context: dict[str, Any] = Field(default_factory=dict)
    event: PreviewEvent | None = None


def campaign_json(campaign: StoredCampaign) -> dict[str, Any]:
    """A campaign as the API shows it."""
    return {
        "id": campaign.id,
        "name": campaign.name,
        "channel": campaign.channel,
        "content": campaign.content,
        "createdAt": campaign.created_at,
        "updatedAt": campaign.updated_at,
    }


@router.post("", status_code=201)
def create(body: CampaignBody, caller: Auth, database: Db) -> Json:
    """Create a campaign."""
    with database.write() as conn:
        campaign_id = create_campaign(
            conn, caller.application_id, body.name, body.channel, body.content, utcnow()
        )
        campaign = get_campaign(conn, caller.application_id, campaign_id)
    return created(campaign_json(campaign))


@router.get("")
def index(
    caller: Auth, database: Db, page: Page, channel: str | None = Query(None, max_length=20)
) -> Json:
    """The campaigns, newest first (of one channel with ``channel``)."""
    with database.read() as conn:
        found = list_campaigns(
            conn, caller.application_id, limit=page.limit, page=page.page, channel=channel
        )
    return ok([campaign_json(c) for c in found.items], count=found.count)


@router.get("/{campaign_id}")
def show(campaign_id: int, caller: Auth, database: Db) -> Json:
    """One campaign."""
    with database.read() as conn:
        campaign = get_campaign(conn, caller.application_id, campaign_id)
    return ok(campaign_json(campaign))


@router.put("/{campaign_id}")
def update(campaign_id: int, body: CampaignChanges, caller: Auth, database: Db) -> Json:
    """Change a campaign's name, channel and/or content."""
    with database.write() as conn:
        campaign = update_campaign(
            conn,
            caller.application_id,
            campaign_id,
            utcnow(),
            name=body.name,
            channel=body.channel,
            content=body.content,
        )
    return ok(campaign_json(campaign))


@router.delete("/{campaign_id}")
def delete(campaign_id: int, caller: Auth, database: Db) -> Json:
    """Delete a campaign (refused while an active journey uses it)."""
    with database.write() as conn:
        delete_campaign(conn, caller.application_id, campaign_id)
    return ok({"id": campaign_id})


@router.post("/{campaign_id}/preview")
def preview(campaign_id: int, body: PreviewBody, caller: Auth, database: Db) -> Json:
    """The campaign's content rendered for one stored customer (with context and event)."""
    event = None
    if body.event is not None:
        event = {
            "eventCode": body.event.event_code,
            "date": body.event.date or utcnow(),
            "customData": body.event.custom_data,
        }
    with database.read() as conn:
        campaign = get_campaign(conn, caller.application_id, campaign_id)
        customer, content = rendering.preview(
            conn,
            caller.application_id,
            campaign.channel,
            campaign.content,
            body.customer_id,
            context=body.context,
            event=event,
        )
    return ok(
        {
            "campaignId": campaign.id,
            "channel": campaign.channel,
            "customerId": customer.customer_id,
            "content": content,
        }
    )
