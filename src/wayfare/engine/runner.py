"""The engine's claim-and-run batch: due enrollments claimed, run, and their outcomes written.

Every change of an enrollment commits with the outbox rows and counters it causes, in the
caller's (or the tick's) one transaction. Work is done in sets: one query per kind of fact per
batch, one ``executemany`` per table written.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, select

from wayfare.channels.dispatch import deliver_in_place
from wayfare.channels.webhook import call_timeout
from wayfare.engine.advance import run
from wayfare.engine.decisions import Enrollment as EngineEnrollment
from wayfare.engine.decisions import Event, Facts, Outcome, Status, WebhookResponse
from wayfare.engine.entries import PutResult, put_customers, start_journey, stop_journey
from wayfare.engine.events import on_events
from wayfare.engine.inputs import BatchFacts, LoadedJourney, load_journeys
from wayfare.engine.wake import LOCAL_WAKE, notify
from wayfare.model.journey import Journey
from wayfare.model.states import WebhookParams
from wayfare.store import enrollments as store
from wayfare.store import experiments, outbox
from wayfare.store.enrollments import Change, CounterKey, EnrollmentRow
from wayfare.store.schema import campaigns

__all__ = [
    "BULK_MIN",
    "LOCAL_WAKE",
    "Batch",
    "LoadedJourney",
    "Pending",
    "PutResult",
    "advance",
    "load_journeys",
    "notify",
    "on_events",
    "put_customers",
    "run_due",
    "start_journey",
    "stop_journey",
    "write",
]

TERMINAL = (Status.COMPLETED, Status.EXITED, Status.FAILED)
CALL_LEASE = timedelta(seconds=30)
"""How long a claimed webhook call is reserved for its worker beyond its own timeout."""


# ---------------------------------------------------------------------------------------------
# Running a batch of enrollments


@dataclass(frozen=True, slots=True)
class Pending:
    """A webhook call to make outside the transaction, then to apply to ``row``."""

    row_id: int
    expected: int
    key: str
    params: WebhookParams
    application_id: int
    customer_id: str
    context: Mapping[str, Any]


@dataclass(slots=True)
class Batch:
    """What a batch of runs writes, gathered before one write per table."""

    changes: list[Change] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[CounterKey] = field(default_factory=Counter)
    saves: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    calls: list[Pending] = field(default_factory=list)
    campaign_ids: set[int] = field(default_factory=set)
    draws: list[experiments.Draw] = field(default_factory=list)


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
    facts = BatchFacts(conn, now, loaded, [row for row, _, _ in items])
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
    loaded = load_journeys(conn, {int(row[5]) for row in claimed})
    groups: dict[tuple[Any, ...], list[Member]] = defaultdict(list)
    single: list[int] = []
    for row in claimed:
        journey = loaded.get(int(row[5]))
        if journey is not None and journey.bulk:
            groups[tuple(row[4:])].append(Member(int(row[0]), str(row[1]), int(row[2]), row[3]))
        else:
            single.append(int(row[0]))
    for key in [k for k, members in groups.items() if len(members) < BULK_MIN]:
        single.extend(member.id for member in groups.pop(key))
    calls: list[Pending] = []
    if single:
        rows = store.lock_by_ids(conn, sorted(single))
        calls = advance(conn, [(row, None, None) for row in rows], now)
    if groups:
        _run_groups(conn, list(groups.values()), now)
    return len(claimed), calls


@dataclass(frozen=True, slots=True)
class Member:
    """An enrollment of a group that runs alike: what its own outbox rows need."""

    id: int
    customer_id: str
    entry_number: int
    context: str
    """The context as JSON text."""


def _run_groups(conn: Connection, groups: list[list[Member]], now: datetime) -> None:
    found = {row.id: row for row in store.lock_by_ids(conn, sorted(g[0].id for g in groups))}
    groups = [members for members in groups if members[0].id in found]
    leaders = [found[members[0].id] for members in groups]
    batches = [Batch() for _ in groups]
    _decide(conn, [(row, None, None) for row in leaders], now, batches)
    counts: Counter[CounterKey] = Counter()
    rows: list[dict[str, Any]] = []
    contexts: dict[str, Any] = {}
    for members, leader, batch in zip(groups, leaders, batches, strict=True):
        assert not batch.calls and not batch.saves and len(batch.changes) == 1
        change = batch.changes[0]
        store.update_group(conn, [m.id for m in members], change.expected, change.values)
        prefix = f"{leader.journey_id}:{leader.customer_id}:{leader.entry_number}:"
        for item in batch.outbox:
            key = item["idempotency_key"]
            assert key.startswith(prefix)
            suffix = key[len(prefix) :]
            journey_id = leader.journey_id
            payloads: dict[tuple[int, str], dict[str, Any]] = {}  # alike members share one
            for m in members:
                payload = payloads.get((m.entry_number, m.context))
                if payload is None:
                    context = contexts.get(m.context)
                    if context is None:
                        context = contexts[m.context] = orjson.loads(m.context)
                    payload = item["payload"] | {"entryNumber": m.entry_number, "context": context}
                    payloads[(m.entry_number, m.context)] = payload
                own_key = f"{journey_id}:{m.customer_id}:{m.entry_number}:{suffix}"
                rows.append(
                    item
                    | {
                        "idempotency_key": own_key,
                        "enrollment_id": m.id,
                        "customer_id": m.customer_id,
                        "payload": payload,
                    }
                )
        for counter, value in batch.counts.items():
            counts[counter] += value * len(members)
    store.add_counters(conn, counts)
    if rows:
        _write_outbox(conn, rows, now)


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


def _end(batch: Batch, row: EnrollmentRow, status: Status, reason: str, now: datetime) -> None:
    batch.changes.append(
        Change(
            row.id,
            row.transitions,
            _values(row.state_id, status, None, None, {}, row.transitions + 1, row.state_since)
            | {"updated_at": now, "ended_at": now, "end_reason": reason},
        )
    )
    batch.counts[
        (row.journey_id, row.state_id, status.value, row.test, store.counter_hour(now))
    ] += 1


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
    batch.calls.append(
        Pending(
            row.id,
            row.transitions,
            key,
            params,
            row.application_id,
            row.customer_id,
            row.context,
        )
    )


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
    values["path"] = store.path_text((a.state_id, a.at) for a in outcome.arrivals)
    values["updated_at"] = now
    values["ended_at"] = now if terminal else None
    values["end_reason"] = outcome.reason if terminal else None
    batch.changes.append(Change(row.id, row.transitions, values))
    for arrival in outcome.arrivals:
        counts[(jid, arrival.state_id, "entered", test, store.counter_hour(arrival.at))] += 1
    for departure in outcome.departures:
        counts[
            (
                jid,
                departure.state_id,
                "branch:" + departure.branch,
                test,
                store.counter_hour(departure.at),
            )
        ] += 1
    if terminal:
        last = outcome.departures[-1].at if outcome.departures else now
        counts[(jid, e.state_id, outcome.status.value, test, store.counter_hour(last))] += 1
    for drawn in outcome.draws:
        batch.draws.append(
            experiments.Draw(
                row.application_id, jid, drawn.state_id, drawn.path, row.customer_id, drawn.at
            )
        )
    payload = {"entryNumber": e.entry_number, "context": dict(e.context)}
    if test:
        payload["test"] = True
    for send in outcome.sends:
        metric = "sent" if send.skipped is None else "skipped:" + send.skipped
        counts[(jid, send.state_id, metric, test, store.counter_hour(send.at))] += 1
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
    """Write a batch: enrollments (guarded), outbox rows, counters, draws, saved fields."""
    store.update_enrollments(conn, batch.changes)
    if batch.outbox:
        _write_outbox(conn, batch.outbox, now)
    store.add_counters(conn, batch.counts)
    experiments.write_draws(conn, batch.draws)
    for application_id, saves in batch.saves.items():
        store.save_fields(conn, application_id, saves, now)
    if any(c.values["status"] == "ready" for c in batch.changes):
        notify(conn)


def _write_outbox(conn: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
    """Insert new outbox rows, the ``log`` channel's delivered at once; wake the dispatch."""
    _existing_campaigns(conn, rows)
    deliver_in_place(conn, rows, now)
    outbox.insert_outbox(conn, rows)
    if any(row["status"] == "pending" for row in rows):
        notify(conn)


def _existing_campaigns(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Outbox rows of a deleted campaign keep its id in the payload only (the key is gone)."""
    wanted = sorted({row["campaign_id"] for row in rows if row["campaign_id"] is not None})
    existing = set(conn.execute(select(campaigns.c.id).where(campaigns.c.id.in_(wanted))).scalars())
    for row in rows:
        if row["campaign_id"] not in existing:
            row["campaign_id"] = None
