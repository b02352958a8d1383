"""Push over Firebase Cloud Messaging's HTTP v1 API, authorised by a Google service account.

``send_fcm`` sends one push to one device token; ``FcmAdapter`` fans a message out over the
customer's FCM tokens (Android by default, the platforms in ``options.fcmPlatforms`` otherwise).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from wayfare.channels.base import (
    Adapter,
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    RetryLater,
    Sent,
    Skipped,
    combine,
    retry_after,
)
from wayfare.channels.google import (
    ServiceAccountTokens,
    api_error,
    authorized,
    service_account,
    token_url,
)

__all__ = [
    "DEAD_TOKEN_CODES",
    "FCM_SCOPE",
    "FcmAdapter",
    "fcm_message",
    "send_fcm",
]

FCM_URL = "https://fcm.googleapis.com"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
"""The OAuth scope of the FCM HTTP v1 API."""

DEAD_TOKEN_CODES = frozenset({"UNREGISTERED"})
"""FCM error codes that mean the device token will never work again: the token is removed.

``SENDER_ID_MISMATCH`` is left out (a token of another project: the settings may be what is
wrong), and so is ``INVALID_ARGUMENT`` (a malformed token, but also a bad payload).
"""

_RETRY_CODES = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"})
_RESERVED_DATA = frozenset({"from", "notification", "message_type"})
_ANDROID_PRIORITIES = ("normal", "high")


def _text(value: Any) -> str:
    """A data value as FCM wants it: a string (JSON for anything that is not a scalar)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def fcm_message(token: str, message: Message, options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``message`` object of an FCM v1 send request for ``token`` (raises ``ValueError``).

    ``notification`` carries title, body and image; ``data`` the campaign's ``data`` plus
    ``campaignId``, ``messageId`` (the outbox id, for the SDK's received/click acknowledgements),
    ``deepLink`` and ``buttons`` (JSON), all strings; ``webpush.fcm_options.link`` the deep link
    when it is HTTPS; ``android`` the options ``androidPriority``, ``androidChannelId`` and
    ``ttl`` (seconds), when given.
    """
    content = message.content
    notification = {
        key: str(content[key]) for key in ("title", "body", "image") if content.get(key)
    }
    data: dict[str, str] = {}
    extra = content.get("data") or {}
    if not isinstance(extra, Mapping):
        raise ValueError("content.data must be an object")
    for key, value in extra.items():
        if key in _RESERVED_DATA or key.startswith(("google", "gcm")):
            raise ValueError(f"content.data.{key} is a key FCM reserves")
        data[str(key)] = _text(value)
    data["messageId"] = str(message.id)
    if message.campaign_id is not None:
        data["campaignId"] = str(message.campaign_id)
    deep_link = content.get("deepLink")
    if deep_link:
        data["deepLink"] = str(deep_link)
    if content.get("buttons"):
        data["buttons"] = _text(content["buttons"])

    body: dict[str, Any] = {"token": token, "data": data}
    if notification:
        body["notification"] = notification
    android: dict[str, Any] = {}
    priority = options.get("androidPriority")
    if priority is not None:
        if priority not in _ANDROID_PRIORITIES:
            raise ValueError("options.androidPriority must be normal or high")
        android["priority"] = priority
    ttl = options.get("ttl")
    if ttl is not None:
        if not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl < 0:
            raise ValueError("options.ttl must be a number of seconds")
        android["ttl"] = f"{int(ttl)}s" if ttl == int(ttl) else f"{ttl:.3f}s"
    if options.get("androidChannelId"):
        android["notification"] = {"channel_id": str(options["androidChannelId"])}
    if android:
        body["android"] = android
    if isinstance(deep_link, str) and deep_link.startswith("https://"):
        body["webpush"] = {"fcm_options": {"link": deep_link}}
    return body


async def send_fcm(
    token: str,
    message: Message,
    config: ChannelConfig,
    client: httpx.AsyncClient,
    tokens: ServiceAccountTokens,
) -> Delivery:
    """Send ``message`` to one FCM device ``token``: ``POST /v1/projects/{id}/messages:send``.

    ``config.credentials["serviceAccount"]`` is the service account's JSON key; the project is
    ``options.projectId``, else the account's ``project_id``. The answer's ``name`` becomes the
    provider message id. A dead or malformed token (``UNREGISTERED``, ``SENDER_ID_MISMATCH``,
    ``INVALID_ARGUMENT``) is ``Failed`` with that code in its reason; ``QUOTA_EXCEEDED``,
    ``UNAVAILABLE``, ``INTERNAL``, 429 and 5xx are ``RetryLater`` (with ``Retry-After``).
    """
    account = service_account(config)
    if isinstance(account, Failed):
        return account
    project = config.options.get("projectId") or account.get("project_id")
    if not project:
        return Failed("options.projectId is missing (and the service account has no project_id)")
    try:
        body = {"message": fcm_message(token, message, config.options)}
    except ValueError as exc:
        return Failed(str(exc))
    target = f"{config.url(FCM_URL)}/v1/projects/{project}/messages:send"
    url = token_url(account, config.options)
    response = await authorized(client, tokens, account, FCM_SCOPE, url, "POST", target, body)
    if not isinstance(response, httpx.Response):
        return response
    status = response.status_code
    if 200 <= status < 300:
        try:
            name = response.json().get("name")
        except (ValueError, AttributeError):
            name = None
        return Sent(name if isinstance(name, str) else None)
    code, reason = api_error(response)
    if code in _RETRY_CODES or status in (408, 425, 429) or status >= 500:
        return RetryLater(reason, retry_after(response))
    return Failed(reason, dead_tokens=(token,) if code in DEAD_TOKEN_CODES else ())


class FcmAdapter(Adapter):
    """The ``push`` channel over FCM: one send per FCM token of the customer, concurrently.

    Which tokens are FCM's: those of the platforms in ``options.fcmPlatforms`` (default
    ``["android"]``; list ``ios`` and ``web`` too when the apps receive every push through
    Firebase), plus tokens with no platform (a bare ``pushToken`` CSV column).
    """

    channel: ClassVar[str] = "push"

    def __init__(self, tokens: ServiceAccountTokens | None = None) -> None:
        self.tokens = tokens or ServiceAccountTokens()

    @staticmethod
    def fcm_tokens(message: Message, config: ChannelConfig) -> list[str]:
        """The customer's device tokens this adapter sends to."""
        platforms = config.options.get("fcmPlatforms") or ["android"]
        return [
            t.token
            for t in message.customer.push_tokens
            if t.platform is None or t.platform in platforms
        ]

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Send ``message`` to each FCM token; sent when at least one device accepted it."""
        targets = self.fcm_tokens(message, config)
        if not targets:
            return Skipped("no push token")
        outcomes = await asyncio.gather(
            *(send_fcm(token, message, config, client, self.tokens) for token in targets)
        )
        return combine(outcomes)
