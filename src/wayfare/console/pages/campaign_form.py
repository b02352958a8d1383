"""The campaign editor's form: each channel's content (``wayfare.templates.content``) as fields.

A content key is one labelled input named ``content.<path>`` (``content.card.title`` for a key of
a nested object); keys whose value is a list or an object of free keys (buttons, data, wallet
fields) are a JSON textarea. ``content_of`` turns a posted form back into a content document
for ``check_content``; ``place_problems`` puts each problem next to the field it names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from wayfare.console.forms import parse_json_field
from wayfare.console.web import errors_by_field
from wayfare.errors import InvalidInput, Problem

Kind = Literal["line", "text", "code", "json", "lines", "choice"]
"""``line``: one line; ``text``: a textarea; ``code``: a large textarea (HTML); ``json``: a JSON
value; ``lines``: a list of strings, one a line; ``choice``: one of ``choices`` (or none)."""


@dataclass(frozen=True, slots=True)
class ContentField:
    """One content key of a channel, as the editor shows it."""

    path: str
    label: str
    kind: Kind = "line"
    hint: str = ""
    choices: tuple[str, ...] = ()
    required: bool = False

    @property
    def name(self) -> str:
        """The form field's name (and the path problems name): ``content.title``."""
        return f"content.{self.path}"


_BUTTONS = 'A JSON list: [{"label": "Open", "url": "https://…"}]'

FIELDS: Mapping[str, tuple[ContentField, ...]] = {
    "push": (
        ContentField("title", "Title", required=True),
        ContentField("body", "Body", "text", required=True),
        ContentField("image", "Image URL"),
        ContentField("deepLink", "URL or deep link opened on tap"),
        ContentField("buttons", "Buttons", "json", _BUTTONS + " (at most 3)"),
        ContentField("data", "Data", "json", "A JSON object of strings, numbers or booleans"),
    ),
    "email": (
        ContentField("subject", "Subject", required=True),
        ContentField("from", "From", hint="Leave blank for the channel's sender"),
        ContentField("replyTo", "Reply-To"),
        ContentField("html", "HTML body", "code", "An HTML part, a text part or both"),
        ContentField("text", "Text body", "text"),
    ),
    "sms": (ContentField("text", "Text", "text", required=True),),
    "whatsapp": (
        ContentField("text", "Text", "text", "Free text, or an approved template below"),
        ContentField("template", "Template name"),
        ContentField("language", "Template language", hint="e.g. en_US (with a template)"),
        ContentField("parameters", "Template parameters", "lines", "One a line"),
        ContentField(
            "media.type", "Media type", "choice", choices=("image", "video", "audio", "document")
        ),
        ContentField("media.url", "Media URL"),
    ),
    "telegram": (
        ContentField("text", "Text", "text", required=True),
        ContentField(
            "parseMode", "Parse mode", "choice", choices=("HTML", "MarkdownV2", "Markdown")
        ),
        ContentField("buttons", "Buttons", "json", _BUTTONS),
    ),
    "inapp": (
        ContentField("html", "HTML", "code", "HTML, or a card below"),
        ContentField("card.title", "Card title"),
        ContentField("card.body", "Card body", "text"),
        ContentField("card.image", "Card image URL"),
        ContentField("card.buttons", "Card buttons", "json", _BUTTONS),
        ContentField("expiresIn", "Expires in", hint="A duration: P7D, PT12H; never when blank"),
    ),
    "wallet": (
        ContentField(
            "fields",
            "Pass fields",
            "json",
            'A JSON object: {"points": "{{ points }}"}',
            required=True,
        ),
        ContentField("message", "Message shown on the change", "text"),
    ),
}
"""The editor's fields of each channel, in the order shown."""


def fields_of(channel: str) -> tuple[ContentField, ...]:
    """The editor's fields for ``channel`` (none for a channel without campaign content)."""
    return FIELDS.get(channel, ())


def _get(content: Mapping[str, Any], path: str) -> Any:
    value: Any = content
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def form_values(channel: str, content: Mapping[str, Any]) -> dict[str, str]:
    """A stored content as the editor's field values (by field name)."""
    values: dict[str, str] = {}
    for field in fields_of(channel):
        value = _get(content, field.path)
        if value is None:
            text = ""
        elif field.kind == "json":
            text = json.dumps(value, indent=2, ensure_ascii=False)
        elif field.kind == "lines" and isinstance(value, list):
            text = "\n".join(str(item) for item in value)
        else:
            text = str(value)
        values[field.name] = text
    return values


def content_of(channel: str, form: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """A posted form as a content document, and the JSON fields that could not be read.

    A JSON field is read by ``console.forms.parse_json_field`` (not JSON, or nested too deeply,
    is a problem on the field). A blank field is left out (so a required one is reported
    missing by ``check_content``).
    """
    content: dict[str, Any] = {}
    problems: list[Problem] = []
    for field in fields_of(channel):
        raw = form.get(field.name)
        text = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
        if not text.strip():
            continue
        value: Any = text
        if field.kind == "json":
            try:
                value = parse_json_field(text, field.name)
            except InvalidInput as error:
                problems.extend(error.problems)
                continue
        elif field.kind == "lines":
            value = [line.strip() for line in text.split("\n") if line.strip()]
        elif field.kind in ("line", "choice"):
            value = text.strip()
        target = content
        *parents, last = field.path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return content, problems


def place_problems(
    channel: str, problems: Sequence[Problem], others: Sequence[str] = ()
) -> dict[str, str]:
    """Each problem's message keyed by the field it belongs to (``content.card.title``).

    A problem belongs to the field whose name is the longest start of its ``where``
    (``content.buttons[1].url`` goes to ``content.buttons``, with the rest of the path kept in
    the message); ``others`` are more field names (``name``). Problems of no field are left out:
    the page lists every problem at the top as well.
    """
    return errors_by_field(problems, [field.name for field in fields_of(channel)] + list(others))
