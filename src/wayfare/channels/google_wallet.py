"""Google Wallet pass updates: new text modules on a customer's pass object, a notifying message.

Uses the Google Wallet REST API (``walletobjects/v1``) with a service account that is an issuer
user; the pass's object id is ``{issuerId}.{customerId}`` with the characters Google refuses
replaced by ``_``. The Apple side of the ``wallet`` channel lives in its own module.
"""

from __future__ import annotations

import re
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
    "OBJECT_TYPES",
    "WALLET_SCOPE",
    "GoogleWalletAdapter",
    "google_wallet_config",
    "object_id",
    "update_google_object",
]

WALLET_URL = "https://walletobjects.googleapis.com"
WALLET_SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
"""The OAuth scope of the Google Wallet API for issuers."""

OBJECT_TYPES = (
    "genericObject",
    "loyaltyObject",
    "offerObject",
    "giftCardObject",
    "eventTicketObject",
    "flightObject",
    "transitObject",
)
"""The pass object collections of ``walletobjects/v1`` (``options.objectType``)."""

NOT_SAVED = "no Google Wallet pass"
_REFUSED = re.compile(r"[^A-Za-z0-9._-]")


def object_id(issuer_id: str, suffix: str) -> str:
    """The object id Google wants: ``{issuerId}.{suffix}`` with only letters, digits, ``._-``.

    Every other character of ``suffix`` (a customer id may hold ``: @ +``) becomes ``_``.
    """
    return f"{issuer_id}.{_REFUSED.sub('_', suffix)}"


def google_wallet_config(config: ChannelConfig) -> ChannelConfig:
    """The Google part of a ``wallet`` channel's settings.

    When ``credentials.google`` or ``options.google`` is an object (the channel also serves
    Apple Wallet, whose keys sit under ``apple``) the Google settings are those two, with
    ``options.google.baseUrl`` replacing Google's URL (the top-level ``baseUrl`` is Apple's);
    otherwise ``config`` itself is Google's.
    """
    credentials = config.credentials.get("google")
    options = config.options.get("google")
    if not isinstance(credentials, Mapping) and not isinstance(options, Mapping):
        return config
    options = options if isinstance(options, Mapping) else {}
    return ChannelConfig(
        enabled=config.enabled,
        base_url=options.get("baseUrl"),
        credentials=credentials if isinstance(credentials, Mapping) else {},
        options=options,
        rate_limit=config.rate_limit,
    )


def _text_modules(fields: Mapping[str, Any], existing: Any) -> list[dict[str, Any]]:
    """The text modules with ``fields`` set: same id replaced, others kept, new ones appended."""
    modules: list[dict[str, Any]] = [
        dict(m) for m in (existing if isinstance(existing, list) else []) if isinstance(m, Mapping)
    ]
    positions = {m.get("id"): i for i, m in enumerate(modules) if m.get("id")}
    for key, value in fields.items():
        module = {"id": str(key), "header": str(key), "body": "" if value is None else str(value)}
        if key in positions:
            modules[positions[key]] = module
        else:
            modules.append(module)
    return modules


def _message_parts(message: Message, options: Mapping[str, Any]) -> tuple[str, str] | None:
    """(header, body) of the pass message, or None when the campaign has none."""
    value = message.content.get("message")
    if not value:
        return None
    if isinstance(value, Mapping):
        header = value.get("header") or options.get("messageHeader") or "Update"
        return str(header), str(value.get("body") or "")
    return str(options.get("messageHeader") or "Update"), str(value)


