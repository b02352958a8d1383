"""APNs against a real local HTTP/2 TLS server: the request Apple documents, the provider JWT,
and every kind of answer (sent, dead token, expired provider token, throttled)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.h2_server import H2Reply, H2Request, H2Server, h2_server
from wayfare.channels.apns import (
    PRODUCTION_URL,
    SANDBOX_URL,
    ApnsTokenCache,
    ApnsTokens,
    alert_payload,
    apns_base_url,
    apns_config,
    apns_id_for,
    send_apns,
)
from wayfare.channels.base import ChannelConfig, Failed, Message, RetryLater, Sent
from wayfare.model.customers import Customer

__all__ = ["h2_server"]

DEVICE = "a1b2c3d4" * 8
KEY = ec.generate_private_key(ec.SECP256R1())
KEY_PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
PUBLIC_PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def customer(customer_id: str) -> Customer:
    now = datetime(2026, 3, 15, tzinfo=UTC)
    return Customer(customer_id, None, None, None, None, (), {}, None, None, {}, now, now)


class Clock:
    """A settable clock in seconds since the epoch."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def config(server: H2Server, **options: Any) -> ChannelConfig:
    return ChannelConfig(
        base_url=server.url,
        credentials={"keyId": "ABC123DEFG", "teamId": "TEAM123456", "privateKey": KEY_PEM},
        options=options,
    )


def send(server: H2Server, tokens: ApnsTokens | None, payload: dict[str, Any], **kw: Any) -> Any:
    settings = kw.pop("settings", None) or config(server)

    async def run() -> Any:
        async with httpx.AsyncClient(http2=True, verify=server.client_context()) as client:
            return await send_apns(
                kw.pop("device", DEVICE), payload, settings, client, tokens, **kw
            )

    return asyncio.run(run())


def claims_of(request: H2Request) -> tuple[dict[str, Any], dict[str, Any]]:
    authorization = request.header("authorization")
    assert authorization is not None and authorization.startswith("bearer ")
    token = authorization.removeprefix("bearer ")
    claims = jwt.decode(token, PUBLIC_PEM, algorithms=["ES256"], options={"verify_iat": False})
    return jwt.get_unverified_header(token), claims


def test_an_alert_is_posted_over_http2_with_the_documented_headers(h2_server: H2Server) -> None:
    clock = Clock()
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM, clock=clock)
    h2_server.respond = lambda request: H2Reply(200, headers={"apns-id": request.header("apns-id")})
    apns_id = apns_id_for("outbox-key-1")
    payload = {"aps": {"alert": {"title": "Hi", "body": "Ana"}}, "messageId": 7}

    before = int(time.time())
    outcome = send(
        h2_server,
        tokens,
        payload,
        topic="com.example.app",
        collapse_id="cart",
        apns_id=apns_id,
    )

    assert outcome == Sent(apns_id)
    [request] = h2_server.requests
    assert request.alpn == "h2"
    assert request.method == "POST"
    assert request.path == f"/3/device/{DEVICE}"
    assert request.header(":scheme") == "https"
    assert request.header("apns-topic") == "com.example.app"
    assert request.header("apns-push-type") == "alert"
    assert request.header("apns-priority") == "10"
    assert request.header("apns-id") == apns_id
    assert request.header("apns-collapse-id") == "cart"
    expiration = int(request.header("apns-expiration") or 0)
    assert before + 24 * 3600 <= expiration <= int(time.time()) + 24 * 3600
    assert request.header("content-type") == "application/json"
    assert request.json() == payload
    header, claims = claims_of(request)
    assert header == {"alg": "ES256", "kid": "ABC123DEFG", "typ": "JWT"}
    assert claims == {"iss": "TEAM123456", "iat": int(clock.now)}


def test_the_apns_id_is_a_uuid_derived_from_the_outbox_key() -> None:
    first = apns_id_for("enrollment:3:state:2:entry:1")
    assert uuid.UUID(first)
    assert first == first.upper()
    assert apns_id_for("enrollment:3:state:2:entry:1") == first
    assert apns_id_for("enrollment:3:state:2:entry:2") != first


def test_background_pushes_go_at_priority_5_and_options_set_the_ttl(h2_server: H2Server) -> None:
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM)
    outcome = send(
        h2_server,
        tokens,
        {},
        topic="pass.com.example",
        push_type="background",
        settings=config(h2_server, ttl=0),
    )
    assert isinstance(outcome, Sent)
    [request] = h2_server.requests
    assert request.header("apns-push-type") == "background"
    assert request.header("apns-priority") == "5"
    assert request.header("apns-expiration") == "0"
    assert request.header("apns-collapse-id") is None
    assert request.body == b"{}"


