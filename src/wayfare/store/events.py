"""Event types and events: define the codes an application accepts, record events idempotently.

An event is stored once per ``eventId`` and application (``ON CONFLICT DO NOTHING``); an event
for a customer who does not exist yet creates a bare customer. Batches go through
``record_events``; a group of single events (``api.event_groups``) through
``record_event_group``, which writes each application's share with the same ``write_events``
and says what became of every event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from wayfare.errors import Conflict, InvalidInput, Problem
from wayfare.model.customers import EventRecord, parse_event, unknown_code
from wayfare.model.events import BUILTIN_EVENTS, EVENT_CODE
from wayfare.store.common import check_plain_json, checked_name
from wayfare.store.customers import ensure_customers, existing_customer_ids
from wayfare.store.database import dialect_of, fetch_rows, json_dumps
from wayfare.store.schema import event_types
from wayfare.store.schema import events as events_table


@dataclass(frozen=True, slots=True)
class EventType:
    """An event type of an application."""

    code: str
    name: str
    retention_days: int | None
    enabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RecordResult:
    """What ``record_events`` did.

    ``recorded``: events stored; ``duplicates``: events skipped because their ``eventId`` was
    already stored or repeated; ``customers_created``: bare customers made.
    """

    recorded: int
    duplicates: int
    customers_created: int
    new: tuple[EventRecord, ...] = ()
    """The events stored by this call (not the duplicates), for the engine."""


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What became of one event of a group.

    ``recorded``: stored (else its ``eventId`` was stored already); ``customer_created``: its
    customer was created for it.
    """

    recorded: bool
    customer_created: bool


def define_event_type(
    conn: Connection,
    application_id: int,
    code: str,
    name: str,
    now: datetime,
    retention_days: int | None = None,
) -> EventType:
    """Define the event type ``code``; ``Conflict`` if it exists, ``InvalidInput`` if bad."""
    problems = []
    if not isinstance(code, str) or not EVENT_CODE.fullmatch(code):
        problems.append(
            Problem("code", f"{code!r} is not an event code (letters, digits and _ . : -)")
        )
    elif code in BUILTIN_EVENTS:
        problems.append(Problem("code", f"{code!r} is a built-in message event", "builtin"))
    try:
        name = checked_name(name)
    except InvalidInput as exc:
        problems.extend(exc.problems)
    if retention_days is not None and (
        isinstance(retention_days, bool)
        or not isinstance(retention_days, int)
        or retention_days < 1
    ):
        problems.append(Problem("retentionDays", "expected a whole number of days, at least 1"))
    if problems:
        raise InvalidInput(problems=problems)
    exists = conn.execute(
        select(event_types.c.id).where(
            event_types.c.application_id == application_id, event_types.c.code == code
        )
    ).first()
    if exists is not None:
        raise Conflict(f"event type {code!r} already exists")
    conn.execute(
        event_types.insert().values(
            application_id=application_id,
            code=code,
            name=name,
            retention_days=retention_days,
            enabled=True,
            created_at=now,
        )
    )
    return EventType(code, name, retention_days, True, now)


def list_event_types(conn: Connection, application_id: int) -> list[EventType]:
    """The event types of the application, by code (built-in message events not included)."""
    rows = conn.execute(
        select(event_types)
        .where(event_types.c.application_id == application_id)
        .order_by(event_types.c.code)
    )
    return [
        EventType(row.code, row.name, row.retention_days, row.enabled, row.created_at)
        for row in rows
    ]


def event_codes(conn: Connection, application_id: int) -> set[str]:
    """Every event code the application accepts: its event types and the built-in ones.

    A driver-level query: every batch and every group of single events asks.
    """
    mark = dialect_of(conn).marks(1)
    rows = fetch_rows(
        conn,
        f"SELECT code FROM event_types WHERE application_id = {mark} AND enabled = {mark}",
        (application_id, True),
    )
    return {row[0] for row in rows} | BUILTIN_EVENTS


def record_events(
    conn: Connection,
    application_id: int,
    events: Iterable[Mapping[str, Any] | EventRecord],
    now: datetime,
) -> RecordResult:
    """Record a batch of events, idempotently by ``eventId``.

    ``events``: API bodies ``{eventId?, eventCode, customerId, date?, customData?}`` or
    checked ``EventRecord``s.

    All or nothing: any bad event raises ``InvalidInput`` listing every problem
    (``events[2].eventCode: unknown event code ...``).
    """
    codes = event_codes(conn, application_id)
    records: list[EventRecord] = []
    problems: list[Problem] = []
    for index, body in enumerate(events):
        if isinstance(body, EventRecord):
            records.append(body)
            continue
        record, found = parse_event(body, codes, now, f"events[{index}]")
        problems.extend(found)
        if record is not None:
            try:
                check_plain_json(record.custom_data, f"events[{index}].customData")
            except InvalidInput as exc:
                problems.extend(exc.problems)
                continue
            records.append(record)
    if problems:
        raise InvalidInput(problems=problems)
    return write_events(conn, application_id, records, now)


