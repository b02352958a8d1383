"""What the statistics page of a journey shows, worked out from ``store.stats``.

The interval and run kind asked for (``Interval``), the message states' lines, the random paths
compared (the best named only when its 95 % interval clears the others'), the notes written on
the graph's states, and the chart over time: ``journey_series`` over the buckets of the interval
(each point what ``journey_stats`` counts over its bucket, all read at once), so that its points
add up to the tables' figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from markupsafe import Markup
from sqlalchemy import Connection

from wayfare.console.charts import Series, line_chart
from wayfare.errors import InvalidInput, NotFound, Problem
from wayfare.model.states import SendParams, State
from wayfare.store.campaigns import get_campaign
from wayfare.store.journeys import StoredJourney
from wayfare.store.stats import (
    JourneyStats,
    PathStats,
    StateStats,
    journey_series,
    journey_stats,
    rate,
    series_step,
    wilson,
)

# ---------------------------------------------------------------------------------------------
# The interval


@dataclass(frozen=True, slots=True)
class Interval:
    """What the page shows: the days asked for, and test runs or live ones.

    The days (both included) are kept as typed and as the half-open UTC range they mean.
    """

    from_text: str
    to_text: str
    start: datetime | None
    end: datetime | None
    test: bool = False

    @property
    def query(self) -> str:
        """``from=…&to=…&test=1`` for links that keep the filter (empty when there is none)."""
        parts = [f"from={self.from_text}"] if self.start else []
        parts += [f"to={self.to_text}"] if self.end else []
        parts += ["test=1"] if self.test else []
        return "&".join(parts)


def _day(name: str, label: str, value: str | None) -> date | None:
    if value is None or value.strip() == "":
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            problems=[Problem(name, f"{label}: {value!r} is not a date (YYYY-MM-DD)", "format")]
        ) from None


def read_interval(from_text: str | None, to_text: str | None, test: bool = False) -> Interval:
    """The interval of ``from`` and ``to`` (days, both included); ``InvalidInput`` naming them."""
    problems: list[Problem] = []
    first = last = None
    try:
        first = _day("from", "From", from_text)
    except InvalidInput as error:
        problems.extend(error.problems)
    try:
        last = _day("to", "To", to_text)
    except InvalidInput as error:
        problems.extend(error.problems)
    if last == date.max:
        problems.append(Problem("to", f"To: must be before {date.max.isoformat()}", "range"))
    if first is not None and last is not None and last < first:
        problems.append(Problem("to", "To: must be on or after From", "range"))
    if problems:
        raise InvalidInput(problems=problems)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC) if first else None
    end = (
        datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1) if last else None
    )
    return Interval(
        first.isoformat() if first else "", last.isoformat() if last else "", start, end, test
    )


def period_stats(
    conn: Connection, application_id: int, journey_id: int, interval: Interval
) -> JourneyStats:
    """``journey_stats`` over ``interval`` (its days, live or test runs)."""
    return journey_stats(
        conn,
        application_id,
        journey_id,
        date_from=interval.start,
        date_to=interval.end,
        test=interval.test,
    )


# ---------------------------------------------------------------------------------------------
# What the page shows


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A message state's line of the messages table."""

    state_id: int
    campaign_id: int
    campaign: str
    channel: str
    sent: int
    skipped: int
    delivered: int
    opened: int
    clicked: int
    click_rate: float | None
    conversions: int | None


@dataclass(frozen=True, slots=True)
class PathColumn:
    """One path of a random state, as compared with the others."""

    number: int
    target: str
    share: float
    entered: int
    successes: int | None
    rate: float | None
    low: float | None
    high: float | None
    best: bool


@dataclass(frozen=True, slots=True)
class PathComparison:
    """A ``FLOW_RANDOM`` state's paths side by side, and what can be said of them."""

    state_id: int
    measure: str
    columns: tuple[PathColumn, ...]
    verdict: str


def campaign_names(conn: Connection, application_id: int, ids: set[int]) -> dict[int, str]:
    """The names of the campaigns ``ids`` (a removed one says so)."""
    names: dict[int, str] = {}
    for campaign_id in sorted(ids):
        try:
            names[campaign_id] = get_campaign(conn, application_id, campaign_id).name
        except NotFound:
            names[campaign_id] = f"campaign {campaign_id} (removed)"
    return names


