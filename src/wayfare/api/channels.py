"""``/v1/channel``: each channel's provider settings for the application, and their rate limit.

A channel without settings is delivered by the ``log`` channel (recorded, never sent); credentials
are write-only (listings show ``********``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from pydantic import Field

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, ok
from wayfare.channels.dispatch import BUILT_IN
from wayfare.model.customers import CHANNELS
from wayfare.settings import Settings
from wayfare.store.channels import list_channels, put_channel, refuse_private_base_url

router = APIRouter(prefix="/v1/channel", tags=["channels"])


class ChannelBody(Body):
    """A channel's settings: ``{provider?, baseUrl?, credentials?, options?}`` and a rate limit."""

    enabled: bool = True
    settings: dict[str, Any] = Field(default_factory=dict)
    rateLimit: int | None = Field(None, description="Messages per second; none for no limit.")


def _unconfigured(channel: str) -> dict[str, Any]:
    return {
        "channel": channel,
        "enabled": True,
        "settings": {"provider": "inbox" if channel in BUILT_IN else "log"},
        "rateLimit": None,
        "configured": False,
    }


@router.get("")
def index(caller: Auth, database: Db) -> Json:
    """Every channel: its settings, or the ``log`` channel when it has none.

    The in-app inbox needs none: Wayfare delivers it (``provider: inbox``).
    """
    with database.read() as conn:
        stored = {c.channel: c for c in list_channels(conn, caller.application_id)}
    found = [
        stored[c].to_dict() | {"configured": True} if c in stored else _unconfigured(c)
        for c in CHANNELS
    ]
    return ok(found, count=len(found))


@router.put("/{channel}")
def update(
    body: ChannelBody,
    caller: Auth,
    database: Db,
    request: Request,
    channel: str = Path(..., max_length=20),
) -> Json:
    """Set a channel's provider settings (they replace the previous ones).

    A ``baseUrl`` on a loopback or private network address is refused unless the server allows
    private addresses (``WAYFARE_ALLOW_PRIVATE_WEBHOOKS``): a tenant cannot aim the workers at
    the installation's own network.
    """
    settings: Settings = request.app.state.settings
    refuse_private_base_url(body.settings, allow_private=settings.allow_private_webhooks)
    with database.write() as conn:
        put_channel(
            conn,
            caller.application_id,
            channel,
            enabled=body.enabled,
            settings=body.settings,
            rate_limit=body.rateLimit,
            now=utcnow(),
        )
        stored = {c.channel: c for c in list_channels(conn, caller.application_id)}
    return ok(stored[channel].to_dict() | {"configured": True})
