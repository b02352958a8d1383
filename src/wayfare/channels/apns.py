"""Apple Push Notification service: one HTTP/2 request per device, with token-based auth.

``send_apns`` makes the call APNs documents (``POST /3/device/{token}``, ``apns-*`` headers,
``authorization: bearer <provider JWT>``); ``ApnsTokens`` makes and caches the provider JWT.
APNs only speaks HTTP/2: the ``httpx.AsyncClient`` given to ``send_apns`` must be made with
``http2=True``.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from wayfare.channels.base import (
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    RetryLater,
    Sent,
    from_exception,
    from_response,
)

__all__ = [
    "PRODUCTION_URL",
    "SANDBOX_URL",
    "ApnsTokenCache",
    "ApnsTokens",
    "alert_payload",
    "apns_base_url",
    "apns_config",
    "apns_id_for",
    "config_section",
    "send_apns",
]

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"

TOKEN_LIFETIME = 50 * 60
"""Seconds a provider token is used before a new one is made.

Apple refuses a token older than 60 minutes (``ExpiredProviderToken``) and one renewed more
often than every 20 minutes (``TooManyProviderTokenUpdates``).
"""

DEFAULT_TTL = 24 * 3600
"""Seconds APNs keeps a notification for an offline device (``apns-expiration``)."""

_APNS_ID_NAMESPACE = uuid.UUID("5b0a3c1e-2f5d-4c47-9a43-9f1de6a2c1a7")

_DEVICE_REASONS = frozenset({"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"})


class ApnsTokens:
    """The provider authentication token (an ES256 JWT) for one APNs key, made once per 50 min.

    ``key_id`` is the 10-character key id (the JWT header's ``kid``), ``team_id`` the Apple
    developer team (the ``iss`` claim), ``private_key`` the ``.p8`` file's PEM text. ``clock``
    gives seconds since the epoch (``time.time``; tests pass a fake one). One instance may be
    shared by concurrent sends: it is thread-safe and makes one token at a time.
    """

    def __init__(
        self,
        key_id: str,
        team_id: str,
        private_key: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            key = load_pem_private_key(private_key.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"credentials.privateKey: not a PEM private key ({exc})") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("credentials.privateKey: not an APNs key (EC P-256, a .p8 file)")
        self.key_id = key_id
        self.team_id = team_id
        self._key = key
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._issued_at = 0

    @classmethod
    def from_config(
        cls, config: ChannelConfig, *, clock: Callable[[], float] = time.time
    ) -> ApnsTokens:
        """The tokens for ``config.credentials`` ``{keyId, teamId, privateKey}``.

        ``ValueError`` naming the credential that is missing or wrong.
        """
        credentials = apns_config(config).credentials
        for name in ("keyId", "teamId", "privateKey"):
            value = credentials.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"credentials.{name}: required for APNs token auth")
        return cls(
            credentials["keyId"].strip(),
            credentials["teamId"].strip(),
            credentials["privateKey"],
            clock=clock,
        )

    @property
    def issued_at(self) -> int:
        """The ``iat`` of the current token (0 before the first one)."""
        return self._issued_at

    def token(self) -> str:
        """The current token, a new one when it is 50 minutes old."""
        with self._lock:
            now = int(self._clock())
            if self._token is None or now - self._issued_at >= TOKEN_LIFETIME:
                self._make(now)
            assert self._token is not None
            return self._token

    def refresh(self, rejected: str) -> str:
        """A new token after APNs rejected ``rejected`` (``ExpiredProviderToken``).

        When another send already replaced ``rejected``, that newer token is returned instead,
        so concurrent rejections make one new token, not one each.
        """
        with self._lock:
            if self._token is None or self._token == rejected:
                self._make(int(self._clock()))
            assert self._token is not None
            return self._token

    def _make(self, now: int) -> None:
        self._token = jwt.encode(
            {"iss": self.team_id, "iat": now},
            self._key,
            algorithm="ES256",
            headers={"kid": self.key_id},
        )
        self._issued_at = now


def config_section(config: ChannelConfig, name: str) -> ChannelConfig:
    """The settings of one provider of a channel that several providers serve.

    The push channel holds FCM, APNs and Web Push keys; the wallet channel Apple's and
    Google's. When ``credentials[name]`` or ``options[name]`` is an object, the section is
    those two objects, with ``options[name].baseUrl`` as its base URL (the channel's
    ``baseUrl`` belongs to another provider then); otherwise it is ``config`` itself.
    """
    credentials = config.credentials.get(name)
    options = config.options.get(name)
    if not isinstance(credentials, Mapping) and not isinstance(options, Mapping):
        return config
    section_options = dict(options) if isinstance(options, Mapping) else {}
    base_url = section_options.pop("baseUrl", None)
    return replace(
        config,
        base_url=base_url if isinstance(base_url, str) and base_url else None,
        credentials=dict(credentials) if isinstance(credentials, Mapping) else {},
        options=section_options,
    )


def apns_config(config: ChannelConfig) -> ChannelConfig:
    """The APNs settings of the push channel (``credentials.apns``, ``options.apns``)."""
    return config_section(config, "apns")


def apns_base_url(config: ChannelConfig) -> str:
    """Where to send: ``base_url``, else the sandbox or production APNs.

    The sandbox when ``options.sandbox`` is true or ``options.environment`` is ``"sandbox"``.
    """
    options = config.options
    sandbox = bool(options.get("sandbox")) or options.get("environment") == "sandbox"
    return config.url(SANDBOX_URL if sandbox else PRODUCTION_URL)


def apns_id_for(key: str) -> str:
    """The ``apns-id`` for the outbox key ``key``: a UUID derived from it, so retries keep it."""
    return str(uuid.uuid5(_APNS_ID_NAMESPACE, key)).upper()


def alert_payload(message: Message) -> dict[str, Any]:
    """The APNs body for a push campaign ``{title, body, image?, deepLink?, buttons?, data?}``.

    ``aps.alert`` holds the title and body; ``mutable-content: 1`` lets the app's notification
    service extension fetch ``image``; Wayfare's ids (``messageId``, ``campaignId``) and the
    campaign's ``deepLink``, ``image``, ``buttons`` and ``data`` ride beside ``aps`` for the SDK
    (which acknowledges ``push.received`` / ``push.click`` with ``messageId``).
    """
    content = message.content
    alert: dict[str, Any] = {}
    for name in ("title", "body"):
        if content.get(name):
            alert[name] = content[name]
    aps: dict[str, Any] = {"alert": alert, "sound": "default"}
    payload: dict[str, Any] = {"aps": aps, "messageId": message.id}
    if message.campaign_id is not None:
        payload["campaignId"] = message.campaign_id
    if content.get("image"):
        aps["mutable-content"] = 1
        payload["image"] = content["image"]
    for name in ("deepLink", "buttons", "data"):
        if content.get(name):
            payload[name] = content[name]
    return payload


async def send_apns(
    device_token: str,
    payload: Mapping[str, Any],
    config: ChannelConfig,
    client: httpx.AsyncClient,
    tokens: ApnsTokens | None,
    *,
    topic: str | None = None,
    push_type: str = "alert",
    collapse_id: str | None = None,
    apns_id: str | None = None,
) -> Delivery:
    """Send ``payload`` to one device; the outcome as a value.

    ``tokens`` signs the request (token-based auth); None sends no ``authorization`` header,
    for certificate-based auth where ``client`` carries the TLS client certificate. ``topic``
    is the app's bundle id (or a Wallet pass type id), ``options.topic`` when None.
    ``config`` is the push channel's settings, or their ``apns`` section (``apns_config``);
    options: ``sandbox``, ``priority`` (default 10, and 5 for ``background`` pushes), ``ttl``
    (seconds APNs keeps the notification, default 24 h; 0 for "now or never").

    200 is ``Sent`` with the ``apns-id``; ``BadDeviceToken`` / ``Unregistered`` and other
    refusals are ``Failed`` with Apple's reason; ``ExpiredProviderToken`` makes a new token
    and tries once more; 429 and 5xx are ``RetryLater``.
    """
    token = device_token.strip()
    if not token or any(c not in "0123456789abcdefABCDEF" for c in token):
        return Failed("BadDeviceToken: the device token is not hexadecimal")
    try:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        return Failed(f"payload: not JSON ({exc})")
    config = apns_config(config)
    topic = topic or config.options.get("topic")
    if not isinstance(topic, str) or not topic:
        return Failed("options.topic: the app's bundle id is required for APNs")
    url = f"{apns_base_url(config)}/3/device/{token}"
    headers = _headers(config, topic, push_type, collapse_id, apns_id)
    bearer = tokens.token() if tokens is not None else None
    for attempt in (1, 2):
        if bearer is not None:
            headers["authorization"] = f"bearer {bearer}"
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return from_exception(exc)
        except ssl.SSLError as exc:
            # httpcore lets a TLS alert that arrives after the handshake through unwrapped
            # (TLS 1.3: APNs refusing a client certificate is seen on the first read).
            return RetryLater(f"TLS error: {exc}")
        reason = _reason(response)
        if (
            response.status_code == 403
            and reason == "ExpiredProviderToken"
            and tokens is not None
            and bearer is not None
            and attempt == 1
        ):
            bearer = tokens.refresh(bearer)
            continue
        return _outcome(response, reason, device_token)
    raise AssertionError("unreachable")  # pragma: no cover


def _headers(
    config: ChannelConfig,
    topic: str,
    push_type: str,
    collapse_id: str | None,
    apns_id: str | None,
) -> dict[str, str]:
    options = config.options
    default_priority = 5 if push_type in ("background", "location", "complication") else 10
    priority = options.get("priority", default_priority)
    ttl = options.get("ttl", DEFAULT_TTL)
    expiration = 0 if not ttl else int(time.time()) + int(ttl)
    headers = {
        "apns-topic": topic,
        "apns-push-type": push_type,
        "apns-priority": str(int(priority)),
        "apns-expiration": str(expiration),
        "content-type": "application/json",
    }
    if apns_id:
        headers["apns-id"] = apns_id
    if collapse_id:
        # APNs refuses collapse ids over 64 bytes; a longer one is hashed down to fit.
        if len(collapse_id.encode()) > 64:
            collapse_id = hashlib.sha256(collapse_id.encode()).hexdigest()
        headers["apns-collapse-id"] = collapse_id
    return headers


def _reason(response: httpx.Response) -> str:
    """Apple's ``{"reason": ...}``, or the body's text when it is not that."""
    if response.status_code == 200:
        return ""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and isinstance(data.get("reason"), str):
        return str(data["reason"])
    return response.text[:200]


def _outcome(response: httpx.Response, reason: str, device_token: str) -> Delivery:
    status = response.status_code
    if status == 200:
        return Sent(response.headers.get("apns-id"))
    if status == 410 or reason in _DEVICE_REASONS:
        # The token does not work: the app was removed (410 Unregistered: the token is removed),
        # or it belongs to another topic or environment (the settings may be what is wrong).
        dead = (device_token,) if status == 410 or reason == "Unregistered" else ()
        return Failed(f"HTTP {status}: {reason or 'Unregistered'}", dead_tokens=dead)
    outcome = from_response(response, reason)
    if isinstance(outcome, Sent):  # another 2xx: APNs answers only 200 on success
        return Failed(f"HTTP {status}: unexpected answer from APNs")
    if isinstance(outcome, RetryLater) and reason:
        return RetryLater(f"HTTP {status}: {reason}", outcome.after)
    return outcome


class ApnsTokenCache:
    """``ApnsTokens`` per APNs key, so every send with the same credentials shares one token.

    Adapters hold one cache (they are shared by every application); ``get`` makes the tokens of
    a key the first time it is seen.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str], ApnsTokens] = {}

    def get(self, config: ChannelConfig) -> ApnsTokens:
        """The tokens for ``config.credentials``; ``ValueError`` naming a bad credential."""
        credentials = apns_config(config).credentials
        key = (
            str(credentials.get("keyId", "")),
            str(credentials.get("teamId", "")),
            hashlib.sha256(str(credentials.get("privateKey", "")).encode()).hexdigest(),
        )
        with self._lock:
            found = self._tokens.get(key)
            if found is None:
                found = self._tokens[key] = ApnsTokens.from_config(config, clock=self._clock)
            return found
