"""The variables a campaign template sees: the customer's fields, its addresses, context and event.

::

    {{ first_name }}              every customer field, by its name
    {{ customer.email }}          customerId, email, phone, whatsapp, telegramChatId, language,
                                  timezone, and every field again
    {{ context.order_id }}        the enrollment's context values (a CSV row, an API call)
    {{ event.customData.sku }}    the event that triggered the message: eventCode, date, customData

``customer``, ``context`` and ``event`` win over customer fields of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from wayfare.model.customers import Customer
from wayfare.model.fields import format_datetime

RESERVED = ("customer", "context", "event")
"""The top-level names that are not customer fields."""


def event_variables(event: Mapping[str, Any]) -> dict[str, Any]:
    """``event``: ``{eventCode, date, customData}`` of an event given as a mapping.

    ``date`` is ISO 8601 text (a ``datetime`` is written in the canonical UTC form; naive is UTC).
    """
    date = event.get("date")
    if isinstance(date, datetime):
        date = format_datetime(date if date.tzinfo else date.replace(tzinfo=UTC))
    return {
        "eventCode": event.get("eventCode"),
        "date": date,
        "customData": dict(event.get("customData") or {}),
    }


def _entry_event(context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The event that enrolled the customer: ``IN_CUSTOM_EVENT`` keeps it in the context."""
    entry = context.get("event")
    if not isinstance(entry, Mapping):
        return None
    return {"eventCode": entry.get("code"), "customData": entry.get("data") or {}}


def variables(
    customer: Customer | None,
    customer_id: str,
    context: Mapping[str, Any] | None,
    event: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The render variables of one message to ``customer`` (``None``: not stored, id only).

    ``context``: the enrollment's context values; ``event``: the triggering event, if any, as
    ``{eventCode, date, customData}`` (``date`` an ISO text or a ``datetime``); when None, the
    event that enrolled the customer, which an event-entry journey keeps in the context.
    """
    if customer is None:
        found: dict[str, Any] = {"customer": {"customerId": customer_id}}
    else:
        fields = customer.fields
        found = dict(fields)
        found["customer"] = {
            **fields,
            "customerId": customer.customer_id,
            "email": customer.email,
            "phone": customer.phone,
            "whatsapp": customer.whatsapp,
            "telegramChatId": customer.telegram_chat_id,
            "language": customer.language,
            "timezone": customer.timezone,
        }
    found["context"] = dict(context) if context else {}
    if event is None and context:
        event = _entry_event(context)
    if event is not None:
        found["event"] = event_variables(event)
    elif "event" in found:
        del found["event"]
    return found