def message_rows(
    stats: JourneyStats, states: Mapping[int, State], names: Mapping[int, str]
) -> list[MessageRow]:
    """The message states' lines, in the journey's order."""
    rows = []
    for state in stats.states:
        m = state.messages
        if m is None:
            continue
        kind = states.get(state.state_id)
        channel = kind.type.channel if kind is not None else None
        rows.append(
            MessageRow(
                state_id=state.state_id,
                campaign_id=m.campaign_id,
                campaign=names.get(m.campaign_id, f"campaign {m.campaign_id}"),
                channel=(channel.value if channel is not None else "")
                + (", best time" if m.send_time == "best" else ""),
                sent=m.sent,
                skipped=sum(m.skipped.values()),
                delivered=m.delivered,
                opened=m.opened,
                clicked=m.clicked,
                click_rate=rate(m.clicked, m.sent),
                conversions=m.conversions,
            )
        )
    return rows


def _first_message(states: Mapping[int, State], start: int | None) -> State | None:
    """The message state a path leads to first, following states with a single way on."""
    seen: set[int] = set()
    current = start
    while current is not None and current in states and current not in seen:
        seen.add(current)
        state = states[current]
        if isinstance(state.params, SendParams):
            return state
        following = state.next_ids()
        current = following[0] if len(following) == 1 else None
    return None


def compare_paths(
    stats: JourneyStats, states: Mapping[int, State], names: Mapping[int, str]
) -> list[PathComparison]:
    """Each random state's paths compared, the best named only when it clearly is.

    The measure is the goal's conversions when the journey has a goal, else the clicks on the
    first message of each path; a path is best when its 95 % interval is above every other's.
    """
    by_id = {s.state_id: s for s in stats.states}
    found = []
    for state in stats.states:
        if not state.paths:
            continue
        total = sum(p.weight for p in state.paths) or 1.0
        measure = f"conversions ({stats.goal.event_name})" if stats.goal else "clicks"
        columns = [_path_column(path, total, stats, states, by_id, names) for path in state.paths]
        found.append(
            PathComparison(state.state_id, measure, *_judge(columns, has_goal=bool(stats.goal)))
        )
    return found


def _path_column(
    path: PathStats,
    total: float,
    stats: JourneyStats,
    states: Mapping[int, State],
    by_id: Mapping[int, StateStats],
    names: Mapping[int, str],
) -> PathColumn:
    target = "the end" if path.forward is None else f"state {path.forward}"
    first = _first_message(states, path.forward)
    if first is not None and isinstance(first.params, SendParams):
        name = names.get(first.params.campaign_id, "")
        target += f" · {name}" if first.id == path.forward else f" → {first.id} · {name}"
    successes = path.conversions
    if stats.goal is None:
        figures = by_id.get(first.id) if first is not None else None
        successes = figures.messages.clicked if figures and figures.messages else None
    interval = None
    if successes is not None and path.entered:
        interval = wilson(min(successes, path.entered), path.entered)
    return PathColumn(
        number=path.index + 1,
        target=target,
        share=path.weight / total,
        entered=path.entered,
        successes=successes,
        rate=None if successes is None else rate(successes, path.entered),
        low=interval.low if interval else None,
        high=interval.high if interval else None,
        best=False,
    )


def _judge(columns: list[PathColumn], *, has_goal: bool) -> tuple[tuple[PathColumn, ...], str]:
    """The columns, the best one marked if its interval clears the others', and the verdict."""
    measured = [c for c in columns if c.rate is not None and c.low is not None]
    if not any(c.entered for c in columns):
        return tuple(columns), "No customer has taken these paths in this interval."
    if len(measured) < 2:
        what = "a goal or a message" if not has_goal else "customers on two paths"
        return tuple(columns), f"Nothing to compare yet: that needs {what}."
    best = max(measured, key=lambda c: c.rate or 0.0)
    others = [c for c in measured if c is not best]
    if all(best.low is not None and c.high is not None and best.low > c.high for c in others):
        marked = tuple(replace(c, best=True) if c is best else c for c in columns)
        return marked, f"Path {best.number} does best: its interval is above the others'."
    return tuple(columns), "Not yet significant: the 95 % intervals overlap."


