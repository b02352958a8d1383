"""Group commit of single events: concurrent ``POST /v1/event`` share transactions, each its answer.

The requests run concurrently against the ASGI app (httpx's ``ASGITransport``). To make the
grouping certain rather than likely, the app's writer is a ``HeldGroups``: its first
transaction waits until every request of the test has handed its event over, so the requests
after the first few are all written in one second group.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, text

from wayfare.api.app import create_app
from wayfare.api.auth import utcnow
from wayfare.api.event_groups import EventGroups
from wayfare.model.customers import EventRecord
from wayfare.settings import Settings
from wayfare.store.database import Database
from wayfare.store.events import EventOutcome
from wayfare.store.schema import applications, events

from .test_api_client import key_for


class HeldGroups(EventGroups):
    """``EventGroups`` whose first transaction waits until ``expected`` events are handed over."""

    def __init__(self, database: Database, expected: int) -> None:
        super().__init__(database, self._held_clock)
        self.expected = expected
        self.submitted = 0
        self._first = True

    def submit(self, application_id: int, record: EventRecord) -> Any:
        answer = super().submit(application_id, record)
        self.submitted += 1
        return answer

    def _held_clock(self) -> datetime:
        if self._first:
            self._first = False
            deadline = time.monotonic() + 30
            while self.submitted < self.expected and time.monotonic() < deadline:
                time.sleep(0.005)
        return utcnow()


def held_app(database: Database, expected: int) -> tuple[FastAPI, HeldGroups]:
    app = create_app(Settings(), database)
    groups = HeldGroups(database, expected)
    app.state.event_groups = groups
    return app, groups


def post_all(app: FastAPI, posts: Sequence[tuple[str, Any]]) -> list[httpx.Response]:
    """POST /v1/event with each (key, body), all at once; the answers in order."""

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://wayfare") as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/event", json=body, headers={"Authorization": f"ServerKey {key}"}
                    )
                    for key, body in posts
                )
            )

    return asyncio.run(run())


def define(app: FastAPI, key: str, *codes: str) -> None:
    async def run() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wayfare") as client:
            for code in codes:
                answer = await client.post(
                    "/v1/event/type",
                    json={"code": code, "name": code},
                    headers={"Authorization": f"ServerKey {key}"},
                )
                assert answer.status_code == 201, answer.text

    asyncio.run(run())


def stored(database: Database, application: str) -> dict[str, tuple[str, str]]:
    """eventId -> (eventCode, customerId) of the events stored for ``application``."""
    with database.read() as conn:
        rows = conn.execute(
            select(events.c.event_id, events.c.event_code, events.c.customer_id)
            .join(applications, applications.c.id == events.c.application_id)
            .where(applications.c.name == application)
        ).all()
    return {row.event_id: (row.event_code, row.customer_id) for row in rows}


def test_two_hundred_concurrent_events_each_get_their_answer(database: Database) -> None:
    key = key_for(database)
    app, groups = held_app(database, 200)
    define(app, key, "visit")
    posts = [
        (key, {"eventId": f"e-{n}", "eventCode": "visit", "customerId": f"c-{n % 150}"})
        for n in range(200)
    ]
    answers = post_all(app, posts)

    assert [a.status_code for a in answers] == [201] * 200
    bodies = [a.json()["data"] for a in answers]
    assert all(b["recorded"] == 1 and b["duplicates"] == 0 for b in bodies)
    # 150 new customers, each created once, by one of its events
    assert sum(b["customersCreated"] for b in bodies) == 150
    created_for = {posts[i][1]["customerId"] for i, b in enumerate(bodies) if b["customersCreated"]}
    assert len(created_for) == 150
    assert groups.groups_written == 2  # the first few, then all the others together
    assert stored(database, "acme") == {f"e-{n}": ("visit", f"c-{n % 150}") for n in range(200)}


def test_duplicates_in_one_group_get_200(database: Database) -> None:
    key = key_for(database)
    app, groups = held_app(database, 1)
    define(app, key, "visit")
    [first] = post_all(app, [(key, {"eventId": "old", "eventCode": "visit", "customerId": "c"})])
    assert first.status_code == 201

    app, groups = held_app(database, 101)
    posts = [
        (key, {"eventId": f"e-{n // 2}", "eventCode": "visit", "customerId": f"c-{n}"})
        for n in range(100)
    ]
    posts.append((key, {"eventId": "old", "eventCode": "visit", "customerId": "c"}))
    answers = post_all(app, posts)

    for pair in range(50):
        statuses = sorted(a.status_code for a in answers[2 * pair : 2 * pair + 2])
        assert statuses == [200, 201], pair
    for answer in answers:
        data = answer.json()["data"]
        expected = (1, 0) if answer.status_code == 201 else (0, 1)
        assert (data["recorded"], data["duplicates"]) == expected
    assert answers[-1].status_code == 200 and answers[-1].json()["data"]["duplicates"] == 1
    assert groups.groups_written == 2
    assert len(stored(database, "acme")) == 51


def test_a_bad_event_fails_alone(database: Database) -> None:
    key = key_for(database)
    app, groups = held_app(database, 21)  # the 2 refused before the writer are not handed over
    define(app, key, "visit")
    good = [
        (key, {"eventId": f"g-{n}", "eventCode": "visit", "customerId": f"c-{n}"})
        for n in range(20)
    ]
    bad = [
        (key, {"eventId": "b-1", "eventCode": "undefined", "customerId": "c-1"}),
        (key, {"eventId": "b-2", "eventCode": "visit", "customerId": "not ok!"}),
        (key, {"eventId": "b-3", "eventCode": "visit", "customerId": "c-1", "date": "soon"}),
    ]
    answers = post_all(app, [*good[:10], *bad, *good[10:]])

    refused = answers[10:13]
    assert [a.status_code for a in refused] == [400, 400, 400]
    assert [a.json()["errors"][0]["where"] for a in refused] == ["eventCode", "customerId", "date"]
    assert refused[0].json()["errors"][0]["code"] == "unknown_event"
    assert [a.status_code for a in answers[:10] + answers[13:]] == [201] * 20
    assert set(stored(database, "acme")) == {f"g-{n}" for n in range(20)}
    assert groups.groups_written == 2


def test_events_of_two_applications_stay_in_their_own(database: Database) -> None:
    acme, beta = key_for(database, "acme"), key_for(database, "beta")
    app, groups = held_app(database, 41)
    define(app, acme, "visit")
    define(app, beta, "visit", "buy")
    posts = []
    for n in range(20):  # the same eventIds and customers in both applications
        body = {"eventId": f"e-{n}", "eventCode": "visit", "customerId": f"c-{n}"}
        posts += [(acme, body), (beta, body)]
    posts.append((acme, {"eventId": "x", "eventCode": "buy", "customerId": "c-1"}))
    answers = post_all(app, posts)

    assert [a.status_code for a in answers[:40]] == [201] * 40
    assert all(a.json()["data"]["customersCreated"] == 1 for a in answers[:40])
    assert answers[40].status_code == 400  # acme has no event type "buy"; beta has
    expected = {f"e-{n}": ("visit", f"c-{n}") for n in range(20)}
    assert stored(database, "acme") == expected and stored(database, "beta") == expected
    assert groups.groups_written == 2


def test_a_failing_group_is_written_again_one_by_one(database: Database) -> None:
    """A database refusal of one event (a trigger here) fails its group; the others are stored."""
    key = key_for(database)
    app, _groups = held_app(database, 11)
    define(app, key, "visit")
    with database.write() as conn:
        if database.dialect.is_postgres:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN RAISE EXCEPTION 'poisoned'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW"
                    " WHEN (NEW.event_id = 'poison') EXECUTE FUNCTION refuse_poison()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.event_id = 'poison'"
                    " BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
                )
            )
    try:
        posts = [
            (key, {"eventId": f"e-{n}", "eventCode": "visit", "customerId": f"c-{n}"})
            for n in range(10)
        ]
        posts.insert(5, (key, {"eventId": "poison", "eventCode": "visit", "customerId": "p"}))
        answers = post_all(app, posts)
    finally:
        with database.write() as conn:
            conn.execute(
                text("DROP TRIGGER poison" + (" ON events" if database.dialect.is_postgres else ""))
            )
            if database.dialect.is_postgres:
                conn.execute(text("DROP FUNCTION refuse_poison()"))

    assert answers[5].status_code == 500
    assert [a.status_code for a in answers[:5] + answers[6:]] == [201] * 10
    assert set(stored(database, "acme")) == {f"e-{n}" for n in range(10)}
    with database.read() as conn:  # the poisoned event's customer was rolled back with it
        count = conn.execute(text("SELECT count(*) FROM customers WHERE customer_id = 'p'"))
        assert count.scalar_one() == 0


def test_concurrent_events_enter_and_move_journeys(database: Database) -> None:
    """Single events in groups enrol customers and wake the enrollments waiting for them."""
    key = key_for(database)
    app, _groups = held_app(database, 1)
    define(app, key, "visit", "buy")
    journey = {
        "name": "visit then buy",
        "states": [
            {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "visit", "forward": 2}},
            {
                "id": 2,
                "type": "FLOW_CUSTOM_EVENT",
                "params": {
                    "eventName": "buy",
                    "forward": None,
                    "timeout": {"time": "P1D", "forward": None},
                },
            },
        ],
    }

    async def set_up() -> int:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"ServerKey {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://wayfare", headers=headers
        ) as client:
            made = await client.post("/v1/journey", json=journey)
            assert made.status_code == 201, made.text
            journey_id = int(made.json()["data"]["id"])
            started = await client.put(f"/v1/journey/{journey_id}/start")
            assert started.status_code == 200, started.text
            return journey_id

    journey_id = asyncio.run(set_up())
    app, groups = held_app(database, 30)
    visits = [
        (key, {"eventId": f"v-{n}", "eventCode": "visit", "customerId": f"c-{n}"})
        for n in range(30)
    ]
    assert [a.status_code for a in post_all(app, visits)] == [201] * 30
    app, groups = held_app(database, 10)
    buys = [
        (key, {"eventId": f"b-{n}", "eventCode": "buy", "customerId": f"c-{n}"})
        for n in range(0, 30, 3)
    ]
    assert [a.status_code for a in post_all(app, buys)] == [201] * 10

    async def enrollments() -> dict[str, list[dict[str, Any]]]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"ServerKey {key}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://wayfare", headers=headers
        ) as client:
            found = {}
            for n in range(30):
                answer = await client.get(
                    f"/v1/journey/{journey_id}/enrollments", params={"customerId": f"c-{n}"}
                )
                found[f"c-{n}"] = answer.json()["data"]
            return found

    found = asyncio.run(enrollments())
    assert all(len(items) == 1 for items in found.values())
    bought = {f"c-{n}" for n in range(0, 30, 3)}
    for customer, [enrollment] in found.items():
        if customer in bought:
            assert enrollment["status"] == "completed", (customer, enrollment)
        else:
            assert (enrollment["status"], enrollment["stateId"]) == ("waiting", 2), customer
    assert groups.groups_written == 2


def test_close_writes_what_waits_and_a_later_event_starts_again(database: Database) -> None:
    key_for(database)
    with database.read() as conn:
        app_id = conn.execute(select(applications.c.id)).scalar_one()
    gate = threading.Event()

    def held() -> datetime:
        assert gate.wait(30)
        return utcnow()

    groups = EventGroups(database, held)
    moment = utcnow()
    answers = [
        groups.submit(app_id, EventRecord(f"e-{n}", "push.click", f"c-{n}", moment, {}))
        for n in range(5)
    ]
    closing = threading.Thread(target=groups.close)
    closing.start()
    gate.set()
    closing.join(30)
    assert not closing.is_alive()
    assert all(answer.done() for answer in answers)  # written before close() returned
    assert [a.result() for a in answers] == [EventOutcome(True, True)] * 5
    later = groups.submit(app_id, EventRecord("e-0", "push.click", "c-0", moment, {}))
    assert later.result(30) == EventOutcome(False, False)  # a duplicate, by a new thread
    groups.close()
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 5
