"""Journey statistics and inspection on real databases, with counters written by the runner."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from wayfare.api.journeys import stats_json
from wayfare.engine.handlers import draw
from wayfare.engine.runner import put_customers, start_journey
from wayfare.engine.worker import Runner
from wayfare.errors import NotFound
from wayfare.store.applications import create_application
from wayfare.store.database import Database
from wayfare.store.events import define_event_type, record_events
from wayfare.store.inspection import HISTORY_COLUMNS, enrollment_history, history_csv
from wayfare.store.schema import customers
from wayfare.store.stats import JourneyStats, StateStats, journey_stats, wilson

from .conftest import NOW
from .test_runner import add_customers, campaign, delay, drain, journey, push

HOUR = timedelta(hours=1)


def random_state(state_id: int, *forwards: int | None) -> dict[str, Any]:
    return {
        "id": state_id,
        "type": "FLOW_RANDOM",
        "params": {"paths": [{"forward": f} for f in forwards]},
    }


def path_of(jid: int, customer: str) -> int:
    """Which path of state 2 (two equal paths) the customer draws on entry 1."""
    return 0 if draw(jid, 2, customer, 1) * 2 < 1 else 1


class Setup:
    """An A/B journey: list entry → random → push A (3) / push B (4) → wait a day (5)."""

    def __init__(self, database: Database, app_id: int) -> None:
        self.database = database
        self.app_id = app_id
        add_customers(database, app_id, 6)
        with database.write() as conn:
            conn.execute(
                customers.insert().values(
                    application_id=app_id,
                    customer_id="mute",
                    push_tokens=[],
                    consent={},
                    fields={},
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            define_event_type(conn, app_id, "purchase", "Purchase", NOW)
        self.campaign_a = campaign(database, app_id)
        self.campaign_b = campaign(database, app_id)
        self.jid = journey(
            database,
            app_id,
            {"type": "IN_LIST", "params": {"forward": 2}},
            random_state(2, 3, 4),
            push(3, self.campaign_a, 5),
            push(4, self.campaign_b, 5),
            delay(5, "P1D", None),
            goal={"eventName": "purchase", "within": "P2D"},
        )
        self.people = [f"c{i:04d}" for i in range(6)] + ["mute"]
        with database.write() as conn:
            start_journey(conn, app_id, self.jid, NOW)
            put_customers(conn, app_id, self.jid, self.people, NOW)
        self.runner = Runner(database)
        drain(self.runner, NOW)
        self.paths = {c: path_of(self.jid, c) for c in self.people}
        campaign_of = {0: self.campaign_a, 1: self.campaign_b}
        events = [
            # conversions: within P2D of entering
            ("e1", "purchase", "c0000", NOW + HOUR, {}),
            ("e2", "purchase", "c0001", NOW + 30 * HOUR, {}),
            ("e3", "purchase", "c0001", NOW + 31 * HOUR, {}),  # counted once
            # not conversions: too late, before entering
            ("e4", "purchase", "c0002", NOW + 3 * 24 * HOUR, {}),
            ("e5", "purchase", "c0003", NOW - HOUR, {}),
            # a click on the message c0004 got, and one on the other campaign
            (
                "e6",
                "push.click",
                "c0004",
                NOW + HOUR,
                {"campaignId": campaign_of[self.paths["c0004"]]},
            ),
            (
                "e7",
                "push.click",
                "c0005",
                NOW + HOUR,
                {"campaignId": campaign_of[1 - self.paths["c0005"]]},
            ),
            ("e8", "push.received", "c0000", NOW, {"campaignId": campaign_of[self.paths["c0000"]]}),
        ]
        with database.write() as conn:
            record_events(
                conn,
                app_id,
                [
                    {
                        "eventId": e,
                        "eventCode": code,
                        "customerId": who,
                        "date": at.isoformat(),
                        "customData": data,
                    }
                    for e, code, who, at, data in events
                ],
                NOW + 4 * 24 * HOUR,
            )

    def stats(self, **options: Any) -> JourneyStats:
        with self.database.read() as conn:
            return journey_stats(conn, self.app_id, self.jid, **options)


@pytest.fixture
def setup(database: Database, app_id: int) -> Setup:
    return Setup(database, app_id)


def by_state(stats: JourneyStats) -> dict[int, StateStats]:
    return {s.state_id: s for s in stats.states}


def test_per_state_figures_while_waiting_and_after(setup: Setup) -> None:
    on_a = [c for c in setup.people if setup.paths[c] == 0]
    on_b = [c for c in setup.people if setup.paths[c] == 1]
    stats = setup.stats()
    states = by_state(stats)
    assert (stats.entered, stats.waiting) == (7, 7)
    assert states[1].entered == 7 and states[1].branches == {"entered": 7}
    assert states[2].branches == {
        k: v for k, v in {"paths[0]": len(on_a), "paths[1]": len(on_b)}.items() if v
    }
    assert [states[5].entered, states[5].waiting, states[5].completed] == [7, 7, 0]
    for state_id, group in ((3, on_a), (4, on_b)):
        messages = states[state_id].messages
        assert messages is not None
        mute = "mute" in group
        assert states[state_id].entered == len(group)
        assert messages.sent == len(group) - mute
        assert messages.skipped == ({"no_address": 1} if mute else {})
        assert messages.failed == messages.opened == 0
        assert messages.delivered == int("c0000" in group)
        assert messages.clicked == int("c0004" in group)
        assert messages.conversions == len({"c0000", "c0001"} & set(group))
    assert stats.conversions == 2

    paths = states[2].paths
    assert paths is not None
    assert [p.entered for p in paths] == [len(on_a), len(on_b)]
    assert [p.attributed for p in paths] == [len(on_a), len(on_b)]
    conversions = [len({"c0000", "c0001"} & set(group)) for group in (on_a, on_b)]
    assert [p.conversions for p in paths] == conversions
    shown = {s["stateId"]: s for s in stats_json(stats)["states"]}  # the API's view
    for path, group, won in zip(shown[2]["paths"], (on_a, on_b), conversions, strict=True):
        interval = wilson(won, len(group))
        assert path["conversionRate"] == (won / len(group) if group else None)
        assert path["confidence95"] == (None if interval is None else [interval.low, interval.high])
    click_state = shown[3 + setup.paths["c0004"]]["messages"]
    assert click_state["clickRate"] == 1 / click_state["sent"]
    assert stats_json(stats)["conversionRate"] == pytest.approx(2 / 7)

    drain(setup.runner, NOW + 24 * HOUR)
    after = by_state(setup.stats())
    assert [after[5].waiting, after[5].completed, after[5].branches] == [
        0,
        7,
        {"done": 7},
    ]


def test_interval_filtering_uses_the_hour_buckets(setup: Setup) -> None:
    drain(setup.runner, NOW + 24 * HOUR)
    first_hour = by_state(setup.stats(date_from=NOW, date_to=NOW + HOUR))
    assert (first_hour[1].entered, first_hour[5].completed) == (7, 0)
    next_day = setup.stats(date_from=NOW + HOUR)
    assert next_day.entered == 0 and next_day.conversions == 0
    assert by_state(next_day)[5].completed == 7
    sent_later = by_state(next_day)[3].messages
    assert sent_later is not None and sent_later.sent == 0
    before = setup.stats(date_to=NOW)
    assert before.entered == 0 and by_state(before)[5].completed == 0
    assert setup.stats(test=True).entered == 0


def test_another_application_sees_nothing(setup: Setup, database: Database) -> None:
    with database.write() as conn:
        other = create_application(conn, "other", NOW)
    with database.read() as conn, pytest.raises(NotFound):
        journey_stats(conn, other, setup.jid)
    with database.read() as conn, pytest.raises(NotFound):
        enrollment_history(conn, other, setup.jid, "c0000")
    with database.read() as conn, pytest.raises(NotFound):
        list(history_csv(conn, other, setup.jid))


def test_where_a_customer_is_and_how_they_got_there(setup: Setup) -> None:
    customer = "c0000"
    message_state = 3 + setup.paths[customer]
    with setup.database.read() as conn:
        (found,) = enrollment_history(conn, setup.app_id, setup.jid, customer)
        assert enrollment_history(conn, setup.app_id, setup.jid, "nobody") == []
    assert (found.state_id, found.status, found.entry_number) == (5, "waiting", 1)
    assert found.entered_at == NOW and found.wake_at == NOW + 24 * HOUR
    assert [(m.state_id, m.status, m.channel) for m in found.messages] == [
        (message_state, "sent", "push")  # the log channel delivers as the message is written
    ]
    assert found.path == ((1, NOW), (2, NOW), (message_state, NOW), (5, NOW))  # 2: the draw
    drain(setup.runner, NOW + 24 * HOUR)
    with setup.database.read() as conn:
        (done,) = enrollment_history(conn, setup.app_id, setup.jid, customer)
    assert (done.status, done.ended_at) == ("completed", NOW + 24 * HOUR)
    assert done.path[-1][0] == 5 and done.path[:4] == found.path  # the path only grows


def test_history_csv(setup: Setup) -> None:
    drain(setup.runner, NOW + 24 * HOUR)
    with setup.database.read() as conn:
        text = "".join(history_csv(conn, setup.app_id, setup.jid))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.splitlines()[0] == ",".join(HISTORY_COLUMNS)
    assert [r["customerId"] for r in rows] == sorted(setup.people)
    assert {r["status"] for r in rows} == {"completed"}
    assert {r["stateId"] for r in rows} == {"5"}
    assert {r["customerId"]: r["messagesSent"] for r in rows} == {
        c: "0" if c == "mute" else "1" for c in setup.people
    }
    assert rows[0]["enteredAt"] == NOW.isoformat()
    assert rows[0]["endedAt"] == (NOW + 24 * HOUR).isoformat()


def test_wilson_interval() -> None:
    assert wilson(0, 0) is None
    interval = wilson(50, 100)
    assert interval is not None
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.4038, 0.5962)
    none = wilson(0, 10)
    assert none is not None and none.low == 0.0 and round(none.high, 4) == 0.2775


def test_a_goal_window_in_months(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 3)
    with database.write() as conn:
        define_event_type(conn, app_id, "purchase", "Purchase", NOW)
    jid = journey(
        database,
        app_id,
        {"type": "IN_LIST", "params": {"forward": 2}},
        push(2, campaign(database, app_id), None),
        goal={"eventName": "purchase", "within": "P1M"},
    )
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
        put_customers(conn, app_id, jid, ["c0000", "c0001", "c0002"], NOW)
    drain(Runner(database), NOW)
    month = NOW.replace(month=NOW.month + 1)  # 15 March + P1M = 15 April, same time
    with database.write() as conn:
        record_events(
            conn,
            app_id,
            [
                {
                    "eventId": "in",
                    "eventCode": "purchase",
                    "customerId": "c0000",
                    "date": month.isoformat(),
                },
                {
                    "eventId": "out",
                    "eventCode": "purchase",
                    "customerId": "c0001",
                    "date": (month + timedelta(seconds=1)).isoformat(),
                },
            ],
            month + HOUR,
        )
    with database.read() as conn:
        stats = journey_stats(conn, app_id, jid)
    assert stats.conversions == 1
    messages = by_state(stats)[2].messages
    assert messages is not None and messages.conversions == 1
