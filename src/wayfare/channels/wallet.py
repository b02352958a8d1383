"""The ``wallet`` channel: a campaign's fields written to the customer's Apple and Google passes.

Apple Wallet passes are stored here (the PassKit web service serves them to devices) and
updated before sending, then each device that holds one is told to fetch it again (an APNs
push); Google Wallet objects are updated at Google. Either side runs when its settings are
there (docs/channels/apple-wallet.md, google-wallet.md); the message is sent when any pass
took the update, and skipped when the customer has no pass on either side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

import httpx
from sqlalchemy import Connection

from wayfare.channels.apple_wallet import AppleWalletAdapter, apple_config
from wayfare.channels.base import Adapter, ChannelConfig, Delivery, Message, Skipped, combine
from wayfare.channels.google_wallet import GoogleWalletAdapter, google_wallet_config


class WalletAdapter(Adapter):
    """Apple Wallet and Google Wallet updates for one message."""

    channel: ClassVar[str] = "wallet"
    http2: ClassVar[bool] = True  # Apple Wallet updates go through APNs

    def __init__(self) -> None:
        self.apple = AppleWalletAdapter()
        self.google = GoogleWalletAdapter()

    def prepare(
        self, conn: Connection, messages: Sequence[Message], now: datetime
    ) -> list[Message]:
        """Write the fields to the customers' stored Apple passes (and find their devices)."""
        return self.apple.prepare(conn, messages, now)

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Push the Apple update and update the Google object, as configured."""
        outcomes: list[Delivery] = []
        apple = apple_config(config).credentials
        if apple.get("keyId") or apple.get("certificate"):
            outcomes.append(await self.apple.send(message, config, client))
        if google_wallet_config(config).credentials.get("serviceAccount"):
            outcomes.append(await self.google.send(message, config, client))
        if not outcomes:
            return Skipped("no wallet service configured")
        if all(isinstance(o, Skipped) for o in outcomes):
            return Skipped("; ".join(o.reason for o in outcomes if isinstance(o, Skipped)))
        return combine([o for o in outcomes if not isinstance(o, Skipped)])

    async def aclose(self) -> None:
        """Close the Apple side's certificate connections."""
        await self.apple.aclose()
