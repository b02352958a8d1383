"""Best-time sending: the hour chosen from a customer's opens and clicks (or the population's),
inside the window and the horizon and never in quiet hours; live on both databases, and in the
simulator."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from wayfare.channels.dispatch import Dispatcher
from wayfare.engine.entries import put_customers, start_journey
from wayfare.engine.simulation import SimEvent, simulate
from wayfare.engine.worker import Runner
from wayfare.model.besttime import BestTime, best_moment, engagement_profile, hour_of_week
from wayfare.model.durations import Duration
from wayfare.model.journey import parse_journey
from wayfare.model.validation import validate_journey
from wayfare.store.database import Database
from wayfare.store.events import record_events
from wayfare.store.schema import outbox

from .test_runner import add_customers, campaign, drain, journey
from .test_simulation import customer

MADRID = ZoneInfo("Europe/Madrid")
MONDAY = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)  # 08:30 in Madrid
DEFAULT = BestTime()


def clicks_at(local_hour: int, days: int, zone: ZoneInfo = MADRID) -> list[tuple[str, datetime]]:
    """A click at ``local_hour``:10 on each of the ``days`` days before MONDAY."""
    day = MONDAY.astimezone(zone).date()
    return [
        (
            "push.click",
            datetime.combine(day - timedelta(days=d), time(local_hour, 10), zone).astimezone(UTC),
        )
        for d in range(1, days + 1)
    ]


def test_hours_of_the_week_are_local() -> None:
    assert hour_of_week(MONDAY, MADRID) == 8  # Monday 08:30
    assert hour_of_week(MONDAY, ZoneInfo("America/Los_Angeles")) == 6 * 24 + 23  # Sunday 23:30


def test_the_customers_own_best_hour_within_the_horizon() -> None:
    own = engagement_profile(clicks_at(19, 14), MADRID)
    sent = best_moment(MONDAY, MADRID, DEFAULT, own, {})
    assert sent.astimezone(MADRID) == datetime(2026, 3, 2, 19, 0, tzinfo=MADRID)
    # Only other codes than opens and clicks: nothing to go by, so at once.
    bare = engagement_profile([("purchase", at) for _, at in clicks_at(19, 14)], MADRID)
    assert best_moment(MONDAY, MADRID, DEFAULT, bare, {}) == MONDAY


def test_the_population_decides_for_a_customer_with_little_history() -> None:
    population = Counter({hour_of_week(MONDAY + timedelta(hours=4), MADRID): 50})
    own = engagement_profile(clicks_at(19, 3), MADRID)  # fewer than five
    sent = best_moment(MONDAY, MADRID, DEFAULT, own, population)
    assert sent.astimezone(MADRID).hour == 12
    own = engagement_profile(clicks_at(19, 5), MADRID)
    assert best_moment(MONDAY, MADRID, DEFAULT, own, population).astimezone(MADRID).hour == 19


def test_the_window_the_quiet_hours_and_the_horizon_are_kept() -> None:
    own = engagement_profile(clicks_at(23, 10), MADRID)  # clicks late at night
    sent = best_moment(MONDAY, MADRID, DEFAULT, own, {})
    assert sent == MONDAY  # 23:00 is outside 08:00-21:00: nothing better than now
    evening = BestTime(time(8, 0), time(23, 30))
    assert best_moment(MONDAY, MADRID, evening, own, {}).astimezone(MADRID).hour == 23
    quiet = (time(22, 0), time(8, 0))
    assert best_moment(MONDAY, MADRID, evening, own, {}, quiet) == MONDAY
    short = BestTime(horizon=Duration(seconds=3 * 3600))
    later = engagement_profile(clicks_at(10, 10), MADRID)
    assert best_moment(MONDAY, MADRID, short, later, {}).astimezone(MADRID).hour == 10
    late = engagement_profile(clicks_at(19, 10), MADRID)
    assert best_moment(MONDAY, MADRID, short, late, {}) == MONDAY  # 19:00 is beyond 3 hours
    # At night (02:00 local) with the window 08:00-21:00: the first allowed hour, then the best.
    night = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert best_moment(night, MADRID, short, {}, {}).astimezone(MADRID).hour == 8
    assert best_moment(night, MADRID, DEFAULT, late, {}).astimezone(MADRID).hour == 19


def test_a_best_hour_across_the_spring_dst_change() -> None:
    saturday = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)  # 21:00 in Madrid, before the change
    own = engagement_profile(clicks_at(10, 10), MADRID)
    sent = best_moment(saturday, MADRID, DEFAULT, own, {})
    assert sent == datetime(2026, 3, 29, 10, 0, tzinfo=MADRID)  # CEST: 08:00 UTC
    assert sent == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)


def test_send_time_params_are_checked() -> None:
    doc = {
        "name": "x",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": 1}, "sendTime": "soon", "forward": None},
            },
        ],
    }
    problems = parse_journey(doc).problems
    assert [p.where for p in problems] == ["state 2: params.sendTime"]


def best_journey(database: Database, app_id: int) -> int:
    cid = campaign(database, app_id)
    return journey(
        database,
        app_id,
        {"type": "IN_LIST", "params": {"forward": 2}},
        {
            "id": 2,
            "type": "ACTION_PUSH_SEND",
            "params": {"action": {"campaignId": cid}, "sendTime": "best", "forward": None},
        },
    )


def test_live_a_best_time_send_waits_in_the_outbox_for_its_hour(
    database: Database, app_id: int
) -> None:
    # Twelve customers without a time zone (UTC), more than a bulk group: c0000 clicks at
    # 19:10, c0001-c0010 at 10:10, c0011 never (the population decides: mostly 10:00).
    add_customers(database, app_id, 12)
    jid = best_journey(database, app_id)
    clicks = [
        {"eventCode": "push.click", "customerId": f"c{i:04d}", "date": at.isoformat()}
        for i in range(11)
        for _, at in clicks_at(19 if i == 0 else 10, 10, ZoneInfo("UTC"))
    ]
    with database.write() as conn:
        record_events(conn, app_id, clicks, MONDAY)
        start_journey(conn, app_id, jid, MONDAY)
        put_customers(conn, app_id, jid, [f"c{i:04d}" for i in range(12)], MONDAY)
    drain(Runner(database), MONDAY)
    with database.read() as conn:
        rows = {
            r.customer_id: (r.status, r.next_attempt_at)
            for r in conn.execute(
                select(outbox.c.customer_id, outbox.c.status, outbox.c.next_attempt_at)
            )
        }
    evening, morning = datetime(2026, 3, 2, 19, tzinfo=UTC), datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert rows.pop("c0000") == ("pending", evening)
    assert rows == {f"c{i:04d}": ("pending", morning) for i in range(1, 12)}
    dispatcher = Dispatcher(database)  # the log channel delivers each at its hour
    try:
        assert dispatcher.tick(morning - timedelta(minutes=1)) == 0
        assert dispatcher.tick(morning) == 11
        assert dispatcher.tick(evening) == 1
    finally:
        dispatcher.close()


def best_push(window: tuple[str, str], quiet: tuple[str, str]) -> dict[str, Any]:
    """``IN_ALL`` -> a best-time push in ``window``, in a journey with ``quiet`` hours."""
    return {
        "name": "Best",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {
                    "action": {"campaignId": 1},
                    "sendTime": "best",
                    "sendWindow": {"from": window[0], "to": window[1]},
                    "forward": None,
                },
            },
        ],
        "settings": {"quietHours": {"from": quiet[0], "to": quiet[1]}},
    }


def test_the_simulator_sends_at_the_best_hour() -> None:
    doc = best_push(("09:00", "22:00"), ("20:30", "08:00"))
    people = [customer("ana", timezone="Europe/Madrid"), customer("bo", timezone="Asia/Tokyo")]
    history = [SimEvent("ana", code, at) for code, at in clicks_at(13, 8)]
    history += [SimEvent("bo", c, at) for c, at in clicks_at(21, 8, ZoneInfo("Asia/Tokyo"))]
    result = simulate(doc, people, history, start=MONDAY, until=MONDAY + timedelta(days=2))
    sent = {m.customer_id: m.at for m in result.messages}
    assert sent["ana"].astimezone(MADRID) == datetime(2026, 3, 2, 13, 0, tzinfo=MADRID)
    # Bo clicks at 21:00 in Tokyo, inside the quiet hours: no allowed hour rates above another,
    # so the earliest allowed one, now (16:30 in Tokyo), not 21:00 held to 08:00.
    assert sent["bo"] == MONDAY


@pytest.mark.parametrize("hour", [8, 14, 20])
def test_every_window_hour_can_win(hour: int) -> None:
    own = engagement_profile(clicks_at(hour, 6), MADRID)
    night = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert best_moment(night, MADRID, DEFAULT, own, {}).astimezone(MADRID).hour == hour


def test_a_window_inside_the_quiet_hours_is_refused() -> None:
    doc = best_push(("09:00", "17:00"), ("08:00", "18:00"))
    report = validate_journey(doc)
    assert [(p.where, p.message) for p in report.problems] == [
        (
            "state 2: params.sendWindow",
            "lies inside the journey's quietHours: no time is left to send in",
        )
    ]
    doc["settings"] = {"quietHours": {"from": "08:00", "to": "16:59"}}
    assert validate_journey(doc).valid


def test_a_window_off_the_hour_opens_at_its_first_minute() -> None:
    narrow = BestTime(time(9, 15), time(9, 45))
    sent = best_moment(MONDAY, MADRID, narrow, {}, {})  # 08:30 local
    assert sent.astimezone(MADRID).time() == time(9, 15)
    # The quiet hours end off the hour inside a one-hour window: their end is the first time.
    hour = BestTime(time(8, 0), time(9, 0))
    quiet = (time(22, 0), time(8, 40))
    assert best_moment(MONDAY, MADRID, hour, {}, {}, quiet).astimezone(MADRID).time() == time(8, 40)