def _outcome(response: httpx.Response, what: str) -> Delivery | None:
    """None for a 2xx answer, else the delivery it means (404: the pass was never saved)."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    if status == 404:
        return Skipped(NOT_SAVED)
    reason = f"{what}: {api_error(response)[1]}"
    if status in (408, 425, 429) or status >= 500:
        return RetryLater(reason, retry_after(response))
    return Failed(reason)


def _notify_quota_spent(response: httpx.Response) -> bool:
    """Whether Google refused a ``TEXT_AND_NOTIFY`` message for its notification quota.

    Google allows three notifying messages per pass in 24 hours and answers the fourth with a
    ``quotaExceeded`` error (403) naming ``TEXT_AND_NOTIFY``.
    """
    if response.status_code not in (403, 429):
        return False
    code, reason = api_error(response)
    return code == "quotaExceeded" or "TEXT_AND_NOTIFY" in reason


async def update_google_object(
    object_id: str,
    message: Message,
    config: ChannelConfig,
    client: httpx.AsyncClient,
    tokens: ServiceAccountTokens,
) -> Delivery:
    """Update the pass object ``object_id`` with ``message``'s wallet content.

    ``content.fields`` (``{key: value}``) become the object's ``textModulesData`` (id and header
    the key, body the value): the object is read, modules with those ids replaced, new ones
    appended, the rest kept, and the list written back with ``PATCH``. ``content.message``
    (a string, or ``{header, body}``) is then added with ``POST .../addMessage`` as
    ``TEXT_AND_NOTIFY``, which shows a notification on the phone (past Google's quota of three
    a day per pass, it is added again as ``TEXT``, without one). A pass nobody saved (404) is
    ``Skipped("no Google Wallet pass")``. ``config`` is Google's part of the settings
    (``google_wallet_config``).
    """
    account = service_account(config)
    if isinstance(account, Failed):
        return account
    object_type = config.options.get("objectType") or "genericObject"
    if object_type not in OBJECT_TYPES:
        return Failed(f"options.objectType must be one of {', '.join(OBJECT_TYPES)}")
    fields = message.content.get("fields") or {}
    if not isinstance(fields, Mapping):
        return Failed("content.fields must be an object")
    parts = _message_parts(message, config.options)
    if not fields and parts is None:
        return Skipped("nothing to update (no fields, no message)")

    target = f"{config.url(WALLET_URL)}/walletobjects/v1/{object_type}/{object_id}"
    url = token_url(account, config.options)

    async def call(
        method: str, path: str, body: Mapping[str, Any] | None
    ) -> httpx.Response | Failed | RetryLater:
        return await authorized(
            client, tokens, account, WALLET_SCOPE, url, method, target + path, body
        )

    if fields:
        current = await call("GET", "", None)
        if not isinstance(current, httpx.Response):
            return current
        if (outcome := _outcome(current, "reading the pass")) is not None:
            return outcome
        try:
            existing = current.json().get("textModulesData")
        except (ValueError, AttributeError):
            existing = None
        body = {"textModulesData": _text_modules(fields, existing)}
        patched = await call("PATCH", "", body)
        if not isinstance(patched, httpx.Response):
            return patched
        if (outcome := _outcome(patched, "updating the pass")) is not None:
            return outcome

    if parts is not None:
        header, text = parts
        note = {
            "message": {
                "header": header,
                "body": text,
                "id": f"wayfare-{message.id}",
                "messageType": "TEXT_AND_NOTIFY",
            }
        }
        added = await call("POST", "/addMessage", note)
        if isinstance(added, httpx.Response) and _notify_quota_spent(added):
            note["message"]["messageType"] = "TEXT"  # Google's advice: add it without notifying
            added = await call("POST", "/addMessage", note)
        if not isinstance(added, httpx.Response):
            return added
        if (outcome := _outcome(added, "adding the message")) is not None:
            return outcome
    return Sent(object_id)


class GoogleWalletAdapter(Adapter):
    """The Google side of the ``wallet`` channel: updates the customer's Google Wallet object.

    The object id is ``message.extra["googleObjectId"]`` when the dispatcher set one, else
    ``object_id(options.issuerId, customerId)``.
    """

    channel: ClassVar[str] = "wallet"

    def __init__(self, tokens: ServiceAccountTokens | None = None) -> None:
        self.tokens = tokens or ServiceAccountTokens()

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Update the customer's pass object; skipped when they never saved the pass."""
        google = google_wallet_config(config)
        target = message.extra.get("googleObjectId")
        if not isinstance(target, str) or not target:
            issuer = google.options.get("issuerId")
            if not issuer:
                return Failed("options.issuerId is missing (the Google Wallet issuer id)")
            target = object_id(str(issuer), message.customer.customer_id)
        return await update_google_object(target, message, google, client, self.tokens)
