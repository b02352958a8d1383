"""The ``push`` channel: one message to each of a customer's devices, over each platform's service.

Android devices (and any platform listed in ``options.fcmPlatforms``, and tokens with no
platform) go through FCM HTTP v1; iOS devices through APNs (HTTP/2, token auth); browsers
through Web Push with VAPID (the token is the browser's subscription JSON). The message is
sent when any device accepted it. Settings: docs/channels/fcm.md, apns.md and webpush.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, ClassVar

import httpx

from wayfare.channels.apns import ApnsTokenCache, alert_payload, apns_config, apns_id_for, send_apns
from wayfare.channels.base import (
    Adapter,
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    Skipped,
    combine,
)
from wayfare.channels.fcm import send_fcm
from wayfare.channels.google import ServiceAccountTokens
from wayfare.channels.webpush import send_webpush


def web_payload(message: Message) -> dict[str, Any]:
    """What a browser's service worker receives (JSON): the push content and the ids."""
    content = message.content
    payload = {
        key: content[key]
        for key in ("title", "body", "image", "deepLink", "buttons", "data")
        if content.get(key) is not None
    }
    payload["messageId"] = message.id
    if message.campaign_id is not None:
        payload["campaignId"] = message.campaign_id
    return payload


class PushAdapter(Adapter):
    """Sends a push to every device of the customer, each over its platform's service."""

    channel: ClassVar[str] = "push"
    http2: ClassVar[bool] = True  # APNs

    def __init__(self) -> None:
        self.google = ServiceAccountTokens()
        self.apple = ApnsTokenCache()

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """One call per device, concurrently; sent when any device accepted the message."""
        fcm_platforms = config.options.get("fcmPlatforms") or ["android"]
        calls: list[Awaitable[Delivery]] = []
        for device in message.customer.push_tokens:
            if device.platform is None or device.platform in fcm_platforms:
                calls.append(send_fcm(device.token, message, config, client, self.google))
            elif device.platform == "ios":
                calls.append(self._apns(device.token, message, config, client))
            elif device.platform == "web":
                calls.append(send_webpush(device.token, web_payload(message), config, client))
        if not calls:
            return Skipped("no push token")
        return combine(await asyncio.gather(*calls))

    async def _apns(
        self, token: str, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        try:
            tokens = self.apple.get(config) if apns_config(config).credentials else None
        except ValueError as exc:
            return Failed(str(exc))
        return await send_apns(
            token, alert_payload(message), config, client, tokens, apns_id=apns_id_for(message.key)
        )
