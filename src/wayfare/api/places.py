"""``/v1/place`` (geofences) and ``/v1/location`` (where customers' devices are).

A location report that takes a customer into or out of a place is recorded as a ``place.enter``
or ``place.exit`` event (``customData``: ``placeId``, ``place``) in the same transaction, so
journeys listening for it react at once (``wayfare.store.places``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import ConfigDict, Field

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, Page, created, ok
from wayfare.errors import InvalidInput, Problem
from wayfare.model.customers import check_customer_id, parse_instant
from wayfare.store.database import Database
from wayfare.store.places import (
    DEFAULT_COOLDOWN,
    Crossing,
    Location,
    Place,
    create_place,
    delete_place,
    get_place,
    list_places,
    report_locations,
    update_place,
)

router = APIRouter(tags=["places"])

MAX_LOCATIONS = 1_000
"""Reports in one ``POST /v1/location/batch``."""
REPORT_AGE = timedelta(days=30)
REPORT_AHEAD = timedelta(minutes=5)
"""A report's ``date``: at most 30 days old (a device catching up), five minutes ahead (clocks)."""


class PlaceBody(Body):
    """A place: a circle of ``radius`` metres around a point."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "40" is not a latitude

    name: str
    latitude: float = Field(description="Degrees, -90 to 90 (WGS 84).")
    longitude: float = Field(description="Degrees, -180 to 180.")
    radius: float = Field(description="Metres, 1 to 100,000.")
    cooldown: str = Field(
        DEFAULT_COOLDOWN, description="ISO 8601; the least time between two crossings."
    )


class LocationBody(Body):
    """Where a customer's device is."""

    customerId: str = Field(min_length=1, max_length=200)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    accuracy: float = Field(
        0.0, ge=0, le=100_000, allow_inf_nan=False, description="Metres (the device's estimate)."
    )
    date: str | None = Field(None, description="ISO 8601; now when absent.")


class LocationBatchBody(Body):
    """Up to 1,000 location reports, handled in one transaction."""

    locations: list[LocationBody] = Field(max_length=MAX_LOCATIONS)


def _place(place: Place) -> dict[str, Any]:
    return {
        "id": place.id,
        "name": place.name,
        "latitude": place.latitude,
        "longitude": place.longitude,
        "radius": place.radius,
        "cooldown": str(place.cooldown_duration),
        "createdAt": place.created_at,
        "updatedAt": place.updated_at,
    }


@router.post("/v1/place", status_code=201)
def create(body: PlaceBody, caller: Auth, database: Db) -> Json:
    """Create a place; 409 when the name is taken."""
    with database.write() as conn:
        place = create_place(conn, caller.application_id, body.model_dump(), utcnow())
    return created(_place(place))


@router.get("/v1/place")
def index(caller: Auth, database: Db, page: Page) -> Json:
    """The application's places, by id."""
    with database.read() as conn:
        found = list_places(conn, caller.application_id)
    window = found[page.offset : page.offset + page.limit]
    return ok([_place(p) for p in window], count=len(found))


@router.get("/v1/place/{place_id}")
def show(place_id: int, caller: Auth, database: Db) -> Json:
    """One place."""
    with database.read() as conn:
        return ok(_place(get_place(conn, caller.application_id, place_id)))


@router.put("/v1/place/{place_id}")
def replace(place_id: int, body: PlaceBody, caller: Auth, database: Db) -> Json:
    """Replace a place's definition; who is inside stays so until their next report."""
    with database.write() as conn:
        place = update_place(conn, caller.application_id, place_id, body.model_dump(), utcnow())
    return ok(_place(place))


@router.delete("/v1/place/{place_id}")
def delete(place_id: int, caller: Auth, database: Db) -> Json:
    """Delete a place (customers inside it get no exit event)."""
    with database.write() as conn:
        delete_place(conn, caller.application_id, place_id)
    return ok({"id": place_id})


@router.post("/v1/location")
def locate(body: LocationBody, caller: Auth, database: Db) -> Json:
    """Report where a customer's device is; the places it entered or left (as events)."""
    return _report(caller.application_id, [body], database, batch=False)


@router.post("/v1/location/batch")
def locate_many(body: LocationBatchBody, caller: Auth, database: Db) -> Json:
    """Report up to 1,000 locations at once (all or nothing)."""
    return _report(caller.application_id, body.locations, database, batch=True)


def _report(
    application_id: int, bodies: list[LocationBody], database: Database, *, batch: bool
) -> Json:
    now = utcnow()
    locations: list[Location] = []
    problems: list[Problem] = []
    for index, body in enumerate(bodies):
        prefix = f"locations[{index}]." if batch else ""
        try:
            check_customer_id(body.customerId)
        except ValueError as exc:
            problems.append(Problem(prefix + "customerId", str(exc), "invalid_customer_id"))
        try:
            at = now if body.date is None else parse_instant(body.date)
        except ValueError as exc:
            problems.append(Problem(prefix + "date", str(exc), "bad_date"))
            continue
        if not now - REPORT_AGE <= at <= now + REPORT_AHEAD:
            message = "must be within the last 30 days and at most five minutes ahead of now"
            problems.append(Problem(prefix + "date", message, "bad_date"))
            continue
        locations.append(
            Location(body.customerId, body.latitude, body.longitude, at, body.accuracy)
        )
    if problems:
        raise InvalidInput(problems=problems)
    with database.write() as conn:
        crossings = report_locations(conn, application_id, locations, now)
    return ok({"crossings": [_crossing(c) for c in crossings]})


def _crossing(crossing: Crossing) -> dict[str, Any]:
    return {
        "customerId": crossing.customer_id,
        "eventCode": crossing.event_code,
        "placeId": crossing.place.id,
        "place": crossing.place.name,
        "date": crossing.at,
    }
