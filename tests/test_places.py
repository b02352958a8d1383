"""Places: geofences through the API, location reports into ``place.enter`` / ``place.exit``
events with a cooldown, and journeys reacting in the same request; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from wayfare.engine.entries import start_journey
from wayfare.store.applications import ensure_application
from wayfare.store.campaigns import create_campaign
from wayfare.store.customers import delete_customer, upsert_customers
from wayfare.store.database import Database
from wayfare.store.journeys import create_journey
from wayfare.store.places import Crossing, _write, distance_m, get_place
from wayfare.store.schema import events, location_reports, outbox, place_presence

from .test_api_client import TestClient, client_for, key_for

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
"""Reports must be recent (at most 30 days old): the tests' clock starts a day ago."""
SOL = (40.416775, -3.703790)  # Puerta del Sol, Madrid
NORTH_METRES = 1 / 111_194.93  # degrees of latitude per metre on the sphere


def north(metres: float) -> tuple[float, float]:
    """A point ``metres`` north of Sol."""
    return SOL[0] + metres * NORTH_METRES, SOL[1]


def setup(database: Database) -> tuple[TestClient, int, int]:
    """Application acme, customer ana and the place Sol (100 m, cooldown 10 min)."""
    api = client_for(database, key_for(database))
    with database.write() as conn:
        app_id = ensure_application(conn, "acme", T0)
        upsert_customers(conn, app_id, [{"customerId": "ana"}], T0)
    answer = api.post(
        "/v1/place",
        json={"name": "Sol", "latitude": SOL[0], "longitude": SOL[1], "radius": 100},
    )
    assert answer.status_code == 201, answer.text
    return api, app_id, answer.json()["data"]["id"]


def report(api: TestClient, at: datetime, metres: float, **extra: Any) -> list[tuple[str, str]]:
    """Ana ``metres`` north of Sol at ``at``: the crossings made, as (event code, place)."""
    latitude, longitude = north(metres)
    body = {"customerId": "ana", "latitude": latitude, "longitude": longitude}
    answer = api.post("/v1/location", json=body | {"date": at.isoformat()} | extra)
    assert answer.status_code == 200, answer.text
    return [(c["eventCode"], c["place"]) for c in answer.json()["data"]["crossings"]]


def test_distances_on_the_sphere() -> None:
    assert abs(distance_m(*SOL, *north(100)) - 100) < 0.01
    # Madrid (Sol) to Barcelona (Plaça de Catalunya): about 505 km.
    assert 504_000 < distance_m(*SOL, 41.3870, 2.1701) < 506_000
    assert distance_m(0, 179.9, 0, -179.9) < 23_000  # across the antimeridian, the short way


def test_places_are_defined_checked_and_listed(database: Database) -> None:
    api, _, place_id = setup(database)
    shown = api.get(f"/v1/place/{place_id}").json()["data"]
    assert (shown["name"], shown["radius"], shown["cooldown"]) == ("Sol", 100.0, "PT10M")
    bad = api.post(
        "/v1/place",
        json={"name": " ", "latitude": 91, "longitude": -3, "radius": 0, "cooldown": "P1M"},
    )
    assert bad.status_code == 400
    assert sorted(p["where"] for p in bad.json()["errors"]) == [
        "cooldown",
        "latitude",
        "name",
        "radius",
    ]
    taken = api.post("/v1/place", json={"name": "Sol", "latitude": 1, "longitude": 1, "radius": 10})
    assert taken.status_code == 409
    changed = api.put(
        f"/v1/place/{place_id}",
        json={
            "name": "Sol",
            "latitude": SOL[0],
            "longitude": SOL[1],
            "radius": 250,
            "cooldown": "PT1H",
        },
    )
    assert changed.status_code == 200 and changed.json()["data"]["cooldown"] == "PT1H"
    second = api.post(
        "/v1/place",
        json={"name": "Retiro", "latitude": 40.4153, "longitude": -3.6845, "radius": 500},
    )
    listing = api.get("/v1/place").json()
    assert listing["count"] == 2
    assert [p["name"] for p in listing["data"]] == ["Sol", "Retiro"]
    assert api.delete(f"/v1/place/{second.json()['data']['id']}").status_code == 200
    assert api.get(f"/v1/place/{second.json()['data']['id']}").status_code == 404


def test_crossings_with_a_cooldown_and_the_accuracy_of_the_fix(database: Database) -> None:
    api, app_id, _ = setup(database)
    minute = timedelta(minutes=1)
    assert report(api, T0, 500) == []  # outside, as a customer nowhere yet is
    assert report(api, T0 + minute, 50) == [("place.enter", "Sol")]
    assert report(api, T0 + 2 * minute, 80) == []  # still inside
    assert report(api, T0 + 3 * minute, 300) == []  # out again within the cooldown: not yet
    assert report(api, T0 + 4 * minute, 20) == []  # and back: nothing happened
    # Past the cooldown, just over the border with a vague fix: not clearly out.
    assert report(api, T0 + 20 * minute, 130, accuracy=50) == []
    assert report(api, T0 + 21 * minute, 130, accuracy=10) == [("place.exit", "Sol")]
    assert report(api, T0 + 25 * minute, 10) == []  # re-entering within the cooldown
    assert report(api, T0 + 32 * minute, 10) == [("place.enter", "Sol")]
    # A report older than the last crossing changes nothing.
    assert report(api, T0 + 30 * minute, 900) == []
    with database.read() as conn:
        rows = conn.execute(
            select(events.c.event_code, events.c.occurred_at, events.c.custom_data)
            .where(events.c.application_id == app_id)
            .order_by(events.c.occurred_at)
        ).all()
    assert [(r[0], r[1]) for r in rows] == [
        ("place.enter", T0 + minute),
        ("place.exit", T0 + 21 * minute),
        ("place.enter", T0 + 32 * minute),
    ]
    assert {r[2]["place"] for r in rows} == {"Sol"}


