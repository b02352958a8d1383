"""Holdouts: a stable share of a journey's entrants receives nothing, and the statistics measure
the journey's lift over doing nothing; live on SQLite and PostgreSQL, and in the simulator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from wayfare.engine.entries import put_customers, start_journey
from wayfare.engine.simulation import simulate
from wayfare.engine.worker import Runner
from wayfare.model.journey import parse_journey
from wayfare.store.database import Database
from wayfare.store.events import define_event_type, record_events
from wayfare.store.schema import enrollments, outbox
from wayfare.store.stats import journey_stats

from .conftest import NOW
from .test_api_client import client_for, key_for
from .test_runner import add_customers, campaign, drain, journey, push
from .test_simulation import customer


def holdout_journey(database: Database, app_id: int, share: float) -> int:
    cid = campaign(database, app_id)
    return journey(
        database,
        app_id,
        {"type": "IN_LIST", "params": {"forward": 2}},
        push(2, cid, None),
        holdout=share,
        goal={"eventName": "purchase", "within": "P7D"},
    )


def test_a_holdout_receives_nothing_and_the_lift_is_measured(
    database: Database, app_id: int
) -> None:
    add_customers(database, app_id, 400)
    with database.write() as conn:
        define_event_type(conn, app_id, "purchase", "Purchase", NOW)
    jid = holdout_journey(database, app_id, 0.25)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
        put_customers(conn, app_id, jid, [f"c{i:04d}" for i in range(400)], NOW)
        put_customers(conn, app_id, jid, ["c0000", "c0001", "c0002"], NOW, test=True)
    drain(Runner(database), NOW)
    with database.read() as conn:
        ends = dict(
            conn.execute(
                select(enrollments.c.customer_id, enrollments.c.end_reason).where(
                    enrollments.c.test.is_(False)
                )
            ).all()
        )
        live = select(enrollments.c.id).where(enrollments.c.test.is_(False))
        sent = set(
            conn.execute(
                select(outbox.c.customer_id).where(outbox.c.enrollment_id.in_(live))
            ).scalars()
        )
        test_runs = conn.execute(
            select(func.count()).where(
                enrollments.c.test.is_(True), enrollments.c.end_reason.is_(None)
            )
        ).scalar()
    held = {c for c, reason in ends.items() if reason == "holdout"}
    assert 70 <= len(held) <= 130  # a quarter, drawn
    assert not held & sent and len(sent) == 400 - len(held)  # the others got their push
    assert test_runs == 3  # test runs are never held out
    # The journey works: a third of those who got the push buy, one in ten of the held out.
    treated = sorted(set(ends) - held)
    buyers = treated[::3] + sorted(held)[::10]
    with database.write() as conn:
        record_events(
            conn,
            app_id,
            [
                {
                    "eventCode": "purchase",
                    "customerId": c,
                    "date": (NOW + timedelta(days=1)).isoformat(),
                }
                for c in buyers
            ],
            NOW + timedelta(days=1),
        )
    with database.read() as conn:
        stats = journey_stats(conn, app_id, jid)
    assert stats.holdout is not None
    h = stats.holdout
    assert (h.share, h.held_out, h.treated) == (0.25, len(held), 400 - len(held))
    assert (h.held_out_conversions, h.treated_conversions) == (
        len(sorted(held)[::10]),
        len(treated[::3]),
    )
    entry = next(s for s in stats.states if s.state_id == 1)
    assert entry.branches == {"entered": 400 - len(held), "holdout": len(held)}

    api = client_for(database, key_for(database))
    shown: dict[str, Any] = api.get(f"/v1/journey/{jid}/stats").json()["data"]["holdout"]
    assert shown["heldOut"] == len(held) and shown["treatedConversions"] == len(treated[::3])
    assert shown["lift"] == shown["treatedRate"] - shown["heldOutRate"]
    low, high = shown["lift95"]
    assert 0 < low < shown["lift"] < high  # the journey helps, and the interval says so


def test_the_simulator_holds_out_the_same_customers() -> None:
    doc = {
        "name": "Held",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": None},
            },
        ],
        "settings": {"holdout": 0.3},
    }
    people = [customer(f"p{i}") for i in range(200)]
    result = simulate(doc, people, start=NOW, until=NOW + timedelta(hours=1), journey_id=5)
    got = {m.customer_id for m in result.messages}
    held = {p.customer_id for p in people} - got
    assert 40 <= len(held) <= 80
    assert result.stats[1].branches == {"entered": len(got), "holdout": len(held)}
    assert result.stats[1].completed == 200  # every entrant left the entry state
    # the same customers live would be held out: the draw is the journey's and the customer's
    again = simulate(doc, people, start=NOW, until=NOW + timedelta(hours=1), journey_id=5)
    assert {m.customer_id for m in again.messages} == got
    other = simulate(doc, people, start=NOW, until=NOW + timedelta(hours=1), journey_id=6)
    assert {m.customer_id for m in other.messages} != got


def test_a_holdout_is_at_most_half() -> None:
    doc = {"name": "x", "states": [{"id": 1, "type": "IN_ALL", "params": {"forward": None}}]}
    problems = parse_journey({**doc, "settings": {"holdout": 0.6}}).problems
    assert [(p.where, p.message) for p in problems] == [("settings.holdout", "must be at most 0.5")]
