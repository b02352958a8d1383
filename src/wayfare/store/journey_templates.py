"""Drafts made from the template gallery, with what the template needs and the application lacks.

One call checks the campaigns given for the template's slots, makes a placeholder campaign for
each slot left out, defines the customer fields and event types the template reads, and stores
the draft: ``POST /v1/journey/template/{id}`` and the console's gallery both use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
from wayfare.model.templates import JourneyTemplate, build_journey
from wayfare.store.campaigns import create_campaign, get_campaign
from wayfare.store.customers import define_field
from wayfare.store.events import define_event_type, event_codes
from wayfare.store.journeys import create_journey


@dataclass(frozen=True, slots=True)
class TemplateDraft:
    """A draft made from a template: its id, its campaign per slot, and what was created for it."""

    journey_id: int
    campaigns: dict[str, int]
    new_campaigns: list[int]
    new_fields: list[str]
    new_event_types: list[str]

    def to_json(self) -> dict[str, Any]:
        """What was used and made, as the API shows it beside the journey."""
        return {
            "campaigns": self.campaigns,
            "created": {
                "campaigns": self.new_campaigns,
                "fields": self.new_fields,
                "eventTypes": self.new_event_types,
            },
        }


def create_from_template(
    conn: Connection,
    application_id: int,
    template: JourneyTemplate,
    name: str,
    campaigns: Mapping[str, int],
    now: datetime,
) -> TemplateDraft:
    """Store a draft of ``template`` named ``name``, ready to start.

    ``campaigns`` gives existing campaign ids for some of the template's slots (``InvalidInput``
    naming ``campaigns.<slot>`` for an unknown slot, a missing campaign or the wrong channel);
    the other slots get a new placeholder campaign named ``<name> · <slot name>``. Missing
    customer fields and event types are defined (``Conflict`` for a field of another type).
    """
    _check_campaigns(conn, application_id, template, campaigns)
    campaign_ids = dict(campaigns)
    new_campaigns = []
    for need in template.campaigns:
        if need.key not in campaign_ids:
            campaign_name = f"{name} · {need.name}"[:200]
            campaign_ids[need.key] = create_campaign(
                conn, application_id, campaign_name, need.channel, need.content, now
            )
            new_campaigns.append(campaign_ids[need.key])
    new_fields = []
    for need_field in template.fields:
        try:
            made = define_field(conn, application_id, need_field.name, need_field.type, now)
        except Conflict as exc:
            raise Conflict(
                f"the template needs the customer field {need_field.name!r} as a "
                f"{need_field.type}: {exc.message}"
            ) from None
        if made.created_at == now:
            new_fields.append(need_field.name)
    known_events = event_codes(conn, application_id)
    new_events = []
    for need_event in template.events:
        if need_event.code not in known_events:
            define_event_type(conn, application_id, need_event.code, need_event.name, now)
            new_events.append(need_event.code)
    document = build_journey(template, name, campaign_ids)
    journey_id = create_journey(conn, application_id, document, now)
    return TemplateDraft(journey_id, campaign_ids, new_campaigns, new_fields, new_events)


def _check_campaigns(
    conn: Connection, application_id: int, template: JourneyTemplate, campaigns: Mapping[str, int]
) -> None:
    """``InvalidInput`` naming each given campaign that does not fit its slot."""
    slots = {c.key: c for c in template.campaigns}
    problems = []
    for key, campaign_id in campaigns.items():
        need = slots.get(key)
        if need is None:
            known = ", ".join(slots) or "none"
            problems.append(Problem(f"campaigns.{key}", f"not a slot of this template ({known})"))
            continue
        try:
            channel = get_campaign(conn, application_id, campaign_id).channel
        except NotFound:
            problems.append(
                Problem(f"campaigns.{key}", f"campaign {campaign_id} does not exist", "unknown")
            )
            continue
        if channel != need.channel:
            problems.append(
                Problem(
                    f"campaigns.{key}",
                    f"campaign {campaign_id} is {channel}; the slot needs {need.channel}",
                    "channel_mismatch",
                )
            )
    if problems:
        raise InvalidInput(problems=problems)
