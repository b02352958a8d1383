"""Messages made from outbox rows: each campaign compiled once, rendered for each customer.

One query loads the batch's campaigns (compiled templates are kept while the campaign is
unchanged), one the batch's customers. A row that cannot become a message settles at once:
an erased customer or a refused consent is skipped, a deleted campaign or a template error fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select, tuple_

from wayfare.channels.base import Failed, Message, Skipped
from wayfare.model.customers import Customer
from wayfare.store.customers import customer_from_row
from wayfare.store.outbox import Claimed
from wayfare.store.schema import campaigns, customers
from wayfare.templates import CompiledCampaign, TemplateError, compile_campaign, variables


class Renderer:
    """Renders outbox rows into messages, keeping compiled campaigns between batches."""

    def __init__(self) -> None:
        self._compiled: dict[int, tuple[datetime, CompiledCampaign]] = {}

    def messages(
        self, conn: Connection, rows: Sequence[Claimed]
    ) -> list[Message | Skipped | Failed]:
        """A message for each row, or why it cannot go."""
        compiled = self._campaigns(conn, {r.campaign_id for r in rows if r.campaign_id})
        people = load_customers(conn, {(r.application_id, r.customer_id) for r in rows})
        found: list[Message | Skipped | Failed] = []
        for row in rows:
            customer = people.get((row.application_id, row.customer_id))
            campaign = compiled.get(row.campaign_id) if row.campaign_id else None
            if customer is None:
                found.append(Skipped("customer erased"))
            elif not customer.allows(row.channel):
                found.append(Skipped("no consent"))
            elif campaign is None:
                found.append(Failed("campaign deleted"))
            else:
                try:
                    content = campaign.render(_variables(customer, row.payload))
                except TemplateError as exc:
                    found.append(Failed(f"template error: {exc}"))
                    continue
                found.append(
                    Message(
                        id=row.id,
                        key=row.key,
                        application_id=row.application_id,
                        channel=row.channel,
                        customer=customer,
                        content=content,
                        campaign_id=row.campaign_id,
                    )
                )
        return found

    def _campaigns(self, conn: Connection, ids: set[int]) -> dict[int, CompiledCampaign]:
        if not ids:
            return {}
        c = campaigns
        rows = conn.execute(
            select(c.c.id, c.c.channel, c.c.content, c.c.updated_at).where(c.c.id.in_(sorted(ids)))
        )
        found: dict[int, CompiledCampaign] = {}
        for row in rows:
            cached = self._compiled.get(row.id)
            if cached is None or cached[0] != row.updated_at:
                cached = (row.updated_at, compile_campaign(row.channel, row.content))
                self._compiled[row.id] = cached
            found[row.id] = cached[1]
        return found


def _variables(customer: Customer, payload: Any) -> dict[str, Any]:
    context = payload.get("context") or {}
    return variables(customer, customer.customer_id, context, payload.get("event"))


def load_customers(conn: Connection, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Customer]:
    """The stored customers of (application id, customer id) pairs, in one query per 5,000."""
    found: dict[tuple[int, str], Customer] = {}
    wanted = sorted(keys)
    c = customers
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        apps = {app for app, _ in chunk}
        if len(apps) == 1:
            condition = and_(
                c.c.application_id == chunk[0][0], c.c.customer_id.in_([i for _, i in chunk])
            )
        else:
            condition = tuple_(c.c.application_id, c.c.customer_id).in_(chunk)
        for row in conn.execute(select(c).where(condition)):
            found[(int(row.application_id), str(row.customer_id))] = customer_from_row(row)
    return found
