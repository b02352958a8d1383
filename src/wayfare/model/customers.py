"""Customers as values: addresses, consent and settings, and how each is checked.

Also the event codes every application knows without defining them.

A customer body (the API's and ``upsert_customers``'s input) is a plain dict::

    {"customerId": "c-1", "email": "ana@example.com", "phone": "+34600111222",
     "whatsapp": "+34600111222", "telegramChatId": "123456", "timezone": "Europe/Madrid",
     "language": "es", "pushTokens": [{"token": "...", "platform": "android"}],
     "consent": {"sms": false}, "fields": {"age": 31, "vip": null}}

Every key but ``customerId`` is optional: a key that is absent keeps what is stored, a ``null``
clears it (for a member of ``fields``: removes that field from the customer).
"""

from __future__ import annotations

import re
import uuid
import zoneinfo
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from wayfare.errors import Problem
from wayfare.model.events import BUILTIN_EVENTS
from wayfare.model.fields import FieldValue, ValueError_, canonical

CHANNELS = ("push", "inapp", "wallet", "email", "sms", "whatsapp", "telegram")
"""Channels a customer can opt out of (consent is opt-out: an absent channel is allowed)."""

PUSH_PLATFORMS = ("android", "ios", "web", "huawei")

CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+\-]{0,199}")
"""Customer ids: the CRM's id; letters, digits and ``_ . : @ + -``, at most 200 long."""

_EMAIL = re.compile(r"[^@\s\x00]{1,64}@[^@\s\x00.]+(?:\.[^@\s\x00.]+)+")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")
_TELEGRAM = re.compile(r"-?[0-9]{1,20}|@[A-Za-z0-9_]{5,32}")

CSV_COLUMNS: Mapping[str, str] = {
    "email": "email",
    "phone": "phone",
    "timezone": "timezone",
    "language": "language",
    "pushToken": "push_tokens",
    "telegramChatId": "telegram_chat_id",
    "whatsapp": "whatsapp",
}
"""The reserved CSV columns (besides ``customerId``) and the customer attribute each one sets."""

BODY_KEYS: Mapping[str, str] = {
    "email": "email",
    "phone": "phone",
    "whatsapp": "whatsapp",
    "telegramChatId": "telegram_chat_id",
    "timezone": "timezone",
    "language": "language",
    "pushTokens": "push_tokens",
    "consent": "consent",
}
"""The keys of a customer body (besides ``customerId`` and ``fields``) and their attributes."""

RESERVED_NAMES = frozenset({"customerId", *CSV_COLUMNS, *BODY_KEYS, "fields"})
"""Names that cannot be customer field names (they are CSV columns or body keys already)."""


class AttributeError_(ValueError):
    """A customer attribute (address, time zone, ...) that is not valid."""


@dataclass(frozen=True, slots=True)
class PushToken:
    """A device's push token and its platform (``None`` when a CSV gave the bare token)."""

    token: str
    platform: str | None


