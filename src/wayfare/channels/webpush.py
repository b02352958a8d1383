"""Web Push for In-Web browsers: an encrypted message to a browser's push service, with VAPID.

A customer's web push token is the browser's ``PushSubscription`` as JSON text (what
``JSON.stringify(subscription)`` gives: ``{"endpoint": ..., "keys": {"p256dh": ..., "auth":
...}}``), stored as the token string of a ``web`` push token. ``send_webpush`` encrypts the
payload for that subscription (``aes128gcm``, RFC 8291) and signs the request with the
application's VAPID key (RFC 8292).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import http_ece  # type: ignore[import-untyped]
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_private_key,
    load_pem_private_key,
)

from wayfare.channels.apns import config_section
from wayfare.channels.base import (
    ChannelConfig,
    Delivery,
    Failed,
    Sent,
    from_exception,
    from_response,
)

__all__ = [
    "Subscription",
    "VapidKey",
    "parse_subscription",
    "send_webpush",
    "vapid_headers",
    "webpush_config",
]

DEFAULT_TTL = 24 * 3600
"""Seconds the push service keeps a message for an offline browser (the ``TTL`` header)."""

VAPID_LIFETIME = 12 * 3600
"""Seconds a VAPID JWT is valid (RFC 8292 allows at most 24 hours)."""

URGENCIES = ("very-low", "low", "normal", "high")
"""The ``Urgency`` values of RFC 8030."""

_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")

MAX_PAYLOAD = 4078
"""The largest plaintext that fits one 4096-byte record (RFC 8291 §4)."""


@dataclass(frozen=True, slots=True)
class Subscription:
    """A browser's push subscription: where to post and the keys to encrypt for."""

    endpoint: str
    p256dh: bytes
    """The browser's P-256 public key, an uncompressed point (65 bytes)."""
    auth: bytes
    """The browser's 16-byte authentication secret."""


def _b64decode(text: str) -> bytes:
    text = text.strip().replace("+", "-").replace("/", "_").rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_subscription(token: str) -> Subscription:
    """The subscription in the JSON text ``token``; ``ValueError`` saying what is wrong."""
    try:
        data = json.loads(token)
    except (TypeError, ValueError):
        raise ValueError("the web push token is not a subscription's JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the web push token is not a subscription's JSON object")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str):
        raise ValueError("subscription.endpoint: an http(s) URL is required")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ValueError("subscription.endpoint: an http(s) URL is required")
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise ValueError("subscription.keys: {p256dh, auth} is required")
    decoded = {}
    for name in ("p256dh", "auth"):
        value = keys.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"subscription.keys.{name}: required")
        try:
            decoded[name] = _b64decode(value)
        except (binascii.Error, ValueError):
            raise ValueError(f"subscription.keys.{name}: not base64url") from None
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), decoded["p256dh"])
    except ValueError:
        raise ValueError("subscription.keys.p256dh: not a P-256 public key") from None
    if len(decoded["auth"]) != 16:
        raise ValueError("subscription.keys.auth: must be 16 bytes")
    return Subscription(endpoint, decoded["p256dh"], decoded["auth"])


class VapidKey:
    """An application server's VAPID key pair (RFC 8292), from ``credentials.vapidPrivateKey``.

    The private key is accepted as PEM (``openssl ecparam -name prime256v1 -genkey``), or as
    the base64url raw 32-byte value that ``web-push generate-vapid-keys`` prints, or as
    base64url DER.
    """

    def __init__(self, private_key: str) -> None:
        self._key = _load_vapid_key(private_key)
        point = self._key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        self.public_key = _b64encode(point)
        """The public key as the browser's ``applicationServerKey`` (base64url)."""

    def token(self, audience: str, subject: str, now: float) -> str:
        """A VAPID JWT for the push service at ``audience`` (an origin), valid 12 hours."""
        claims = {"aud": audience, "exp": int(now) + VAPID_LIFETIME, "sub": subject}
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"typ": "JWT"})

    def encrypt(self, subscription: Subscription, plaintext: bytes) -> bytes:
        """``plaintext`` encrypted for ``subscription`` (``aes128gcm``, a fresh sender key)."""
        sender = ec.generate_private_key(ec.SECP256R1())
        body: bytes = http_ece.encrypt(
            plaintext,
            private_key=sender,
            dh=subscription.p256dh,
            auth_secret=subscription.auth,
            version="aes128gcm",
        )
        return body


