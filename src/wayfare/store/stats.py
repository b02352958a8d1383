"""Journey statistics: per-state figures, message outcomes, goal conversions, random paths.

Per state: counters, live waiting counts, message outcomes, goal conversions, the random paths'
conversion with a confidence interval (one customer's path and the history CSV are in
``store.inspection``). Over time: the journey's entered and message figures per bucket of an
interval (``journey_series``), each bucket counted as ``journey_stats`` counts it, and the step a
chart of them uses by default (``series_step``, for the console and the API alike).

Everything is read with grouped set queries (one per kind of figure, one per ``FLOW_RANDOM``
path), never one query per customer or per bucket. The caller owns the (read) transaction.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
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
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.sql.elements import ColumnElement

from wayfare.errors import InvalidInput, Problem
from wayfare.model.durations import Duration
from wayfare.model.journey import HOLDOUT, Goal, parse_journey
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
MAX_BUCKETS = 10_000
"""The most buckets ``journey_series`` counts in one call."""
SERIES_POINTS = 31
"""The most buckets ``series_step`` chooses for an interval (the points of a readable chart)."""
SERIES_STEPS = tuple(
    [timedelta(hours=h) for h in (1, 2, 3, 6, 12)]
    + [timedelta(days=d) for d in (1, 2, 3, 7, 14, 28)]
)
"""The steps ``series_step`` chooses from, smallest first: per hour for a day, per day for a
month; past them, whole weeks."""


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


def difference_interval(x1: int, n1: int, x2: int, n2: int) -> Interval | None:
    """A 95 % interval of ``x1/n1 - x2/n2`` (Newcombe's hybrid of two Wilson intervals)."""
    first, second = wilson(x1, n1), wilson(x2, n2)
    if first is None or second is None:
        return None
    p1, p2 = x1 / n1, x2 / n2
    below = math.sqrt((p1 - first.low) ** 2 + (second.high - p2) ** 2)
    above = math.sqrt((first.high - p1) ** 2 + (p2 - second.low) ** 2)
    return Interval(p1 - p2 - below, p1 - p2 + above)


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
    send_time: str = "now"
    """``best`` for a best-time send, else ``now``."""


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
class HoldoutStats:
    """A journey's holdout against the rest of its entrants (conversions: with a goal only)."""

    share: float
    held_out: int
    held_out_conversions: int | None
    treated: int
    treated_conversions: int | None


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
    holdout: HoldoutStats | None = None


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
        conditions.append(
            dialect_of(conn).within(entry.c.entered_at, goal.within, events.c.occurred_at)
        )
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
    share = parsed.settings.holdout if parsed.settings is not None else 0.0
    holdout = None
    if share > 0 and not test:
        holdout = _holdout_stats(conn, application_id, goal, share, entered_window)

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
                send_time="now" if state.params.best_time is None else "best",
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
        holdout=holdout,
    )


def _holdout_stats(
    conn: Connection,
    application_id: int,
    goal: Goal | None,
    share: float,
    entered_window: ColumnElement[bool],
) -> HoldoutStats:
    """Entrants held out and the others, with their goal conversions: one grouped query."""
    held = func.coalesce(enrollments.c.end_reason, "") == HOLDOUT
    hit: Any = false()
    if goal is not None:
        hit = _converted(conn, application_id, goal, enrollments, enrollments.c.entered_at)
    rows = conn.execute(
        select(held, func.count(), func.sum(case((hit, 1), else_=0)))
        .where(entered_window)
        .group_by(held)
    )
    found = {bool(group): (int(count), int(hits or 0)) for group, count, hits in rows}
    held_out, held_hits = found.get(True, (0, 0))
    treated, treated_hits = found.get(False, (0, 0))
    if goal is None:
        return HoldoutStats(share, held_out, None, treated, None)
    return HoldoutStats(share, held_out, held_hits, treated, treated_hits)


def _sent_messages(
    application_id: int,
    journey_id: int,
    test: bool,
    date_from: datetime | None,
    date_to: datetime | None,
) -> tuple[Any, ColumnElement[bool]]:
    """Where message outcomes are counted: the journey's outbox rows created in the interval.

    A FROM (the rows with their enrollments, for ``test``) and a WHERE.
    """
    sent = outbox.join(enrollments, enrollments.c.id == outbox.c.enrollment_id)
    scope = and_(
        outbox.c.application_id == application_id,
        outbox.c.journey_id == journey_id,
        outbox.c.state_id.is_not(None),
        enrollments.c.test.is_(test),
        _in_interval(outbox.c.created_at, date_from, date_to),
    )
    return sent, scope


