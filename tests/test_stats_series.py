"""A journey's figures over time (``journey_series``) against ``journey_stats`` per bucket.

A push → wait 90 minutes → email journey is run on a fixed clock across four days (one of them
empty), with customers put in one microsecond before an hour and on the hour, deliveries, opens
and clicks after the messages (one before, which counts nowhere), a customer with no address
(skipped) and a test run. Every point of a series must be what ``journey_stats`` says over the
point's own interval, asked for separately.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from wayfare.engine.runner import put_customers, start_journey
from wayfare.engine.worker import Runner
from wayfare.errors import InvalidInput, NotFound
from wayfare.store.applications import create_application
from wayfare.store.database import Database, dialect_of
from wayfare.store.events import define_event_type, record_events
from wayfare.store.schema import customers, outbox, stat_counters
from wayfare.store.stats import SeriesPoint, journey_series, journey_stats

from .conftest import NOW
from .test_runner import campaign, delay, drain, journey, push

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
EVENING = datetime(2026, 3, 15, 23, 0, tzinfo=UTC)
JUST_BEFORE = EVENING - timedelta(microseconds=1)
WAIT = timedelta(minutes=90)
ENTRIES: list[tuple[datetime, list[str]]] = [
    (JUST_BEFORE, ["a1", "a2"]),  # the 22:00 hour, the 15th
    (EVENING, ["b1", "b2", "b3", "mute"]),  # the 23:00 hour; the email at 00:30 on the 16th
    (datetime(2026, 3, 16, 0, 30, tzinfo=UTC), ["c1"]),
    (datetime(2026, 3, 17, 10, 15, tzinfo=UTC), ["d1", "d2"]),
    # nothing on the 18th
    (datetime(2026, 3, 19, 5, 0, tzinfo=UTC), ["e1", "e2", "e3"]),
]
TESTED = (datetime(2026, 3, 16, 8, 0, tzinfo=UTC), ["t1", "t2"])
FIGURES = ("entered", "sent", "skipped", "delivered", "opened", "clicked")


class Run:
    """The journey, run: its application, id and campaigns."""

    def __init__(self, database: Database, app_id: int) -> None:
        self.database = database
        self.app_id = app_id
        people = [who for _, group in (*ENTRIES, TESTED) for who in group]
        with database.write() as conn:
            conn.execute(
                customers.insert(),
                [
                    {
                        "application_id": app_id,
                        "customer_id": who,
                        "email": None if who == "mute" else f"{who}@example.com",
                        "push_tokens": (
                            [] if who == "mute" else [{"token": who, "platform": "android"}]
                        ),
                        "consent": {},
                        "fields": {},
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for who in people
                ],
            )
            define_event_type(conn, app_id, "purchase", "Purchase", NOW)
        self.push = campaign(database, app_id)
        self.email = campaign(database, app_id, "email")
        self.jid = journey(
            database,
            app_id,
            {"type": "IN_LIST", "params": {"forward": 2}},
            push(2, self.push, 3),
            delay(3, "PT90M", 4),
            {
                "id": 4,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": self.email}, "forward": None},
            },
        )
        runner = Runner(database)
        with database.write() as conn:
            start_journey(conn, app_id, self.jid, NOW)
        moments = sorted({at for at, _ in (*ENTRIES, TESTED)} | {at + WAIT for at, _ in ENTRIES})
        for moment in moments:
            with database.write() as conn:
                for at, group in ENTRIES:
                    if at == moment:
                        put_customers(conn, app_id, self.jid, group, at)
                if moment == TESTED[0]:
                    put_customers(conn, app_id, self.jid, TESTED[1], moment, test=True)
            drain(runner, moment)
        drain(runner, TESTED[0] + WAIT)
        self.sent = self.outbox()

    def outbox(self) -> dict[tuple[str, int], datetime]:
        """When each message (customer, state) was written."""
        with self.database.read() as conn:
            rows = conn.execute(
                select(outbox.c.customer_id, outbox.c.state_id, outbox.c.created_at).where(
                    outbox.c.journey_id == self.jid, outbox.c.status.in_(("pending", "sent"))
                )
            ).all()
        return {(who, int(state)): at for who, state, at in rows}

    def events(self, *items: tuple[str, str, int, datetime]) -> None:
        """Record message events: (code, customer, campaign, when)."""
        with self.database.write() as conn:
            record_events(
                conn,
                self.app_id,
                [
                    {
                        "eventId": f"ev{number}",
                        "eventCode": code,
                        "customerId": who,
                        "date": at.isoformat(),
                        "customData": {"campaignId": campaign_id},
                    }
                    for number, (code, who, campaign_id, at) in enumerate(items)
                ],
                datetime(2026, 3, 25, tzinfo=UTC),
            )

    def series(self, start: datetime, end: datetime, step: timedelta, **options: Any) -> Any:
        with self.database.read() as conn:
            return journey_series(
                conn, self.app_id, self.jid, start=start, end=end, step=step, **options
            )

    def totals(self, date_from: datetime, date_to: datetime, test: bool = False) -> dict[str, int]:
        """``journey_stats`` over the interval, as a series point counts it."""
        with self.database.read() as conn:
            stats = journey_stats(
                conn, self.app_id, self.jid, date_from=date_from, date_to=date_to, test=test
            )
        messages = [s.messages for s in stats.states if s.messages is not None]
        return {
            "entered": stats.entered,
            "sent": sum(m.sent for m in messages),
            "skipped": sum(sum(m.skipped.values()) for m in messages),
            "delivered": sum(m.delivered for m in messages),
            "opened": sum(m.opened for m in messages),
            "clicked": sum(m.clicked for m in messages),
        }


def figures(point: SeriesPoint) -> dict[str, int]:
    return {name: getattr(point, name) for name in FIGURES}


@pytest.fixture
def run(database: Database, app_id: int) -> Run:
    found = Run(database, app_id)
    sent = found.sent
    found.events(
        # deliveries and clicks of the pushes; a click on the wrong campaign counts nowhere
        ("push.received", "a1", found.push, sent[("a1", 2)] + timedelta(seconds=5)),
        ("push.click", "a1", found.push, sent[("a1", 2)] + 2 * DAY),  # days later: still a1's
        ("push.click", "b1", found.push, EVENING),  # the very moment it was sent
        ("push.click", "b1", found.push, EVENING + HOUR),  # twice: one recipient
        ("push.click", "b2", found.email, EVENING + HOUR),
        ("push.click", "c1", found.push, sent[("c1", 2)] - timedelta(microseconds=1)),  # before
        ("push.click", "e3", found.push, sent[("e3", 2)] + HOUR),
        ("push.click", "t1", found.push, TESTED[0] + HOUR),  # a test run's
        # opens and clicks of the emails
        ("email.open", "b3", found.email, sent[("b3", 4)] + HOUR),
        ("email.delivered", "b3", found.email, sent[("b3", 4)]),
        ("email.click", "b3", found.email, sent[("b3", 4)] + 2 * HOUR),
        ("link.click", "d2", found.email, sent[("d2", 4)] + DAY),
        ("email.click", "e3", found.email, sent[("e3", 4)] + HOUR),  # both of e3's, one day
    )
    return found


def assert_matches_stats(run: Run, points: tuple[SeriesPoint, ...], test: bool = False) -> None:
    for point in points:
        assert point.end - point.start == points[0].end - points[0].start
        assert figures(point) == run.totals(point.start, point.end, test), point.start


def test_the_run_is_what_the_series_is_checked_on(run: Run) -> None:
    assert run.sent[("a1", 2)] == JUST_BEFORE and run.sent[("b1", 2)] == EVENING
    assert run.sent[("b1", 4)] == EVENING + WAIT
    assert ("mute", 2) not in run.sent and ("mute", 4) not in run.sent
    whole = run.totals(NOW, NOW + 10 * DAY)
    assert whole == {
        "entered": 12,
        "sent": 22,
        "skipped": 2,
        "delivered": 2,
        "opened": 1,
        "clicked": 6,  # a1, b1, e3 (pushes), b3, d2 and e3 (emails)
    }


def test_hourly_points_are_the_stats_of_each_hour(run: Run) -> None:
    start = datetime(2026, 3, 15, 20, 0, tzinfo=UTC)
    points = run.series(start, start + 30 * HOUR, HOUR)
    assert len(points) == 30
    assert [p.start for p in points] == [start + n * HOUR for n in range(30)]
    assert_matches_stats(run, points)
    at = {20 + number: point for number, point in enumerate(points)}  # hours from the 15th
    # a microsecond before 23:00 is the 22:00 hour; 23:00 itself the next one
    assert figures(at[22]) == {
        "entered": 2,
        "sent": 2,
        "skipped": 0,
        "delivered": 1,
        "opened": 0,
        "clicked": 1,  # a1's click two days later counts with the message
    }
    assert figures(at[23]) == {
        "entered": 4,
        "sent": 3,
        "skipped": 1,
        "delivered": 0,
        "opened": 0,
        "clicked": 1,  # b1 once; b2's click names the other campaign
    }
    assert figures(at[24]) == {
        "entered": 1,  # c1
        "sent": 2 + 3 + 1,  # a's emails at 00:29:59.999999, b's at 00:30, c1's push
        "skipped": 1,  # mute's email
        "delivered": 1,
        "opened": 1,
        "clicked": 1,  # b3's email; c1 clicked before its push was sent
    }
    assert figures(at[20]) == figures(at[21]) == dict.fromkeys(FIGURES, 0)
    assert (at[25].sent, at[25].opened, at[25].clicked) == (0, 0, 0)  # the 01:00 hour: nothing
    assert at[24 + 8].entered == 0  # the test run is not live


def test_daily_points_add_up_and_an_empty_day_is_zeros(run: Run) -> None:
    start = datetime(2026, 3, 15, tzinfo=UTC)
    end = datetime(2026, 3, 19, 12, tzinfo=UTC)  # the last day is whole, past the end
    points = run.series(start, end, DAY)
    assert [p.start.day for p in points] == [15, 16, 17, 18, 19]
    assert points[-1].end == datetime(2026, 3, 20, tzinfo=UTC)
    assert_matches_stats(run, points)
    assert figures(points[3]) == dict.fromkeys(FIGURES, 0)
    assert [p.entered for p in points] == [6, 1, 2, 0, 3]
    assert [p.clicked for p in points] == [2, 1, 1, 0, 2]  # e3 once per message
    whole = run.totals(start, points[-1].end)
    assert {name: sum(getattr(p, name) for p in points) for name in FIGURES} == whole
    assert whole == run.totals(NOW, NOW + 10 * DAY)  # everything happened in these days


def test_local_midnights_odd_steps_and_bounds_off_the_hour(run: Run) -> None:
    madrid = ZoneInfo("Europe/Madrid")
    local = datetime(2026, 3, 15, tzinfo=madrid)  # 23:00 UTC on the 14th
    points = run.series(local, local + 5 * DAY, DAY)
    assert points[0].start == datetime(2026, 3, 14, 23, tzinfo=UTC)
    assert_matches_stats(run, points)
    # Madrid's 16th begins at 23:00 UTC on the 15th: the a's entered on the 15th there, the b's
    # (on the hour) on the 16th, with c1
    assert [p.entered for p in points[:3]] == [2, 4 + 1, 2]

    odd = JUST_BEFORE - timedelta(minutes=7)  # buckets from 22:52:59.999999, 100 minutes long
    steps = run.series(odd, odd + 3 * DAY, timedelta(minutes=100))
    assert_matches_stats(run, steps)
    # counters are kept by the hour: the 22:00 one is before the start, 23:00 and 00:00 in it
    assert (steps[0].entered, steps[0].sent) == (4 + 1, 3 + 6)
    # messages by the microsecond they were written: a1's push opens a bucket from JUST_BEFORE
    (first,) = run.series(JUST_BEFORE, JUST_BEFORE + HOUR, HOUR)
    (later,) = run.series(EVENING, EVENING + HOUR, HOUR)
    assert (first.delivered, first.clicked, later.delivered, later.clicked) == (1, 2, 0, 1)
    assert_matches_stats(run, (first,))
    assert_matches_stats(run, (later,))


def test_test_runs_have_their_own_series(run: Run) -> None:
    start = datetime(2026, 3, 16, tzinfo=UTC)
    points = run.series(start, start + DAY, 3 * HOUR, test=True)
    assert_matches_stats(run, points, test=True)
    shown = [(p.start.hour, p.entered, p.sent, p.clicked) for p in points if p.entered or p.sent]
    assert shown == [(6, 2, 2, 1), (9, 0, 2, 0)]
    assert sum(p.sent for p in points) == 4  # the pushes at 08:00, the emails at 09:30


def test_bad_steps_and_other_applications(run: Run, database: Database) -> None:
    assert run.series(EVENING, EVENING, HOUR) == ()
    assert run.series(EVENING, EVENING - DAY, HOUR) == ()
    with pytest.raises(InvalidInput) as zero:
        run.series(EVENING, EVENING + DAY, timedelta(0))
    assert [p.where for p in zero.value.problems] == ["step"]
    with pytest.raises(InvalidInput) as many:
        run.series(EVENING, EVENING + 365 * DAY, timedelta(minutes=1))
    assert "525600 buckets" in str(many.value.problems[0])
    with pytest.raises(ValueError, match="naive"):
        run.series(EVENING.replace(tzinfo=None), EVENING + DAY, HOUR)
    with database.write() as conn:
        other = create_application(conn, "other", NOW)
    with database.read() as conn, pytest.raises(NotFound):
        journey_series(conn, other, run.jid, start=EVENING, end=EVENING + DAY, step=HOUR)


def test_bucket_numbers_floor_before_and_after_the_start(run: Run) -> None:
    """``Dialect.bucket_number`` over every stored moment, against Python's floor division."""
    start = EVENING + timedelta(minutes=31, microseconds=7)
    for step in (HOUR, timedelta(minutes=90), timedelta(seconds=1, microseconds=3)):
        with run.database.read() as conn:
            number = dialect_of(conn).bucket_number(outbox.c.created_at, start, step)
            rows = conn.execute(select(outbox.c.created_at, number)).all()
            number = dialect_of(conn).bucket_number(stat_counters.c.bucket, start, step)
            rows += conn.execute(select(stat_counters.c.bucket, number)).all()
        assert any(n < 0 for _, n in rows) and any(n > 0 for _, n in rows)
        assert [n for _, n in rows] == [(at - start) // step for at, _ in rows]
