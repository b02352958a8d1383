"""The in-app / in-web channel: a message is a row in the customer's inbox, which SDKs read.

There is no provider: ``prepare`` writes the inbox rows in the dispatch transaction and
``send`` only confirms them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx
from sqlalchemy import Connection

from wayfare.channels.base import Adapter, ChannelConfig, Delivery, Message, Sent
from wayfare.model.durations import parse_duration
from wayfare.store.inbox import add_messages

__all__ = ["InAppAdapter", "expires_at"]


def expires_at(content: Any, now: datetime) -> datetime | None:
    """When a message with ``content`` sent at ``now`` leaves the inbox (``expiresIn``), or None.

    A duration that does not parse (the campaign check refuses those) or is not positive is
    taken as no expiry rather than losing the message.
    """
    text = content.get("expiresIn") if hasattr(content, "get") else None
    if not text:
        return None
    try:
        duration = parse_duration(str(text))
    except ValueError:
        return None
    if duration.negative or duration.is_zero:
        return None
    return duration.add(now)


class InAppAdapter(Adapter):
    """In-app and in-web messages through the inbox (``GET /v1/inapp/{customerId}``).

    Content: ``{html}`` or ``{card: {title, body, image?, buttons?: [{label, url}]}}``, plus
    ``expiresIn`` (an ISO 8601 duration). No settings are needed.
    """

    channel: ClassVar[str] = "inapp"

    def prepare(
        self, conn: Connection, messages: Sequence[Message], now: datetime
    ) -> list[Message]:
        """Put ``messages`` in their customers' inboxes (once per outbox row)."""
        add_messages(
            conn,
            [
                {
                    "application_id": m.application_id,
                    "customer_id": m.customer.customer_id,
                    "outbox_id": m.id,
                    "campaign_id": m.campaign_id,
                    "content": {k: v for k, v in m.content.items() if k != "expiresIn"},
                    "created_at": now,
                    "expires_at": expires_at(m.content, now),
                }
                for m in messages
            ],
        )
        return list(messages)

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """The message is in the inbox already: sent, under its outbox id."""
        return Sent(str(message.id))
