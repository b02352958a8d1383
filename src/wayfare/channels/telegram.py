"""The Telegram channel over the Bot API's ``sendMessage``, with inline URL buttons.

One message is one ``POST /bot{token}/sendMessage``; Telegram says ``ok`` or gives an
``error_code`` and a ``description`` (and ``retry_after`` when flooding).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx

from wayfare.channels.base import (
    Adapter,
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    RetryLater,
    Sent,
    Skipped,
    from_exception,
    from_response,
)
from wayfare.channels.sms import json_body, tracked_text

__all__ = ["DEFAULT_BASE_URL", "PARSE_MODES", "TelegramAdapter", "telegram_payload"]

DEFAULT_BASE_URL = "https://api.telegram.org"
"""The Bot API."""

PARSE_MODES = ("HTML", "MarkdownV2", "Markdown")
"""The ``parseMode`` values Telegram accepts."""

_NUMERIC = re.compile(r"-?[0-9]+")


def telegram_payload(message: Message, chat_id: str) -> dict[str, Any] | str:
    """The ``sendMessage`` body for ``message`` to ``chat_id``, or why it cannot be built.

    Content ``{text, parseMode?, buttons?: [{label, url}]}``; each button is a row of the
    inline keyboard. A numeric chat id is sent as a number, ``@channel`` as a string.
    """
    content = message.content
    text = tracked_text(str(content.get("text") or ""), message.links)
    if not text:
        return "telegram content: text is empty"
    payload: dict[str, Any] = {
        "chat_id": int(chat_id) if _NUMERIC.fullmatch(chat_id) else chat_id,
        "text": text,
    }
    parse_mode = content.get("parseMode")
    if parse_mode:
        if parse_mode not in PARSE_MODES:
            return f"telegram content: parseMode must be one of {', '.join(PARSE_MODES)}"
        payload["parse_mode"] = parse_mode
    buttons = content.get("buttons") or ()
    if not isinstance(buttons, Sequence) or isinstance(buttons, str):
        return "telegram content: buttons must be a list of {label, url}"
    rows = []
    for index, button in enumerate(buttons):
        if not isinstance(button, Mapping) or not button.get("label") or not button.get("url"):
            return f"telegram content: buttons[{index}] needs a label and a url"
        url = str(button["url"])
        click = message.links.get("click")
        rows.append([{"text": str(button["label"]), "url": click(url) if click else url}])
    if rows:
        payload["reply_markup"] = {"inline_keyboard": rows}
    return payload


class TelegramAdapter(Adapter):
    """Telegram through a bot.

    Settings: ``credentials`` ``{botToken}`` (from @BotFather). The address is the customer's
    ``telegramChatId`` (the chat the customer opened with the bot, or ``@channel``).
    """

    channel: ClassVar[str] = "telegram"

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Send ``message`` with ``sendMessage``."""
        chat_id = message.customer.telegram_chat_id
        if not chat_id:
            return Skipped("no Telegram chat id")
        token = config.credentials.get("botToken")
        if not token:
            return Failed("telegram settings: credentials.botToken is missing")
        payload = telegram_payload(message, chat_id)
        if isinstance(payload, str):
            return Failed(payload)
        url = f"{config.url(DEFAULT_BASE_URL)}/bot{token}/sendMessage"
        try:
            response = await client.post(url, json=payload)
        except httpx.HTTPError as exc:
            return from_exception(exc)
        body = json_body(response)
        if not isinstance(body, Mapping):
            return from_response(response, response.text[:300].strip())
        if response.is_success and body.get("ok"):
            result = body.get("result")
            message_id = result.get("message_id") if isinstance(result, Mapping) else None
            return Sent(str(message_id) if message_id is not None else None)
        description = str(body.get("description") or "")
        parameters = body.get("parameters")
        if isinstance(parameters, Mapping):
            after = parameters.get("retry_after")
            if isinstance(after, int | float) and not isinstance(after, bool):
                return RetryLater(f"HTTP {response.status_code}: {description}", float(after))
            if parameters.get("migrate_to_chat_id") is not None:
                description += f" (the chat moved to {parameters['migrate_to_chat_id']})"
        if response.is_success:  # HTTP 200 with ok false: not documented, taken as a refusal
            return Failed(description or "Telegram answered ok: false")
        return from_response(response, description)
