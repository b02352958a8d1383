"""Places: named geofences, and the ``place.enter`` / ``place.exit`` events locations make.

A place is a circle (``radius`` metres around a point). A report of where a customer is becomes
an event only when it changes whether they are inside a place: they enter when the point is
within the radius, and leave when it is farther than the radius plus the report's accuracy (a
vague fix near the border does not take them out). After an enter or an exit, the place's
``cooldown`` must pass before the next one counts, so that a customer walking along a border
does not flood the journeys listening. A report older than the customer's latest one (a device
catching up) changes nothing. Only whether each customer is inside each place, and when their
device last reported, is kept (``place_presence``, ``location_reports``), never the locations.

Each change is written with a guarded upsert (the row changes only if it still says the
opposite and the cooldown is over), so two reports racing on PostgreSQL make one event, not two.
The events are recorded in the caller's transaction with ``record_events``: journeys waiting for
them move at once, as for any event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from sqlalchemy import Connection, RowMapping, func, select
from sqlalchemy.exc import IntegrityError

from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
from wayfare.model.durations import Duration, parse_duration
from wayfare.store.common import NAME_MAX
from wayfare.store.database import dialect_of
from wayfare.store.events import record_events
from wayfare.store.schema import location_reports, place_presence, places

EARTH_RADIUS_M = 6_371_008.8
"""The mean radius of the Earth (IUGG), for distances on the sphere."""
RADIUS_MAX_M = 100_000.0
"""The largest place: 100 km around its centre."""
COOLDOWN_MAX = timedelta(days=7)
DEFAULT_COOLDOWN = "PT10M"
PLACES_MAX = 10_000
"""Places per application (each report is checked against all of them)."""


@dataclass(frozen=True, slots=True)
class Place:
    """A place as stored."""

    id: int
    application_id: int
    name: str
    latitude: float
    longitude: float
    radius: float
    """Metres."""
    cooldown: timedelta
    created_at: datetime
    updated_at: datetime

    @property
    def cooldown_duration(self) -> Duration:
        """The cooldown as an ISO 8601 duration (``PT10M``)."""
        return Duration(seconds=int(self.cooldown.total_seconds()))

    def distance(self, latitude: float, longitude: float) -> float:
        """Metres from the centre to a point (haversine, on the sphere)."""
        return distance_m(self.latitude, self.longitude, latitude, longitude)


@dataclass(frozen=True, slots=True)
class Location:
    """Where a customer's device was at ``at``; ``accuracy`` in metres (0: exact)."""

    customer_id: str
    latitude: float
    longitude: float
    at: datetime
    accuracy: float = 0.0


@dataclass(frozen=True, slots=True)
class Crossing:
    """An enter or exit a report made: the event recorded for it."""

    customer_id: str
    event_code: str
    place: Place
    at: datetime


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points in degrees, in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


# --- the places --------------------------------------------------------------------------------


def check_place(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """A place body ``{name, latitude, longitude, radius, cooldown?}`` as columns, or problems."""
    problems: list[Problem] = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("name", "must be a non-empty string", "required"))
    elif len(name.strip()) > NAME_MAX:
        problems.append(Problem("name", f"must be at most {NAME_MAX} characters", "too_long"))
    bounds = {"latitude": 90.0, "longitude": 180.0}
    for key, limit in bounds.items():
        value = body.get(key)
        if not _number(value) or not -limit <= value <= limit:
            problems.append(Problem(key, f"must be a number from -{limit:g} to {limit:g}", "range"))
    radius = body.get("radius")
    if not _number(radius) or not 1 <= radius <= RADIUS_MAX_M:
        problems.append(
            Problem("radius", f"must be a number of metres from 1 to {RADIUS_MAX_M:,.0f}", "range")
        )
    cooldown = _cooldown(body.get("cooldown", DEFAULT_COOLDOWN), problems)
    if problems:
        return {}, problems
    assert isinstance(name, str)
    return {
        "name": name.strip(),
        "latitude": float(body["latitude"]),
        "longitude": float(body["longitude"]),
        "radius": float(body["radius"]),
        "cooldown_seconds": int(cooldown.total_seconds()),
    }, []


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _cooldown(value: Any, problems: list[Problem]) -> timedelta:
    message = "must be an ISO 8601 duration of seconds to days, at most P7D (e.g. PT10M)"
    try:
        duration = parse_duration(value) if isinstance(value, str) else None
    except ValueError:
        duration = None
    if duration is None or duration.negative or duration.years or duration.months:
        problems.append(Problem("cooldown", message, "bad_duration"))
        return timedelta()
    found = timedelta(days=duration.days, seconds=duration.seconds)
    if found > COOLDOWN_MAX:
        problems.append(Problem("cooldown", message, "bad_duration"))
    return found


