"""The content of a campaign per channel, and its check when the campaign is saved.

Each channel's content is a JSON object with camelCase keys (checked with pydantic here, at the
edge); every string in it is a Liquid template, parsed at save time so that a syntax error is
reported with its field path and line (``content.html: line 3: unexpected tag 'endfor'``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from wayfare.errors import Problem
from wayfare.model.durations import parse_duration
from wayfare.templates.environment import template_problems


def _scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        if value is None:
            raise ValueError("expected a string, number or boolean, got null")
        return value
    if isinstance(value, str | int | float):
        return value
    raise ValueError(f"expected a string, number or boolean, got {type(value).__name__}")


def _duration(value: str) -> str:
    parse_duration(value)
    return value


Scalar = Annotated[Any, AfterValidator(_scalar)]
"""A string (a template), a number or a boolean."""

Text = Annotated[str, Field(min_length=1)]
"""A required text: a template that is not empty."""


class _Content(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, alias_generator=to_camel, populate_by_name=False
    )

    def problems(self) -> list[Problem]:
        """Rules across keys (one of two keys, ...), beyond each key's type."""
        return []


class Button(_Content):
    """A button: its label and the URL (or deep link) it opens."""

    label: Text
    url: Text


class PushContent(_Content):
    """A push notification."""

    title: Text
    body: Text
    image: str | None = None
    deep_link: str | None = None
    buttons: list[Button] | None = Field(None, max_length=3)
    data: dict[str, Scalar] | None = None


class EmailContent(_Content):
    """An email: a subject and an HTML and/or a text part."""

    subject: Text
    html: str | None = None
    text: str | None = None
    from_: str | None = Field(None, alias="from")
    reply_to: str | None = None

    def problems(self) -> list[Problem]:
        """At least one of ``html`` and ``text``."""
        if self.html is None and self.text is None:
            return [Problem("content.html", "an email needs html, text or both", "missing")]
        return []


class SmsContent(_Content):
    """A text message."""

    text: Text


class Media(_Content):
    """A media attachment."""

    type: Literal["image", "video", "audio", "document"]
    url: Text


class WhatsAppContent(_Content):
    """A WhatsApp message: free text, or an approved template with its parameters."""

    text: str | None = None
    template: str | None = Field(None, min_length=1)
    language: str | None = None
    parameters: list[Scalar] | None = None
    media: Media | None = None

    def problems(self) -> list[Problem]:
        """Exactly one of ``text`` and ``template``; template settings only with a template."""
        if (self.text is None) == (self.template is None):
            return [Problem("content.text", "give either text or template", "one_of")]
        if self.template is None:
            return [
                Problem(f"content.{key}", "only with a template", "invalid")
                for key, value in (("language", self.language), ("parameters", self.parameters))
                if value is not None
            ]
        return []


class TelegramContent(_Content):
    """A Telegram message (Bot API ``sendMessage``)."""

    text: Text
    parse_mode: Literal["HTML", "MarkdownV2", "Markdown"] | None = None
    buttons: list[Button] | None = None


class Card(_Content):
    """An in-app card."""

    title: Text
    body: Text
    image: str | None = None
    buttons: list[Button] | None = None


class InAppContent(_Content):
    """An in-app / in-web message: HTML or a card, shown until it expires."""

    html: str | None = None
    card: Card | None = None
    expires_in: Annotated[str, AfterValidator(_duration)] | None = None

    def problems(self) -> list[Problem]:
        """Exactly one of ``html`` and ``card``."""
        if (self.html is None) == (self.card is None):
            return [Problem("content.html", "give either html or card", "one_of")]
        return []


class WalletContent(_Content):
    """A wallet pass update: the pass fields to set, and a message shown on the change."""

    fields: dict[str, Scalar] = Field(min_length=1)
    message: str | None = None


SHAPES: Mapping[str, type[_Content]] = {
    "push": PushContent,
    "email": EmailContent,
    "sms": SmsContent,
    "whatsapp": WhatsAppContent,
    "telegram": TelegramContent,
    "inapp": InAppContent,
    "wallet": WalletContent,
}
"""The content model of each channel."""

_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown key",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "string_too_short": "must not be empty",
    "too_short": "must not be empty",
}
_CODES = {"missing": "missing", "extra_forbidden": "unknown_key"}


def field_path(location: tuple[int | str, ...], root: str = "content") -> str:
    """A pydantic error location as a field path: ``content.buttons[1].url``."""
    path = root
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, with its field path."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{where}[{index}]")


def check_content(channel: str, content: Any) -> tuple[dict[str, Any], list[Problem]]:
    """Check a campaign's content for ``channel``: the content normalized, and what is wrong.

    Normalized: the keys given, ``null`` optional keys dropped. Problems name the field path
    (``content.buttons[1].url``); a Liquid string that does not parse is reported with its line.
    """
    shape = SHAPES.get(channel)
    if shape is None:
        return {}, [Problem("channel", f"{channel!r} has no campaign content", "unknown")]
    if not isinstance(content, Mapping):
        return {}, [Problem("content", "must be an object", "type")]
    try:
        checked = shape.model_validate(dict(content))
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
        return {}, problems + _template_problems(content)
    normalized = checked.model_dump(by_alias=True, exclude_none=True)
    return normalized, checked.problems() + _template_problems(normalized)


def _template_problems(content: Any) -> list[Problem]:
    problems: list[Problem] = []
    for where, source in strings(content, "content"):
        problems.extend(template_problems(source, where))
    return problems


def _problem(error: Any) -> Problem:
    kind = error["type"]
    message = _MESSAGES.get(kind) or str(error["msg"]).removeprefix("Value error, ")
    return Problem(field_path(tuple(error["loc"])), message, _CODES.get(kind, "invalid"))
