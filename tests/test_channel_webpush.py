"""Web Push against a local push service: the body decrypts with the browser's keys (RFC 8291),
the VAPID JWT verifies (RFC 8292), and each push-service answer gives the right outcome."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import time
from typing import Any

import http_ece
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.providers import ProviderServer, Reply, Request, provider
from wayfare.channels.base import ChannelConfig, Failed, RetryLater, Sent
from wayfare.channels.webpush import VapidKey, parse_subscription, send_webpush

__all__ = ["provider"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


VAPID = ec.generate_private_key(ec.SECP256R1())
VAPID_RAW = b64(VAPID.private_numbers().private_value.to_bytes(32, "big"))
VAPID_PEM = VAPID.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
VAPID_PUBLIC = VAPID.public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
)


class Browser:
    """A subscribed browser: its own key pair and auth secret, as the Push API makes them."""

    def __init__(self, endpoint: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = bytes(range(16))
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.subscription = json.dumps(
            {
                "endpoint": endpoint,
                "expirationTime": None,
                "keys": {"p256dh": b64(public), "auth": b64(self.auth)},
            }
        )

    def decrypt(self, body: bytes) -> Any:
        plaintext = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        return json.loads(plaintext)


def config(**options: Any) -> ChannelConfig:
    return ChannelConfig(
        credentials={"vapidPrivateKey": VAPID_RAW},
        options={"subject": "mailto:push@example.com"} | options,
    )


def send(subscription: str, payload: dict[str, Any], settings: ChannelConfig) -> Any:
    async def run() -> Any:
        async with httpx.AsyncClient() as client:
            return await send_webpush(subscription, payload, settings, client)

    return asyncio.run(run())


def vapid_of(request: Request) -> tuple[dict[str, Any], str]:
    scheme, _, rest = request.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(part.strip().split("=", 1) for part in rest.split(","))
    public_pem = VAPID.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(parts["t"], public_pem, algorithms=["ES256"], options={"verify_aud": False})
    assert jwt.get_unverified_header(parts["t"])["alg"] == "ES256"
    return claims, parts["k"]


def test_a_message_is_encrypted_for_the_browser_and_signed_with_vapid(
    provider: ProviderServer,
) -> None:
    browser = Browser(f"{provider.url}/wpush/v2/gAAAAABk-sub")
    provider.respond = lambda request: Reply(201, b"", {"location": f"{provider.url}/m/msg-1"})
    payload = {"title": "Sale", "body": "Today only", "messageId": 12}

    before = time.time()
    outcome = send(browser.subscription, payload, config(urgency="high", topic="sale"))

    assert outcome == Sent(f"{provider.url}/m/msg-1")
    [request] = provider.requests
    assert request.method == "POST"
    assert request.path == "/wpush/v2/gAAAAABk-sub"
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["ttl"] == str(24 * 3600)
    assert request.headers["urgency"] == "high"
    assert request.headers["topic"] == "sale"
    # RFC 8188 header: salt(16) | record size(4) | key id length(1) | key id (sender key)
    record_size, id_length = struct.unpack("!LB", request.body[16:21])
    assert (record_size, id_length) == (4096, 65)
    assert request.body[21] == 0x04  # an uncompressed P-256 point
    assert payload != request.body
    assert browser.decrypt(request.body) == payload
    claims, public_key = vapid_of(request)
    assert public_key == b64(VAPID_PUBLIC)
    assert claims["aud"] == provider.url
    assert claims["sub"] == "mailto:push@example.com"
    assert before < claims["exp"] <= time.time() + 24 * 3600


def test_each_message_uses_a_fresh_sender_key(provider: ProviderServer) -> None:
    browser = Browser(f"{provider.url}/push/1")
    provider.respond = lambda request: Reply(201, b"")
    send(browser.subscription, {"n": 1}, config())
    send(browser.subscription, {"n": 1}, config())
    first, second = provider.requests
    assert first.body[21:86] != second.body[21:86]
    assert browser.decrypt(first.body) == browser.decrypt(second.body) == {"n": 1}
    assert "urgency" not in first.headers
    assert "topic" not in first.headers


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_fails_as_expired(provider: ProviderServer, status: int) -> None:
    provider.respond = lambda request: Reply(status, b"")
    subscription = Browser(f"{provider.url}/push/1").subscription
    outcome = send(subscription, {}, config())
    assert outcome == Failed(f"HTTP {status}: subscription expired", dead_tokens=(subscription,))


def test_a_payload_too_large_for_the_service_fails(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(413, b"Payload Too Large")
    outcome = send(Browser(f"{provider.url}/push/1").subscription, {}, config())
    assert outcome == Failed("HTTP 413: Payload Too Large")


def test_a_payload_over_one_record_fails_before_any_call(provider: ProviderServer) -> None:
    outcome = send(Browser(f"{provider.url}/push/1").subscription, {"x": "a" * 5000}, config())
    assert isinstance(outcome, Failed)
    assert "at most 4078" in outcome.reason
    assert provider.requests == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(429, b"slow down", {"retry-after": "120"}),
            RetryLater("HTTP 429: slow down", 120.0),
        ),
        (Reply(503, b""), RetryLater("HTTP 503")),
    ],
)
def test_throttling_and_server_errors_retry_later(
    provider: ProviderServer, reply: Reply, expected: RetryLater
) -> None:
    provider.respond = lambda request: reply
    assert send(Browser(f"{provider.url}/push/1").subscription, {}, config()) == expected


def test_an_unreachable_push_service_retries_later() -> None:
    server = ProviderServer().start()
    endpoint = f"{server.url}/push/1"
    server.stop()
    outcome = send(Browser(endpoint).subscription, {}, config())
    assert isinstance(outcome, RetryLater)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("not json", "not a subscription's JSON"),
        ("[1]", "not a subscription's JSON object"),
        ('{"keys": {}}', "subscription.endpoint"),
        ('{"endpoint": "ftp://x/y", "keys": {}}', "subscription.endpoint"),
        ('{"endpoint": "https://push.example/1"}', "subscription.keys"),
        (
            '{"endpoint": "https://push.example/1", "keys": {"auth": "AAAAAAAAAAAAAAAAAAAAAA"}}',
            "subscription.keys.p256dh: required",
        ),
        (
            json.dumps({"endpoint": "https://x/1", "keys": {"p256dh": "BBBB", "auth": "A" * 22}}),
            "subscription.keys.p256dh: not a P-256",
        ),
    ],
)
def test_a_bad_subscription_fails_with_the_reason(
    provider: ProviderServer, token: str, reason: str
) -> None:
    outcome = send(token, {}, config())
    assert isinstance(outcome, Failed)
    assert reason in outcome.reason
    assert provider.requests == []


def test_a_short_auth_secret_is_refused() -> None:
    data = json.loads(Browser("https://push.example/1").subscription)
    data["keys"]["auth"] = b64(b"short")
    with pytest.raises(ValueError, match=r"subscription\.keys\.auth: must be 16 bytes"):
        parse_subscription(json.dumps(data))


def test_settings_are_checked_by_name(provider: ProviderServer) -> None:
    subscription = Browser(f"{provider.url}/push/1").subscription
    no_subject = ChannelConfig(credentials={"vapidPrivateKey": VAPID_RAW})
    no_key = ChannelConfig(options={"subject": "mailto:a@example.com"})
    bad_key = ChannelConfig(
        credentials={"vapidPrivateKey": "nope"}, options={"subject": "mailto:a@example.com"}
    )
    assert "options.subject" in send(subscription, {}, no_subject).reason
    assert "credentials.vapidPrivateKey" in send(subscription, {}, no_key).reason
    assert "credentials.vapidPrivateKey" in send(subscription, {}, bad_key).reason
    assert "options.urgency" in send(subscription, {}, config(urgency="now")).reason
    assert "options.topic" in send(subscription, {}, config(topic="a topic!")).reason
    assert provider.requests == []


def test_a_vapid_key_loads_from_raw_base64url_or_pem() -> None:
    assert VapidKey(VAPID_RAW).public_key == VapidKey(VAPID_PEM).public_key == b64(VAPID_PUBLIC)


def test_webpush_settings_may_sit_in_a_section_of_the_push_channel(
    provider: ProviderServer,
) -> None:
    browser = Browser(f"{provider.url}/push/1")
    provider.respond = lambda request: Reply(201, b"")
    push_channel = ChannelConfig(
        credentials={"serviceAccount": {}, "webpush": {"vapidPrivateKey": VAPID_PEM}},
        options={"webpush": {"subject": "https://shop.example.com", "ttl": 60}},
    )
    assert isinstance(send(browser.subscription, {"n": 2}, push_channel), Sent)
    [request] = provider.requests
    assert request.headers["ttl"] == "60"
    assert vapid_of(request)[0]["sub"] == "https://shop.example.com"
    assert browser.decrypt(request.body) == {"n": 2}
