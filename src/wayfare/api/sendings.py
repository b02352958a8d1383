"""``/v1/campaign/{id}/send/...`` and ``/v1/campaign/{id}/sendings``: one-off sendings.

A campaign is sent to all customers, a contact list, given customers (with context values) or
a CSV, now or at ``sendAt``; each sending shows its progress and statistics, and what of it is
still pending can be cancelled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import IO, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import AliasChoices, Field

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, Page, created, ok
from wayfare.api.uploads import UPLOAD_BODY, spool_upload
from wayfare.engine.wake import notify
from wayfare.errors import InvalidInput, Problem
from wayfare.store.campaigns import get_campaign
from wayfare.store.database import Database
from wayfare.store.sendings import (
    Sending as StoredSending,
)
from wayfare.store.sendings import (
    SendingStats,
    SendReport,
    cancel_sending,
    get_sending,
    list_sendings,
    send_csv,
    send_to_all,
    send_to_customers,
    send_to_list,
    sending_stats,
)
from wayfare.store.stats import rate

router = APIRouter(prefix="/v1/campaign", tags=["sendings"])

MAX_RECIPIENTS = 100_000
"""Customers in one ``send/list`` body (larger sets: a list or the CSV upload)."""

SEND_AT = "When to send (ISO 8601; without an offset it is UTC); now when left out."


class SendAllBody(Body):
    """When to send the campaign to every customer."""

    send_at: datetime | None = Field(None, alias="sendAt", description=SEND_AT)


class RecipientBody(Body):
    """A customer and the context values its message is rendered with (``{{ context.x }}``)."""

    customer_id: str = Field(alias="customerId", min_length=1, max_length=200)
    context: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("context", "contextValues")
    )


class SendListBody(Body):
    """Whom to send to: a contact list, customer ids, or customers with context values."""

    list_id: int | None = Field(None, alias="listId")
    customers: list[str] | None = Field(None, max_length=MAX_RECIPIENTS)
    customers_with_context: list[RecipientBody] | None = Field(
        None, alias="customersWithContext", max_length=MAX_RECIPIENTS
    )
    send_at: datetime | None = Field(None, alias="sendAt", description=SEND_AT)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def status_of(sending: StoredSending, stats: SendingStats, now: datetime) -> str:
    """``scheduled``, ``sending``, ``done`` or ``cancelled``."""
    if sending.cancelled_at is not None:
        return "cancelled"
    if stats.pending == 0:
        return "done"
    return "scheduled" if sending.send_at > now else "sending"


def sending_json(sending: StoredSending, stats: SendingStats, now: datetime) -> dict[str, Any]:
    """A sending as the API shows it: what, to whom, when, its progress and statistics."""
    settled = stats.total - stats.pending
    return {
        "id": sending.id,
        "campaignId": sending.campaign_id,
        "channel": sending.channel,
        "audience": sending.audience,
        "listId": sending.list_id,
        "total": sending.total,
        "sendAt": sending.send_at,
        "createdAt": sending.created_at,
        "cancelledAt": sending.cancelled_at,
        "status": status_of(sending, stats, now),
        "progress": rate(settled, stats.total) if stats.total else 1.0,
        "stats": {
            "pending": stats.pending,
            "sent": stats.sent,
            "skipped": stats.skipped,
            "failed": stats.failed,
            "delivered": stats.delivered,
            "opened": stats.opened,
            "clicked": stats.clicked,
            "deliveryRate": rate(stats.delivered, stats.sent),
            "openRate": rate(stats.opened, stats.sent),
            "clickRate": rate(stats.clicked, stats.sent),
        },
    }


def _report(report: SendReport, now: datetime) -> Json:
    sending = report.sending
    stats = SendingStats(total=sending.total, pending=sending.total)
    data = sending_json(sending, stats, now)
    data["unknown"] = {"count": report.unknown, "customerIds": list(report.unknown_ids)}
    data["duplicates"] = report.duplicates
    return created(data)


@router.post("/{campaign_id}/send/all", status_code=201)
def send_all(campaign_id: int, caller: Auth, database: Db, body: SendAllBody | None = None) -> Json:
    """Send the campaign to every customer of the application."""
    now = utcnow()
    send_at = _utc(body.send_at) if body is not None else None
    with database.write() as conn:
        report = send_to_all(conn, caller.application_id, campaign_id, now, send_at=send_at)
        notify(conn)
    return _report(report, now)


@router.post("/{campaign_id}/send/list", status_code=201)
def send_list(campaign_id: int, body: SendListBody, caller: Auth, database: Db) -> Json:
    """Send the campaign to a contact list (``listId``) or to given customers.

    ``customers``: ids; ``customersWithContext``: ``{customerId, context}`` objects. Ids that
    are no customer are reported (``unknown``) and not sent to.
    """
    given = [
        name
        for name, value in (
            ("listId", body.list_id),
            ("customers", body.customers),
            ("customersWithContext", body.customers_with_context),
        )
        if value is not None
    ]
    if len(given) != 1:
        message = "give exactly one of listId, customers, customersWithContext"
        raise InvalidInput(problems=[Problem("/".join(given) or "body", message, "one_of")])
    now = utcnow()
    send_at = _utc(body.send_at)
    with database.write() as conn:
        if body.list_id is not None:
            report = send_to_list(
                conn, caller.application_id, campaign_id, body.list_id, now, send_at=send_at
            )
        elif body.customers is not None:
            report = send_to_customers(
                conn,
                caller.application_id,
                campaign_id,
                [(customer_id, {}) for customer_id in body.customers],
                now,
                send_at=send_at,
            )
        else:
            assert body.customers_with_context is not None
            report = send_to_customers(
                conn,
                caller.application_id,
                campaign_id,
                [(r.customer_id, r.context) for r in body.customers_with_context],
                now,
                send_at=send_at,
                field_name="customersWithContext",
            )
        notify(conn)
    return _report(report, now)


def _send_csv(
    database: Database,
    application_id: int,
    campaign_id: int,
    stream: IO[bytes],
    now: datetime,
    send_at: datetime | None,
) -> SendReport:
    with database.write() as conn:
        report = send_csv(conn, application_id, campaign_id, stream, now, send_at=send_at)
        notify(conn)
    return report


@router.post("/{campaign_id}/send/csv", status_code=201, openapi_extra=UPLOAD_BODY)
async def send_upload(
    campaign_id: int,
    request: Request,
    caller: Auth,
    database: Db,
    sendAt: Annotated[datetime | None, Query(description=SEND_AT)] = None,
) -> Json:
    """Send the campaign to the customers of a CSV: ``customerId``, the other columns context.

    A file with bad rows is refused whole, each problem naming its line and column.
    """
    with database.read() as conn:  # before reading a large upload
        get_campaign(conn, caller.application_id, campaign_id)
    stream = await spool_upload(request)
    now = utcnow()
    try:
        report = await run_in_threadpool(
            _send_csv, database, caller.application_id, campaign_id, stream, now, _utc(sendAt)
        )
    finally:
        stream.close()
    return _report(report, now)


@router.get("/{campaign_id}/sendings")
def index(campaign_id: int, caller: Auth, database: Db, page: Page) -> Json:
    """The campaign's sendings, newest first, with their progress and statistics."""
    now = utcnow()
    with database.read() as conn:
        found = list_sendings(
            conn, caller.application_id, campaign_id, limit=page.limit, offset=page.offset
        )
        stats = sending_stats(conn, [s.id for s in found.items])
    return ok([sending_json(s, stats[s.id], now) for s in found.items], count=found.count)


@router.get("/{campaign_id}/sendings/{sending_id}")
def show(campaign_id: int, sending_id: int, caller: Auth, database: Db) -> Json:
    """One sending: its progress and statistics."""
    now = utcnow()
    with database.read() as conn:
        sending = get_sending(conn, caller.application_id, campaign_id, sending_id)
        stats = sending_stats(conn, [sending.id])[sending.id]
    return ok(sending_json(sending, stats, now))


@router.delete("/{campaign_id}/sendings/{sending_id}")
def cancel(campaign_id: int, sending_id: int, caller: Auth, database: Db) -> Json:
    """Cancel what of the sending is still pending (skipped with reason ``cancelled``)."""
    now = utcnow()
    with database.write() as conn:
        cancelled = cancel_sending(conn, caller.application_id, campaign_id, sending_id, now)
        sending = get_sending(conn, caller.application_id, campaign_id, sending_id)
        stats = sending_stats(conn, [sending.id])[sending.id]
    data = sending_json(sending, stats, now)
    data["cancelled"] = cancelled
    return ok(data)