@dataclass(frozen=True, slots=True)
class Customer:
    """A stored customer."""

    customer_id: str
    email: str | None
    phone: str | None
    whatsapp: str | None
    telegram_chat_id: str | None
    push_tokens: tuple[PushToken, ...]
    consent: Mapping[str, bool]
    timezone: str | None
    language: str | None
    fields: Mapping[str, FieldValue]
    created_at: datetime
    updated_at: datetime

    def allows(self, channel: str) -> bool:
        """Whether the customer accepts messages on ``channel`` (opt-out: yes unless refused)."""
        return self.consent.get(channel, True)

    def to_dict(self) -> dict[str, Any]:
        """The customer as the API shows it (camelCase keys, ISO datetimes)."""
        return {
            "customerId": self.customer_id,
            "email": self.email,
            "phone": self.phone,
            "whatsapp": self.whatsapp,
            "telegramChatId": self.telegram_chat_id,
            "pushTokens": [{"token": t.token, "platform": t.platform} for t in self.push_tokens],
            "consent": dict(self.consent),
            "timezone": self.timezone,
            "language": self.language,
            "fields": dict(self.fields),
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CustomerUpdate:
    """A checked create-or-update of one customer.

    ``attributes`` holds only the attributes given (column name → value, ``None`` clears it);
    ``fields`` holds only the fields given (canonical value, ``None`` removes the field).
    """

    customer_id: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    fields: Mapping[str, FieldValue | None] = field(default_factory=dict)


def check_customer_id(value: Any) -> str:
    """A valid customer id, or ``AttributeError_``."""
    if not isinstance(value, str) or not CUSTOMER_ID.fullmatch(value):
        raise AttributeError_(
            f"{value!r} is not a customer id (letters, digits and _ . : @ + -, at most 200)"
        )
    return value


def _email(value: str) -> str:
    if len(value) > 320 or not _EMAIL.fullmatch(value):
        raise AttributeError_(f"{value!r} is not an email address")
    return value


def _e164(value: str) -> str:
    if not _E164.fullmatch(value):
        raise AttributeError_(f"{value!r} is not a phone number in E.164 form (+34600111222)")
    return value


@lru_cache(maxsize=4096)
def is_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone (``Europe/Madrid``; not a folder like ``Europe``)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _timezone(value: str) -> str:
    if not is_timezone(value):
        raise AttributeError_(f"{value!r} is not an IANA time zone (Europe/Madrid)")
    return value


def _language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise AttributeError_(f"{value!r} is not a language tag (es, en-GB)")
    return value


def _telegram(value: str) -> str:
    if not _TELEGRAM.fullmatch(value):
        raise AttributeError_(f"{value!r} is not a Telegram chat id")
    return value


def _push_token_text(value: str) -> tuple[PushToken, ...]:
    """A CSV ``pushToken`` cell: ``platform:token`` or a bare token."""
    platform, sep, rest = value.partition(":")
    if sep and platform in PUSH_PLATFORMS and rest:
        return (_push_token(rest, platform),)
    return (_push_token(value, None),)


def _push_token(token: Any, platform: Any) -> PushToken:
    if not isinstance(token, str) or not 1 <= len(token) <= 4096 or token.strip() != token:
        raise AttributeError_("a push token is a non-empty string with no surrounding blanks")
    if platform is not None and platform not in PUSH_PLATFORMS:
        raise AttributeError_(
            f"push platform {platform!r} is not one of {', '.join(PUSH_PLATFORMS)}"
        )
    return PushToken(token, platform)


def _push_tokens(value: Any) -> tuple[PushToken, ...]:
    if not isinstance(value, list):
        raise AttributeError_('expected a list of {"token", "platform"}')
    tokens = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"token", "platform"}:
            raise AttributeError_('expected a list of {"token", "platform"}')
        tokens.append(_push_token(item.get("token"), item.get("platform")))
    return tuple(tokens)


def _consent(value: Any) -> dict[str, bool]:
    if not isinstance(value, dict):
        raise AttributeError_("expected an object of channel: true/false")
    for channel, allowed in value.items():
        if channel not in CHANNELS:
            raise AttributeError_(f"{channel!r} is not a channel ({', '.join(CHANNELS)})")
        if not isinstance(allowed, bool):
            raise AttributeError_(f"consent for {channel} must be true or false")
    return dict(value)


def _text(check: Callable[[str], str]) -> Callable[[Any], str]:
    def checked(value: Any) -> str:
        if not isinstance(value, str):
            raise AttributeError_("expected a string")
        return check(value)

    return checked


TEXT_CHECKS: Mapping[str, Callable[[str], Any]] = {
    "email": _email,
    "phone": _e164,
    "whatsapp": _e164,
    "telegram_chat_id": _telegram,
    "timezone": _timezone,
    "language": _language,
    "push_tokens": _push_token_text,
}
"""Per attribute: the check of its CSV text (returns the value to store)."""

TEXT_PATTERNS: Mapping[str, tuple[re.Pattern[str], int]] = {
    "email": (_EMAIL, 320),
    "phone": (_E164, 16),
    "whatsapp": (_E164, 16),
    "telegram_chat_id": (_TELEGRAM, 64),
}
"""Attributes whose check is exactly "fullmatch this pattern, at most this long" (fast paths)."""

VALUE_CHECKS: Mapping[str, Callable[[Any], Any]] = {
    "email": _text(_email),
    "phone": _text(_e164),
    "whatsapp": _text(_e164),
    "telegram_chat_id": lambda v: _telegram(str(v)) if isinstance(v, int) else _text(_telegram)(v),
    "timezone": _text(_timezone),
    "language": _text(_language),
    "push_tokens": _push_tokens,
    "consent": _consent,
}
"""Per attribute: the check of its JSON value in a customer body."""


def push_tokens_json(tokens: tuple[PushToken, ...]) -> list[dict[str, str | None]]:
    """Push tokens as stored (a JSON list)."""
    return [{"token": t.token, "platform": t.platform} for t in tokens]


def push_tokens_from_json(value: Any) -> tuple[PushToken, ...]:
    """Push tokens from their stored JSON list."""
    return tuple(PushToken(item["token"], item.get("platform")) for item in value or ())


