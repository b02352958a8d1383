"""The WhatsApp adapter against a local server speaking the WhatsApp Cloud API."""

from __future__ import annotations

from typing import Any

from wayfare.channels.base import ChannelConfig, Failed, RetryLater, Sent, Skipped
from wayfare.channels.whatsapp import WhatsAppAdapter

from .providers import ProviderServer, Reply
from .test_channel_sms import customer, deliver, message, provider

__all__ = ["provider"]

WAMID = "wamid.HBgLMzQ2MDA5OTk4ODgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


def config(server: ProviderServer, **options: Any) -> ChannelConfig:
    return ChannelConfig(
        base_url=server.url,
        credentials={"accessToken": "EAAG-token"},
        options={"phoneNumberId": "106540352242922", **options},
    )


def accepted(request: Any) -> Reply:
    return Reply(
        200,
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": "34600999888", "wa_id": "34600999888"}],
            "messages": [{"id": WAMID}],
        },
    )


def test_text_message(provider: ProviderServer) -> None:
    provider.respond = accepted
    outcome = deliver(
        WhatsAppAdapter(), message("whatsapp", {"text": "Hola Ana"}), config(provider)
    )
    assert outcome == Sent(WAMID)
    [request] = provider.requests
    assert request.method == "POST"
    assert request.path == "/v21.0/106540352242922/messages"
    assert request.headers["authorization"] == "Bearer EAAG-token"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "34600999888",
        "type": "text",
        "text": {"body": "Hola Ana"},
    }


def test_template_with_parameters_and_header_media(provider: ProviderServer) -> None:
    provider.respond = accepted
    content = {
        "template": "order_shipped",
        "language": "es_ES",
        "parameters": ["Ana", "A-1001"],
        "media": {"type": "image", "url": "https://cdn.example/box.png"},
    }
    msg = message("whatsapp", content, customer=customer(whatsapp=None))
    assert deliver(WhatsAppAdapter(), msg, config(provider, version="v20.0")) == Sent(WAMID)
    [request] = provider.requests
    assert request.path == "/v20.0/106540352242922/messages"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "34600111222",  # the phone, as there is no WhatsApp number
        "type": "template",
        "template": {
            "name": "order_shipped",
            "language": {"code": "es_ES"},
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {"type": "image", "image": {"link": "https://cdn.example/box.png"}}
                    ],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ana"},
                        {"type": "text", "text": "A-1001"},
                    ],
                },
            ],
        },
    }


def test_bare_template_takes_the_customer_language(provider: ProviderServer) -> None:
    provider.respond = accepted
    deliver(WhatsAppAdapter(), message("whatsapp", {"template": "hello_world"}), config(provider))
    assert provider.requests[0].json()["template"] == {
        "name": "hello_world",
        "language": {"code": "es"},
    }


def test_media_message_with_caption(provider: ProviderServer) -> None:
    provider.respond = accepted
    content = {
        "text": "Your invoice",
        "media": {"type": "document", "url": "https://x.example/i.pdf"},
    }
    deliver(WhatsAppAdapter(), message("whatsapp", content), config(provider))
    body = provider.requests[0].json()
    assert body["type"] == "document"
    assert body["document"] == {"link": "https://x.example/i.pdf", "caption": "Your invoice"}
    bad = message("whatsapp", {"text": "x", "media": {"type": "audio", "url": "u"}})
    outcome = deliver(WhatsAppAdapter(), bad, config(provider))
    assert isinstance(outcome, Failed) and "media" in outcome.reason
    assert len(provider.requests) == 1


def graph_error(code: int, message: str, subcode: int | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEf",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def test_errors(provider: ProviderServer) -> None:
    adapter, msg = WhatsAppAdapter(), message("whatsapp", {"text": "x"})
    provider.respond = lambda request: Reply(
        400, graph_error(131030, "(#131030) Recipient phone number not in allowed list")
    )
    assert deliver(adapter, msg, config(provider)) == Failed(
        "HTTP 400: 131030: (#131030) Recipient phone number not in allowed list (fbtrace_id AbCdEf)"
    )
    provider.respond = lambda request: Reply(
        401, graph_error(190, "Error validating access token", 463)
    )
    outcome = deliver(adapter, msg, config(provider))
    assert isinstance(outcome, Failed) and outcome.reason.startswith("HTTP 401: 190/463: ")

    for code in (130429, 131048, 80007):
        provider.respond = lambda request, code=code: Reply(
            400, graph_error(code, "rate limit hit")
        )
        outcome = deliver(adapter, msg, config(provider))
        assert isinstance(outcome, RetryLater), code
        assert outcome.reason == f"HTTP 400: {code}: rate limit hit (fbtrace_id AbCdEf)"

    provider.respond = lambda request: Reply(
        429, graph_error(4, "too many calls"), {"Retry-After": "7"}
    )
    assert deliver(adapter, msg, config(provider)) == RetryLater(
        "HTTP 429: 4: too many calls (fbtrace_id AbCdEf)", 7.0
    )
    provider.respond = lambda request: Reply(500, graph_error(131000, "Something went wrong"))
    assert isinstance(deliver(adapter, msg, config(provider)), RetryLater)


def test_timeout(provider: ProviderServer) -> None:
    provider.respond = lambda request: Reply(200, {}, delay=0.5)
    outcome = deliver(WhatsAppAdapter(), message("whatsapp", {"text": "x"}), config(provider), 0.1)
    assert isinstance(outcome, RetryLater) and outcome.reason.startswith("timeout")


def test_no_number_and_missing_settings(provider: ProviderServer) -> None:
    nobody = message("whatsapp", {"text": "x"}, customer=customer(whatsapp=None, phone=None))
    assert isinstance(deliver(WhatsAppAdapter(), nobody, config(provider)), Skipped)
    settings = ChannelConfig(base_url=provider.url, credentials={"accessToken": "t"})
    outcome = deliver(WhatsAppAdapter(), message("whatsapp", {"text": "x"}), settings)
    assert outcome == Failed("whatsapp settings: options.phoneNumberId is missing")
    assert provider.requests == []