def create_place(
    conn: Connection, application_id: int, body: Mapping[str, Any], now: datetime
) -> Place:
    """Store a new place; ``InvalidInput`` naming each bad field, ``Conflict`` for a used name."""
    values, problems = check_place(body)
    if problems:
        raise InvalidInput(problems=problems)
    count = conn.execute(
        select(func.count()).where(places.c.application_id == application_id)
    ).scalar_one()
    if count >= PLACES_MAX:
        raise Conflict(f"an application has at most {PLACES_MAX:,} places")
    _name_free(conn, application_id, values["name"], None)
    try:
        inserted = conn.execute(
            places.insert().values(
                application_id=application_id, created_at=now, updated_at=now, **values
            )
        ).inserted_primary_key
    except IntegrityError as exc:  # the same name saved by a concurrent transaction
        raise Conflict(f"a place named {values['name']!r} already exists") from exc
    assert inserted is not None
    return get_place(conn, application_id, int(inserted[0]))


def update_place(
    conn: Connection, application_id: int, place_id: int, body: Mapping[str, Any], now: datetime
) -> Place:
    """Replace a place's definition (who is inside is kept; the next report decides again)."""
    get_place(conn, application_id, place_id)
    values, problems = check_place(body)
    if problems:
        raise InvalidInput(problems=problems)
    _name_free(conn, application_id, values["name"], place_id)
    try:
        conn.execute(
            places.update()
            .where(places.c.id == place_id, places.c.application_id == application_id)
            .values(updated_at=now, **values)
        )
    except IntegrityError as exc:
        raise Conflict(f"a place named {values['name']!r} already exists") from exc
    return get_place(conn, application_id, place_id)


def _name_free(conn: Connection, application_id: int, name: str, own_id: int | None) -> None:
    taken = conn.execute(
        select(places.c.id).where(places.c.application_id == application_id, places.c.name == name)
    ).scalar()
    if taken is not None and taken != own_id:
        raise Conflict(f"a place named {name!r} already exists (place {taken})")


