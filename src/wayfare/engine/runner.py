"""The engine on the database: entries, the claim-and-run batch, events, and their writes.

Every change of an enrollment commits with the outbox rows and counters it causes, in the
caller's (or the tick's) one transaction. Work is done in sets: one ``INSERT ... SELECT`` per
audience, one query per kind of fact per batch, one ``executemany`` per table written.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, text

from wayfare.engine import calendar
from wayfare.engine.advance import run
from wayfare.engine.decisions import Enrollment as EngineEnrollment
from wayfare.engine.decisions import Event, Facts, Outcome, Status, WebhookResponse
from wayfare.engine.facts import facts_for
from wayfare.errors import InvalidInput, InvalidTransition, NotFound
from wayfare.model.conditions import Condition, InSegment, evaluate, window_start
from wayfare.model.customers import EventRecord
from wayfare.model.journey import Journey
from wayfare.model.states import (
    BirthdayEntryParams,
    EventEntryParams,
    FilterEntryParams,
    ListEntryParams,
    SegmentEntryParams,
    StateType,
    WebhookParams,
)
from wayfare.model.validation import validate_journey
from wayfare.store import enrollments as store
from wayfare.store.conditions_sql import compile_condition, load_field_types, load_segments
from wayfare.store.customers import customer_from_row
from wayfare.store.database import dialect_of
from wayfare.store.enrollments import Change, CounterKey, EnrollmentRow
from wayfare.store.journeys import activate_journey, deactivate_journey, json_references
from wayfare.store.schema import campaigns, customers, enrollments, events, journeys, outbox

TERMINAL = (Status.COMPLETED, Status.EXITED, Status.FAILED)
CALL_LEASE = timedelta(seconds=30)
"""How long a claimed webhook call is reserved for its worker beyond its own timeout."""
DEFAULT_CALL_TIMEOUT = 10.0


# ---------------------------------------------------------------------------------------------
# Journeys, parsed once per version


@dataclass(frozen=True, slots=True)
class LoadedJourney:
    """A stored journey with its parsed form (None when it no longer validates)."""

    id: int
    application_id: int
    status: str
    journey: Journey | None
    states: Any
    uses_events: frozenset[str]
    segment_ids: frozenset[int]
    bulk: bool = False
    """Runs are alike for customers alike in reachability, zone and position (``run_due``)."""


_PARSED: dict[tuple[int, int, bytes], LoadedJourney] = {}
"""Parsed journeys by (id, version, document): a document is validated once per process."""


def load_journeys(conn: Connection, ids: Iterable[int]) -> dict[int, LoadedJourney]:
    """The journeys ``ids`` (missing ones left out), each document parsed once per version."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found: dict[int, LoadedJourney] = {}
    for row in conn.execute(select(journeys).where(journeys.c.id.in_(wanted))):
        document = {"name": row.name, "states": row.states, "settings": row.settings}
        key = (int(row.id), int(row.version), orjson.dumps(document))
        cached = _PARSED.get(key)
        if cached is None:
            report = validate_journey(document)
            cached = LoadedJourney(
                int(row.id),
                int(row.application_id),
                str(row.status),
                report.journey if report.valid else None,
                row.states,
                frozenset(_event_codes(row.states)),
                frozenset(json_references(row.states, "segmentIds")),
                _bulk(report.journey if report.valid else None),
            )
            if len(_PARSED) > 10_000:
                _PARSED.clear()
            _PARSED[key] = cached
        found[cached.id] = replace(
            cached, application_id=int(row.application_id), status=str(row.status)
        )
    return found


PERSONAL = frozenset({StateType.FLOW_FILTER, StateType.FLOW_RANDOM, StateType.FLOW_WEBHOOK})
"""States whose decision depends on more than the customer's reachability and zone."""


def _bulk(journey: Journey | None) -> bool:
    if journey is None or journey.settings.frequency_cap is not None:
        return False
    return not any(state.type in PERSONAL for state in journey.states)


