"""One-off sendings: written as outbox rows in sets, delivered by the real dispatcher (the log
channel, no settings), counted from their rows and message events; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from wayfare.channels.dispatch import Dispatcher
from wayfare.errors import ImportFailed, InvalidInput, NotFound
from wayfare.store.applications import create_application
from wayfare.store.campaigns import create_campaign
from wayfare.store.customers import upsert_customers
from wayfare.store.database import Database
from wayfare.store.events import record_events
from wayfare.store.lists import add_members, create_list
from wayfare.store.schema import outbox
from wayfare.store.sendings import (
    cancel_sending,
    get_sending,
    list_sendings,
    send_csv,
    send_to_all,
    send_to_customers,
    send_to_list,
    sending_stats,
)

from .conftest import NOW

LATER = NOW + timedelta(hours=2)


def setup(database: Database, app_id: int, count: int = 5, text: str | None = None) -> int:
    """Customers c0..c{count-1} (c1 refuses SMS) and an SMS campaign; the campaign's id."""
    with database.write() as conn:
        records: list[dict[str, Any]] = [{"customerId": f"c{i}"} for i in range(count)]
        records[1]["consent"] = {"sms": False}
        upsert_customers(conn, app_id, records, NOW)
        return create_campaign(
            conn,
            app_id,
            "Promo",
            "sms",
            {
                "text": text
                or "Hi {{ customer.customerId }}, code {{ context.coupon | default: '-' }}"
            },
            NOW,
        )


def rows(database: Database, sending_id: int) -> list[dict[str, Any]]:
    with database.read() as conn:
        found = conn.execute(
            select(outbox).where(outbox.c.sending_id == sending_id).order_by(outbox.c.customer_id)
        ).mappings()
        return [dict(row) for row in found]


def dispatch(database: Database, now: Any = NOW) -> None:
    dispatcher = Dispatcher(database)
    try:
        while dispatcher.tick(now):
            pass
    finally:
        dispatcher.close()


def test_a_sending_to_all_is_delivered_once_to_each_customer(
    database: Database, app_id: int
) -> None:
    campaign_id = setup(database, app_id)
    with database.write() as conn:
        report = send_to_all(conn, app_id, campaign_id, NOW)
    sending = report.sending
    assert (sending.audience, sending.total, sending.channel) == ("all", 5, "sms")
    assert sending.send_at == NOW and sending.cancelled_at is None
    written = rows(database, sending.id)
    assert [r["idempotency_key"] for r in written] == [f"send:{sending.id}:c{i}" for i in range(5)]
    assert written[0]["payload"] == {
        "context": {},
        "campaignId": campaign_id,
        "sendingId": sending.id,
    }
    assert {(r["status"], r["journey_id"], r["enrollment_id"], r["state_id"]) for r in written} == {
        ("pending", None, None, None)
    }
    with database.read() as conn:
        assert sending_stats(conn, [sending.id])[sending.id].pending == 5

    dispatch(database)
    dispatch(database)  # nothing is sent twice
    done = rows(database, sending.id)
    assert [(r["customer_id"], r["status"], r["reason"]) for r in done] == [
        ("c0", "sent", None),
        ("c1", "skipped", "no consent"),
        ("c2", "sent", None),
        ("c3", "sent", None),
        ("c4", "sent", None),
    ]
    assert done[0]["rendered"] == {"text": "Hi c0, code -"}
    assert done[0]["attempts"] == 1

    with database.write() as conn:
        record_events(
            conn,
            app_id,
            [
                {
                    "eventCode": "sms.delivered",
                    "customerId": "c0",
                    "customData": {"messageId": done[0]["id"]},
                },
                {
                    "eventCode": "sms.delivered",
                    "customerId": "c2",
                    "customData": {"messageId": done[2]["id"]},
                },
                {
                    "eventCode": "link.click",
                    "customerId": "c2",
                    "customData": {"messageId": done[2]["id"]},
                },
                {
                    "eventCode": "link.click",
                    "customerId": "c2",
                    "customData": {"messageId": done[2]["id"]},
                },
                # another message's events, and an event naming this one for someone else
                {
                    "eventCode": "sms.delivered",
                    "customerId": "c3",
                    "customData": {"messageId": 10**9},
                },
                {
                    "eventCode": "sms.delivered",
                    "customerId": "c4",
                    "customData": {"messageId": done[0]["id"]},
                },
            ],
            NOW,
        )
        stats = sending_stats(conn, [sending.id])[sending.id]
    assert (stats.total, stats.pending, stats.sent, stats.failed) == (5, 0, 4, 0)
    assert stats.skipped == {"no consent": 1}
    assert (stats.delivered, stats.opened, stats.clicked) == (2, 0, 1)


def test_a_list_sending_renders_each_members_context(database: Database, app_id: int) -> None:
    campaign_id = setup(database, app_id)
    with database.write() as conn:
        found = create_list(conn, app_id, "VIP", NOW)
        add_members(
            conn,
            app_id,
            found.id,
            [
                {"customerId": "c2", "contextValues": {"coupon": "GOLD", "n": 2}},
                "c3",
                {"customerId": "new-1", "contextValues": {"coupon": "NEW"}},  # created bare
            ],
            NOW,
        )
        report = send_to_list(conn, app_id, campaign_id, found.id, NOW)
    assert (report.sending.audience, report.sending.list_id) == ("list", found.id)
    assert report.sending.total == 3
    written = rows(database, report.sending.id)
    assert [r["payload"]["context"] for r in written] == [
        {"coupon": "GOLD", "n": 2},
        {},
        {"coupon": "NEW"},
    ]
    dispatch(database)
    assert [(r["customer_id"], r["rendered"]) for r in rows(database, report.sending.id)] == [
        ("c2", {"text": "Hi c2, code GOLD"}),
        ("c3", {"text": "Hi c3, code -"}),
        ("new-1", {"text": "Hi new-1, code NEW"}),
    ]