NOTE_CHARS = 30
"""The characters a line of a note holds in a box of the graph (``graph._CHARS``)."""


def state_notes(stats: JourneyStats) -> dict[int, list[str]]:
    """What the graph writes on each state: entered and waiting, messages, paths."""
    notes: dict[int, list[str]] = {}
    for state in stats.states:
        lines = [f"entered {state.entered:,} · waiting {state.waiting:,}"]
        if (m := state.messages) is not None:
            click_rate = rate(m.clicked, m.sent)
            sent = f"sent {m.sent:,} · clicked {m.clicked:,}"
            ctr = "" if click_rate is None else f"CTR {click_rate * 100:.1f} %"
            if ctr and len(sent) + len(ctr) + 3 <= NOTE_CHARS:
                lines.append(f"{sent} · {ctr}")
            else:
                lines.extend(line for line in (sent, ctr) if line)
        if state.paths:
            lines.append(" · ".join(f"path {p.index + 1}: {p.entered:,}" for p in state.paths))
        notes[state.state_id] = lines
    return notes


def is_empty(stats: JourneyStats) -> bool:
    """Whether nothing happened in the interval: nobody entered, moved, ended or got a message.

    (Who waits now is not something that happened in an interval: it does not count.)
    """
    return not any(
        s.entered
        or s.completed
        or s.exited
        or s.failed
        or any(s.branches.values())
        or (s.messages and (s.messages.sent or any(s.messages.skipped.values())))
        for s in stats.states
    )


# ---------------------------------------------------------------------------------------------
# The chart over time


@dataclass(frozen=True, slots=True)
class Timeline:
    """The buckets of the chart: their starts, the step between them and how to label them."""

    starts: tuple[datetime, ...]
    step: timedelta
    unit: str
    pattern: str


def _step_name(step: timedelta) -> str:
    if step < timedelta(days=1):
        hours = step // timedelta(hours=1)
        return "Hour (UTC)" if hours == 1 else f"{hours} hours from (UTC)"
    if step == timedelta(days=7):
        return "Week from (UTC)"
    return "Day (UTC)" if step.days == 1 else f"{step.days} days from (UTC)"


def timeline(start: datetime, end: datetime) -> Timeline:
    """The buckets ``store.stats.series_step`` chooses from ``start`` to ``end``, with labels.

    Buckets of hours start on the hour, of days at midnight (UTC); at most ``SERIES_POINTS``.
    """
    first, step = series_step(start, end)
    pattern = "%d %b %H:00" if step < timedelta(days=1) else "%d %b"
    if step >= timedelta(days=7) or first.year != end.year:
        pattern = "%d %b %Y"
    starts = []
    moment = first
    while moment < end:
        starts.append(moment)
        moment += step
    return Timeline(tuple(starts), step, _step_name(step), pattern)


def chart_range(
    journey: StoredJourney, interval: Interval, now: datetime
) -> tuple[datetime, datetime] | None:
    """What the chart covers: the interval, within the journey's life (None if nothing is left).

    Live runs start at the activation, test runs at the creation of the draft.
    """
    born = journey.created_at if interval.test else journey.activated_at
    if born is None:
        return None
    start = max(interval.start or born, born.replace(minute=0, second=0, microsecond=0))
    last = min(journey.deactivated_at or now, now) + timedelta(seconds=1)
    end = min(interval.end, last) if interval.end else last
    return (start, end) if start < end else None


def chart_over_time(
    conn: Connection, application_id: int, journey: StoredJourney, interval: Interval, now: datetime
) -> Markup | None:
    """Entered, sent and clicked per bucket of the interval, as a chart (None without a range)."""
    covered = chart_range(journey, interval, now)
    if covered is None:
        return None
    line = timeline(*covered)
    points = journey_series(
        conn,
        application_id,
        journey.id,
        start=line.starts[0],
        end=covered[1],
        step=line.step,
        test=interval.test,
    )
    return line_chart(
        [point.start.strftime(line.pattern) for point in points],
        [
            Series("Entered", [point.entered for point in points]),
            Series("Sent", [point.sent for point in points]),
            Series("Clicked", [point.clicked for point in points]),
        ],
        title="Entered, sent and clicked over time",
        unit=line.unit,
    )