def _event_codes(value: Any) -> Iterable[str]:
    """The event names of every ``$event`` condition in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if (
                key == "$event"
                and isinstance(item, dict)
                and isinstance(item.get("eventName"), str)
            ):
                yield item["eventName"]
            else:
                yield from _event_codes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _event_codes(item)


# ---------------------------------------------------------------------------------------------
# Entries


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
            (journey_id, int(state_id), "exited", bool(test), _hour(now)): int(count)
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
        store.add_counters(conn, {(journey_id, entry.id, "entered", False, _hour(now)): count})
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
        (journey_id, journey.entry.id, "entered", False, _hour(at)) for at in times
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
    known = store.existing_customers(conn, application_id, [c for c, _ in pairs])
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
        key = (journey_id, journey.entry.id, "entered", test, _hour(now))
        store.add_counters(conn, {key: len(result.ids)})
        notify(conn)
    return PutResult(len(result.ids), result.discarded, unknown)


# ---------------------------------------------------------------------------------------------
# Running a batch of enrollments


@dataclass(frozen=True, slots=True)
class Pending:
    """A webhook call to make outside the transaction, then to apply to ``row``."""

    row_id: int
    expected: int
    key: str
    params: WebhookParams


@dataclass(slots=True)
class Batch:
    """What a batch of runs writes, gathered before one write per table."""

    changes: list[Change] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[CounterKey] = field(default_factory=Counter)
    saves: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: list[Pending] = field(default_factory=list)
    campaign_ids: set[int] = field(default_factory=set)


def advance(
    conn: Connection,
    items: Sequence[tuple[EnrollmentRow, Event | None, WebhookResponse | None]],
    now: datetime,
) -> list[Pending]:
    """Run each enrollment (with its event or call response) and write every outcome.

    Rows must be locked by the caller's transaction. Returns the webhook calls to make.
    """
    if not items:
        return []
    batch = Batch()
    _decide(conn, items, now, [batch] * len(items))
    write(conn, batch, now)
    return batch.calls


def _decide(
    conn: Connection,
    items: Sequence[tuple[EnrollmentRow, Event | None, WebhookResponse | None]],
    now: datetime,
    batches: Sequence[Batch],
) -> None:
    """Run each item, gathering what it writes into its batch (the same one, or one each)."""
    loaded = load_journeys(conn, {row.journey_id for row, _, _ in items})
    facts = _Facts(conn, now, loaded, [row for row, _, _ in items])
    for (row, event, response), batch in zip(items, batches, strict=True):
        journey = loaded.get(row.journey_id)
        if journey is None or journey.journey is None or not _runnable(journey, row):
            reason = "journey deactivated" if journey is not None else "journey deleted"
            _end(batch, row, Status.EXITED, reason, now)
            continue
        found = facts.of(row, journey.journey)
        if found is None:
            _end(batch, row, Status.EXITED, "customer erased", now)
            continue
        calling = row.memo.get("calling")
        arriving = row.status == "ready" and calling is None and event is None
        if calling is not None and response is None:  # a call claimed again after its lease
            _lease(batch, row, journey.journey, str(calling), now)
            continue
        customer_facts = found
        if event is not None or response is not None:
            customer_facts = _with(found, event, response)
        outcome = run(
            row.journey_id,
            journey.journey,
            _engine_enrollment(row),
            customer_facts,
            now,
            arriving=arriving,
        )
        if outcome is not None:
            _collect(batch, row, journey.journey, outcome, now)


BULK_MIN = 8
"""The smallest group of alike enrollments run once for all (smaller ones run one by one)."""


def run_due(conn: Connection, now: datetime, limit: int) -> tuple[int, list[Pending]]:
    """Claim up to ``limit`` due enrollments and run them; (how many, webhook calls to make).

    Enrollments of journeys whose decisions depend only on a customer's reachability, zone and
    position are grouped by all of these: one member of each group runs, and its outcome is
    written for the whole group with one update and one ``INSERT ... SELECT`` per message (the
    outbox key and payload made per enrollment in SQL). The others run one by one.
    """
    claimed = store.claim_light(conn, now, limit)
    if not claimed:
        return 0, []
    loaded = load_journeys(conn, {int(row[2]) for row in claimed})
    groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
    single: list[int] = []
    for row in claimed:
        journey = loaded.get(int(row[2]))
        if journey is not None and journey.bulk:
            groups[tuple(row[1:])].append(int(row[0]))
        else:
            single.append(int(row[0]))
    for key in [k for k, ids in groups.items() if len(ids) < BULK_MIN]:
        single.extend(groups.pop(key))
    calls: list[Pending] = []
    if single:
        rows = store.lock_by_ids(conn, sorted(single))
        calls = advance(conn, [(row, None, None) for row in rows], now)
    if groups:
        _run_groups(conn, list(groups.values()), now)
    return len(claimed), calls


def _run_groups(conn: Connection, groups: list[list[int]], now: datetime) -> None:
    found = {row.id: row for row in store.lock_by_ids(conn, sorted(ids[0] for ids in groups))}
    groups = [ids for ids in groups if ids[0] in found]
    leaders = [found[ids[0]] for ids in groups]
    batches = [Batch() for _ in groups]
    _decide(conn, [(row, None, None) for row in leaders], now, batches)
    counts: Counter[CounterKey] = Counter()
    outboxed = False
    for ids, leader, batch in zip(groups, leaders, batches, strict=True):
        assert not batch.calls and not batch.saves and len(batch.changes) == 1
        change = batch.changes[0]
        store.update_group(conn, ids, change.expected, change.values)
        prefix = f"{leader.journey_id}:{leader.customer_id}:{leader.entry_number}:"
        for item in batch.outbox:
            key = item["idempotency_key"]
            assert key.startswith(prefix)
            _existing_campaigns(conn, [item])
            store.outbox_for_group(conn, ids, item, key[len(prefix) :], test=leader.test)
            outboxed = True
        for counter, value in batch.counts.items():
            counts[counter] += value * len(ids)
    store.add_counters(conn, counts)
    if outboxed:
        notify(conn)


def _runnable(journey: LoadedJourney, row: EnrollmentRow) -> bool:
    return journey.status == "ACTIVE" or (row.test and journey.status == "DRAFT")


def _with(facts: Facts, event: Event | None, response: WebhookResponse | None) -> Facts:
    return replace(facts, event=event, response=response)


def _engine_enrollment(row: EnrollmentRow) -> EngineEnrollment:
    return EngineEnrollment(
        journey_id=row.journey_id,
        customer_id=row.customer_id,
        entry_number=row.entry_number,
        state_id=row.state_id,
        since=row.state_since,
        step=row.transitions,
        wake_at=row.wake_at,
        memo=row.memo,
        context=row.context,
        test=row.test,
    )


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _end(batch: Batch, row: EnrollmentRow, status: Status, reason: str, now: datetime) -> None:
    batch.changes.append(
        Change(
            row.id,
            row.transitions,
            _values(row.state_id, status, None, None, {}, row.transitions + 1, row.state_since)
            | {"updated_at": now, "ended_at": now, "end_reason": reason},
        )
    )
    batch.counts[(row.journey_id, row.state_id, status.value, row.test, _hour(now))] += 1


def _values(
    state_id: int,
    status: Status,
    wake_at: datetime | None,
    wait_event: str | None,
    memo: Mapping[str, Any],
    transitions: int,
    since: datetime,
) -> dict[str, Any]:
    return {
        "state_id": state_id,
        "status": status.value,
        "wake_at": wake_at,
        "wait_event": wait_event,
        "wait": dict(memo) or None,
        "transitions": transitions,
        "state_since": since,
    }


def _call_params(journey: Journey, state_id: int) -> WebhookParams:
    params = journey.state(state_id).params
    assert isinstance(params, WebhookParams)
    return params


def _lease(batch: Batch, row: EnrollmentRow, journey: Journey, key: str, now: datetime) -> None:
    params = _call_params(journey, row.state_id)
    until = now + CALL_LEASE + timedelta(seconds=call_timeout(params))
    values = _values(
        row.state_id, Status.READY, until, None, row.memo, row.transitions, row.state_since
    )
    batch.changes.append(
        Change(
            row.id,
            row.transitions,
            values | {"updated_at": now, "ended_at": None, "end_reason": None},
        )
    )
    batch.calls.append(Pending(row.id, row.transitions, key, params))


def _collect(
    batch: Batch, row: EnrollmentRow, journey: Journey, outcome: Outcome, now: datetime
) -> None:
    e = outcome.enrollment
    jid, test, counts = row.journey_id, row.test, batch.counts
    if outcome.call is not None:  # due at once: the next claim leases it and makes the call
        values = _values(e.state_id, Status.READY, now, None, e.memo, e.step, e.since)
    elif outcome.status is Status.WAITING:
        wait = store.wait_text(outcome.wait_events)
        values = _values(e.state_id, Status.WAITING, outcome.wake_at, wait, e.memo, e.step, e.since)
    else:
        values = _values(e.state_id, outcome.status, None, None, {}, e.step, e.since)
    terminal = outcome.status in TERMINAL
    values["updated_at"] = now
    values["ended_at"] = now if terminal else None
    values["end_reason"] = outcome.reason if terminal else None
    batch.changes.append(Change(row.id, row.transitions, values))
    for arrival in outcome.arrivals:
        counts[(jid, arrival.state_id, "entered", test, _hour(arrival.at))] += 1
    for departure in outcome.departures:
        counts[
            (jid, departure.state_id, "branch:" + departure.branch, test, _hour(departure.at))
        ] += 1
    if terminal:
        last = outcome.departures[-1].at if outcome.departures else now
        counts[(jid, e.state_id, outcome.status.value, test, _hour(last))] += 1
    payload = {"entryNumber": e.entry_number, "context": dict(e.context)}
    if test:
        payload["test"] = True
    for send in outcome.sends:
        metric = "sent" if send.skipped is None else "skipped:" + send.skipped
        counts[(jid, send.state_id, metric, test, _hour(send.at))] += 1
        batch.campaign_ids.add(send.campaign_id)
        batch.outbox.append(
            {
                "application_id": row.application_id,
                "idempotency_key": send.key,
                "enrollment_id": row.id,
                "journey_id": jid,
                "state_id": send.state_id,
                "customer_id": row.customer_id,
                "channel": send.channel,
                "campaign_id": send.campaign_id,
                "payload": payload | {"campaignId": send.campaign_id},
                "status": "pending" if send.skipped is None else "skipped",
                "attempts": 0,
                "next_attempt_at": send.not_before,
                "reason": send.skipped,
                "created_at": now,
            }
        )
    if outcome.saves:
        per_app = batch.saves.setdefault(row.application_id, {})
        per_app.setdefault(row.customer_id, {}).update(outcome.saves)


def write(conn: Connection, batch: Batch, now: datetime) -> None:
    """Write a batch: enrollments (guarded), outbox rows, counters, saved fields."""
    store.update_enrollments(conn, batch.changes)
    if batch.outbox:
        _existing_campaigns(conn, batch.outbox)
        store.insert_outbox(conn, batch.outbox)
    store.add_counters(conn, batch.counts)
    for application_id, saves in batch.saves.items():
        store.save_fields(conn, application_id, saves, now)
    if batch.outbox or any(c.values["status"] == "ready" for c in batch.changes):
        notify(conn)


def _existing_campaigns(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Outbox rows of a deleted campaign keep its id in the payload only (the key is gone)."""
    wanted = sorted({row["campaign_id"] for row in rows if row["campaign_id"] is not None})
    existing = set(conn.execute(select(campaigns.c.id).where(campaigns.c.id.in_(wanted))).scalars())
    for row in rows:
        if row["campaign_id"] not in existing:
            row["campaign_id"] = None


