"""The SMS adapter against a local server speaking Twilio's Messages API."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine, Mapping
from dataclasses import replace
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx

from wayfare.channels.base import (
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    RetryLater,
    Sent,
    Skipped,
)
from wayfare.channels.sms import SmsAdapter, tracked_text
from wayfare.model.customers import Customer

from .conftest import NOW
from .providers import ProviderServer, Reply, provider

__all__ = ["customer", "deliver", "message", "provider"]

T = TypeVar("T")

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "auth-token-0123"


def customer(**changes: Any) -> Customer:
    """A customer with every address set (``changes`` replace some)."""
    base = Customer(
        customer_id="c-1",
        email="ana@example.com",
        phone="+34600111222",
        whatsapp="+34600999888",
        telegram_chat_id="123456789",
        push_tokens=(),
        consent={},
        timezone="Europe/Madrid",
        language="es",
        fields={},
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **changes)


def message(channel: str, content: Mapping[str, Any], **changes: Any) -> Message:
    """A rendered message of outbox row 42 for ``customer()``."""
    base = Message(
        id=42,
        key="j1:s2:c-1:1:0",
        application_id=1,
        channel=channel,
        customer=customer(),
        content=content,
        campaign_id=7,
    )
    return replace(base, **changes)


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def deliver(adapter: Any, msg: Message, config: ChannelConfig, timeout: float = 5.0) -> Delivery:
    """One ``send`` with a fresh client."""

    async def go() -> Delivery:
        async with httpx.AsyncClient(timeout=timeout) as client:
            result: Delivery = await adapter.send(msg, config, client)
            return result

    return run(go())


def config(server: ProviderServer, **options: Any) -> ChannelConfig:
    return ChannelConfig(
        base_url=server.url + "/",
        credentials={"accountSid": ACCOUNT, "authToken": TOKEN},
        options={"from": "+15005550006", **options},
    )


def test_sends_the_documented_request(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(
        201, {"sid": "SM" + "a" * 32, "status": "queued", "body": "Hi"}
    )
    callback = "https://wayfare.example.com/v1/callback/sms/1"
    outcome = deliver(
        SmsAdapter(),
        message("sms", {"text": "Hola Ana, 20% off"}),
        config(provider, statusCallback=callback),
    )
    assert outcome == Sent("SM" + "a" * 32)
    [request] = provider.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.form() == {
        "To": ["+34600111222"],
        "From": ["+15005550006"],
        "Body": ["Hola Ana, 20% off"],
        "StatusCallback": [callback],
    }


def test_api_key_and_messaging_service(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(201, {"sid": "SM1"})
    settings = ChannelConfig(
        base_url=provider.url,
        credentials={"accountSid": ACCOUNT, "apiKeySid": "SK1", "apiKeySecret": "s3cret"},
        options={"messagingServiceSid": "MG9", "from": "+1"},
    )
    assert deliver(SmsAdapter(), message("sms", {"text": "x"}), settings) == Sent("SM1")
    [request] = provider.requests
    expected = base64.b64encode(b"SK1:s3cret").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.form() == {"To": ["+34600111222"], "MessagingServiceSid": ["MG9"], "Body": ["x"]}


def test_tracked_links_in_the_body(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(201, {"sid": "SM2"})
    links = {
        "click": lambda url: (
            "https://t.example/t/" + base64.urlsafe_b64encode(url.encode()).decode()
        )
    }
    msg = message("sms", {"text": "See https://shop.example/sale?x=1. Bye"}, links=links)
    assert deliver(SmsAdapter(), msg, config(provider)) == Sent("SM2")
    body = provider.requests[0].form()["Body"][0]
    token = base64.urlsafe_b64encode(b"https://shop.example/sale?x=1").decode()
    assert body == f"See https://t.example/t/{token}. Bye"
    assert tracked_text("https://a.example", {}) == "https://a.example"
    own = {"click": links["click"], "tracking": SimpleNamespace(base_url="https://t.example")}
    assert tracked_text("Stop: https://t.example/u/abc", own) == "Stop: https://t.example/u/abc"


def test_twilio_errors(provider: ProviderServer) -> None:
    error = {
        "code": 21211,
        "message": "The 'To' number +34600111222 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    provider.respond = lambda request: Reply(400, error)
    outcome = deliver(SmsAdapter(), message("sms", {"text": "x"}), config(provider))
    assert outcome == Failed(
        "HTTP 400: 21211: The 'To' number +34600111222 is not a valid phone number."
    )

    provider.respond = lambda request: Reply(
        429,
        {"code": 20429, "message": "Too Many Requests", "more_info": "", "status": 429},
        {"Retry-After": "3"},
    )
    assert deliver(SmsAdapter(), message("sms", {"text": "x"}), config(provider)) == RetryLater(
        "HTTP 429: 20429: Too Many Requests", 3.0
    )
    provider.respond = lambda request: Reply(503, b"<html>down</html>")
    outcome = deliver(SmsAdapter(), message("sms", {"text": "x"}), config(provider))
    assert isinstance(outcome, RetryLater) and outcome.reason == "HTTP 503: <html>down</html>"


def test_timeout_is_retried(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(201, {"sid": "late"}, delay=0.5)
    outcome = deliver(SmsAdapter(), message("sms", {"text": "x"}), config(provider), timeout=0.1)
    assert isinstance(outcome, RetryLater) and outcome.reason.startswith("timeout")


def test_no_phone_and_bad_settings(provider: ProviderServer) -> None:
    adapter = SmsAdapter()
    no_phone = message("sms", {"text": "x"}, customer=customer(phone=None))
    assert deliver(adapter, no_phone, config(provider)) == Skipped("no phone number")
    settings = ChannelConfig(base_url=provider.url, credentials={"accountSid": ACCOUNT})
    outcome = deliver(adapter, message("sms", {"text": "x"}), settings)
    assert isinstance(outcome, Failed) and "authToken" in outcome.reason
    settings = ChannelConfig(
        base_url=provider.url, credentials={"accountSid": ACCOUNT, "authToken": "t"}
    )
    outcome = deliver(adapter, message("sms", {"text": "x"}), settings)
    assert isinstance(outcome, Failed) and "options.from" in outcome.reason
    assert provider.requests == []


def test_form_is_url_encoded(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(201, {"sid": "SM3"})
    deliver(SmsAdapter(), message("sms", {"text": "a&b=c ñ +1"}), config(provider))
    assert parse_qs(provider.requests[0].body.decode())["Body"] == ["a&b=c ñ +1"]