def test_without_tokens_no_authorization_header_is_sent(h2_server: H2Server) -> None:
    assert isinstance(send(h2_server, None, {}, topic="pass.com.example"), Sent)
    assert h2_server.requests[0].header("authorization") is None


@pytest.mark.parametrize(
    ("status", "reason"),
    [(400, "BadDeviceToken"), (410, "Unregistered"), (400, "DeviceTokenNotForTopic")],
)
def test_a_dead_device_token_fails_with_apples_reason(
    h2_server: H2Server, status: int, reason: str
) -> None:
    h2_server.respond = lambda request: H2Reply(status, {"reason": reason})
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM)
    outcome = send(h2_server, tokens, {"aps": {}}, topic="com.example.app")
    assert isinstance(outcome, Failed) and outcome.reason == f"HTTP {status}: {reason}"
    # only Unregistered is a dead token (removed); the others may be the settings' fault
    assert outcome.dead_tokens == ((DEVICE,) if reason == "Unregistered" else ())
    assert len(h2_server.requests) == 1


def test_a_bad_payload_fails_for_good(h2_server: H2Server) -> None:
    h2_server.respond = lambda request: H2Reply(413, {"reason": "PayloadTooLarge"})
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM)
    outcome = send(h2_server, tokens, {"aps": {}}, topic="com.example.app")
    assert outcome == Failed("HTTP 413: PayloadTooLarge")


def test_an_expired_provider_token_is_renewed_and_the_push_tried_once_more(
    h2_server: H2Server,
) -> None:
    clock = Clock()
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM, clock=clock)
    first_token = tokens.token()
    clock.now += 30 * 60
    answers = iter([H2Reply(403, {"reason": "ExpiredProviderToken"}), H2Reply(200)])
    h2_server.respond = lambda request: next(answers)

    outcome = send(h2_server, tokens, {"aps": {}}, topic="com.example.app", apns_id="X")

    assert isinstance(outcome, Sent)
    first, second = h2_server.requests
    assert first.header("authorization") == f"bearer {first_token}"
    assert claims_of(first)[1]["iat"] == int(clock.now) - 30 * 60
    assert claims_of(second)[1]["iat"] == int(clock.now)
    assert first.header("apns-id") == second.header("apns-id") == "X"
    assert tokens.token() != first_token


def test_a_provider_token_refused_twice_fails_without_looping(h2_server: H2Server) -> None:
    h2_server.respond = lambda request: H2Reply(403, {"reason": "ExpiredProviderToken"})
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM)
    outcome = send(h2_server, tokens, {"aps": {}}, topic="com.example.app")
    assert outcome == Failed("HTTP 403: ExpiredProviderToken")
    assert len(h2_server.requests) == 2


def test_an_invalid_provider_token_fails_at_once(h2_server: H2Server) -> None:
    h2_server.respond = lambda request: H2Reply(403, {"reason": "InvalidProviderToken"})
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM)
    outcome = send(h2_server, tokens, {"aps": {}}, topic="com.example.app")
    assert outcome == Failed("HTTP 403: InvalidProviderToken")
    assert len(h2_server.requests) == 1


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            H2Reply(429, {"reason": "TooManyRequests"}, {"retry-after": "30"}),
            RetryLater("HTTP 429: TooManyRequests", 30.0),
        ),
        (
            H2Reply(500, {"reason": "InternalServerError"}),
            RetryLater("HTTP 500: InternalServerError"),
        ),
        (
            H2Reply(503, {"reason": "ServiceUnavailable"}),
            RetryLater("HTTP 503: ServiceUnavailable"),
        ),
    ],
)
def test_throttling_and_server_errors_retry_later(
    h2_server: H2Server, reply: H2Reply, expected: RetryLater
) -> None:
    h2_server.respond = lambda request: reply
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM)
    assert send(h2_server, tokens, {"aps": {}}, topic="com.example.app") == expected


def test_an_unreachable_apns_retries_later() -> None:
    server = H2Server().start()
    settings, trust = config(server), server.client_context()
    server.stop()  # its port now refuses connections
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM)

    async def run() -> Any:
        async with httpx.AsyncClient(http2=True, verify=trust) as client:
            return await send_apns(DEVICE, {}, settings, client, tokens, topic="t")

    outcome = asyncio.run(run())
    assert isinstance(outcome, RetryLater)
    assert outcome.reason.startswith("network error")