def _tracked(conn: Connection, application_id: int) -> ColumnElement[bool]:
    """An event that is a delivery, open or click of the outbox row's message.

    A message event of the recipient naming the message's campaign, at or after its creation.
    """
    campaign = dialect_of(conn).json_text(events.c.custom_data, "campaignId")
    return and_(
        events.c.application_id == application_id,
        events.c.customer_id == outbox.c.customer_id,
        events.c.event_code.in_((*DELIVERED_EVENTS, *OPENED_EVENTS, *CLICKED_EVENTS)),
        cast(campaign, String) == cast(outbox.c.campaign_id, String),
        events.c.occurred_at >= outbox.c.created_at,
    )


def _recipients(codes: Sequence[str], enrollment: Any, code: Any) -> Any:
    """How many distinct enrollments (recipients) have one of the events ``codes``."""
    return func.count(func.distinct(case((code.in_(codes), enrollment), else_=None)))


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
    sent, scope = _sent_messages(application_id, journey_id, test, date_from, date_to)
    found: dict[int, dict[str, int]] = defaultdict(dict)
    for state_id, failed in conn.execute(
        select(outbox.c.state_id, func.sum(case((outbox.c.status == "failed", 1), else_=0)))
        .select_from(sent)
        .where(scope)
        .group_by(outbox.c.state_id)
    ):
        found[int(state_id)]["failed"] = int(failed or 0)

    enrollment, code = outbox.c.enrollment_id, events.c.event_code
    for state_id, delivered, opened, clicked in conn.execute(
        select(
            outbox.c.state_id,
            _recipients(DELIVERED_EVENTS, enrollment, code),
            _recipients(OPENED_EVENTS, enrollment, code),
            _recipients(CLICKED_EVENTS, enrollment, code),
        )
        .select_from(sent.join(events, _tracked(conn, application_id)))
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
# Over time


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """A journey's figures over one bucket ``[start, end)``: ``journey_stats`` over that interval.

    ``entered`` is the journey's; the message figures are summed over its message states
    (``sent`` and ``skipped`` from the counters, the rest recipients of its messages created in
    the bucket).
    """

    start: datetime
    end: datetime
    entered: int
    sent: int
    skipped: int
    delivered: int
    opened: int
    clicked: int


def _index(number: Any, count: int) -> int:
    """A bucket number read back, checked to be one of the series' (else a bug, not a point)."""
    index = int(number)
    if not 0 <= index < count:
        raise AssertionError(f"bucket {index} is outside the series' {count} buckets")
    return index


def series_step(start: datetime, end: datetime) -> tuple[datetime, timedelta]:
    """The first bucket and the step of a series from ``start`` until ``end``, for a chart.

    The step is the smallest of ``SERIES_STEPS`` giving at most ``SERIES_POINTS`` buckets from
    the first one, else whole weeks; the first bucket is ``start`` brought back to the hour, or
    to midnight for steps of days (in ``start``'s time zone: UTC for Wayfare's).
    """
    for step in SERIES_STEPS:
        first = start.replace(minute=0, second=0, microsecond=0)
        if step >= timedelta(days=1):
            first = first.replace(hour=0)
        if math.ceil((end - first) / step) <= SERIES_POINTS:
            return first, step
    weeks = math.ceil((end - first) / timedelta(days=7 * SERIES_POINTS))
    return first, timedelta(days=7 * weeks)


PAST_CALENDAR = "past_calendar"
"""The code of ``journey_series``'s problem when its last bucket would end past year 9999."""


def journey_series(
    conn: Connection,
    application_id: int,
    journey_id: int,
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    test: bool = False,
) -> tuple[SeriesPoint, ...]:
    """The figures of the journey ``journey_id`` per ``step`` from ``start`` until ``end``.

    The buckets are ``start + i * step`` for each one that begins before ``end``, each ``step``
    long (the last may run past ``end``); each point counts exactly what ``journey_stats``
    counts over its bucket, in two grouped queries for the whole series (counters, message
    events) instead of a ``journey_stats`` per bucket. The points add up to ``journey_stats``
    over their whole span, except for a recipient that got a state's message in two buckets
    (a journey passing through it twice): counted once per bucket, once over the span.
    ``NotFound`` if the application has no such journey, ``InvalidInput`` for a bad step.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError(f"naive bounds {start!r}, {end!r}: Wayfare compares aware datetimes")
    if step <= timedelta(0) or step % timedelta(microseconds=1):
        raise InvalidInput(
            problems=[Problem("step", f"{step} is not a positive number of microseconds", "range")]
        )
    count = max(0, -(-(end - start) // step))
    if count > MAX_BUCKETS:
        raise InvalidInput(
            problems=[Problem("step", f"{count} buckets of {step}: at most {MAX_BUCKETS}", "range")]
        )
    try:
        end_of_last = start + count * step
    except OverflowError:
        whole = not step.microseconds
        length = Duration(days=step.days, seconds=step.seconds) if whole else step
        problem = Problem("step", f"the last bucket of {length} would end past 9999", PAST_CALENDAR)
        raise InvalidInput(problems=[problem]) from None
    parsed = parse_journey(get_journey(conn, application_id, journey_id).document())
    starts = [start + number * step for number in range(count)]
    if not starts:
        return ()
    entry_id = next((s.id for s in parsed.states if s.type.is_entry), None)
    senders = [s.id for s in parsed.states if isinstance(s.params, SendParams)]
    figures: list[dict[str, int]] = [defaultdict(int) for _ in starts]
    stop = end_of_last
    dialect = dialect_of(conn)

    metric = stat_counters.c.metric
    wanted: list[ColumnElement[bool]] = []
    if entry_id is not None:
        wanted.append(and_(stat_counters.c.state_id == entry_id, metric == "entered"))
    if senders:
        sends = or_(metric == "sent", metric.startswith("skipped:", autoescape=True))
        wanted.append(and_(stat_counters.c.state_id.in_(senders), sends))
    if wanted:
        kind = case((metric.startswith("skipped:", autoescape=True), "skipped"), else_=metric)
        counted = (
            select(
                dialect.bucket_number(stat_counters.c.bucket, start, step).label("number"),
                kind.label("kind"),
                stat_counters.c.value,
            )
            .where(
                stat_counters.c.journey_id == journey_id,
                stat_counters.c.test.is_(test),
                _in_interval(stat_counters.c.bucket, start, stop),
                or_(*wanted),
            )
            .subquery("counted")
        )
        for number, name, value in conn.execute(
            select(counted.c.number, counted.c.kind, func.sum(counted.c.value)).group_by(
                counted.c.number, counted.c.kind
            )
        ):
            figures[_index(number, count)][str(name)] += int(value)

    if senders:
        sent, scope = _sent_messages(application_id, journey_id, test, start, stop)
        tracked = (
            select(
                dialect.bucket_number(outbox.c.created_at, start, step).label("number"),
                outbox.c.state_id,
                outbox.c.enrollment_id,
                events.c.event_code,
            )
            .select_from(sent.join(events, _tracked(conn, application_id)))
            .where(scope, outbox.c.state_id.in_(senders))
            .subquery("tracked")
        )
        enrollment, code = tracked.c.enrollment_id, tracked.c.event_code
        for number, _state, delivered, opened, clicked in conn.execute(
            select(
                tracked.c.number,
                tracked.c.state_id,
                _recipients(DELIVERED_EVENTS, enrollment, code),
                _recipients(OPENED_EVENTS, enrollment, code),
                _recipients(CLICKED_EVENTS, enrollment, code),
            ).group_by(tracked.c.number, tracked.c.state_id)
        ):
            point = figures[_index(number, count)]
            point["delivered"] += int(delivered)
            point["opened"] += int(opened)
            point["clicked"] += int(clicked)

    return tuple(
        SeriesPoint(
            start=moment,
            end=moment + step,
            entered=found["entered"],
            sent=found["sent"],
            skipped=found["skipped"],
            delivered=found["delivered"],
            opened=found["opened"],
            clicked=found["clicked"],
        )
        for moment, found in zip(starts, figures, strict=True)
    )


# ---------------------------------------------------------------------------------------------
# Inspection