LOCAL_WAKE = threading.Event()
"""Set when this process creates ready work on SQLite: wakes the in-process worker at once.

Setting it before the commit is safe: the worker's next write transaction waits for the
single SQLite writer, so it sees the work once committed.
"""


def notify(conn: Connection) -> None:
    """Wake the workers: ``NOTIFY wayfare`` on PostgreSQL (at commit), else ``LOCAL_WAKE``."""
    if dialect_of(conn).is_postgres:
        conn.execute(text("SELECT pg_notify('wayfare', '')"))
    else:
        LOCAL_WAKE.set()


class _Facts:
    """The facts of a batch's customers, loaded with one query per kind of fact."""

    def __init__(
        self,
        conn: Connection,
        now: datetime,
        loaded: Mapping[int, LoadedJourney],
        rows: Sequence[EnrollmentRow],
    ) -> None:
        self.now = now
        by_app: dict[int, set[str]] = defaultdict(set)
        journeys_by_app: dict[int, set[int]] = defaultdict(set)
        for row in rows:
            by_app[row.application_id].add(row.customer_id)
            journeys_by_app[row.application_id].add(row.journey_id)
        self.customers: dict[tuple[int, str], Any] = {}
        self.fields: dict[int, list[str]] = {}
        self.segments: dict[int, dict[int, Condition]] = {}
        self.events: dict[tuple[int, str], list[tuple[str, datetime]]] = defaultdict(list)
        self.sent: dict[tuple[int, str, datetime], int] = {}
        for app, ids in by_app.items():
            wanted = sorted(ids)
            in_app = [loaded[j] for j in journeys_by_app[app] if j in loaded]
            for start in range(0, len(wanted), 5000):
                chunk = wanted[start : start + 5000]
                for found in conn.execute(
                    select(customers).where(
                        customers.c.application_id == app, customers.c.customer_id.in_(chunk)
                    )
                ):
                    self.customers[(app, found.customer_id)] = customer_from_row(found)
                codes = sorted(set().union(*(j.uses_events for j in in_app)))
                if codes:
                    self._events(conn, app, chunk, codes)
                windows = {
                    j.journey.settings.frequency_cap.per
                    for j in in_app
                    if j.journey is not None and j.journey.settings.frequency_cap is not None
                }
                for per in windows:
                    self._sent(conn, app, chunk, per)
            field_types = load_field_types(conn, app)
            self.fields[app] = sorted(field_types)
            segment_ids = frozenset().union(*(j.segment_ids for j in in_app))
            self.segments[app] = (
                load_segments(conn, app, segment_ids, field_types) if segment_ids else {}
            )

    def _events(self, conn: Connection, app: int, chunk: list[str], codes: list[str]) -> None:
        for customer_id, code, at in conn.execute(
            select(events.c.customer_id, events.c.event_code, events.c.occurred_at).where(
                events.c.application_id == app,
                events.c.customer_id.in_(chunk),
                events.c.event_code.in_(codes),
                events.c.occurred_at <= self.now,
            )
        ):
            self.events[(app, customer_id)].append((code, at))

    def _sent(self, conn: Connection, app: int, chunk: list[str], per: Any) -> None:
        start = window_start(self.now, per)
        assert start is not None
        for customer_id, count in conn.execute(
            select(outbox.c.customer_id, func.count())
            .where(
                outbox.c.application_id == app,
                outbox.c.customer_id.in_(chunk),
                outbox.c.status.in_(("pending", "sent")),
                outbox.c.created_at > start,
            )
            .group_by(outbox.c.customer_id)
        ):
            self.sent[(app, customer_id, start)] = int(count)

    def of(self, row: EnrollmentRow, journey: Journey) -> Facts | None:
        customer = self.customers.get((row.application_id, row.customer_id))
        if customer is None:
            return None
        settings = journey.settings
        sent = 0
        if settings.frequency_cap is not None:
            start = window_start(self.now, settings.frequency_cap.per)
            sent = self.sent.get((row.application_id, row.customer_id, start), 0)  # type: ignore[arg-type]
        return facts_for(
            customer,
            settings,
            self.fields[row.application_id],
            events=self.events.get((row.application_id, row.customer_id), ()),
            segments=self.segments[row.application_id],
            sent_recently=sent,
        )