def test_a_device_token_that_is_not_hexadecimal_fails_without_a_call(h2_server: H2Server) -> None:
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM)
    outcome = send(h2_server, tokens, {}, topic="t", device="not/a/token")
    assert isinstance(outcome, Failed)
    assert "BadDeviceToken" in outcome.reason
    assert h2_server.requests == []


def test_the_provider_token_is_kept_50_minutes_then_renewed() -> None:
    clock = Clock()
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM, clock=clock)
    first = tokens.token()
    clock.now += 49 * 60 + 59
    assert tokens.token() == first
    clock.now += 1
    second = tokens.token()
    assert second != first
    assert tokens.issued_at == int(clock.now)
    # A rejection of a token already replaced does not make yet another one.
    assert tokens.refresh(first) == second


def test_credentials_are_checked_by_name() -> None:
    with pytest.raises(ValueError, match=r"credentials\.teamId"):
        ApnsTokens.from_config(ChannelConfig(credentials={"keyId": "K", "privateKey": KEY_PEM}))
    with pytest.raises(ValueError, match=r"credentials\.privateKey"):
        ApnsTokens("K", "T", "not a key")
    rsa_like = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError, match="P-256"):
        ApnsTokens("K", "T", rsa_like.decode())


def test_the_cache_shares_tokens_per_key() -> None:
    cache = ApnsTokenCache()
    settings = ChannelConfig(credentials={"keyId": "K", "teamId": "T", "privateKey": KEY_PEM})
    assert cache.get(settings) is cache.get(settings)
    other = ChannelConfig(credentials={"keyId": "K2", "teamId": "T", "privateKey": KEY_PEM})
    assert cache.get(other) is not cache.get(settings)


def test_the_base_url_is_production_unless_sandbox_or_configured() -> None:
    assert apns_base_url(ChannelConfig()) == PRODUCTION_URL
    assert apns_base_url(ChannelConfig(options={"sandbox": True})) == SANDBOX_URL
    assert apns_base_url(ChannelConfig(options={"environment": "sandbox"})) == SANDBOX_URL
    assert apns_base_url(ChannelConfig(base_url="https://gw.local/")) == "https://gw.local"


def test_alert_payload_of_a_push_campaign() -> None:
    message = Message(
        id=41,
        key="k",
        application_id=1,
        channel="push",
        customer=customer("c-1"),
        content={
            "title": "Your cart",
            "body": "Still there",
            "image": "https://img.example/cart.png",
            "deepLink": "app://cart",
            "data": {"cart": "9"},
        },
        campaign_id=5,
    )
    assert alert_payload(message) == {
        "aps": {
            "alert": {"title": "Your cart", "body": "Still there"},
            "sound": "default",
            "mutable-content": 1,
        },
        "messageId": 41,
        "campaignId": 5,
        "image": "https://img.example/cart.png",
        "deepLink": "app://cart",
        "data": {"cart": "9"},
    }
    plain = Message(41, "k", 1, "push", customer("c-1"), {"title": "T", "body": "B"})
    assert "mutable-content" not in alert_payload(plain)["aps"]


def test_apns_settings_may_sit_in_a_section_of_the_push_channel(h2_server: H2Server) -> None:
    push_channel = ChannelConfig(
        base_url="https://fcm.invalid",
        credentials={
            "serviceAccount": {},
            "apns": {"keyId": "ABC123DEFG", "teamId": "TEAM123456", "privateKey": KEY_PEM},
        },
        options={"apns": {"baseUrl": h2_server.url, "priority": 5}},
    )
    assert apns_config(push_channel) == ChannelConfig(
        base_url=h2_server.url,
        credentials=push_channel.credentials["apns"],
        options={"priority": 5},
    )
    tokens = ApnsTokens.from_config(push_channel)
    outcome = send(h2_server, tokens, {"aps": {}}, topic="com.example.app", settings=push_channel)
    assert isinstance(outcome, Sent)
    [request] = h2_server.requests
    assert request.header("apns-priority") == "5"
    assert claims_of(request)[1]["iss"] == "TEAM123456"


def test_the_topic_comes_from_the_options_when_not_given(h2_server: H2Server) -> None:
    tokens = ApnsTokens("ABC123DEFG", "TEAM123456", KEY_PEM)
    with_topic = config(h2_server, topic="com.example.shop")
    assert isinstance(send(h2_server, tokens, {"aps": {}}, settings=with_topic), Sent)
    assert h2_server.requests[0].header("apns-topic") == "com.example.shop"
    outcome = send(h2_server, tokens, {"aps": {}})
    assert outcome == Failed("options.topic: the app's bundle id is required for APNs")
    assert len(h2_server.requests) == 1
