"""Google Wallet object updates, against a local fake of the Wallet API and Google's OAuth."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.google_server import (  # noqa: F401  (the fixtures)
    GoogleServer,
    account_fixture,
    account_template_fixture,
    google_error,
    google_fixture,
)
from tests.providers import Reply, Request
from wayfare.channels.base import ChannelConfig, Failed, Message, RetryLater, Sent, Skipped
from wayfare.channels.google import ServiceAccountTokens
from wayfare.channels.google_wallet import (
    WALLET_SCOPE,
    GoogleWalletAdapter,
    google_wallet_config,
    object_id,
    update_google_object,
)
from wayfare.model.customers import Customer

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
ISSUER = "3388000000022195611"
CONTENT = {"fields": {"points": "1,240", "tier": "Gold"}, "message": "You earned 120 points"}


def customer(customer_id: str = "c-1") -> Customer:
    return Customer(
        customer_id=customer_id,
        email=None,
        phone=None,
        whatsapp=None,
        telegram_chat_id=None,
        push_tokens=(),
        consent={},
        timezone=None,
        language=None,
        fields={},
        created_at=NOW,
        updated_at=NOW,
    )


def message(
    content: Mapping[str, Any] = CONTENT,
    customer_id: str = "c-1",
    extra: Mapping[str, Any] | None = None,
) -> Message:
    return Message(
        id=93,
        key="93-key",
        application_id=1,
        channel="wallet",
        customer=customer(customer_id),
        content=content,
        campaign_id=4,
        extra=extra or {},
    )


def config(account: dict[str, Any], base_url: str, **options: Any) -> ChannelConfig:
    return ChannelConfig(
        base_url=base_url,
        credentials={"serviceAccount": account},
        options={"issuerId": ISSUER} | options,
    )


def deliver(
    message: Message, settings: ChannelConfig, adapter: GoogleWalletAdapter | None = None
) -> Any:
    adapter = adapter or GoogleWalletAdapter()

    async def main() -> Any:
        async with httpx.AsyncClient(timeout=5) as client:
            return await adapter.send(message, settings, client)

    return asyncio.run(main())


def saved_pass(google: GoogleServer, suffix: str = "c-1") -> dict[str, Any]:
    stored: dict[str, Any] = {
        "id": f"{ISSUER}.{suffix}",
        "classId": f"{ISSUER}.loyalty",
        "state": "ACTIVE",
        "textModulesData": [
            {"id": "memberNo", "header": "Member", "body": "000123"},
            {"id": "points", "header": "points", "body": "1,120"},
        ],
    }
    google.objects[stored["id"]] = stored
    return stored


def calls(google: GoogleServer) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in google.api_requests()]


def test_fields_and_message_update_the_object(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    stored = saved_pass(google)

    outcome = deliver(message(), config(account, google.url))

    base = f"/walletobjects/v1/genericObject/{ISSUER}.c-1"
    assert calls(google) == [("GET", base), ("PATCH", base), ("POST", f"{base}/addMessage")]
    get, patch, add = google.api_requests()
    assert all(r.headers["authorization"] == "Bearer token-1" for r in (get, patch, add))
    assert patch.headers["content-type"] == "application/json"
    assert patch.json() == {
        "textModulesData": [
            {"id": "memberNo", "header": "Member", "body": "000123"},
            {"id": "points", "header": "points", "body": "1,240"},
            {"id": "tier", "header": "tier", "body": "Gold"},
        ]
    }
    assert add.json() == {
        "message": {
            "header": "Update",
            "body": "You earned 120 points",
            "id": "wayfare-93",
            "messageType": "TEXT_AND_NOTIFY",
        }
    }
    [(_header, claims)] = google.assertions
    assert claims["scope"] == WALLET_SCOPE and claims["aud"] == google.token_url
    assert stored["messages"] == [add.json()["message"]]
    assert outcome == Sent(f"{ISSUER}.c-1")


def test_a_pass_nobody_saved_is_skipped(google: GoogleServer, account: dict[str, Any]) -> None:
    outcome = deliver(message(), config(account, google.url))

    assert outcome == Skipped("no Google Wallet pass")
    assert calls(google) == [("GET", f"/walletobjects/v1/genericObject/{ISSUER}.c-1")]


def test_a_message_alone_is_only_added(google: GoogleServer, account: dict[str, Any]) -> None:
    saved_pass(google)
    content = {"fields": {}, "message": {"header": "Gold!", "body": "You reached Gold"}}

    outcome = deliver(message(content), config(account, google.url, objectType="genericObject"))

    assert calls(google) == [("POST", f"/walletobjects/v1/genericObject/{ISSUER}.c-1/addMessage")]
    assert google.api_requests()[0].json()["message"]["header"] == "Gold!"
    assert isinstance(outcome, Sent)

    google.objects.clear()
    assert deliver(message(content), config(account, google.url)) == Skipped(
        "no Google Wallet pass"
    )


def test_fields_alone_add_no_message(google: GoogleServer, account: dict[str, Any]) -> None:
    saved_pass(google)

    outcome = deliver(
        message({"fields": {"points": 7}}),
        config(account, google.url, objectType="loyaltyObject"),
    )

    base = f"/walletobjects/v1/loyaltyObject/{ISSUER}.c-1"
    assert calls(google) == [("GET", base), ("PATCH", base)]
    assert google.api_requests()[1].json()["textModulesData"][1] == {
        "id": "points",
        "header": "points",
        "body": "7",
    }
    assert isinstance(outcome, Sent)


def test_object_id_keeps_only_what_google_allows(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    assert object_id(ISSUER, "ana@example.com+1:x") == f"{ISSUER}.ana_example.com_1_x"
    saved_pass(google, "ana_example.com_1_x")

    outcome = deliver(message(customer_id="ana@example.com+1:x"), config(account, google.url))

    assert outcome == Sent(f"{ISSUER}.ana_example.com_1_x")
    extra = {"googleObjectId": f"{ISSUER}.card-77"}
    saved_pass(google, "card-77")
    assert deliver(message(extra=extra), config(account, google.url)) == Sent(f"{ISSUER}.card-77")


def test_google_settings_inside_a_shared_wallet_channel(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    saved_pass(google)
    shared = ChannelConfig(
        base_url="http://127.0.0.1:9",  # the Apple side's
        credentials={"google": {"serviceAccount": account}, "apple": {"teamId": "T"}},
        options={"google": {"issuerId": ISSUER, "baseUrl": google.url}},
    )

    assert google_wallet_config(shared).base_url == google.url
    assert isinstance(deliver(message(), shared), Sent)


def test_a_401_refreshes_the_token_once(google: GoogleServer, account: dict[str, Any]) -> None:
    saved_pass(google)
    adapter = GoogleWalletAdapter()
    settings = config(account, google.url)
    deliver(message(), settings, adapter)
    google.revoke_tokens()
    google.requests.clear()

    outcome = deliver(message(), settings, adapter)

    assert isinstance(outcome, Sent)
    auth = [r.headers.get("authorization") for r in google.requests]
    assert auth == [
        "Bearer token-1",  # refused
        None,  # the exchange
        "Bearer token-2",
        "Bearer token-2",
        "Bearer token-2",
    ]
    assert adapter.tokens.exchanges == 2


def test_server_errors_retry_later(google: GoogleServer, account: dict[str, Any]) -> None:
    saved_pass(google)

    def busy(request: Request) -> Reply | None:
        if request.method == "PATCH":
            reply = google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
            reply.headers["Retry-After"] = "12"
            return reply
        return None

    google.wallet_reply = busy

    outcome = deliver(message(), config(account, google.url))

    assert outcome == RetryLater(
        "updating the pass: HTTP 503 UNAVAILABLE: The service is currently unavailable.", 12.0
    )
    assert [m for m, _ in calls(google)] == ["GET", "PATCH"]


def test_refusals_fail_with_googles_reason(google: GoogleServer, account: dict[str, Any]) -> None:
    saved_pass(google)
    google.wallet_reply = lambda request: (
        google_error(400, "INVALID_ARGUMENT", "Invalid message type")
        if request.path.endswith("/addMessage")
        else None
    )

    outcome = deliver(message(), config(account, google.url))

    assert outcome == Failed("adding the message: HTTP 400 INVALID_ARGUMENT: Invalid message type")


def test_past_the_notification_quota_the_message_is_added_without_one(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    stored = saved_pass(google)

    def quota(request: Request) -> Reply | None:
        notify = (
            request.path.endswith("/addMessage")
            and request.json()["message"]["messageType"] == "TEXT_AND_NOTIFY"
        )
        if notify:
            text = (
                f"Quota exceeded for issuer {ISSUER} when adding TEXT_AND_NOTIFY message "
                f"to class {ISSUER}.loyalty."
            )
            error = {"message": text, "domain": "walletobjects", "reason": "quotaExceeded"}
            return Reply(403, {"error": {"code": 403, "message": text, "errors": [error]}})
        return None

    google.wallet_reply = quota

    outcome = deliver(message(), config(account, google.url))

    assert isinstance(outcome, Sent)
    adds = [r.json()["message"]["messageType"] for r in google.api_requests()[2:]]
    assert adds == ["TEXT_AND_NOTIFY", "TEXT"]
    assert stored["messages"][0]["messageType"] == "TEXT"


def test_timeouts_retry_later(google: GoogleServer, account: dict[str, Any]) -> None:
    saved_pass(google)
    google.wallet_reply = lambda request: Reply(200, {}, delay=1.0)
    adapter = GoogleWalletAdapter()

    async def main() -> Any:
        async with httpx.AsyncClient(timeout=0.2) as client:
            return await adapter.send(message(), config(account, google.url), client)

    outcome = asyncio.run(main())

    assert isinstance(outcome, RetryLater) and outcome.reason.startswith("timeout")


def test_unusable_settings_fail_naming_the_key(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    no_issuer = ChannelConfig(base_url=google.url, credentials={"serviceAccount": account})
    assert deliver(message(), no_issuer) == Failed(
        "options.issuerId is missing (the Google Wallet issuer id)"
    )
    outcome = deliver(message(), config(account, google.url, objectType="passObject"))
    assert isinstance(outcome, Failed) and outcome.reason.startswith("options.objectType")
    assert deliver(message(), config({}, google.url)) == Failed(
        "credentials.serviceAccount.client_email is missing"
    )
    assert google.requests == []


def test_tokens_shared_with_fcm_are_kept_per_scope(
    google: GoogleServer, account: dict[str, Any]
) -> None:
    saved_pass(google)
    tokens = ServiceAccountTokens()

    async def main() -> list[Any]:
        async with httpx.AsyncClient(timeout=5) as client:
            settings = config(account, google.url)
            first = await update_google_object(f"{ISSUER}.c-1", message(), settings, client, tokens)
            again = await update_google_object(f"{ISSUER}.c-1", message(), settings, client, tokens)
            other = await tokens.token(account, "https://example.com/other-scope", client)
            return [first, again, other]

    first, again, other = asyncio.run(main())

    assert isinstance(first, Sent) and isinstance(again, Sent)
    assert other == "token-2"
    assert [c["scope"] for _h, c in google.assertions] == [
        WALLET_SCOPE,
        "https://example.com/other-scope",
    ]
