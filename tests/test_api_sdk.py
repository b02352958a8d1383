"""``POST /v1/push/event``: an app SDK's push acknowledgements become events of the message's
customer, count in a sending's statistics and move a journey waiting for the click; on SQLite
and PostgreSQL, with the real engine and dispatcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from wayfare.channels.dispatch import Dispatcher
from wayfare.engine.entries import start_journey
from wayfare.engine.worker import Runner
from wayfare.store.applications import ensure_application
from wayfare.store.campaigns import create_campaign
from wayfare.store.customers import upsert_customers
from wayfare.store.database import Database
from wayfare.store.journeys import create_journey
from wayfare.store.schema import enrollments, events, outbox

from .test_api_client import TestClient, client_for, key_for

PUSH = {"title": "Hi {{ customer.customerId }}", "body": "New offers"}


def setup(database: Database, now: datetime) -> tuple[TestClient, int, int, int]:
    """Application acme with customers c-0, c-1 and two push campaigns: (client, app, A, B)."""
    api = client_for(database, key_for(database))
    with database.write() as conn:
        app_id = ensure_application(conn, "acme", now)
        upsert_customers(conn, app_id, [{"customerId": "c-0"}, {"customerId": "c-1"}], now)
        first = create_campaign(conn, app_id, "A", "push", PUSH, now)
        second = create_campaign(conn, app_id, "B", "push", PUSH, now)
    return api, app_id, first, second


def recorded(database: Database) -> list[tuple[str, str, str, dict[str, Any]]]:
    with database.read() as conn:
        rows = conn.execute(
            select(
                events.c.event_id, events.c.event_code, events.c.customer_id, events.c.custom_data
            ).order_by(events.c.id)
        )
        return [(r.event_id, r.event_code, r.customer_id, r.custom_data) for r in rows]


def test_a_click_moves_the_journey_waiting_for_it(database: Database) -> None:
    now = datetime.now(UTC)
    api, app_id, first, second = setup(database, now)
    document = {
        "name": "Click or not",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": first}, "forward": 3},
            },
            {
                "id": 3,
                "type": "FLOW_PUSH_CLICK",
                "params": {
                    "click": {"campaignId": first, "forward": 4},
                    "timeout": {"time": "P7D", "forward": None},
                },
            },
            {
                "id": 4,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": second}, "forward": None},
            },
        ],
    }
    with database.write() as conn:
        journey_id = create_journey(conn, app_id, document, now)
        assert start_journey(conn, app_id, journey_id, now) == 2
    runner = Runner(database)
    while runner.tick(now):
        pass
    dispatcher = Dispatcher(database)
    try:
        dispatcher.tick(now + timedelta(seconds=1))
    finally:
        dispatcher.close()
    with database.read() as conn:
        sent = {
            row.customer_id: int(row.id)
            for row in conn.execute(
                select(outbox.c.id, outbox.c.customer_id).where(outbox.c.state_id == 2)
            )
        }
        assert set(conn.execute(select(enrollments.c.state_id)).scalars()) == {3}

    received = api.post("/v1/push/event", json={"type": "received", "messageId": sent["c-0"]})
    assert received.status_code == 200, received.json()
    assert received.json()["data"] == {
        "messageId": sent["c-0"],
        "type": "received",
        "recorded": 1,
    }
    clicked = api.post("/v1/push/event", json={"type": "click", "messageId": sent["c-0"]})
    assert clicked.json()["data"]["recorded"] == 1  # the receipt was recorded already
    again = api.post("/v1/push/event", json={"type": "click", "messageId": sent["c-0"]})
    assert again.status_code == 200 and again.json()["data"]["recorded"] == 0
    data = {"messageId": sent["c-0"], "campaignId": first}
    assert recorded(database) == [
        (f"push:{sent['c-0']}:received", "push.received", "c-0", data),
        (f"push:{sent['c-0']}:click", "push.click", "c-0", data),
    ]
    with database.read() as conn:
        where = dict(conn.execute(select(enrollments.c.customer_id, enrollments.c.state_id)).all())
        follow_up = conn.execute(
            select(outbox.c.customer_id, outbox.c.campaign_id).where(outbox.c.state_id == 4)
        ).all()
    assert where == {"c-0": 4, "c-1": 3}  # c-0 clicked and moved on; c-1 still waits
    assert [tuple(r) for r in follow_up] == [("c-0", second)]


def test_acks_count_in_a_sendings_statistics(database: Database) -> None:
    now = datetime.now(UTC)
    api, _app_id, first, _second = setup(database, now)
    sending = api.post(f"/v1/campaign/{first}/send/all").json()["data"]
    dispatcher = Dispatcher(database)
    try:
        dispatcher.tick(datetime.now(UTC) + timedelta(seconds=1))
    finally:
        dispatcher.close()
    with database.read() as conn:
        ids = dict(conn.execute(select(outbox.c.customer_id, outbox.c.id)).all())
    api.post("/v1/push/event", json={"type": "received", "messageId": ids["c-0"]})
    api.post("/v1/push/event", json={"type": "received", "messageId": ids["c-1"]})
    api.post("/v1/push/event", json={"type": "click", "messageId": ids["c-1"]})
    stats = api.get(f"/v1/campaign/{first}/sendings/{sending['id']}").json()["data"]["stats"]
    assert (stats["sent"], stats["delivered"], stats["clicked"]) == (2, 2, 1)
    assert (stats["deliveryRate"], stats["clickRate"]) == (1.0, 0.5)


def test_unknown_messages_other_applications_and_bad_bodies(database: Database) -> None:
    now = datetime.now(UTC)
    api, _app_id, first, _second = setup(database, now)
    api.post(f"/v1/campaign/{first}/send/all")
    sms = api.post(
        "/v1/campaign", json={"name": "S", "channel": "sms", "content": {"text": "Hi"}}
    ).json()["data"]["id"]
    api.post(f"/v1/campaign/{sms}/send/list", json={"customers": ["c-0"]})
    with database.read() as conn:
        ids = dict(conn.execute(select(outbox.c.channel, outbox.c.id)).all())
    intruder = client_for(database, key_for(database, "other"))
    answers = [
        intruder.post("/v1/push/event", json={"type": "click", "messageId": ids["push"]}),
        api.post("/v1/push/event", json={"type": "click", "messageId": ids["sms"]}),
        api.post("/v1/push/event", json={"type": "click", "messageId": 10**9}),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    wrong = api.post("/v1/push/event", json={"type": "open", "messageId": ids["push"]})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["where"] == "type"
    missing = api.post("/v1/push/event", json={"type": "click"})
    assert missing.status_code == 400 and missing.json()["errors"][0]["where"] == "messageId"
    anonymous = client_for(database)
    assert (
        anonymous.post("/v1/push/event", json={"type": "click", "messageId": 1}).status_code == 401
    )
    assert recorded(database) == []
