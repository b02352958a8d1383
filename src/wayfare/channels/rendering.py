"""Messages made from outbox rows: each campaign compiled once, rendered for each customer.

One query loads the batch's campaigns (compiled templates are kept while the campaign is
unchanged), one the batch's customers. A row that cannot become a message settles at once:
an erased customer or a refused consent is skipped, a deleted campaign or a template error fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, select

from wayfare.channels.base import Failed, Message, Skipped
from wayfare.model.customers import Customer
from wayfare.store.customers import customers_by_id, fields_by_id, get_customer
from wayfare.store.database import json_dumps
from wayfare.store.outbox import Claimed
from wayfare.store.schema import campaigns
from wayfare.templates import CompiledCampaign, TemplateError, compile_campaign, variables

_COMPILED: dict[tuple[str, str], CompiledCampaign | TemplateError] = {}
"""Compiled campaigns by channel and content (as JSON text)."""

COMPILED_MAX = 10_000
"""The most compiled campaigns kept (the cache starts over past it)."""


class ToRender(NamedTuple):
    """What rendering one outbox row needs (a tuple: made for every message)."""

    application_id: int
    customer_id: str
    channel: str
    campaign_id: int | None
    payload: Mapping[str, Any]


def render_contents(
    conn: Connection, items: Sequence[ToRender]
) -> list[tuple[Customer, dict[str, Any]] | Skipped | Failed]:
    """Each item's customer and rendered content, or why it cannot go."""
    compiled = compiled_campaigns(conn, {r.campaign_id for r in items if r.campaign_id})
    people = load_customers(conn, {(r.application_id, r.customer_id) for r in items})
    found: list[tuple[Customer, dict[str, Any]] | Skipped | Failed] = []
    for item in items:
        customer = people.get((item.application_id, item.customer_id))
        campaign = compiled.get(item.campaign_id) if item.campaign_id else None
        if customer is None:
            found.append(Skipped("customer erased"))
        elif not customer.allows(item.channel):
            found.append(Skipped("no consent"))
        elif campaign is None:
            found.append(Failed("campaign deleted"))
        elif isinstance(campaign, TemplateError):
            found.append(Failed(f"template error: {campaign}"))
        else:
            context = item.payload.get("context") or {}
            try:
                content = campaign.render(variables(customer, customer.customer_id, context, None))
            except TemplateError as exc:
                found.append(Failed(f"template error: {exc}"))
                continue
            found.append((customer, content))
    return found


def preview(
    conn: Connection,
    application_id: int,
    channel: str,
    content: Mapping[str, Any],
    customer_id: str,
    *,
    context: Mapping[str, Any] | None = None,
    event: Mapping[str, Any] | None = None,
) -> tuple[Customer, dict[str, Any]]:
    """A campaign's ``content`` for ``channel`` rendered for the stored customer ``customer_id``.

    What ``POST /v1/campaign/{id}/preview`` and the console's editor show: the variables and
    compiled templates of a send, with ``context`` values and a triggering ``event``
    (``{eventCode, date, customData}``) if given. Raises ``NotFound`` for an unknown customer
    and ``TemplateError`` for content that does not compile or render.
    """
    customer = get_customer(conn, application_id, customer_id)
    values = variables(customer, customer.customer_id, context or {}, event)
    return customer, compile_campaign(channel, content).render(values)


def render_in_place(conn: Connection, items: Sequence[ToRender]) -> list[dict[str, Any] | None]:
    """Each item's rendered content, or None when it cannot go now (the dispatcher says why).

    When every campaign reads only customer fields, the customers' consent and fields are all
    that is loaded (one light query) and the fields are the variables; otherwise this is
    ``render_contents``. Both give the same content (tests check it).
    """
    compiled = compiled_campaigns(conn, {r.campaign_id for r in items if r.campaign_id})
    if not all(
        isinstance(campaign, CompiledCampaign) and campaign.fields_only
        for campaign in compiled.values()
    ):
        return [
            found[1] if isinstance(found, tuple) else None for found in render_contents(conn, items)
        ]
    by_app: dict[int, set[str]] = {}
    for item in items:
        by_app.setdefault(item.application_id, set()).add(item.customer_id)
    people = {app: fields_by_id(conn, app, sorted(ids)) for app, ids in by_app.items()}
    rendered: list[dict[str, Any] | None] = []
    for item in items:
        found = people[item.application_id].get(item.customer_id)
        campaign = compiled.get(item.campaign_id) if item.campaign_id else None
        if (
            found is None
            or not isinstance(campaign, CompiledCampaign)
            or not found[0].get(item.channel, True)
        ):
            rendered.append(None)
            continue
        try:
            rendered.append(campaign.render(found[1]))
        except TemplateError:
            rendered.append(None)
    return rendered


def render_messages(conn: Connection, rows: Sequence[Claimed]) -> list[Message | Skipped | Failed]:
    """A message for each claimed row, or why it cannot go."""
    items = [
        ToRender(r.application_id, r.customer_id, r.channel, r.campaign_id, r.payload) for r in rows
    ]
    found: list[Message | Skipped | Failed] = []
    for row, result in zip(rows, render_contents(conn, items), strict=True):
        if isinstance(result, Skipped | Failed):
            found.append(result)
            continue
        customer, content = result
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


def compiled_campaigns(
    conn: Connection, ids: set[int]
) -> dict[int, CompiledCampaign | TemplateError]:
    """The campaigns ``ids`` compiled (each content compiled once), or why one cannot be."""
    if not ids:
        return {}
    c = campaigns
    rows = conn.execute(select(c.c.id, c.c.channel, c.c.content).where(c.c.id.in_(sorted(ids))))
    if len(_COMPILED) > COMPILED_MAX:
        _COMPILED.clear()
    found: dict[int, CompiledCampaign | TemplateError] = {}
    for row in rows:
        key = (row.channel, json_dumps(row.content))
        compiled = _COMPILED.get(key)
        if compiled is None:
            try:
                compiled = compile_campaign(row.channel, row.content)
            except TemplateError as exc:  # stored before it was checked: its messages fail
                compiled = exc
            _COMPILED[key] = compiled
        found[row.id] = compiled
    return found


def load_customers(conn: Connection, keys: set[tuple[int, str]]) -> dict[tuple[int, str], Customer]:
    """The stored customers of (application id, customer id) pairs."""
    by_app: dict[int, list[str]] = {}
    for app, customer_id in keys:
        by_app.setdefault(app, []).append(customer_id)
    found: dict[tuple[int, str], Customer] = {}
    for app, ids in by_app.items():
        for customer_id, customer in customers_by_id(conn, app, sorted(ids)).items():
            found[(app, customer_id)] = customer
    return found
