"""Journey statistics: per-state figures, message outcomes, goal conversions, random paths.

Per state: counters, live waiting counts, message outcomes, goal conversions, the random paths'
conversion with a confidence interval (one customer's path and the history CSV are in
``store.inspection``).

Everything is read with grouped set queries (one per kind of figure, one per ``FLOW_RANDOM``
path), never one query per customer. The caller owns the (read) transaction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from wayfare.model.durations import Duration
from wayfare.model.journey import Goal, parse_journey
from wayfare.model.states import MESSAGE_CHANNELS, RandomParams, SendParams, State
from wayfare.store.database import dialect_of
from wayfare.store.enrollments import DUE
from wayfare.store.journeys import get_journey
from wayfare.store.schema import enrollments, events, outbox, stat_counters

Z95 = 1.959963984540054
"""The normal quantile of a two-sided 95 % interval."""

DELIVERED_EVENTS = (*(f"{c.value}.delivered" for c in MESSAGE_CHANNELS), "push.received")
OPENED_EVENTS = ("email.open", "inapp.read", "whatsapp.read")
CLICKED_EVENTS = ("push.click", "link.click", "email.click", "inapp.click")
"""Message events counted for a message state when their ``customData.campaignId`` is the
state's campaign and they come from a recipient at or after the message was created."""

HANDED = ("pending", "sent")
"""Outbox statuses of a message handed to its channel (not skipped, not failed)."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A wilson 95 % interval of a proportion."""

    low: float
    high: float


def wilson(successes: int, trials: int, z: float = Z95) -> Interval | None:
    """The Wilson score interval of ``successes / trials`` (None without trials)."""
    if trials <= 0:
        return None
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def rate(part: int, whole: int) -> float | None:
    """``part / whole``, or None when ``whole`` is 0."""
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class MessageStats:
    """What happened to a message state's messages."""

    campaign_id: int
    sent: int
    skipped: dict[str, int]
    delivered: int
    failed: int
    opened: int
    clicked: int
    conversions: int | None


@dataclass(frozen=True, slots=True)
class PathStats:
    """One path of a ``FLOW_RANDOM``: how many took it and converted, with a 95 % interval.

    ``entered`` comes from the counters; ``attributed`` is how many of the enrollments that
    entered the journey in the interval are known to have taken it (by the states they reached
    that only this path leads to, or for a ``forward: null`` path by ending there).
    """

    index: int
    forward: int | None
    weight: float
    entered: int
    attributed: int
    conversions: int | None


@dataclass(frozen=True, slots=True)
class StateStats:
    """The figures of one state."""

    state_id: int
    type: str | None
    entered: int
    completed: int
    exited: int
    failed: int
    waiting: int
    branches: dict[str, int]
    messages: MessageStats | None = None
    paths: tuple[PathStats, ...] | None = None


