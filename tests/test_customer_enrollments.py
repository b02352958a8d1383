"""A customer's enrollments in every journey (the console's profile), on both databases."""

from __future__ import annotations

from datetime import timedelta

from wayfare.store.database import Database
from wayfare.store.inspection import customer_enrollments
from wayfare.store.journeys import create_journey
from wayfare.store.schema import enrollments, outbox

from .conftest import NOW
from .statements import statements_run

HOUR = timedelta(hours=1)


def _journeys(database: Database, app_id: int, names: list[str]) -> list[int]:
    """Journeys entered at state 7 (not 1, so the path shows where it came from)."""
    with database.write() as conn:
        return [
            create_journey(
                conn,
                app_id,
                {"name": name, "states": [{"id": 7, "type": "IN_ALL", "params": {"forward": 8}}]},
                NOW,
            )
            for name in names
        ]


def _enroll(database: Database, app_id: int, journey_id: int, customer: str, n: int, at) -> int:
    with database.write() as conn:
        return int(
            conn.execute(
                enrollments.insert().values(
                    application_id=app_id,
                    journey_id=journey_id,
                    customer_id=customer,
                    entry_number=n,
                    test=False,
                    state_id=8,
                    status="completed",
                    context={},
                    transitions=1,
                    entered_at=at,
                    updated_at=at,
                    ended_at=at + HOUR,
                    end_reason="completed",
                    path=None,
                )
            ).inserted_primary_key[0]
        )


def _message(database: Database, app_id: int, journey_id: int, enrollment: int, at) -> None:
    with database.write() as conn:
        conn.execute(
            outbox.insert().values(
                application_id=app_id,
                idempotency_key=f"test-{enrollment}",
                journey_id=journey_id,
                enrollment_id=enrollment,
                state_id=8,
                customer_id="ana",
                channel="sms",
                payload={},
                status="sent",
                attempts=1,
                next_attempt_at=at,
                created_at=at,
            )
        )


def test_the_latest_enrollments_with_their_journeys_messages_and_count(
    database: Database, app_id: int
) -> None:
    ids = _journeys(database, app_id, ["Welcome", "Cart", "Birthday"])
    made = {}
    for step in range(6):  # two entries in each journey, an hour apart, journeys interleaved
        journey_id = ids[step % 3]
        made[step] = _enroll(database, app_id, journey_id, "ana", 1 + step // 3, NOW + step * HOUR)
        _message(database, app_id, journey_id, made[step], NOW + step * HOUR)
    _enroll(database, app_id, ids[0], "bob", 1, NOW + 9 * HOUR)  # someone else's
    with database.read() as conn:
        latest = customer_enrollments(conn, app_id, "ana", limit=4)
        every = customer_enrollments(conn, app_id, "ana", limit=10)
        nobody = customer_enrollments(conn, app_id, "nobody")
    assert latest.count == 6 and every.count == 6 and (nobody.count, nobody.items) == (0, [])
    assert [e.history.id for e in latest.items] == [made[5], made[4], made[3], made[2]]
    assert [e.history.id for e in every.items] == [made[n] for n in range(5, -1, -1)]
    newest = latest.items[0]
    assert (newest.journey_id, newest.journey_name, newest.journey_status) == (
        ids[2],
        "Birthday",
        "DRAFT",
    )
    assert newest.history.entry_number == 2 and newest.history.customer_id == "ana"
    assert [(m.state_id, m.channel) for m in newest.history.messages] == [(8, "sms")]
    assert newest.history.path == ((7, NOW + 5 * HOUR), (8, NOW + 5 * HOUR))


def test_the_profile_reads_enrollments_in_a_few_queries_however_many_journeys(
    database: Database, app_id: int
) -> None:
    def queries() -> int:
        with statements_run(database) as found, database.read() as conn:
            customer_enrollments(conn, app_id, "ana")
        return len([s for s in found if s.lstrip().upper().startswith("SELECT")])

    for journey_id in _journeys(database, app_id, ["A", "B"]):
        _enroll(database, app_id, journey_id, "ana", 1, NOW)
    few = queries()
    for journey_id in _journeys(database, app_id, [f"More {n}" for n in range(8)]):
        _enroll(database, app_id, journey_id, "ana", 1, NOW)
    assert queries() == few <= 4