def _load_vapid_key(text: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip()
    key: Any
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_private_key(text.encode(), password=None)
        else:
            raw = _b64decode(text)
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = load_der_private_key(raw, password=None)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError(f"credentials.vapidPrivateKey: not a private key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("credentials.vapidPrivateKey: a VAPID key is an EC P-256 key")
    return key


def webpush_config(config: ChannelConfig) -> ChannelConfig:
    """The Web Push settings of the push channel (``credentials.webpush``, ...)."""
    return config_section(config, "webpush")


def vapid_headers(
    key: VapidKey, endpoint: str, subject: str, now: float | None = None
) -> dict[str, str]:
    """The ``Authorization: vapid t=<JWT>, k=<public key>`` header for ``endpoint``."""
    parts = urlsplit(endpoint)
    audience = f"{parts.scheme}://{parts.netloc}"
    token = key.token(audience, subject, time.time() if now is None else now)
    return {"authorization": f"vapid t={token}, k={key.public_key}"}


async def send_webpush(
    subscription: str,
    payload: Mapping[str, Any],
    config: ChannelConfig,
    client: httpx.AsyncClient,
    *,
    vapid: VapidKey | None = None,
) -> Delivery:
    """Send ``payload`` (as JSON) to the browser whose subscription JSON is ``subscription``.

    Settings (the push channel's, or their ``webpush`` section): ``credentials.vapidPrivateKey``
    (or an already loaded ``vapid`` key), ``options.subject`` (a ``mailto:`` or ``https:``
    contact for the push service, required), ``options.ttl`` (seconds, default 24 h),
    ``options.urgency`` (``very-low`` ... ``high``), ``options.topic`` (a message with the
    same topic replaces an undelivered one).

    201 is ``Sent`` with the ``Location`` of the message; 404 and 410 are ``Failed``
    ("subscription expired": drop the token); 413 and other 4xx are ``Failed``; 429 and 5xx
    ``RetryLater``.
    """
    try:
        target = parse_subscription(subscription)
    except ValueError as exc:
        return Failed(str(exc))
    config = webpush_config(config)
    options = config.options
    subject = options.get("subject")
    if not isinstance(subject, str) or not subject.startswith(("mailto:", "https:")):
        return Failed("options.subject: a mailto: or https: contact is required for VAPID")
    if vapid is None:
        secret = config.credentials.get("vapidPrivateKey")
        if not isinstance(secret, str) or not secret.strip():
            return Failed("credentials.vapidPrivateKey: required for Web Push")
        try:
            vapid = VapidKey(secret)
        except ValueError as exc:
            return Failed(str(exc))
    try:
        plaintext = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        return Failed(f"payload: not JSON ({exc})")
    if len(plaintext) > MAX_PAYLOAD:
        return Failed(f"payload: {len(plaintext)} bytes, Web Push carries at most {MAX_PAYLOAD}")
    headers = vapid_headers(vapid, target.endpoint, subject)
    headers |= {
        "ttl": str(int(options.get("ttl", DEFAULT_TTL))),
        "content-encoding": "aes128gcm",
        "content-type": "application/octet-stream",
    }
    urgency = options.get("urgency")
    if urgency is not None:
        if urgency not in URGENCIES:
            return Failed(f"options.urgency: one of {', '.join(URGENCIES)}")
        headers["urgency"] = urgency
    topic = options.get("topic")
    if topic is not None:
        if not isinstance(topic, str) or not _TOPIC.fullmatch(topic):
            return Failed("options.topic: at most 32 characters of A-Z a-z 0-9 _ -")
        headers["topic"] = topic
    body = vapid.encrypt(target, plaintext)
    try:
        response = await client.post(target.endpoint, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return from_exception(exc)
    return _outcome(response, subscription)


def _outcome(response: httpx.Response, subscription: str) -> Delivery:
    status = response.status_code
    if 200 <= status < 300:
        return Sent(response.headers.get("location"))
    if status in (404, 410):
        return Failed(f"HTTP {status}: subscription expired", dead_tokens=(subscription,))
    return from_response(response, response.text.strip()[:200])
