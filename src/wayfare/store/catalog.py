"""The catalog of one application, for checking a journey's references.

Campaigns, customer fields, contact lists, segments and event types: five small queries.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from wayfare.model.fields import FieldType
from wayfare.model.validation import Catalog
from wayfare.store.schema import campaigns, contact_lists, customer_fields, event_types, segments


def load_catalog(conn: Connection, application_id: int) -> Catalog:
    """What application ``application_id`` has, as ``wayfare.model.validation`` checks it."""
    campaign_rows = conn.execute(
        select(campaigns.c.id, campaigns.c.channel).where(
            campaigns.c.application_id == application_id
        )
    )
    field_rows = conn.execute(
        select(customer_fields.c.name, customer_fields.c.type).where(
            customer_fields.c.application_id == application_id
        )
    )
    list_ids = conn.execute(
        select(contact_lists.c.id).where(contact_lists.c.application_id == application_id)
    ).scalars()
    segment_ids = conn.execute(
        select(segments.c.id).where(segments.c.application_id == application_id)
    ).scalars()
    event_codes = conn.execute(
        select(event_types.c.code).where(
            event_types.c.application_id == application_id, event_types.c.enabled.is_(True)
        )
    ).scalars()
    return Catalog(
        campaigns={int(row.id): str(row.channel) for row in campaign_rows},
        fields={str(row.name): FieldType(row.type) for row in field_rows},
        lists=frozenset(int(i) for i in list_ids),
        segments=frozenset(int(i) for i in segment_ids),
        events=frozenset(str(code) for code in event_codes),
    )
