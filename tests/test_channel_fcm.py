"""FCM HTTP v1 push and Google service-account tokens, against a local fake of Google."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

from tests.google_server import (  # noqa: F401  (the fixtures)
    GoogleServer,
    account_fixture,
    account_template_fixture,
    google_error,
    google_fixture,
    make_account,
)
from tests.providers import Reply, Request
from wayfare.channels.base import ChannelConfig, Failed, Message, RetryLater, Sent, Skipped
from wayfare.channels.dispatch import Dispatcher
from wayfare.channels.fcm import FCM_SCOPE, FcmAdapter, send_fcm
from wayfare.channels.google import ServiceAccountTokens
from wayfare.model.customers import Customer, PushToken
from wayfare.store.campaigns import create_campaign
from wayfare.store.channels import put_channel
from wayfare.store.customers import get_customer, upsert_customers
from wayfare.store.database import Database
from wayfare.store.outbox import insert_outbox
from wayfare.store.schema import outbox

T = TypeVar("T")
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
PUSH = {
    "title": "Your cart misses you",
    "body": "3 items are waiting, Ana",
    "image": "https://cdn.example.com/cart.png",
    "deepLink": "https://shop.example.com/cart",
    "data": {"cartValue": 59.9, "vip": True, "sku": "A-1", "tags": ["x", "y"]},
}


def customer(*tokens: PushToken) -> Customer:
    return Customer(
        customer_id="c-1",
        email=None,
        phone=None,
        whatsapp=None,
        telegram_chat_id=None,
        push_tokens=tokens,
        consent={},
        timezone=None,
        language=None,
        fields={},
        created_at=NOW,
        updated_at=NOW,
    )


def message(content: Mapping[str, Any] = PUSH, *tokens: PushToken) -> Message:
    return Message(
        id=41,
        key="41-key",
        application_id=1,
        channel="push",
        customer=customer(*tokens),
        content=content,
        campaign_id=7,
    )


def config(account: dict[str, Any], base_url: str, **options: Any) -> ChannelConfig:
    return ChannelConfig(
        base_url=base_url, credentials={"serviceAccount": account}, options=options
    )


def run(work: Callable[[httpx.AsyncClient], Awaitable[T]], timeout: float = 5.0) -> T:
    async def main() -> T:
        async with httpx.AsyncClient(timeout=timeout) as client:
            return await work(client)

    return asyncio.run(main())


def send(
    google: GoogleServer,
    account: dict[str, Any],
    tokens: ServiceAccountTokens | None = None,
    **options: Any,
) -> Any:
    tokens = tokens or ServiceAccountTokens()
    settings = config(account, google.url, **options)
    return run(lambda client: send_fcm("device-1", message(), settings, client, tokens))


def fcm_calls(google: GoogleServer) -> list[Request]:
    return google.api_requests()


def test_send_makes_the_documented_calls(google: GoogleServer, account: dict[str, Any]) -> None:
    before = int(time.time())
    outcome = send(google, account)
    after = int(time.time())

    exchange, call = google.requests
    assert exchange.method == "POST" and exchange.path == "/token"
    assert exchange.headers["content-type"] == "application/x-www-form-urlencoded"
    assert exchange.form()["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    # the fake verified the RS256 signature with the account's public key before issuing
    [(header, claims)] = google.assertions
    assert header["alg"] == "RS256" and header["kid"] == "key-1"
    assert claims["iss"] == account["client_email"]
    assert claims["scope"] == FCM_SCOPE
    assert claims["aud"] == google.token_url
    assert before <= claims["iat"] <= after
    assert claims["exp"] == claims["iat"] + 3600

    assert call.method == "POST"
    assert call.path == "/v1/projects/demo-project/messages:send"
    assert call.headers["authorization"] == "Bearer token-1"
    assert call.headers["content-type"] == "application/json"
    assert call.json() == {
        "message": {
            "token": "device-1",
            "notification": {
                "title": "Your cart misses you",
                "body": "3 items are waiting, Ana",
                "image": "https://cdn.example.com/cart.png",
            },
            "data": {
                "cartValue": "59.9",
                "vip": "true",
                "sku": "A-1",
                "tags": '["x","y"]',
                "messageId": "41",
                "campaignId": "7",
                "deepLink": "https://shop.example.com/cart",
            },
            "webpush": {"fcm_options": {"link": "https://shop.example.com/cart"}},
        }
    }
    assert outcome == Sent("projects/demo-project/messages/0:2")


def test_android_options_and_project_id(google: GoogleServer, account: dict[str, Any]) -> None:
    content = {
        "title": "Hi",
        "body": "there",
        "deepLink": "myapp://cart",
        "buttons": [{"label": "Open", "url": "myapp://cart"}],
    }
    tokens = ServiceAccountTokens()
    settings = config(
        account,
        google.url,
        projectId="other-project",
        androidPriority="high",
        androidChannelId="offers",
        ttl=86400,
    )
    outcome = run(lambda client: send_fcm("d", message(content), settings, client, tokens))

    [call] = fcm_calls(google)
    assert call.path == "/v1/projects/other-project/messages:send"
    assert call.json()["message"] == {
        "token": "d",
        "notification": {"title": "Hi", "body": "there"},
        "data": {
            "messageId": "41",
            "campaignId": "7",
            "deepLink": "myapp://cart",
            "buttons": '[{"label":"Open","url":"myapp://cart"}]',
        },
        "android": {"priority": "high", "ttl": "86400s", "notification": {"channel_id": "offers"}},
    }  # no webpush link: FCM wants HTTPS there
    assert isinstance(outcome, Sent)


def test_token_url_option_overrides_token_uri(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    unusable = account | {"token_uri": "http://127.0.0.1:9/token"}
    outcome = send(google, unusable, tokenUrl=google.token_url)

    assert isinstance(outcome, Sent)
    [(_header, claims)] = google.assertions
    assert claims["aud"] == google.token_url


def test_one_exchange_serves_many_sends(google: GoogleServer, account: dict[str, Any]) -> None:
    tokens = ServiceAccountTokens()
    settings = config(account, google.url)

    async def work(client: httpx.AsyncClient) -> list[Any]:
        first = [await send_fcm(f"d{i}", message(), settings, client, tokens) for i in range(3)]
        together = await asyncio.gather(
            *(send_fcm(f"e{i}", message(), settings, client, tokens) for i in range(20))
        )
        return first + list(together)

    fresh = ServiceAccountTokens()  # concurrent callers with an empty cache share one exchange

    async def concurrent(client: httpx.AsyncClient) -> list[Any]:
        return list(
            await asyncio.gather(
                *(send_fcm(f"f{i}", message(), settings, client, fresh) for i in range(20))
            )
        )

    outcomes = run(work) + run(concurrent)

    assert [o for o in outcomes if not isinstance(o, Sent)] == []
    assert tokens.exchanges == 1 and fresh.exchanges == 1
    assert len([r for r in google.requests if r.path == "/token"]) == 2
    assert len(fcm_calls(google)) == 43


def test_a_token_is_never_shared_with_a_caller_holding_another_key(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    tokens = ServiceAccountTokens()
    settings = config(account, google.url)
    impostor = config({**account, "private_key": "not the key"}, google.url)

    async def work(client: httpx.AsyncClient) -> list[Any]:
        return [
            await send_fcm("d1", message(), settings, client, tokens),
            await send_fcm("d2", message(), impostor, client, tokens),
        ]

    good, bad = run(work)
    assert isinstance(good, Sent)
    assert isinstance(bad, Failed) and "private_key" in bad.reason
    assert len(fcm_calls(google)) == 1  # the impostor's call never carried the cached token


def test_token_is_exchanged_again_shortly_before_it_expires(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    clock = [1000.0]
    tokens = ServiceAccountTokens(margin=300, clock=lambda: clock[0])
    google.expires_in = 3600

    send(google, account, tokens)
    clock[0] += 3299
    send(google, account, tokens)
    assert tokens.exchanges == 1
    clock[0] += 2
    send(google, account, tokens)

    assert tokens.exchanges == 2
    auth = [r.headers["authorization"] for r in fcm_calls(google)]
    assert auth == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


def test_a_401_gets_a_fresh_token_and_one_more_try(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    tokens = ServiceAccountTokens()
    assert isinstance(send(google, account, tokens), Sent)
    google.revoke_tokens()  # e.g. the key was rotated: the cached token is refused

    outcome = send(google, account, tokens)

    assert isinstance(outcome, Sent)
    assert tokens.exchanges == 2
    auth = [r.headers["authorization"] for r in fcm_calls(google)]
    assert auth == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


def test_a_401_after_the_refresh_fails(google: GoogleServer, account: dict[str, Any]) -> None:
    google.fcm_reply = lambda request: google_error(
        401, "UNAUTHENTICATED", "Request had invalid authentication credentials."
    )

    outcome = send(google, account)

    assert isinstance(outcome, Failed)
    assert outcome.reason.startswith("HTTP 401 UNAUTHENTICATED")
    assert len(fcm_calls(google)) == 2 and len(google.assertions) == 2


def test_a_third_party_401_does_not_refresh_the_token(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    google.fcm_reply = lambda request: google_error(
        401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"
    )

    outcome = send(google, account)

    assert outcome == Failed(
        "HTTP 401 THIRD_PARTY_AUTH_ERROR: Auth error from APNS or Web Push Service"
    )
    assert len(fcm_calls(google)) == 1 and len(google.assertions) == 1


def test_unregistered_token_fails_with_its_code(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    google.fcm_reply = lambda request: google_error(
        404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"
    )

    outcome = send(google, account)

    assert outcome == Failed(
        "HTTP 404 UNREGISTERED: Requested entity was not found.", dead_tokens=("device-1",)
    )  # the dispatcher removes the token from the customer
    assert len(fcm_calls(google)) == 1


def test_invalid_argument_fails(google: GoogleServer, account: dict[str, Any]) -> None:
    google.fcm_reply = lambda request: google_error(
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
        "INVALID_ARGUMENT",
    )

    outcome = send(google, account)

    assert isinstance(outcome, Failed) and "INVALID_ARGUMENT" in outcome.reason
    assert outcome.dead_tokens == ()  # a bad payload gives it too: the token is kept


def test_a_token_of_another_project_is_kept(google: GoogleServer, account: dict[str, Any]) -> None:
    google.fcm_reply = lambda request: google_error(
        403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"
    )

    outcome = send(google, account)

    assert isinstance(outcome, Failed) and "SENDER_ID_MISMATCH" in outcome.reason
    assert outcome.dead_tokens == ()  # the settings may be what is wrong


def test_unavailable_with_retry_after_retries_later(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    reply = google_error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE")
    reply.headers["Retry-After"] = "30"
    google.fcm_reply = lambda request: reply

    outcome = send(google, account)

    assert outcome == RetryLater(
        "HTTP 503 UNAVAILABLE: The service is currently unavailable.", 30.0
    )


def test_quota_exceeded_retries_later(google: GoogleServer, account: dict[str, Any]) -> None:
    google.fcm_reply = lambda request: google_error(
        429, "RESOURCE_EXHAUSTED", "Quota exceeded.", "QUOTA_EXCEEDED"
    )

    outcome = send(google, account)

    assert isinstance(outcome, RetryLater) and "QUOTA_EXCEEDED" in outcome.reason


def test_timeout_retries_later(google: GoogleServer, account: dict[str, Any]) -> None:
    google.fcm_reply = lambda request: Reply(200, {"name": "late"}, delay=1.0)
    tokens = ServiceAccountTokens()
    settings = config(account, google.url)

    outcome = run(lambda client: send_fcm("d", message(), settings, client, tokens), timeout=0.2)

    assert isinstance(outcome, RetryLater) and outcome.reason.startswith("timeout")


def test_a_key_google_does_not_know_is_refused_clearly(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    stranger = make_account(google.token_url).key  # signed with another key

    outcome = send(google, stranger)

    assert isinstance(outcome, Failed)
    assert outcome.reason.startswith("token exchange failed: HTTP 400 invalid_grant: ")
    assert "Signature" in outcome.reason
    assert fcm_calls(google) == []


def test_token_endpoint_errors(google: GoogleServer, account: dict[str, Any]) -> None:
    google.token_reply = Reply(
        400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    )
    assert send(google, account) == Failed(
        "token exchange failed: HTTP 400 invalid_grant: Invalid JWT Signature."
    )
    google.token_reply = Reply(503, {"error": "backend_error"}, {"Retry-After": "5"})
    assert send(google, account) == RetryLater("token exchange failed: HTTP 503 backend_error", 5.0)
    google.token_reply = Reply(200, {"token_type": "Bearer"})
    assert send(google, account) == Failed("token exchange failed: the answer has no access_token")
    assert fcm_calls(google) == []


def test_unusable_settings_fail_naming_the_key(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    tokens = ServiceAccountTokens()

    def with_settings(settings: ChannelConfig) -> Any:
        return run(lambda client: send_fcm("d", message(), settings, client, tokens))

    assert with_settings(ChannelConfig(base_url=google.url)) == Failed(
        "credentials.serviceAccount is missing (the service account's JSON key)"
    )
    no_email = {k: v for k, v in account.items() if k != "client_email"}
    assert with_settings(config(no_email, google.url)) == Failed(
        "credentials.serviceAccount.client_email is missing"
    )
    no_project = {k: v for k, v in account.items() if k != "project_id"}
    outcome = with_settings(config(no_project, google.url))
    assert isinstance(outcome, Failed) and "options.projectId" in outcome.reason
    bad_key = account | {"private_key": "not a key"}
    outcome = with_settings(config(bad_key, google.url))
    assert isinstance(outcome, Failed) and "private_key" in outcome.reason
    reserved = dict(PUSH, data={"from": "me"})
    outcome = run(
        lambda client: send_fcm("d", message(reserved), config(account, google.url), client, tokens)
    )
    assert outcome == Failed("content.data.from is a key FCM reserves")
    assert google.requests == []


def test_adapter_sends_to_each_fcm_token(google: GoogleServer, account: dict[str, Any]) -> None:
    adapter = FcmAdapter()
    devices = (
        PushToken("android-1", "android"),
        PushToken("ios-1", "ios"),
        PushToken("web-1", "web"),
        PushToken("bare-1", None),
        PushToken("hms-1", "huawei"),
    )

    outcome = run(
        lambda client: adapter.send(message(PUSH, *devices), config(account, google.url), client)
    )

    sent_to = sorted(r.json()["message"]["token"] for r in fcm_calls(google))
    assert sent_to == ["android-1", "bare-1"]
    assert isinstance(outcome, Sent) and outcome.provider_message_id
    assert adapter.tokens.exchanges == 1

    everything = config(account, google.url, fcmPlatforms=["android", "ios", "web"])
    run(lambda client: adapter.send(message(PUSH, *devices), everything, client))
    assert len(fcm_calls(google)) == 2 + 4


def test_adapter_outcomes(google: GoogleServer, account: dict[str, Any]) -> None:
    adapter = FcmAdapter()
    settings = config(account, google.url)

    def fcm(request: Request) -> Reply | None:
        if request.json()["message"]["token"] == "dead":
            return google_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        return None

    google.fcm_reply = fcm

    def deliver(*devices: PushToken) -> Any:
        return run(lambda client: adapter.send(message(PUSH, *devices), settings, client))

    assert deliver() == Skipped("no push token")
    assert deliver(PushToken("ios-only", "ios")) == Skipped("no push token")
    both = deliver(PushToken("dead", "android"), PushToken("live", "android"))
    assert isinstance(both, Sent) and both.dead_tokens == ("dead",)  # the live one got it
    outcome = deliver(PushToken("dead", "android"))
    assert isinstance(outcome, Failed) and "UNREGISTERED" in outcome.reason


def test_the_dispatcher_removes_a_dead_token_from_the_customer(
    google: GoogleServer, account: dict[str, Any], database: Database, app_id: int
) -> None:
    """FCM says ``UNREGISTERED`` for one of two devices: sent, and that token is gone."""

    def fcm(request: Request) -> Reply | None:
        if request.json()["message"]["token"] == "dead":
            return google_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        return None

    google.fcm_reply = fcm
    devices = [{"token": "dead", "platform": "android"}, {"token": "live", "platform": "android"}]
    with database.write() as conn:
        upsert_customers(conn, app_id, [{"customerId": "c1", "pushTokens": devices}], NOW)
        settings = {"baseUrl": google.url, "credentials": {"serviceAccount": account}}
        put_channel(conn, app_id, "push", enabled=True, settings=settings, rate_limit=None, now=NOW)
        campaign = create_campaign(
            conn, app_id, "hello", "push", {"title": "Hi", "body": "Yo"}, NOW
        )
        insert_outbox(
            conn,
            [
                {
                    "application_id": app_id,
                    "idempotency_key": "test:c1",
                    "customer_id": "c1",
                    "channel": "push",
                    "campaign_id": campaign,
                    "payload": {"context": {}, "campaignId": campaign},
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
            ],
        )
    dispatcher = Dispatcher(database)
    try:
        while dispatcher.tick(NOW):
            pass
    finally:
        dispatcher.close()
    with database.read() as conn:
        status = conn.execute(select(outbox.c.status)).scalar_one()
        customer = get_customer(conn, app_id, "c1")
    assert status == "sent"
    assert [t.token for t in customer.push_tokens] == ["live"]
    assert customer.updated_at > NOW  # changed when the dispatcher settled
