"""A ``FLOW_RANDOM`` experiment end to end on SQLite and PostgreSQL: customers are drawn into
paths, the better path's customers convert more, the worker decides once the windows have
closed, and later entrants all take the winner; the API shows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from wayfare.engine.entries import start_journey
from wayfare.engine.worker import Runner
from wayfare.store.campaigns import create_campaign
from wayfare.store.customers import delete_customer
from wayfare.store.database import Database
from wayfare.store.events import define_event_type, record_events
from wayfare.store.experiments import Draw, write_draws
from wayfare.store.journeys import create_journey
from wayfare.store.schema import experiment_decisions, experiment_entries, outbox

from .test_api_client import client_for, key_for
from .test_runner import add_customers

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
PATH_A, PATH_B = 3, 4


def journey_document(a: int, b: int, **experiment: Any) -> dict[str, Any]:
    return {
        "name": "Which push sells",
        "states": [
            {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "visit", "forward": 2}},
            {
                "id": 2,
                "type": "FLOW_RANDOM",
                "params": {
                    "paths": [{"forward": PATH_A}, {"forward": PATH_B}],
                    "experiment": {
                        "goal": {"eventName": "purchase", "within": "P1D"},
                        "minSample": 50,
                        **experiment,
                    },
                },
            },
            {
                "id": PATH_A,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": a}, "forward": None},
            },
            {
                "id": PATH_B,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": b}, "forward": None},
            },
        ],
    }


def visits(database: Database, app_id: int, customers: range, at: datetime) -> None:
    with database.write() as conn:
        record_events(
            conn,
            app_id,
            [
                {"eventCode": "visit", "customerId": f"c{i:04d}", "date": at.isoformat()}
                for i in customers
            ],
            at,
        )


def sent_by_state(database: Database, journey: int) -> dict[int, list[str]]:
    with database.read() as conn:
        rows = conn.execute(
            select(outbox.c.state_id, outbox.c.customer_id)
            .where(outbox.c.journey_id == journey)
            .order_by(outbox.c.customer_id)
        ).all()
    found: dict[int, list[str]] = {PATH_A: [], PATH_B: []}
    for state_id, customer_id in rows:
        found[int(state_id)].append(customer_id)
    return found


def test_the_better_path_wins_and_takes_every_later_entrant(
    database: Database, app_id: int
) -> None:
    add_customers(database, app_id, 300)
    with database.write() as conn:
        define_event_type(conn, app_id, "visit", "Visit", T0)
        define_event_type(conn, app_id, "purchase", "Purchase", T0)
        content = {"title": "Hi", "body": "Offer"}
        a = create_campaign(conn, app_id, "A", "push", content, T0)
        b = create_campaign(conn, app_id, "B", "push", content, T0)
        journey = create_journey(conn, app_id, journey_document(a, b), T0)
        start_journey(conn, app_id, journey, T0)
    visits(database, app_id, range(200), T0)
    drawn = sent_by_state(database, journey)
    assert len(drawn[PATH_A]) + len(drawn[PATH_B]) == 200
    assert min(len(drawn[PATH_A]), len(drawn[PATH_B])) >= 70  # a fair draw
    # Half of B's customers buy within the day, one in ten of A's; one of A's buys too late.
    buyers = drawn[PATH_B][::2] + drawn[PATH_A][::10]
    late = drawn[PATH_A][1]
    with database.write() as conn:
        purchases = [
            {
                "eventCode": "purchase",
                "customerId": c,
                "date": (T0 + timedelta(hours=3)).isoformat(),
            }
            for c in buyers
        ]
        purchases.append(
            {
                "eventCode": "purchase",
                "customerId": late,
                "date": (T0 + timedelta(days=2)).isoformat(),
            }
        )
        record_events(conn, app_id, purchases, T0 + timedelta(days=2))

    runner = Runner(database)
    runner.tick(T0 + timedelta(hours=12))  # the windows are still open: no decision
    with database.read() as conn:
        assert conn.execute(select(experiment_decisions)).first() is None
    runner.tick(T0 + timedelta(days=1, minutes=1))
    with database.read() as conn:
        decision = conn.execute(select(experiment_decisions)).one()
    assert decision.winner == 1 and decision.rule == "ztest"
    figures = decision.figures
    assert [f["customers"] for f in figures] == [len(drawn[PATH_A]), len(drawn[PATH_B])]
    assert [f["conversions"] for f in figures] == [
        len(drawn[PATH_A][::10]),
        len(drawn[PATH_B][::2]),
    ]
    assert figures[1]["score"] is None and figures[0]["score"] < 0.05

    visits(database, app_id, range(200, 300), T0 + timedelta(days=2))
    after = sent_by_state(database, journey)
    assert after[PATH_A] == drawn[PATH_A]  # nobody new on A
    assert len(after[PATH_B]) == len(drawn[PATH_B]) + 100
    with database.read() as conn:  # the winner's takers are not samples
        assert conn.execute(select(func.count()).select_from(experiment_entries)).scalar() == 200

    api = client_for(database, key_for(database))
    shown = api.get(f"/v1/journey/{journey}/experiments").json()["data"]
    assert len(shown) == 1 and shown[0]["decision"]["winner"] == 1
    assert [p["drawn"] for p in shown[0]["paths"]] == [len(drawn[PATH_A]), len(drawn[PATH_B])]
    assert shown[0]["goal"] == {"eventName": "purchase", "within": "P1D"}


def test_no_winner_when_the_paths_convert_alike(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 200)
    with database.write() as conn:
        define_event_type(conn, app_id, "visit", "Visit", T0)
        define_event_type(conn, app_id, "purchase", "Purchase", T0)
        content = {"title": "Hi", "body": "Offer"}
        a = create_campaign(conn, app_id, "A", "push", content, T0)
        b = create_campaign(conn, app_id, "B", "push", content, T0)
        journey = create_journey(conn, app_id, journey_document(a, b, rule="bayes"), T0)
        start_journey(conn, app_id, journey, T0)
    visits(database, app_id, range(200), T0)
    drawn = sent_by_state(database, journey)
    with database.write() as conn:
        buyers = drawn[PATH_A][::4] + drawn[PATH_B][::4]
        when = (T0 + timedelta(hours=1)).isoformat()
        record_events(
            conn,
            app_id,
            [{"eventCode": "purchase", "customerId": c, "date": when} for c in buyers],
            T0 + timedelta(hours=1),
        )
    Runner(database).tick(T0 + timedelta(days=1, minutes=1))
    with database.read() as conn:
        decision = conn.execute(select(experiment_decisions)).one()
    assert decision.winner is None and decision.rule == "bayes"
    assert 0.05 < decision.figures[0]["score"] < 0.95  # the chance each is best


def test_erasing_a_customer_removes_their_draws(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 2)
    with database.write() as conn:
        content = {"title": "Hi", "body": "Offer"}
        a = create_campaign(conn, app_id, "A", "push", content, T0)
        define_event_type(conn, app_id, "visit", "Visit", T0)
        define_event_type(conn, app_id, "purchase", "Purchase", T0)
        journey = create_journey(conn, app_id, journey_document(a, a), T0)
        write_draws(
            conn,
            [Draw(app_id, journey, 2, 0, "c0000", T0), Draw(app_id, journey, 2, 1, "c0001", T0)],
        )
        delete_customer(conn, app_id, "c0000")
    with database.read() as conn:
        left = conn.execute(select(experiment_entries.c.customer_id)).scalars().all()
    assert left == ["c0001"]
