"""The Telegram adapter against a local server speaking the Bot API."""

from __future__ import annotations

from typing import Any

from wayfare.channels.base import ChannelConfig, Failed, RetryLater, Sent, Skipped
from wayfare.channels.telegram import TelegramAdapter

from .providers import ProviderServer, Reply
from .test_channel_sms import customer, deliver, message, provider

__all__ = ["provider"]

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"


def config(server: ProviderServer) -> ChannelConfig:
    return ChannelConfig(base_url=server.url, credentials={"botToken": TOKEN})


def ok(request: Any) -> Reply:
    result = {
        "message_id": 991,
        "chat": {"id": 123456789, "type": "private"},
        "date": 1,
        "text": "x",
    }
    return Reply(200, {"ok": True, "result": result})


def test_send_message_with_buttons(provider: ProviderServer) -> None:
    provider.respond = ok
    content = {
        "text": "<b>Sale</b> today",
        "parseMode": "HTML",
        "buttons": [
            {"label": "Shop", "url": "https://shop.example/sale"},
            {"label": "Stores", "url": "https://shop.example/stores"},
        ],
    }
    links = {"click": lambda url: "https://t.example/t?u=" + url.rsplit("/", 1)[1]}
    msg = message("telegram", content, links=links)
    assert deliver(TelegramAdapter(), msg, config(provider)) == Sent("991")
    [request] = provider.requests
    assert request.method == "POST"
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "chat_id": 123456789,
        "text": "<b>Sale</b> today",
        "parse_mode": "HTML",
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "Shop", "url": "https://t.example/t?u=sale"}],
                [{"text": "Stores", "url": "https://t.example/t?u=stores"}],
            ]
        },
    }


def test_plain_text_to_a_channel_name(provider: ProviderServer) -> None:
    provider.respond = ok
    msg = message("telegram", {"text": "hi"}, customer=customer(telegram_chat_id="@acme_news"))
    deliver(TelegramAdapter(), msg, config(provider))
    assert provider.requests[0].json() == {"chat_id": "@acme_news", "text": "hi"}


def test_flood_wait_and_refusals(provider: ProviderServer) -> None:
    adapter, msg = TelegramAdapter(), message("telegram", {"text": "x"})
    provider.respond = lambda request: Reply(
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 12",
            "parameters": {"retry_after": 12},
        },
    )
    assert deliver(adapter, msg, config(provider)) == RetryLater(
        "HTTP 429: Too Many Requests: retry after 12", 12.0
    )
    provider.respond = lambda request: Reply(
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
    )
    assert deliver(adapter, msg, config(provider)) == Failed(
        "HTTP 403: Forbidden: bot was blocked by the user"
    )
    provider.respond = lambda request: Reply(
        400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
    )
    assert deliver(adapter, msg, config(provider)) == Failed(
        "HTTP 400: Bad Request: chat not found"
    )
    provider.respond = lambda request: Reply(502, b"Bad Gateway")
    assert isinstance(deliver(adapter, msg, config(provider)), RetryLater)


def test_timeout(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(200, {"ok": True}, delay=0.5)
    outcome = deliver(TelegramAdapter(), message("telegram", {"text": "x"}), config(provider), 0.1)
    assert isinstance(outcome, RetryLater) and outcome.reason.startswith("timeout")


def test_no_chat_and_bad_content(provider: ProviderServer) -> None:
    adapter = TelegramAdapter()
    nobody = message("telegram", {"text": "x"}, customer=customer(telegram_chat_id=None))
    assert deliver(adapter, nobody, config(provider)) == Skipped("no Telegram chat id")
    bad = message("telegram", {"text": "x", "parseMode": "html"})
    outcome = deliver(adapter, bad, config(provider))
    assert isinstance(outcome, Failed) and "parseMode" in outcome.reason
    outcome = deliver(
        adapter, message("telegram", {"text": "x"}), ChannelConfig(base_url=provider.url)
    )
    assert outcome == Failed("telegram settings: credentials.botToken is missing")
    assert provider.requests == []