def test_given_customers_unknown_ids_are_reported_and_not_sent_to(
    database: Database, app_id: int
) -> None:
    campaign_id = setup(database, app_id)
    with database.write() as conn:
        report = send_to_customers(
            conn,
            app_id,
            campaign_id,
            [
                ("c0", {"coupon": "A"}),
                ("ghost", {}),
                ("c2", {}),
                ("c0", {"coupon": "B"}),
                ("nobody", {}),
            ],
            NOW,
        )
    assert report.sending.audience == "customers" and report.sending.total == 2
    assert (report.unknown, report.unknown_ids, report.duplicates) == (2, ("ghost", "nobody"), 1)
    dispatch(database)
    assert [(r["customer_id"], r["rendered"]) for r in rows(database, report.sending.id)] == [
        ("c0", {"text": "Hi c0, code A"}),  # the first of a repeated id
        ("c2", {"text": "Hi c2, code -"}),
    ]
    with database.write() as conn, pytest.raises(InvalidInput) as bad:
        send_to_customers(conn, app_id, campaign_id, [("c0", {}), ("no spaces", {})], NOW)
    assert [p.where for p in bad.value.problems] == ["customers[1]"]


def test_a_csv_sending_renders_its_columns_as_context(database: Database, app_id: int) -> None:
    campaign_id = setup(database, app_id)
    csv = "customerId,coupon\nc0,SAVE10\nc3,\nghost,X\n"
    with database.write() as conn:
        report = send_csv(conn, app_id, campaign_id, io.BytesIO(csv.encode()), NOW)
    assert (report.sending.audience, report.sending.total) == ("csv", 2)
    assert (report.unknown, report.unknown_ids) == (1, ("ghost",))
    dispatch(database)
    assert [(r["customer_id"], r["rendered"]) for r in rows(database, report.sending.id)] == [
        ("c0", {"text": "Hi c0, code SAVE10"}),
        ("c3", {"text": "Hi c3, code -"}),
    ]


def test_a_csv_with_bad_rows_is_refused_whole(database: Database, app_id: int) -> None:
    campaign_id = setup(database, app_id)
    csv = "customerId,coupon\nc0,A\nbad id,B\nc2\n"
    with pytest.raises(ImportFailed) as failed, database.write() as conn:
        send_csv(conn, app_id, campaign_id, io.BytesIO(csv.encode()), NOW)
    assert [p.where for p in failed.value.problems] == ['line 3, column "customerId"', "line 4"]
    with pytest.raises(ImportFailed) as missing, database.write() as conn:
        send_csv(conn, app_id, campaign_id, io.BytesIO(b"id,coupon\nc0,A\n"), NOW)
    assert "customerId" in str(missing.value)
    with database.read() as conn:
        assert conn.execute(select(outbox.c.id)).all() == []
        assert list_sendings(conn, app_id, campaign_id).count == 0


def test_a_scheduled_sending_waits_and_can_be_cancelled(database: Database, app_id: int) -> None:
    campaign_id = setup(database, app_id)
    with database.write() as conn:
        first = send_to_all(conn, app_id, campaign_id, NOW, send_at=LATER).sending
        second = send_to_all(conn, app_id, campaign_id, NOW, send_at=LATER).sending
    assert first.send_at == LATER
    dispatch(database, NOW + timedelta(hours=1))
    assert {r["status"] for r in rows(database, first.id)} == {"pending"}
    with database.write() as conn:
        assert cancel_sending(conn, app_id, campaign_id, second.id, NOW) == 5
        assert cancel_sending(conn, app_id, campaign_id, second.id, NOW) == 0
        assert get_sending(conn, app_id, campaign_id, second.id).cancelled_at == NOW
    dispatch(database, LATER)
    assert [r["status"] for r in rows(database, first.id)] == [
        "sent",
        "skipped",
        "sent",
        "sent",
        "sent",
    ]
    assert {(r["status"], r["reason"]) for r in rows(database, second.id)} == {
        ("skipped", "cancelled")
    }
    with database.read() as conn:
        stats = sending_stats(conn, [first.id, second.id])
        page = list_sendings(conn, app_id, campaign_id)
    assert stats[second.id].skipped == {"cancelled": 5} and stats[second.id].sent == 0
    assert stats[first.id].sent == 4
    assert [s.id for s in page.items] == [second.id, first.id] and page.count == 2


def test_other_applications_campaigns_and_lists_are_not_found(
    database: Database, app_id: int
) -> None:
    campaign_id = setup(database, app_id)
    with database.write() as conn:
        other = create_application(conn, "other", NOW)
        theirs = create_list(conn, other, "Theirs", NOW)
        mine = send_to_all(conn, app_id, campaign_id, NOW).sending
    with database.write() as conn:
        with pytest.raises(NotFound):
            send_to_all(conn, other, campaign_id, NOW)
        with pytest.raises(NotFound):
            send_to_list(conn, app_id, campaign_id, theirs.id, NOW)
        with pytest.raises(NotFound):
            get_sending(conn, other, campaign_id, mine.id)
        with pytest.raises(NotFound):
            cancel_sending(conn, other, campaign_id, mine.id, NOW)
