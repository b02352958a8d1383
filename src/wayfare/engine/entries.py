"""Entries into journeys: activation and its audience, re-checks, and customers put in.

Each enrolment is one set-based write with its counters: re-entry and birthday re-checks as the
runner's ticks find them due, ``IN_LIST`` customers one call at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from wayfare.engine import calendar
from wayfare.engine.inputs import load_journeys
from wayfare.engine.wake import notify
from wayfare.errors import InvalidInput, InvalidTransition, NotFound
from wayfare.model.conditions import Condition, InSegment
from wayfare.model.journey import Journey
from wayfare.model.states import (
    BirthdayEntryParams,
    FilterEntryParams,
    ListEntryParams,
    SegmentEntryParams,
    StateType,
)
from wayfare.store import enrollments as store
from wayfare.store.conditions_sql import compile_condition, load_segments
from wayfare.store.customers import existing_customer_ids
from wayfare.store.customers import field_types as load_field_types
from wayfare.store.database import dialect_of
from wayfare.store.enrollments import CounterKey
from wayfare.store.journeys import activate_journey, deactivate_journey
from wayfare.store.schema import enrollments, journeys


def start_journey(
    conn: Connection,
    application_id: int,
    journey_id: int,
    now: datetime,
    *,
    reentry: bool = False,
    max_entries: int | None = None,
    recheck_every: str | None = None,
) -> int:
    """Activate the draft (``activate_journey``) and enrol its audience at once; how many."""
    activate_journey(
        conn,
        application_id,
        journey_id,
        now,
        reentry=reentry,
        max_entries=max_entries,
        recheck_every=recheck_every,
    )
    return enrol(conn, application_id, journey_id, now)


def stop_journey(conn: Connection, application_id: int, journey_id: int, now: datetime) -> int:
    """Deactivate the journey (``deactivate_journey``); how many enrollments it ended.

    The ended enrollments count as ``exited`` in the states they were in.
    """
    active = conn.execute(
        select(enrollments.c.state_id, enrollments.c.test, func.count())
        .where(
            enrollments.c.journey_id == journey_id,
            enrollments.c.application_id == application_id,
            enrollments.c.status.in_(store.ACTIVE),
        )
        .group_by(enrollments.c.state_id, enrollments.c.test)
    ).all()
    ended = deactivate_journey(conn, application_id, journey_id, now).enrollments_ended
    store.add_counters(
        conn,
        {
            (journey_id, int(state_id), "exited", bool(test), store.counter_hour(now)): int(count)
            for state_id, test, count in active
        },
    )
    return ended


def enrol(conn: Connection, application_id: int, journey_id: int, now: datetime) -> int:
    """Enrol the active journey's audience now; how many entered.

    For ``IN_ALL``, ``IN_FILTER``, ``IN_SEGMENT`` and ``IN_LIST`` with a list. Schedules the
    next re-check when re-entry is on. Other entry types enter one by one (events, customers
    put in) and enrol nobody here.
    """
    loaded = load_journeys(conn, [journey_id]).get(journey_id)
    if loaded is None or loaded.application_id != application_id:
        raise NotFound(f"journey {journey_id} does not exist")
    if loaded.status != "ACTIVE" or loaded.journey is None:
        raise InvalidTransition(f"journey {journey_id} is not active")
    journey = loaded.journey
    entry = journey.entry
    settings = journey.settings
    params = entry.params
    cond: Condition | None = None
    list_id: int | None = None
    if isinstance(params, FilterEntryParams):
        cond = params.cond
    elif isinstance(params, SegmentEntryParams):
        cond = InSegment(params.segment_ids)
    elif isinstance(params, ListEntryParams):
        if params.list_id is None:
            return 0
        list_id = params.list_id
    elif isinstance(params, BirthdayEntryParams):
        conn.execute(
            journeys.update().where(journeys.c.id == journey_id).values(next_entry_check_at=now)
        )
        return 0
    elif entry.type is not StateType.IN_ALL:
        return 0
    audience = None
    if cond is not None:
        field_types = load_field_types(conn, application_id)
        segments = load_segments(conn, application_id, loaded.segment_ids, field_types)
        audience = compile_condition(
            cond, dialect=dialect_of(conn), field_types=field_types, now=now, segments=segments
        )
    count = store.enrol_audience(
        conn,
        application_id,
        journey_id,
        entry.id,
        audience,
        now,
        reentry=settings.reentry,
        max_entries=settings.max_entries,
        list_id=list_id,
    )
    conn.execute(
        journeys.update()
        .where(journeys.c.id == journey_id)
        .values(next_entry_check_at=settings.recheck_every.add(now) if settings.reentry else None)
    )
    if count:
        store.add_counters(
            conn, {(journey_id, entry.id, "entered", False, store.counter_hour(now)): count}
        )
        notify(conn)
    return count


BIRTHDAY_CHECK = timedelta(minutes=1)
"""How often ``IN_BIRTHDAY`` journeys look for entries (each enters at its exact instant)."""


def recheck_entries(conn: Connection, now: datetime) -> int:
    """Re-check the entry conditions of journeys whose time has come; how many entered.

    Re-entry journeys enrol their audience again; ``IN_BIRTHDAY`` journeys enrol the birthdays
    that have come since their last look (at most every ``BIRTHDAY_CHECK``).
    """
    due = conn.execute(
        select(journeys.c.id, journeys.c.application_id, journeys.c.next_entry_check_at).where(
            journeys.c.status == "ACTIVE",
            journeys.c.next_entry_check_at.is_not(None),
            journeys.c.next_entry_check_at <= now,
        )
    ).all()
    entered = 0
    for journey_id, app, checked in due:
        loaded = load_journeys(conn, [int(journey_id)]).get(int(journey_id))
        journey = loaded.journey if loaded is not None else None
        if journey is not None and isinstance(journey.entry.params, BirthdayEntryParams):
            if checked <= now - BIRTHDAY_CHECK:
                entered += enrol_birthdays(conn, int(app), int(journey_id), journey, checked, now)
        else:
            entered += enrol(conn, int(app), int(journey_id), now)
    return entered


def enrol_birthdays(
    conn: Connection,
    application_id: int,
    journey_id: int,
    journey: Journey,
    since: datetime,
    now: datetime,
) -> int:
    """Enrol the customers whose birthday entry instant falls in (``since``, ``now``].

    Each new enrollment waits at the entry state until its instant (already past), so it runs
    at once with the instant as its logical time. Re-entry and ``maxEntries`` as for any entry.
    """
    params = journey.entry.params
    assert isinstance(params, BirthdayEntryParams)
    settings = journey.settings
    days = min((now - since).days + 5, 400)
    first = (since - timedelta(days=2)).date()
    month_days: set[tuple[int, int]] = set()
    for n in range(days):
        month_days.update(calendar.birthday_dates(first + timedelta(days=n), params.offset))
    entries: dict[str, datetime] = {}
    after = since + timedelta(microseconds=1)
    for customer_id, zone_name, value in store.birthday_candidates(
        conn, application_id, params.field, month_days
    ):
        try:
            birthday = date.fromisoformat(value[:10])
        except ValueError:
            continue
        zone = calendar.customer_zone(zone_name, settings.timezone)
        instant = calendar.next_birthday_entry(birthday, params.offset, params.at, zone, after)
        if instant <= now:
            entries[customer_id] = instant
    conn.execute(
        journeys.update().where(journeys.c.id == journey_id).values(next_entry_check_at=now)
    )
    if not entries:
        return 0
    ordered = sorted(entries, key=lambda c: (entries[c], c))
    result = store.enrol_customers(
        conn,
        application_id,
        journey_id,
        journey.entry.id,
        [(c, {}) for c in ordered],
        now,
        reentry=settings.reentry,
        max_entries=settings.max_entries,
    )
    if not result.ids:
        return 0
    entered = [c for c in ordered if c not in set(result.discarded)]
    times = [entries[c] for c in entered]
    store.schedule_entries(conn, list(zip(result.ids, times, strict=True)))
    counts: Counter[CounterKey] = Counter(
        (journey_id, journey.entry.id, "entered", False, store.counter_hour(at)) for at in times
    )
    store.add_counters(conn, counts)
    notify(conn)
    return len(result.ids)


@dataclass(frozen=True, slots=True)
class PutResult:
    """What ``put_customers`` did: who entered, who was already in, who does not exist."""

    entered: int
    discarded: list[str]
    unknown: list[str]


def put_customers(
    conn: Connection,
    application_id: int,
    journey_id: int,
    entries: Sequence[str | Mapping[str, Any]],
    now: datetime,
    *,
    test: bool = False,
) -> PutResult:
    """Put customers into an ``IN_LIST`` journey (ids, or ``{customerId, contextValues}``).

    Live entries need an active journey; ``test`` entries may go into a draft and count only in
    test statistics. Customers already in the journey are discarded (and listed).
    """
    loaded = load_journeys(conn, [journey_id]).get(journey_id)
    if loaded is None or loaded.application_id != application_id:
        raise NotFound(f"journey {journey_id} does not exist")
    allowed = ("ACTIVE", "DRAFT") if test else ("ACTIVE",)
    if loaded.status not in allowed:
        raise InvalidTransition(
            f"journey {journey_id} is {loaded.status}: customers go into an active journey"
            + (" (or a draft, for a test run)" if not test else "")
        )
    if loaded.journey is None:
        raise InvalidInput(f"journey {journey_id} is not valid; check it first")
    journey = loaded.journey
    if not test and journey.entry.type is not StateType.IN_LIST:
        raise InvalidInput(f"journey {journey_id} does not start with IN_LIST")
    pairs: list[tuple[str, Mapping[str, Any]]] = []
    for index, item in enumerate(entries):
        if isinstance(item, str):
            pairs.append((item, {}))
        elif isinstance(item, Mapping) and isinstance(item.get("customerId"), str):
            values = item.get("contextValues") or {}
            if not isinstance(values, Mapping):
                raise InvalidInput(f"customers[{index}].contextValues must be an object")
            pairs.append((item["customerId"], dict(values)))
        else:
            raise InvalidInput(f"customers[{index}] must be a customer id or {{customerId}}")
    known = existing_customer_ids(conn, application_id, (c for c, _ in pairs))
    unknown = [c for c, _ in pairs if c not in known]
    result = store.enrol_customers(
        conn,
        application_id,
        journey_id,
        journey.entry.id,
        [(c, v) for c, v in pairs if c in known],
        now,
        reentry=journey.settings.reentry,
        max_entries=journey.settings.max_entries,
        test=test,
    )
    if result.ids:
        key = (journey_id, journey.entry.id, "entered", test, store.counter_hour(now))
        store.add_counters(conn, {key: len(result.ids)})
        notify(conn)
    return PutResult(len(result.ids), result.discarded, unknown)
