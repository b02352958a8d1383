"""Facts about a customer, built once from their stored record, for the engine's decisions.

Shared by the live runner and the simulator, so both see a customer the same way: the same
condition facts, the same time zone and the same reasons a channel cannot reach them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from wayfare.engine import calendar
from wayfare.engine.decisions import Facts
from wayfare.model.conditions import Condition, CustomerFacts
from wayfare.model.customers import Customer
from wayfare.model.journey import Settings

NO_CONSENT = "no_consent"
NO_ADDRESS = "no_address"


def unreachable(customer: Customer) -> dict[str, str]:
    """Channel → why it cannot reach ``customer`` (absent: it can)."""
    addresses = {
        "email": customer.email,
        "sms": customer.phone,
        "whatsapp": customer.whatsapp,
        "telegram": customer.telegram_chat_id,
        "push": "yes" if customer.push_tokens else None,
        "inapp": "inbox",
        "wallet": "pass",
    }
    reasons: dict[str, str] = {}
    for channel, address in addresses.items():
        if not customer.allows(channel):
            reasons[channel] = NO_CONSENT
        elif not address:
            reasons[channel] = NO_ADDRESS
    return reasons


def condition_facts(
    customer: Customer,
    field_names: Iterable[str],
    events: Iterable[tuple[str, datetime]] = (),
) -> CustomerFacts:
    """What conditions see of ``customer``: the values of the defined fields only, as SQL does."""
    fields = {name: customer.fields.get(name) for name in field_names}
    attributes = {
        "email": customer.email,
        "phone": customer.phone,
        "whatsapp": customer.whatsapp,
        "telegramChatId": customer.telegram_chat_id,
        "timezone": customer.timezone,
        "language": customer.language,
    }
    return CustomerFacts.of(customer.customer_id, fields, attributes, events)


def facts_for(
    customer: Customer,
    settings: Settings,
    field_names: Iterable[str],
    *,
    events: Iterable[tuple[str, datetime]] = (),
    segments: Mapping[int, Condition] | None = None,
    sent_recently: int = 0,
    winners: Mapping[int, int] | None = None,
    population: Mapping[int, int] | None = None,
) -> Facts:
    """Everything a decision needs to know about ``customer`` in a journey with ``settings``."""
    return Facts(
        customer=condition_facts(customer, field_names, events),
        zone=calendar.customer_zone(customer.timezone, settings.timezone),
        unreachable=unreachable(customer),
        segments=segments or {},
        sent_recently=sent_recently,
        winners=winners or {},
        population=population or {},
    )