# ---------------------------------------------------------------------------------------------
# Events


def on_events(
    conn: Connection, application_id: int, records: Sequence[EventRecord], now: datetime
) -> int:
    """React to newly recorded events in the caller's transaction; how many moved or entered.

    Each event wakes its customer's enrollments waiting for its code (in event time order,
    one event per customer per round), then enrols the customer into the active
    ``IN_CUSTOM_EVENT`` journeys it matches and runs those new enrollments at once.
    """
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
    return moved + _event_entries(conn, application_id, ordered, now)


def _event_entries(
    conn: Connection, application_id: int, records: Sequence[EventRecord], now: datetime
) -> int:
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
        matching = [r for r in records if r.event_code == params.event_name]
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
        key = (journey_id, journey.entry.id, "entered", False, _hour(now))
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
    facts = _Facts(conn, now, {item.id: item}, rows)
    kept = []
    for record, row in zip(records, rows, strict=True):
        customer_facts = facts.of(row, item.journey)
        if customer_facts is not None and evaluate(
            cond, customer_facts.customer, now, segments=customer_facts.segments
        ):
            kept.append(record)
    return kept


def call_timeout(params: WebhookParams) -> float:
    """A webhook's timeout in seconds (``timeout`` param, 10 s by default)."""
    if params.timeout is None:
        return DEFAULT_CALL_TIMEOUT
    return max(0.1, float(params.timeout.seconds + 86400 * params.timeout.days))
