"""Tracking links: signed tokens for click redirects, the open pixel and unsubscribe links.

A token is ``<payload>.<signature>``, both base64url without padding: the payload is a compact
JSON array (version, kind, channel, outbox message id, application id, customer id, campaign
id, and the target URL for clicks); the signature is HMAC-SHA256 of the payload with the
installation's signing key (table ``secrets``), cut to 128 bits. The API serves
``/t/{token}`` (click), ``/o/{token}.gif`` (open) and ``/u/{token}`` (unsubscribe).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import re
import secrets as random_secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, select

from wayfare.errors import NotFound
from wayfare.store.database import dialect_of
from wayfare.store.schema import secrets

__all__ = [
    "KINDS",
    "SIGNING_KEY_NAME",
    "InvalidToken",
    "Kind",
    "TrackingLinks",
    "TrackingToken",
    "add_open_pixel",
    "links_for",
    "message_links",
    "read_token",
    "rewrite_links",
    "sign_token",
    "signing_key",
]

Kind = Literal["click", "open", "unsubscribe"]

KINDS: Mapping[str, Kind] = {"c": "click", "o": "open", "u": "unsubscribe"}
"""The one-letter code of each kind of token, as the payload carries it."""

_CODES = {kind: code for code, kind in KINDS.items()}

SIGNING_KEY_NAME = "tracking.signing_key"
"""The row of ``secrets`` holding the tracking links' signing key (base64url, 32 bytes)."""

_VERSION = 1
_SIGNATURE_BYTES = 16
_DOMAIN = b"wayfare-tracking-v1\x00"  # binds the key's use to tracking tokens


class InvalidToken(NotFound):
    """That tracking link is not valid."""

    error_code = "invalid_token"


@dataclass(frozen=True, slots=True)
class TrackingToken:
    """What a verified token says: which message, for whom, and (clicks) where to go."""

    kind: Kind
    channel: str
    message_id: int
    application_id: int
    customer_id: str
    campaign_id: int | None
    url: str | None = None


# -- the signing key ------------------------------------------------------------------------------


def signing_key(conn: Connection, now: datetime | None = None) -> bytes:
    """The installation's key for tracking tokens, made on first use (safe under races).

    The key is inserted unless a row exists already, then read back, so processes that start
    together all end up with the one key that won. ``now`` stamps a new key (default: the
    clock).
    """
    stored = conn.execute(select(secrets.c.value).where(secrets.c.name == SIGNING_KEY_NAME))
    value = stored.scalar()
    if value is None:
        new = _b64encode(random_secrets.token_bytes(32))
        conn.execute(
            dialect_of(conn)
            .insert(secrets)
            .on_conflict_do_nothing(index_elements=["name"])
            .values(name=SIGNING_KEY_NAME, value=new, created_at=now or datetime.now(UTC))
        )
        value = conn.execute(
            select(secrets.c.value).where(secrets.c.name == SIGNING_KEY_NAME)
        ).scalar_one()
    return _b64decode(str(value))


# -- tokens ---------------------------------------------------------------------------------------


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: bytes, payload: str) -> str:
    mac = hmac.new(key, _DOMAIN + payload.encode("ascii"), hashlib.sha256).digest()
    return _b64encode(mac[:_SIGNATURE_BYTES])


def sign_token(key: bytes, token: TrackingToken) -> str:
    """The URL-safe, signed text of ``token``."""
    if token.kind == "click":
        if not token.url or not _HTTP.match(token.url):
            raise ValueError(f"a click token needs an http(s) URL, not {token.url!r}")
    elif token.url is not None:
        raise ValueError(f"a {token.kind} token carries no URL")
    fields: list[Any] = [
        _VERSION,
        _CODES[token.kind],
        token.channel,
        token.message_id,
        token.application_id,
        token.customer_id,
        token.campaign_id,
    ]
    if token.url is not None:
        fields.append(token.url)
    payload = _b64encode(orjson.dumps(fields))
    return f"{payload}.{_signature(key, payload)}"


def read_token(key: bytes, text: str, kind: Kind | None = None) -> TrackingToken:
    """The token ``text`` says, checked against ``key``; ``InvalidToken`` if it is not genuine.

    With ``kind``, a token of another kind (an open token on the click URL) is refused too.
    """
    payload, dot, signature = text.partition(".")
    if not dot or not payload or not signature or not text.isascii():
        raise InvalidToken("tracking token is malformed (expected <payload>.<signature>)")
    if not hmac.compare_digest(_signature(key, payload), signature):
        raise InvalidToken("tracking token signature does not match: altered or not ours")
    try:
        fields = orjson.loads(_b64decode(payload))
        version, code, channel, message_id, application_id, customer_id, campaign_id, *rest = fields
        if version != _VERSION or code not in KINDS:
            raise InvalidToken(f"tracking token version or kind is unknown ({version!r}, {code!r})")
        found = TrackingToken(
            KINDS[code],
            str(channel),
            int(message_id),
            int(application_id),
            str(customer_id),
            None if campaign_id is None else int(campaign_id),
            str(rest[0]) if rest else None,
        )
    except (ValueError, TypeError, binascii.Error):  # orjson.JSONDecodeError is a ValueError
        raise InvalidToken("tracking token payload is unreadable") from None
    if kind is not None and found.kind != kind:
        raise InvalidToken(f"this is a {found.kind} token, not a {kind} token")
    return found


