"""Stored campaigns: reusable message content for one channel, which journeys point at by id.

The content is checked for its channel when saved (``wayfare.templates.check_content``: its keys,
and every Liquid string parsed) and stored normalized. A campaign that an active journey uses can
be edited but not deleted, nor moved to another channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, func, select

from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
from wayfare.model.states import MESSAGE_CHANNELS
from wayfare.store.common import NAME_MAX, Page, plain_json
from wayfare.store.journeys import active_journeys_using
from wayfare.store.schema import campaigns
from wayfare.templates import check_content

CHANNELS: tuple[str, ...] = tuple(channel.value for channel in MESSAGE_CHANNELS)
"""The channels a campaign can be for (DESIGN.md §2; ``webhook`` states carry their own body)."""


@dataclass(frozen=True, slots=True)
class StoredCampaign:
    """A campaign as stored."""

    id: int
    application_id: int
    name: str
    channel: str
    content: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def create_campaign(
    conn: Connection,
    application_id: int,
    name: str,
    channel: str,
    content: Mapping[str, Any],
    now: datetime,
) -> int:
    """Store a new campaign; its id."""
    name, channel, plain = _checked(name, channel, content)
    result = conn.execute(
        campaigns.insert().values(
            application_id=application_id,
            name=name,
            channel=channel,
            content=plain,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key
    assert result is not None
    return int(result[0])


def get_campaign(conn: Connection, application_id: int, campaign_id: int) -> StoredCampaign:
    """The campaign ``campaign_id`` of the application; ``NotFound`` if it has none such."""
    row = (
        conn.execute(
            select(campaigns).where(
                campaigns.c.id == campaign_id, campaigns.c.application_id == application_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return _stored(row)


def list_campaigns(
    conn: Connection,
    application_id: int,
    *,
    limit: int = 50,
    page: int = 0,
    channel: str | None = None,
) -> Page[StoredCampaign]:
    """The application's campaigns, newest first, ``limit`` per page (``page`` counts from 0)."""
    if limit < 1 or page < 0:
        raise InvalidInput("limit must be at least 1 and page at least 0")
    scope = [campaigns.c.application_id == application_id]
    if channel is not None:
        scope.append(campaigns.c.channel == channel)
    count = conn.execute(select(func.count()).select_from(campaigns).where(*scope)).scalar_one()
    rows = conn.execute(
        select(campaigns)
        .where(*scope)
        .order_by(campaigns.c.id.desc())
        .limit(limit)
        .offset(page * limit)
    ).mappings()
    return Page([_stored(row) for row in rows], int(count))


def update_campaign(
    conn: Connection,
    application_id: int,
    campaign_id: int,
    now: datetime,
    *,
    name: str | None = None,
    channel: str | None = None,
    content: Mapping[str, Any] | None = None,
) -> StoredCampaign:
    """Change the campaign's name, channel and/or content (those given); the campaign after.

    Active journeys send the new content from now on. Changing the channel of a campaign that an
    active journey uses is a ``Conflict`` (its message states are for the old channel).
    """
    current = get_campaign(conn, application_id, campaign_id)
    if channel is not None and channel != current.channel:
        _refuse_if_used(conn, application_id, campaign_id, "moved to another channel")
    name, channel, plain = _checked(
        current.name if name is None else name,
        current.channel if channel is None else channel,
        current.content if content is None else content,
    )
    conn.execute(
        campaigns.update()
        .where(campaigns.c.id == campaign_id, campaigns.c.application_id == application_id)
        .values(name=name, channel=channel, content=plain, updated_at=now)
    )
    return get_campaign(conn, application_id, campaign_id)


def delete_campaign(conn: Connection, application_id: int, campaign_id: int) -> None:
    """Delete the campaign; ``Conflict`` naming the journey if an active journey uses it."""
    get_campaign(conn, application_id, campaign_id)
    _refuse_if_used(conn, application_id, campaign_id, "deleted")
    conn.execute(
        campaigns.delete().where(
            campaigns.c.id == campaign_id, campaigns.c.application_id == application_id
        )
    )


def _refuse_if_used(conn: Connection, application_id: int, campaign_id: int, what: str) -> None:
    users = active_journeys_using(conn, application_id, "campaignId", campaign_id)
    if users:
        named = ", ".join(f"journey {jid} {name!r}" for jid, name in users)
        raise Conflict(
            f"campaign {campaign_id} is used by the active {named}: it cannot be {what} "
            "until that journey is deactivated"
        )


def _checked(name: object, channel: object, content: object) -> tuple[str, str, dict[str, Any]]:
    problems = []
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("name", "must be a non-empty string", "required"))
    elif len(name.strip()) > NAME_MAX:
        problems.append(Problem("name", f"must be at most {NAME_MAX} characters", "too_long"))
    if channel not in CHANNELS:
        problems.append(
            Problem("channel", f"{channel!r} is not one of {', '.join(CHANNELS)}", "unknown")
        )
    if not isinstance(content, Mapping):
        problems.append(Problem("content", "must be an object", "type"))
    elif channel in CHANNELS:
        assert isinstance(channel, str)
        content, content_problems = check_content(channel, plain_json(content, "content"))
        problems.extend(content_problems)
    if problems:
        raise InvalidInput(problems=problems)
    assert isinstance(name, str) and isinstance(channel, str) and isinstance(content, Mapping)
    return name.strip(), channel, dict(content)


def _stored(row: RowMapping) -> StoredCampaign:
    return StoredCampaign(
        id=int(row["id"]),
        application_id=int(row["application_id"]),
        name=row["name"],
        channel=row["channel"],
        content=dict(row["content"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
