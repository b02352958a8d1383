"""Events on the engine: they wake the enrollments waiting for them and enter journeys.

In the caller's transaction, as ``store.events`` records them: waiting enrollments move, and
the customers enter the ``IN_CUSTOM_EVENT`` journeys they match.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from wayfare.engine.decisions import Event
from wayfare.engine.inputs import BatchFacts, LoadedJourney, load_journeys
from wayfare.model.conditions import Condition, evaluate
from wayfare.model.customers import EventRecord
from wayfare.model.states import EventEntryParams, StateType
from wayfare.store import enrollments as store
from wayfare.store.enrollments import EnrollmentRow
from wayfare.store.schema import journeys


def on_events(
    conn: Connection, application_id: int, records: Sequence[EventRecord], now: datetime
) -> int:
    """React to newly recorded events in the caller's transaction; how many moved or entered.

    Events are taken in time order, one event per customer per round (customers do not affect
    each other): each wakes its customer's enrollments waiting for its code, then enrols the
    customer into the active ``IN_CUSTOM_EVENT`` journeys it matches and runs those new
    enrollments at once, so that the customer's next event finds them, as in the simulator.
    """
    from wayfare.engine.runner import advance  # the runner re-exports this module's on_events

    if not records:
        return 0
    ordered = sorted(records, key=lambda r: (r.occurred_at, r.event_id))
    queues: dict[str, list[EventRecord]] = defaultdict(list)
    for record in ordered:
        queues[record.customer_id].append(record)
    moved = 0
    round_ = 0
    while True:
        current = {c: q[round_] for c, q in queues.items() if len(q) > round_}
        if not current:
            break
        round_ += 1
        rows = store.awaiting(conn, application_id, sorted(current))
        items = []
        for row in rows:
            record = current[row.customer_id]
            if record.event_code in row.wait_codes:
                event = Event(record.event_code, record.custom_data, record.occurred_at)
                items.append((row, event, None))
        if items:
            moved += len(items)
            advance(conn, items, now)
        moved += _event_entries(conn, application_id, list(current.values()), now)
    return moved


def _event_entries(
    conn: Connection, application_id: int, records: Sequence[EventRecord], now: datetime
) -> int:
    from wayfare.engine.runner import advance

    codes = {r.event_code for r in records}
    candidates = conn.execute(
        select(journeys.c.id).where(
            journeys.c.application_id == application_id, journeys.c.status == "ACTIVE"
        )
    ).scalars()
    loaded = load_journeys(conn, candidates)
    entered = 0
    for journey_id, item in sorted(loaded.items()):
        journey = item.journey
        if journey is None or journey.entry.type is not StateType.IN_CUSTOM_EVENT:
            continue
        params = journey.entry.params
        assert isinstance(params, EventEntryParams)
        if params.event_name not in codes:
            continue
        matching = [r for r in records if params.takes(r.event_code, r.custom_data)]
        if params.cond is not None:
            matching = _matching(conn, application_id, item, params.cond, matching, now)
        pairs = [
            (r.customer_id, {"event": {"code": r.event_code, "data": dict(r.custom_data)}})
            for r in matching
        ]
        result = store.enrol_customers(
            conn,
            application_id,
            journey_id,
            journey.entry.id,
            pairs,
            now,
            reentry=journey.settings.reentry,
            max_entries=journey.settings.max_entries,
        )
        if not result.ids:
            continue
        entered += len(result.ids)
        key = (journey_id, journey.entry.id, "entered", False, store.counter_hour(now))
        store.add_counters(conn, {key: len(result.ids)})
        rows = store.lock_by_ids(conn, result.ids)
        advance(conn, [(row, None, None) for row in rows], now)
    return entered


def _matching(
    conn: Connection,
    application_id: int,
    item: LoadedJourney,
    cond: Condition,
    records: Sequence[EventRecord],
    now: datetime,
) -> list[EventRecord]:
    assert item.journey is not None
    rows = [
        EnrollmentRow(
            0,
            application_id,
            item.id,
            r.customer_id,
            0,
            False,
            0,
            "",
            None,
            frozenset(),
            {},
            {},
            0,
            now,
            now,
        )
        for r in records
    ]
    facts = BatchFacts(conn, now, {item.id: item}, rows)
    kept = []
    for record, row in zip(records, rows, strict=True):
        customer_facts = facts.of(row, item.journey)
        if customer_facts is not None and evaluate(
            cond, customer_facts.customer, now, segments=customer_facts.segments
        ):
            kept.append(record)
    return kept
