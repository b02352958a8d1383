"""Event codes: the events Wayfare records itself, and what a code may look like."""

from __future__ import annotations

import re

from wayfare.model.states import Channel

BUILTIN_EVENTS: frozenset[str] = frozenset(
    {
        *(f"{channel}.{step}" for channel in Channel for step in ("sent", "delivered", "failed")),
        "push.received",
        "push.click",
        "push.dismiss",
        "inapp.show",
        "inapp.click",
        "inapp.read",
        "email.open",
        "email.click",
        "email.bounce",
        "whatsapp.read",
        "wallet.installed",
        "wallet.removed",
        "link.click",
        "unsubscribe",
        "place.enter",
        "place.exit",
        "call.completed",
        "call.missed",
    }
)
"""Events every application knows without an event type (any other code needs one): message
events, and the places and calls Wayfare turns into events (``docs/places-and-calls.md``)."""

EVENT_CODE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,99}")
"""Event codes: letters, digits and ``_ . : -``, at most 100 long (use with ``fullmatch``)."""
