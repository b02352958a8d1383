"""The ``log`` channel: records each message as sent, with its rendered content, and sends nothing.

It delivers every channel that has no settings (development, the demo, benchmarks). Its delivery
is a database write, so it happens in the transaction that hands the message over.
"""

from __future__ import annotations

from typing import ClassVar

import httpx

from wayfare.channels.base import Adapter, ChannelConfig, Delivery, Message, Sent


class LogAdapter(Adapter):
    """Records the message (the dispatcher stores its rendered content); always ``Sent``."""

    channel: ClassVar[str] = "log"

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Nothing leaves: the message is recorded where the dispatcher stores it."""
        return Sent(None)