def parse_customer(
    body: Any, field_types: Mapping[str, Any], where: str
) -> tuple[CustomerUpdate | None, list[Problem]]:
    """Check one customer body against the field definitions (name → ``FieldType``).

    Returns the update, or ``None`` and every problem found (each located under ``where``).
    A field with no definition is a problem: define it first.
    """
    if not isinstance(body, Mapping):
        return None, [Problem(where, "expected an object")]
    problems: list[Problem] = []
    customer_id = body.get("customerId")
    try:
        check_customer_id(customer_id)
    except AttributeError_ as exc:
        problems.append(Problem(f"{where}.customerId", str(exc), "invalid_customer_id"))
    attributes: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("customerId", "fields"):
            continue
        column = BODY_KEYS.get(key)
        if column is None:
            problems.append(Problem(f"{where}.{key}", "unknown key", "unknown_key"))
        elif value is None:
            attributes[column] = None
        else:
            try:
                attributes[column] = VALUE_CHECKS[column](value)
            except AttributeError_ as exc:
                problems.append(Problem(f"{where}.{key}", str(exc)))
    values: dict[str, FieldValue | None] = {}
    given = body.get("fields", {})
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        problems.append(Problem(f"{where}.fields", "expected an object"))
        given = {}
    for name, value in given.items():
        field_type = field_types.get(name)
        if field_type is None:
            problems.append(
                Problem(
                    f"{where}.fields.{name}",
                    "no such customer field; define it first",
                    "unknown_field",
                )
            )
        elif value is None:
            values[name] = None
        else:
            try:
                values[name] = canonical(field_type, value)
            except ValueError_ as exc:
                problems.append(Problem(f"{where}.fields.{name}", str(exc), "invalid_value"))
    if problems:
        return None, problems
    return CustomerUpdate(str(customer_id), attributes, values), []


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A checked event: ``occurred_at`` aware UTC, ``custom_data`` a JSON object."""

    event_id: str
    event_code: str
    customer_id: str
    occurred_at: datetime
    custom_data: Mapping[str, Any]


EVENT_KEYS = frozenset({"eventId", "eventCode", "customerId", "date", "customData"})


def parse_event(
    body: Any, known_codes: Collection[str] | None, now: datetime, where: str
) -> tuple[EventRecord | None, list[Problem]]:
    """Check one event body ``{eventId?, eventCode, customerId, date?, customData?}``.

    ``known_codes``: the application's event types (built-in message events are always known);
    None leaves that check to the caller (``unknown_code``), as the group writer of single
    events does in its transaction. A missing ``eventId`` gets a new random one; a missing
    ``date`` is ``now``.
    """
    if not isinstance(body, Mapping):
        return None, [Problem(where, "expected an object")]
    problems = [
        Problem(f"{where}.{key}", "unknown key", "unknown_key")
        for key in body
        if key not in EVENT_KEYS
    ]
    event_id = body.get("eventId")
    if event_id is None or event_id == "":
        event_id = uuid.uuid4().hex
    elif not isinstance(event_id, str) or len(event_id) > 64 or "\x00" in event_id:
        problems.append(Problem(f"{where}.eventId", "expected a string of at most 64 characters"))
    code = body.get("eventCode")
    if not isinstance(code, str) or not code:
        problems.append(Problem(f"{where}.eventCode", "missing", "missing"))
    elif known_codes is not None and code not in known_codes and code not in BUILTIN_EVENTS:
        problems.append(unknown_code(code, f"{where}.eventCode"))
    customer_id = body.get("customerId")
    try:
        check_customer_id(customer_id)
    except AttributeError_ as exc:
        problems.append(Problem(f"{where}.customerId", str(exc), "invalid_customer_id"))
    occurred_at = now
    when = body.get("date")
    if when is not None and when != "":
        try:
            occurred_at = parse_instant(str(when)) if isinstance(when, str) else _bad_date()
        except ValueError_ as exc:
            problems.append(Problem(f"{where}.date", str(exc)))
    data = body.get("customData")
    if data is None:
        data = {}
    elif not isinstance(data, Mapping):
        problems.append(Problem(f"{where}.customData", "expected an object"))
    if problems:
        return None, problems
    return EventRecord(str(event_id), str(code), str(customer_id), occurred_at, dict(data)), []


def unknown_code(code: str, where: str) -> Problem:
    """The problem of an event whose code the application has not defined."""
    return Problem(
        where, f"unknown event code {code!r}; define the event type first", "unknown_event"
    )


def _bad_date() -> datetime:
    raise ValueError_("expected an ISO 8601 datetime")


def parse_instant(text: str) -> datetime:
    """An ISO 8601 datetime text as an aware UTC datetime (naive means UTC), or ``ValueError_``."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError_(f"expected an ISO 8601 datetime, got {text!r}") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError_(f"{text!r} is outside the years 1 to 9999 in UTC") from None