@dataclass(frozen=True, slots=True)
class JourneyStats:
    """A journey's statistics over an interval (hour buckets), live or test runs."""

    journey_id: int
    date_from: datetime | None
    date_to: datetime | None
    test: bool
    entered: int
    waiting: int
    goal: Goal | None
    conversions: int | None
    states: tuple[StateStats, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# Helpers


def _in_interval(
    column: Any, date_from: datetime | None, date_to: datetime | None
) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if date_from is not None:
        conditions.append(column >= date_from)
    if date_to is not None:
        conditions.append(column < date_to)
    return and_(true(), *conditions)


def _within_end(conn: Connection, start: Any, within: Duration, moment: Any) -> Any:
    """Whether ``moment`` is at most ``within`` after ``start`` (both columns), in SQL."""
    if dialect_of(conn).is_postgres:
        return moment <= start + cast(literal(str(within)), postgresql.INTERVAL)
    sign = "-" if within.negative else "+"
    modifiers = [
        f"{sign}{value} {unit}"
        for value, unit in (
            (within.years, "years"),
            (within.months, "months"),
            (within.days, "days"),
            (within.seconds, "seconds"),
        )
        if value
    ]
    return func.julianday(moment) <= func.julianday(start, *[literal(m) for m in modifiers])


def _goal_match(
    conn: Connection, application_id: int, goal: Goal, entry: Any, after: Any
) -> list[ColumnElement[bool]]:
    """An event that is the goal reached by the enrollment ``entry`` at or after ``after``."""
    conditions = [
        events.c.application_id == application_id,
        events.c.customer_id == entry.c.customer_id,
        events.c.event_code == goal.event_name,
        events.c.occurred_at >= after,
    ]
    if goal.within is not None:
        conditions.append(_within_end(conn, entry.c.entered_at, goal.within, events.c.occurred_at))
    return conditions


def _converted(
    conn: Connection, application_id: int, goal: Goal, entry: Any, after: Any
) -> ColumnElement[bool]:
    """Whether the enrollment ``entry`` reached the goal at or after ``after`` (a column)."""
    return exists().where(*_goal_match(conn, application_id, goal, entry, after))


def _reach(states: dict[int, State], start: int | None) -> set[int]:
    """The states reachable from ``start`` (itself included)."""
    seen: set[int] = set()
    todo = [start] if start is not None else []
    while todo:
        current = todo.pop()
        if current in seen or current not in states:
            continue
        seen.add(current)
        todo.extend(states[current].next_ids())
    return seen


# ---------------------------------------------------------------------------------------------
# Statistics


def journey_stats(
    conn: Connection,
    application_id: int,
    journey_id: int,
    *,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    test: bool = False,
) -> JourneyStats:
    """The statistics of the application's journey ``journey_id`` (``NotFound`` if none such).

    Counters are filtered by their hour bucket (``date_from`` inclusive, ``date_to``
    exclusive), conversions and message outcomes by the enrollment's entry time and the
    message's creation time in the same interval. ``waiting`` is the live count now.
    """
    stored = get_journey(conn, application_id, journey_id)
    parsed = parse_journey(stored.document())
    states = {s.id: s for s in parsed.states}
    goal = parsed.settings.goal if parsed.settings is not None else None
    entry_id = next((s.id for s in parsed.states if s.type.is_entry), None)

    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = conn.execute(
        select(stat_counters.c.state_id, stat_counters.c.metric, func.sum(stat_counters.c.value))
        .where(
            stat_counters.c.journey_id == journey_id,
            stat_counters.c.test.is_(test),
            _in_interval(stat_counters.c.bucket, date_from, date_to),
        )
        .group_by(stat_counters.c.state_id, stat_counters.c.metric)
    )
    for state_id, metric, value in rows:
        counts[int(state_id)][str(metric)] = int(value)

    waiting: dict[int, int] = {
        int(s): int(n)
        for s, n in conn.execute(
            select(enrollments.c.state_id, func.count())
            .where(enrollments.c.journey_id == journey_id, enrollments.c.test.is_(test), DUE)
            .group_by(enrollments.c.state_id)
        )
    }

    entered_window = and_(
        enrollments.c.journey_id == journey_id,
        enrollments.c.test.is_(test),
        _in_interval(enrollments.c.entered_at, date_from, date_to),
    )
    conversions: int | None = None
    if goal is not None:
        hit = _converted(conn, application_id, goal, enrollments, enrollments.c.entered_at)
        conversions = int(
            conn.execute(
                select(func.count()).select_from(enrollments).where(entered_window, hit)
            ).scalar_one()
        )

    messages = _message_stats(conn, application_id, journey_id, goal, test, date_from, date_to)

    ids = list(dict.fromkeys([*states, *sorted(counts), *sorted(waiting)]))
    result: list[StateStats] = []
    for state_id in ids:
        metrics = counts.get(state_id, {})
        state = states.get(state_id)
        message = None
        if state is not None and isinstance(state.params, SendParams):
            outcome = messages.get(state_id, {})
            message = MessageStats(
                campaign_id=state.params.campaign_id,
                sent=metrics.get("sent", 0),
                skipped={
                    m.removeprefix("skipped:"): v
                    for m, v in metrics.items()
                    if m.startswith("skipped:")
                },
                delivered=outcome.get("delivered", 0),
                failed=outcome.get("failed", 0),
                opened=outcome.get("opened", 0),
                clicked=outcome.get("clicked", 0),
                conversions=None if goal is None else outcome.get("conversions", 0),
            )
        paths = None
        if state is not None and isinstance(state.params, RandomParams):
            paths = _path_stats(
                conn,
                application_id,
                journey_id,
                states,
                state,
                state.params,
                metrics,
                goal,
                entered_window,
            )
        result.append(
            StateStats(
                state_id=state_id,
                type=state.type.value if state is not None else None,
                entered=metrics.get("entered", 0),
                completed=metrics.get("completed", 0),
                exited=metrics.get("exited", 0),
                failed=metrics.get("failed", 0),
                waiting=waiting.get(state_id, 0),
                branches={
                    m.removeprefix("branch:"): v
                    for m, v in metrics.items()
                    if m.startswith("branch:")
                },
                messages=message,
                paths=paths,
            )
        )
    return JourneyStats(
        journey_id=journey_id,
        date_from=date_from,
        date_to=date_to,
        test=test,
        entered=counts.get(entry_id, {}).get("entered", 0) if entry_id is not None else 0,
        waiting=sum(waiting.values()),
        goal=goal,
        conversions=conversions,
        states=tuple(result),
    )


def _message_stats(
    conn: Connection,
    application_id: int,
    journey_id: int,
    goal: Goal | None,
    test: bool,
    date_from: datetime | None,
    date_to: datetime | None,
) -> dict[int, dict[str, int]]:
    """Per message state: failed, delivered, opened, clicked (and conversions).

    Three grouped queries over the journey's outbox rows: their statuses, a join with the
    message events of their campaigns, a join with the goal events (joins, not a correlated
    test per row: PostgreSQL hashes them).
    """
    sent = outbox.join(enrollments, enrollments.c.id == outbox.c.enrollment_id)
    scope = and_(
        outbox.c.application_id == application_id,
        outbox.c.journey_id == journey_id,
        outbox.c.state_id.is_not(None),
        enrollments.c.test.is_(test),
        _in_interval(outbox.c.created_at, date_from, date_to),
    )
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for state_id, failed in conn.execute(
        select(outbox.c.state_id, func.sum(case((outbox.c.status == "failed", 1), else_=0)))
        .select_from(sent)
        .where(scope)
        .group_by(outbox.c.state_id)
    ):
        found[int(state_id)]["failed"] = int(failed or 0)

    def recipients(codes: Sequence[str]) -> Any:
        hit = case((events.c.event_code.in_(codes), outbox.c.enrollment_id), else_=None)
        return func.count(func.distinct(hit))

    campaign = dialect_of(conn).json_text(events.c.custom_data, "campaignId")
    tracked = and_(
        events.c.application_id == application_id,
        events.c.customer_id == outbox.c.customer_id,
        events.c.event_code.in_((*DELIVERED_EVENTS, *OPENED_EVENTS, *CLICKED_EVENTS)),
        cast(campaign, String) == cast(outbox.c.campaign_id, String),
        events.c.occurred_at >= outbox.c.created_at,
    )
    for state_id, delivered, opened, clicked in conn.execute(
        select(
            outbox.c.state_id,
            recipients(DELIVERED_EVENTS),
            recipients(OPENED_EVENTS),
            recipients(CLICKED_EVENTS),
        )
        .select_from(sent.join(events, tracked))
        .where(scope)
        .group_by(outbox.c.state_id)
    ):
        found[int(state_id)].update(
            delivered=int(delivered), opened=int(opened), clicked=int(clicked)
        )
    if goal is not None:
        reached = and_(*_goal_match(conn, application_id, goal, enrollments, outbox.c.created_at))
        for state_id, conversions in conn.execute(
            select(outbox.c.state_id, func.count(func.distinct(outbox.c.enrollment_id)))
            .select_from(sent.join(events, reached))
            .where(scope, outbox.c.status.in_(HANDED))
            .group_by(outbox.c.state_id)
        ):
            found[int(state_id)]["conversions"] = int(conversions)
    return found


def _path_stats(
    conn: Connection,
    application_id: int,
    journey_id: int,
    states: dict[int, State],
    random_state: State,
    params: RandomParams,
    metrics: dict[str, int],
    goal: Goal | None,
    entered_window: ColumnElement[bool],
) -> tuple[PathStats, ...]:
    """Each path of a ``FLOW_RANDOM``: entered (counters), attributed and converted enrollments.

    One grouped query for all paths. An enrollment took path ``i`` if it is now in, or got a
    message from, a state that only path ``i`` leads to; a ``forward: null`` path (when it is
    the only one) owns the enrollments completed at the random state itself.
    """
    reaches = [_reach(states, p.forward) for p in params.paths]
    nulls = [i for i, p in enumerate(params.paths) if p.forward is None]
    converted: Any = None
    if goal is not None:
        converted = (
            select(enrollments.c.id)
            .select_from(
                enrollments.join(
                    events,
                    and_(
                        *_goal_match(
                            conn, application_id, goal, enrollments, enrollments.c.entered_at
                        )
                    ),
                )
            )
            .where(entered_window)
            .distinct()
            .subquery("converted")
        )
    columns: list[Any] = []
    for index in range(len(params.paths)):
        others: set[int] = set().union(*(r for j, r in enumerate(reaches) if j != index))
        own = sorted(reaches[index] - others - {random_state.id})
        evidence: list[ColumnElement[bool]] = []
        if own:
            evidence.append(enrollments.c.state_id.in_(own))
            messaged = select(outbox.c.enrollment_id).where(
                outbox.c.application_id == application_id,
                outbox.c.journey_id == journey_id,
                outbox.c.state_id.in_(own),
            )
            evidence.append(enrollments.c.id.in_(messaged))
        if nulls == [index]:
            evidence.append(
                and_(
                    enrollments.c.state_id == random_state.id,
                    enrollments.c.status == literal_column("'completed'"),
                )
            )
        took = or_(*evidence) if evidence else false()
        columns.append(func.sum(case((took, 1), else_=0)))
        if converted is not None:
            columns.append(func.sum(case((and_(took, converted.c.id.is_not(None)), 1), else_=0)))
    source: Any = enrollments
    if converted is not None:
        source = enrollments.outerjoin(converted, converted.c.id == enrollments.c.id)
    row = conn.execute(select(*columns).select_from(source).where(entered_window)).one()
    step = 1 if converted is None else 2
    return tuple(
        PathStats(
            index=index,
            forward=path.forward,
            weight=path.weight,
            entered=metrics.get(f"branch:paths[{index}]", 0),
            attributed=int(row[index * step] or 0),
            conversions=None if converted is None else int(row[index * step + 1] or 0),
        )
        for index, path in enumerate(params.paths)
    )


# ---------------------------------------------------------------------------------------------
# Inspection