def get_place(conn: Connection, application_id: int, place_id: int) -> Place:
    """The place ``place_id`` of the application; ``NotFound`` if it has none such."""
    row = (
        conn.execute(
            select(places).where(places.c.id == place_id, places.c.application_id == application_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"place {place_id} does not exist")
    return _place(row)


def list_places(conn: Connection, application_id: int) -> list[Place]:
    """The application's places, by id."""
    rows = conn.execute(
        select(places).where(places.c.application_id == application_id).order_by(places.c.id)
    ).mappings()
    return [_place(row) for row in rows]


def delete_place(conn: Connection, application_id: int, place_id: int) -> None:
    """Delete a place and who is inside it (no exit events are made for them)."""
    get_place(conn, application_id, place_id)
    conn.execute(places.delete().where(places.c.id == place_id))


def _place(row: RowMapping) -> Place:
    return Place(
        id=int(row["id"]),
        application_id=int(row["application_id"]),
        name=row["name"],
        latitude=float(row["latitude"]),
        longitude=float(row["longitude"]),
        radius=float(row["radius"]),
        cooldown=timedelta(seconds=int(row["cooldown_seconds"])),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# --- locations into events ---------------------------------------------------------------------


def report_locations(
    conn: Connection, application_id: int, locations: Sequence[Location], now: datetime
) -> list[Crossing]:
    """Turn reported locations into ``place.enter`` / ``place.exit`` events; the crossings made.

    Each customer's reports are taken in time order. The events (``customData``: ``placeId``,
    ``place``) are recorded in the caller's transaction, so journeys react as for any event.
    """
    if not locations:
        return []
    known = list_places(conn, application_id)
    customers = sorted({location.customer_id for location in locations})
    state = _presence(conn, application_id, customers)
    last = _last_reports(conn, application_id, customers)
    crossings: list[Crossing] = []
    for location in sorted(locations, key=lambda loc: (loc.customer_id, loc.at)):
        seen = last.get(location.customer_id)
        if seen is not None and location.at < seen:
            continue  # late: a newer report of this customer was taken already
        last[location.customer_id] = location.at
        for place in known:
            crossing = _crossing(place, location, state.get((place.id, location.customer_id)))
            if crossing is not None and _write(conn, application_id, crossing):
                state[(place.id, location.customer_id)] = (
                    crossing.event_code == "place.enter",
                    crossing.at,
                )
                crossings.append(crossing)
    _write_last_reports(conn, application_id, last)
    record_events(conn, application_id, [_event(c) for c in crossings], now)
    return crossings


def _last_reports(
    conn: Connection, application_id: int, customers: Sequence[str]
) -> dict[str, datetime]:
    r = location_reports
    rows = conn.execute(
        select(r.c.customer_id, r.c.reported_at).where(
            r.c.application_id == application_id, dialect_of(conn).among(r.c.customer_id, customers)
        )
    )
    return {str(customer_id): at for customer_id, at in rows}


def _write_last_reports(
    conn: Connection, application_id: int, last: Mapping[str, datetime]
) -> None:
    """Each customer's latest report time (a racing newer one is kept)."""
    r = location_reports
    statement = dialect_of(conn).insert(r)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["application_id", "customer_id"],
            set_={"reported_at": statement.excluded.reported_at},
            where=r.c.reported_at < statement.excluded.reported_at,
        ),
        [
            {"application_id": application_id, "customer_id": c, "reported_at": at}
            for c, at in sorted(last.items())
        ],
    )


def _presence(
    conn: Connection, application_id: int, customers: Sequence[str]
) -> dict[tuple[int, str], tuple[bool, datetime]]:
    p = place_presence
    rows = conn.execute(
        select(p.c.place_id, p.c.customer_id, p.c.inside, p.c.changed_at).where(
            p.c.application_id == application_id,
            dialect_of(conn).among(p.c.customer_id, customers),
        )
    )
    return {(int(r[0]), str(r[1])): (bool(r[2]), r[3]) for r in rows}


def _crossing(
    place: Place, location: Location, known: tuple[bool, datetime] | None
) -> Crossing | None:
    inside, since = known if known is not None else (False, None)
    distance = place.distance(location.latitude, location.longitude)
    if not inside and distance <= place.radius:
        code = "place.enter"
    elif inside and distance > place.radius + location.accuracy:
        code = "place.exit"
    else:
        return None
    if since is not None and location.at - since < place.cooldown:
        return None  # too soon after the last crossing (or a report older than it)
    return Crossing(location.customer_id, code, place, location.at)


def _write(conn: Connection, application_id: int, crossing: Crossing) -> bool:
    """Store the crossing if the row still says the opposite and the cooldown is over."""
    p = place_presence
    inside = crossing.event_code == "place.enter"
    statement = (
        dialect_of(conn)
        .insert(p)
        .values(
            place_id=crossing.place.id,
            application_id=application_id,
            customer_id=crossing.customer_id,
            inside=inside,
            changed_at=crossing.at,
        )
    )
    statement = statement.on_conflict_do_update(
        index_elements=["place_id", "customer_id"],
        set_={"inside": statement.excluded.inside, "changed_at": statement.excluded.changed_at},
        where=(p.c.inside != inside) & (p.c.changed_at <= crossing.at - crossing.place.cooldown),
    ).returning(p.c.place_id)
    return conn.execute(statement).first() is not None


def _event(crossing: Crossing) -> dict[str, Any]:
    return {
        "eventCode": crossing.event_code,
        "customerId": crossing.customer_id,
        "date": crossing.at.isoformat(),
        "customData": {"placeId": crossing.place.id, "place": crossing.place.name},
    }
