"""The SMS channel over Twilio's Messages API (or any gateway speaking it at ``baseUrl``).

One message is one ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic
auth and a form body; Twilio's status callbacks come back through ``wayfare.api.callbacks``.
Also here: ``tracked_text``, which the text channels use to turn URLs into tracking links.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx

from wayfare.channels.base import (
    Adapter,
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    Sent,
    Skipped,
    from_exception,
    from_response,
)

__all__ = ["DEFAULT_BASE_URL", "SmsAdapter", "json_body", "tracked_text", "twilio_reason"]

DEFAULT_BASE_URL = "https://api.twilio.com"
"""Twilio's REST API."""

FORM = "application/x-www-form-urlencoded"

_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)]}'\""


def tracked_text(text: str, links: Mapping[str, Any]) -> str:
    """``text`` with each http(s) URL replaced by its tracking link, when tracking is on.

    ``links["click"]`` (set by the dispatcher) maps a target URL to its tracking URL; without
    it the text is returned as it is. Punctuation ending a sentence stays out of the URL, and
    the message's own tracking links (an unsubscribe link in the text) are left alone.
    """
    click: Callable[[str], str] | None = links.get("click")
    if click is None:
        return text
    tracking = links.get("tracking")
    own = str(getattr(tracking, "base_url", "") or "\x00") + "/"

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        target = url.rstrip(_TRAILING)
        if target.startswith(own):
            return url
        return click(target) + url[len(target) :]

    return _URL.sub(replace, text)


def json_body(response: httpx.Response) -> Any:
    """The response body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def twilio_reason(response: httpx.Response) -> str:
    """Twilio's explanation of an error reply: ``"<code>: <message>"`` (or the raw body)."""
    body = json_body(response)
    if isinstance(body, Mapping) and body.get("message"):
        code = body.get("code")
        return f"{code}: {body['message']}" if code is not None else str(body["message"])
    return response.text[:300].strip()


@lru_cache(maxsize=256)
def _headers(user: str, password: str) -> tuple[tuple[str, str], ...]:
    """The Basic authorization and form content type (cached: the same few accounts send)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return (("Authorization", f"Basic {token}"), ("Content-Type", FORM))


class SmsAdapter(Adapter):
    """SMS through Twilio's Messages API.

    Settings: ``credentials`` ``{accountSid, authToken}`` (or ``{accountSid, apiKeySid,
    apiKeySecret}``: the API key authenticates the send, the auth token still signs status
    callbacks); ``options`` ``{from}`` or ``{messagingServiceSid}``, and ``statusCallback``
    (the public URL of ``/v1/callback/sms/{applicationId}``). Content: ``{text}``.
    """

    channel: ClassVar[str] = "sms"

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Send ``message`` as one SMS to the customer's phone."""
        phone = message.customer.phone
        if not phone:
            return Skipped("no phone number")
        credentials, options = config.credentials, config.options
        account = credentials.get("accountSid")
        if not account:
            return Failed("sms settings: credentials.accountSid is missing")
        if credentials.get("apiKeySid"):
            user, password = (
                str(credentials["apiKeySid"]),
                str(credentials.get("apiKeySecret") or ""),
            )
        elif credentials.get("authToken"):
            user, password = str(account), str(credentials["authToken"])
        else:
            return Failed("sms settings: credentials.authToken (or apiKeySid) is missing")
        text = str(message.content.get("text") or "")
        if not text:
            return Failed("sms content: text is empty")

        form = {"To": phone}
        if options.get("messagingServiceSid"):
            form["MessagingServiceSid"] = str(options["messagingServiceSid"])
        elif options.get("from"):
            form["From"] = str(options["from"])
        else:
            return Failed("sms settings: options.from or options.messagingServiceSid is required")
        form["Body"] = tracked_text(text, message.links)
        if options.get("statusCallback"):
            form["StatusCallback"] = str(options["statusCallback"])

        url = f"{config.url(DEFAULT_BASE_URL)}/2010-04-01/Accounts/{account}/Messages.json"
        try:
            response = await client.post(
                url, content=urlencode(form).encode(), headers=_headers(user, password)
            )
        except httpx.HTTPError as exc:
            return from_exception(exc)
        if response.is_success:
            body = json_body(response)
            sid = body.get("sid") if isinstance(body, Mapping) else None
            return Sent(str(sid) if sid else None)
        return from_response(response, twilio_reason(response))