def test_a_batch_is_taken_in_time_order_per_customer(database: Database) -> None:
    api, _, place_id = setup(database)
    inside, outside = north(10), north(1000)

    def at(point: tuple[float, float], customer: str, minutes: int) -> dict[str, Any]:
        when = (T0 + timedelta(minutes=minutes)).isoformat()
        return {"customerId": customer, "latitude": point[0], "longitude": point[1], "date": when}

    answer = api.post(
        "/v1/location/batch",
        json={
            "locations": [
                at(outside, "ana", 30),  # sent first, happened last
                at(inside, "ana", 0),
                at(inside, "new-one", 5),  # not a customer yet: the event makes them one
            ]
        },
    )
    assert answer.status_code == 200, answer.text
    crossings = [
        (c["customerId"], c["eventCode"], c["placeId"]) for c in answer.json()["data"]["crossings"]
    ]
    assert crossings == [
        ("ana", "place.enter", place_id),
        ("ana", "place.exit", place_id),
        ("new-one", "place.enter", place_id),
    ]
    bad = api.post(
        "/v1/location/batch",
        json={"locations": [at(inside, "ana", 40), at(inside, "ana", 41) | {"date": "soon"}]},
    )
    assert bad.status_code == 400
    assert [p["where"] for p in bad.json()["errors"]] == ["locations[1].date"]
    out_of_range = api.post(
        "/v1/location", json={"customerId": "ana", "latitude": 95, "longitude": 0}
    )
    assert out_of_range.status_code == 400


def test_entering_a_place_starts_a_journey_in_the_same_request(database: Database) -> None:
    api, app_id, place_id = setup(database)
    with database.write() as conn:
        content = {"title": "Hi", "body": "You are near Sol"}
        campaign = create_campaign(conn, app_id, "Welcome", "push", content, T0)
        journey = create_journey(
            conn,
            app_id,
            {
                "name": "Near Sol",
                "states": [
                    {
                        "id": 1,
                        "type": "IN_CUSTOM_EVENT",
                        "params": {
                            "eventName": "place.enter",
                            "eventData": {"placeId": place_id},
                            "forward": 2,
                        },
                    },
                    {
                        "id": 2,
                        "type": "ACTION_PUSH_SEND",
                        "params": {"action": {"campaignId": campaign}, "forward": None},
                    },
                ],
            },
            T0,
        )
        start_journey(conn, app_id, journey, T0)
    now = datetime.now(UTC)
    assert report(api, now, 30) == [("place.enter", "Sol")]
    with database.read() as conn:
        sent = conn.execute(
            select(outbox.c.customer_id, outbox.c.journey_id, outbox.c.state_id)
        ).all()
    assert [tuple(r) for r in sent] == [("ana", journey, 2)]


def test_a_crossing_is_stored_once_when_two_reports_race(database: Database) -> None:
    _, app_id, place_id = setup(database)
    with database.write() as conn:
        place = get_place(conn, app_id, place_id)
        crossing = Crossing("ana", "place.enter", place, T0)
        assert _write(conn, app_id, crossing)
        # The other report read the customer as outside too: its write finds the row changed.
        assert not _write(conn, app_id, crossing)
        later = Crossing("ana", "place.exit", place, T0 + timedelta(minutes=5))
        assert not _write(conn, app_id, later)  # within the cooldown
        assert _write(conn, app_id, Crossing("ana", "place.exit", place, T0 + timedelta(hours=1)))


def test_erasing_a_customer_forgets_where_they_were(database: Database) -> None:
    api, app_id, _ = setup(database)
    assert report(api, T0, 0) == [("place.enter", "Sol")]
    with database.write() as conn:
        delete_customer(conn, app_id, "ana")
    with database.read() as conn:
        assert conn.execute(select(place_presence.c.customer_id)).first() is None
        assert conn.execute(select(location_reports.c.customer_id)).first() is None


def test_a_late_report_changes_nothing(database: Database) -> None:
    api, _, _ = setup(database)
    minute = timedelta(minutes=1)
    assert report(api, T0 + minute, 10) == [("place.enter", "Sol")]
    assert report(api, T0 + 30 * minute, 20) == []  # still inside, half an hour later
    # A fix from 20 minutes in, outside, arrives late: it is older than what was taken.
    assert report(api, T0 + 20 * minute, 900) == []
    assert report(api, T0 + 31 * minute, 20) == []


def test_report_dates_and_accuracy_are_bounded(database: Database) -> None:
    api, _, _ = setup(database)
    latitude, longitude = north(10)
    here = {"customerId": "ana", "latitude": latitude, "longitude": longitude}
    now = datetime.now(UTC)
    for when in (now + timedelta(hours=1), now - timedelta(days=31), datetime(1, 1, 1, tzinfo=UTC)):
        answer = api.post("/v1/location", json=here | {"date": when.isoformat()})
        assert answer.status_code == 400, when
        assert answer.json()["errors"][0]["where"] == "date"
    vague = api.post("/v1/location", json=here | {"accuracy": 1e9})
    assert vague.status_code == 400
    bad_id = api.post("/v1/location", json=here | {"customerId": "no spaces"})
    assert bad_id.status_code == 400 and bad_id.json()["errors"][0]["where"] == "customerId"
    # A device a minute fast is taken.
    ahead = api.post("/v1/location", json=here | {"date": (now + timedelta(minutes=1)).isoformat()})
    assert ahead.status_code == 200