def record_event_group(
    conn: Connection, events: Sequence[tuple[int, EventRecord]], now: datetime
) -> list[EventOutcome | InvalidInput]:
    """Record checked events of one or more applications; what became of each, in order.

    ``events``: (application id, event) pairs whose code is not checked yet. Each application's
    events with a code it accepts go through ``write_events``, as a batch's do (journeys move
    the same way); an event with an unknown code gets its ``InvalidInput`` (naming
    ``eventCode``) and the others are stored. Of several events of one new customer, the first
    is the one that created it.
    """
    outcomes: list[EventOutcome | InvalidInput | None] = [None] * len(events)
    by_application: dict[int, list[int]] = defaultdict(list)
    for index, (application_id, _record) in enumerate(events):
        by_application[application_id].append(index)
    for application_id, indexes in by_application.items():
        codes = event_codes(conn, application_id)
        good: list[int] = []
        for index in indexes:
            code = events[index][1].event_code
            if code in codes:
                good.append(index)
            else:
                outcomes[index] = InvalidInput(problems=[unknown_code(code, "eventCode")])
        records = [events[index][1] for index in good]
        known = existing_customer_ids(conn, application_id, (r.customer_id for r in records))
        written = write_events(conn, application_id, records, now, known_customers=set(known))
        stored = {id(record) for record in written.new}
        for index, record in zip(good, records, strict=True):
            created = record.customer_id not in known
            known.add(record.customer_id)
            outcomes[index] = EventOutcome(id(record) in stored, created)
    done = [outcome for outcome in outcomes if outcome is not None]
    assert len(done) == len(events)
    return done


def write_events(
    conn: Connection,
    application_id: int,
    records: Sequence[EventRecord],
    now: datetime,
    *,
    known_customers: set[str] | None = None,
) -> RecordResult:
    """Store checked events (skipping ``eventId``s already stored) and their bare customers.

    ``known_customers``: which of the events' customers the caller has just read as stored
    (not read again). The new events then move the journeys in the same transaction
    (``engine.events.on_events``): waiting enrollments wake, event-entry journeys enrol.
    """
    if not records:
        return RecordResult(0, 0, 0)
    ids = (r.customer_id for r in records)
    created = ensure_customers(conn, application_id, ids, now, existing=known_customers)
    stored = _insert_events(conn, application_id, records, now)
    new: list[EventRecord] = []
    for record in records:
        if record.event_id in stored:
            new.append(record)
            stored.discard(record.event_id)  # a repeated eventId is stored once
    if new:
        from wayfare.engine.events import on_events  # the engine builds on this module

        on_events(conn, application_id, new, now)
    return RecordResult(len(new), len(records) - len(new), created, tuple(new))


def _insert_events(
    conn: Connection, application_id: int, records: Sequence[EventRecord], now: datetime
) -> set[str]:
    """Insert the events whose ``eventId`` is not stored yet; the ids that were inserted.

    PostgreSQL reports them with ``RETURNING`` (two API processes may race on one id). On
    SQLite the write transaction holds the database from its start, so the ids already stored
    are read first and the others inserted with one driver-level ``executemany``.
    """
    dialect = dialect_of(conn)
    if dialect.is_postgres:
        statement = (
            dialect.insert(events_table)
            .on_conflict_do_nothing(index_elements=["application_id", "event_id"])
            .returning(events_table.c.event_id)
        )
        rows = [
            {
                "application_id": application_id,
                "event_id": r.event_id,
                "event_code": r.event_code,
                "customer_id": r.customer_id,
                "occurred_at": r.occurred_at,
                "custom_data": dict(r.custom_data),
                "received_at": now,
            }
            for r in records
        ]
        return set(conn.execute(statement, rows).scalars())
    among, ids = dialect.raw_among("event_id", sorted({r.event_id for r in records}))
    existing = {
        row[0]
        for row in fetch_rows(
            conn,
            f"SELECT event_id FROM events WHERE application_id = {dialect.marks(1)} AND {among}",
            (application_id, ids),
        )
    }
    fresh: dict[str, EventRecord] = {}
    for record in records:
        if record.event_id not in existing and record.event_id not in fresh:
            fresh[record.event_id] = record
    if not fresh:
        return set()
    received = dialect.raw_datetime(now)
    moments: dict[datetime, Any] = {}  # a batch's events often share their time
    for record in fresh.values():
        if record.occurred_at not in moments:
            moments[record.occurred_at] = dialect.raw_datetime(record.occurred_at)
    conn.exec_driver_sql(
        "INSERT INTO events (application_id, event_id, event_code, customer_id, occurred_at,"
        f" custom_data, received_at) VALUES ({dialect.marks(7)})"
        " ON CONFLICT (application_id, event_id) DO NOTHING",
        [
            (
                application_id,
                r.event_id,
                r.event_code,
                r.customer_id,
                moments[r.occurred_at],
                json_dumps(r.custom_data),
                received,
            )
            for r in fresh.values()
        ],
    )
    return set(fresh)


def customer_events(
    conn: Connection, application_id: int, customer_id: str, *, limit: int = 100
) -> list[EventRecord]:
    """A customer's latest events, newest first."""
    rows = conn.execute(
        select(events_table)
        .where(
            events_table.c.application_id == application_id,
            events_table.c.customer_id == customer_id,
        )
        .order_by(events_table.c.occurred_at.desc(), events_table.c.id.desc())
        .limit(limit)
    )
    return [
        EventRecord(r.event_id, r.event_code, r.customer_id, r.occurred_at, dict(r.custom_data))
        for r in rows
    ]