# -- links of one message -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackingLinks:
    """The tracking URLs of one message: ``open`` (pixel), ``unsubscribe``, ``click(url)``."""

    base_url: str
    open: str
    unsubscribe: str
    key: bytes = field(repr=False)
    token: TrackingToken = field(repr=False)

    def click(self, url: str) -> str:
        """The click-tracking URL that records a click, then redirects to ``url``."""
        clicked = TrackingToken(
            "click",
            self.token.channel,
            self.token.message_id,
            self.token.application_id,
            self.token.customer_id,
            self.token.campaign_id,
            url,
        )
        return f"{self.base_url}/t/{sign_token(self.key, clicked)}"


def links_for(
    key: bytes,
    base_url: str,
    message_id: int,
    application_id: int,
    customer_id: str,
    campaign_id: int | None,
    *,
    channel: str = "email",
) -> TrackingLinks:
    """The tracking links of outbox message ``message_id``, served under ``base_url``.

    ``base_url`` is the public address of the API (``https://wayfare.example.com``);
    ``channel`` is the message's channel (the unsubscribe link withdraws consent for it).
    """
    base = base_url.rstrip("/")
    token = TrackingToken("open", channel, message_id, application_id, customer_id, campaign_id)
    unsubscribe = TrackingToken(
        "unsubscribe", channel, message_id, application_id, customer_id, campaign_id
    )
    return TrackingLinks(
        base_url=base,
        open=f"{base}/o/{sign_token(key, token)}.gif",
        unsubscribe=f"{base}/u/{sign_token(key, unsubscribe)}",
        key=key,
        token=token,
    )


def message_links(links: TrackingLinks) -> dict[str, Any]:
    """``Message.links`` for a tracked message: the links under ``tracking``, and each URL.

    ``{"tracking": links, "open": url, "unsubscribe": url, "click": links.click}``: adapters
    that rewrite content use ``tracking``; those that only need a URL take it by name.
    """
    return {
        "tracking": links,
        "open": links.open,
        "unsubscribe": links.unsubscribe,
        "click": links.click,
    }


# -- HTML -----------------------------------------------------------------------------------------

_HTTP = re.compile(r"https?://", re.IGNORECASE)

# A comment (left alone) or an <a ...> start tag (quoted attribute values may hold ">").
_TAGS = re.compile(
    r"<!--.*?-->|<a\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>",
    re.IGNORECASE | re.DOTALL,
)
_HREF = re.compile(
    r"(?P<lead>\shref\s*=\s*)(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)'|(?P<bare>[^\s\"'=<>`]+))",
    re.IGNORECASE,
)
_NO_TRACK = re.compile(r"\sdata-notrack\b", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def rewrite_links(html_text: str, links: TrackingLinks) -> str:
    """``html_text`` with each ``<a href="http(s)://...">`` turned into a click-tracking URL.

    Left alone: other schemes (``mailto:``, ``tel:``), anchors (``#top``), relative links, the
    message's own unsubscribe and tracking links, links inside comments, and ``<a>`` tags
    marked ``data-notrack``. The target is the href as the browser reads it (entities decoded).
    """
    own = links.base_url + "/"

    def tag(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith("<!--") or _NO_TRACK.search(text):
            return text
        href = _HREF.search(text)
        if href is None:
            return text
        raw = next(v for v in href.group("dq", "sq", "bare") if v is not None)
        target = html.unescape(raw).strip()
        if not _HTTP.match(target) or target == links.unsubscribe or target.startswith(own):
            return text
        tracked = html.escape(links.click(target), quote=True)
        return f'{text[: href.start()]}{href.group("lead")}"{tracked}"{text[href.end() :]}'

    return _TAGS.sub(tag, html_text)


def add_open_pixel(html_text: str, links: TrackingLinks) -> str:
    """``html_text`` with a 1x1 open-tracking image before ``</body>`` (or at the end)."""
    pixel = (
        f'<img src="{html.escape(links.open, quote=True)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0" />'
    )
    ends = list(_BODY_END.finditer(html_text))
    if not ends:
        return html_text + pixel
    at = ends[-1].start()
    return html_text[:at] + pixel + html_text[at:]
