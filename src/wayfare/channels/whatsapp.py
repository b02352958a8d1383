"""The WhatsApp channel over Meta's WhatsApp Cloud API: text, template and media messages.

One message is one ``POST /{version}/{phoneNumberId}/messages`` with a bearer token; delivery
statuses come back to the webhook in ``wayfare.api.callbacks``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    from_exception,
    from_response,
    retry_after,
)
from wayfare.channels.sms import json_body, tracked_text

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_VERSION",
    "MEDIA_TYPES",
    "RATE_LIMIT_CODES",
    "WhatsAppAdapter",
    "whatsapp_payload",
]

DEFAULT_BASE_URL = "https://graph.facebook.com"
"""Meta's Graph API."""

DEFAULT_VERSION = "v21.0"
"""The Graph API version called unless ``options.version`` says otherwise."""

MEDIA_TYPES = ("image", "document", "video")
"""The media a message can carry (by ``link``)."""

RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056})
"""Cloud API error codes that mean "too many, slow down": retried like a 429.

4: application request limit; 80007: WhatsApp Business Account rate limit; 130429: Cloud API
throughput; 131048: spam rate limit; 131056: too many messages to one recipient."""

TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})
"""Cloud API error codes for passing trouble on Meta's side (unknown error, service
unavailable, server temporarily unavailable): retried."""


def whatsapp_payload(message: Message, to: str) -> dict[str, Any] | str:
    """The Cloud API body for ``message`` to ``to``, or the reason it cannot be built.

    Content ``{text}`` is a text message (an image, document or video with ``text`` as caption
    when ``media`` is given); ``{template, language?, parameters?}`` a template message, its
    parameters filling the body's ``{{1}}``, ``{{2}}``…, ``media`` the header's.
    """
    content = message.content
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
    }
    media = content.get("media")
    if media is not None and (
        not isinstance(media, Mapping)
        or media.get("type") not in MEDIA_TYPES
        or not media.get("url")
    ):
        return f"whatsapp content: media must be {{type: {' | '.join(MEDIA_TYPES)}, url}}"
    template = content.get("template")
    if template:
        language = content.get("language") or message.customer.language or "en_US"
        body: dict[str, Any] = {"name": str(template), "language": {"code": str(language)}}
        components: list[dict[str, Any]] = []
        if media is not None:
            kind = str(media["type"])
            components.append(
                {"type": "header", "parameters": [{"type": kind, kind: {"link": media["url"]}}]}
            )
        parameters = content.get("parameters") or ()
        if not isinstance(parameters, Sequence) or isinstance(parameters, str):
            return "whatsapp content: parameters must be a list"
        if parameters:
            components.append(
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": tracked_text(str(p), message.links)}
                        for p in parameters
                    ],
                }
            )
        if components:
            body["components"] = components
        return payload | {"type": "template", "template": body}
    text = tracked_text(str(content.get("text") or ""), message.links)
    if media is not None:
        kind = str(media["type"])
        item: dict[str, Any] = {"link": str(media["url"])}
        if text:
            item["caption"] = text
        return payload | {"type": kind, kind: item}
    if not text:
        return "whatsapp content: text or template is required"
    return payload | {"type": "text", "text": {"body": text}}


def _error(response: httpx.Response) -> tuple[int | None, str]:
    body = json_body(response)
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return None, response.text[:300].strip()
    code = error.get("code")
    subcode = error.get("error_subcode")
    label = f"{code}/{subcode}" if subcode is not None else f"{code}"
    reason = f"{label}: {error.get('message', '')}".strip()
    if error.get("fbtrace_id"):
        reason += f" (fbtrace_id {error['fbtrace_id']})"
    return code if isinstance(code, int) else None, reason


class WhatsAppAdapter(Adapter):
    """WhatsApp through the Cloud API.

    Settings: ``credentials`` ``{accessToken}`` (a system-user token with
    ``whatsapp_business_messaging``); ``options`` ``{phoneNumberId, version?}`` and, for the
    status webhook, ``{verifyToken, appSecret?}``. The address is the customer's ``whatsapp``
    number, else their ``phone``, sent without the ``+``.
    """

    channel: ClassVar[str] = "whatsapp"

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Send ``message`` as one WhatsApp message."""
        number = message.customer.whatsapp or message.customer.phone
        if not number:
            return Skipped("no WhatsApp number or phone")
        token = config.credentials.get("accessToken")
        if not token:
            return Failed("whatsapp settings: credentials.accessToken is missing")
        phone_number_id = config.options.get("phoneNumberId")
        if not phone_number_id:
            return Failed("whatsapp settings: options.phoneNumberId is missing")
        payload = whatsapp_payload(message, number.lstrip("+"))
        if isinstance(payload, str):
            return Failed(payload)
        version = str(config.options.get("version") or DEFAULT_VERSION)
        url = f"{config.url(DEFAULT_BASE_URL)}/{version}/{phone_number_id}/messages"
        try:
            response = await client.post(
                url, json=payload, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            return from_exception(exc)
        if response.is_success:
            body = json_body(response)
            messages = body.get("messages") if isinstance(body, Mapping) else None
            first = messages[0] if isinstance(messages, list) and messages else None
            wamid = first.get("id") if isinstance(first, Mapping) else None
            return Sent(str(wamid) if wamid else None)
        code, reason = _error(response)
        if code in RATE_LIMIT_CODES or code in TRANSIENT_CODES:
            return RetryLater(f"HTTP {response.status_code}: {reason}", retry_after(response))
        return from_response(response, reason)
