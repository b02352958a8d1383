"""The in-app inbox store and the in-app channel, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from wayfare.channels.base import ChannelConfig, Message, Sent
from wayfare.channels.inapp import InAppAdapter, expires_at
from wayfare.errors import InvalidInput, NotFound
from wayfare.store.campaigns import create_campaign
from wayfare.store.database import Database
from wayfare.store.inbox import (
    add_messages,
    delete_inbox,
    get_message,
    list_inbox,
    mark_clicked,
    mark_read,
)
from wayfare.store.outbox import insert_outbox
from wayfare.store.schema import inbox_messages, outbox

from .conftest import NOW
from .test_channel_sms import customer, message

CARD = {"card": {"title": "Hi", "body": "20% off", "buttons": [{"label": "Go", "url": "u"}]}}


def outbox_rows(database: Database, app_id: int, count: int, customer_id: str = "c-1") -> list[int]:
    """``count`` in-app outbox rows of ``customer_id``; their ids."""
    with database.write() as conn:
        insert_outbox(
            conn,
            [
                {
                    "application_id": app_id,
                    "idempotency_key": f"k-{customer_id}-{i}",
                    "customer_id": customer_id,
                    "channel": "inapp",
                    "payload": {},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
                for i in range(count)
            ],
        )
        return list(
            conn.execute(
                outbox.select()
                .with_only_columns(outbox.c.id)
                .where(outbox.c.customer_id == customer_id)
                .order_by(outbox.c.id)
            ).scalars()
        )


def test_add_list_and_expiry(database: Database, app_id: int) -> None:
    ids = outbox_rows(database, app_id, 3)
    with database.write() as conn:
        campaign = create_campaign(conn, app_id, "welcome", "inapp", {"html": "<p>x</p>"}, NOW)
        rows = [
            {
                "application_id": app_id,
                "customer_id": "c-1",
                "outbox_id": outbox_id,
                "campaign_id": campaign,
                "content": {"html": f"<p>{n}</p>"},
                "created_at": NOW + timedelta(minutes=n),
                "expires_at": NOW + timedelta(days=1) if n == 1 else None,
            }
            for n, outbox_id in enumerate(ids)
        ]
        assert add_messages(conn, rows) == 3
        assert add_messages(conn, rows) == 0  # a retried dispatch adds nothing
        assert add_messages(conn, []) == 0

    with database.read() as conn:
        page = list_inbox(conn, app_id, "c-1", NOW, limit=2)
        assert page.count == 3
        assert [m.content["html"] for m in page.items] == ["<p>2</p>", "<p>1</p>"]
        second = list_inbox(conn, app_id, "c-1", NOW, limit=2, page=1)
        assert [m.outbox_id for m in second.items] == [ids[0]]
        assert second.items[0].campaign_id == campaign
        assert second.items[0].created_at == NOW
        later = list_inbox(conn, app_id, "c-1", NOW + timedelta(days=1))
        assert later.count == 2 and [m.content["html"] for m in later.items] == [
            "<p>2</p>",
            "<p>0</p>",
        ]
        assert list_inbox(conn, app_id, "c-2", NOW).count == 0
        with pytest.raises(InvalidInput):
            list_inbox(conn, app_id, "c-1", NOW, limit=0)


def test_read_and_click_are_idempotent(database: Database, app_id: int) -> None:
    [outbox_id] = outbox_rows(database, app_id, 1)
    row = {
        "application_id": app_id,
        "customer_id": "c-1",
        "outbox_id": outbox_id,
        "campaign_id": None,
        "content": CARD,
        "created_at": NOW,
        "expires_at": None,
    }
    with database.write() as conn:
        add_messages(conn, [row])
        [found] = list_inbox(conn, app_id, "c-1", NOW).items
        assert found.read_at is None and found.clicked_at is None
        read = mark_read(conn, app_id, found.id, NOW + timedelta(minutes=1))
        assert read.read_at == NOW + timedelta(minutes=1)
        again = mark_read(conn, app_id, found.id, NOW + timedelta(minutes=5))
        assert again.read_at == NOW + timedelta(minutes=1)  # the first read stays
        clicked = mark_clicked(conn, app_id, found.id, NOW + timedelta(minutes=2))
        assert clicked.clicked_at == NOW + timedelta(minutes=2)
        assert mark_clicked(conn, app_id, found.id, NOW + timedelta(hours=1)).clicked_at == (
            NOW + timedelta(minutes=2)
        )
        with pytest.raises(NotFound):
            mark_read(conn, app_id, found.id + 100, NOW)
        with pytest.raises(NotFound):
            mark_clicked(conn, app_id + 1, found.id, NOW)  # another application's
        assert get_message(conn, app_id, found.id).to_dict()["content"] == CARD

    [second] = outbox_rows(database, app_id, 1, "c-2")
    with database.write() as conn:
        add_messages(conn, [row | {"outbox_id": second, "customer_id": "c-2"}])
        [fresh] = list_inbox(conn, app_id, "c-2", NOW).items
        clicked = mark_clicked(conn, app_id, fresh.id, NOW)
        assert clicked.read_at == NOW and clicked.clicked_at == NOW  # a click reads it too
        assert delete_inbox(conn, app_id, "c-2") == 1
        assert list_inbox(conn, app_id, "c-2", NOW).count == 0
        assert list_inbox(conn, app_id, "c-1", NOW).count == 1


def test_the_inapp_channel_fills_the_inbox_once(database: Database, app_id: int) -> None:
    ids = outbox_rows(database, app_id, 2)
    messages = [
        Message(
            id=ids[0],
            key="k0",
            application_id=app_id,
            channel="inapp",
            customer=customer(),
            content={**CARD, "expiresIn": "P7D"},
        ),
        message("inapp", {"html": "<b>hi</b>"}, id=ids[1], application_id=app_id, campaign_id=None),
    ]
    adapter = InAppAdapter()
    with database.write() as conn:
        assert adapter.prepare(conn, messages, NOW) == messages
        adapter.prepare(conn, messages, NOW)  # a retried dispatch
        rows = conn.execute(inbox_messages.select().order_by(inbox_messages.c.id)).all()
    assert len(rows) == 2
    assert rows[0].content == CARD and rows[0].expires_at == NOW + timedelta(days=7)
    assert rows[1].content == {"html": "<b>hi</b>"} and rows[1].expires_at is None
    assert rows[1].outbox_id == ids[1] and rows[1].customer_id == "c-1"

    async def send() -> object:
        async with httpx.AsyncClient() as client:
            return await adapter.send(messages[0], ChannelConfig(), client)

    assert asyncio.run(send()) == Sent(str(ids[0]))


def test_expires_at() -> None:
    now = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert expires_at({"expiresIn": "P1M"}, now) == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)
    assert expires_at({"expiresIn": "PT90M"}, now) == now + timedelta(minutes=90)
    assert expires_at({}, now) is None
    assert expires_at({"expiresIn": "soon"}, now) is None
    assert expires_at({"expiresIn": "-P1D"}, now) is None
