"""Journey inspection: where each customer is in a journey, how they got there, the history CSV.

``customer_enrollments`` gathers one customer's latest enrollments in every journey, with how
many they have (the console's profile page).

Read with set queries in batches; the caller owns the (read) transaction.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from wayfare.model.states import StateType
from wayfare.store.common import checked_page
from wayfare.store.enrollments import path_steps
from wayfare.store.journeys import get_journey
from wayfare.store.schema import enrollments, journeys, outbox
from wayfare.store.stats import HANDED

HISTORY_COLUMNS = (
    "customerId",
    "entryNumber",
    "status",
    "stateId",
    "enteredAt",
    "endedAt",
    "endReason",
    "messagesSent",
)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message an enrollment produced (an outbox row)."""

    state_id: int | None
    channel: str
    campaign_id: int | None
    status: str
    reason: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class EnrollmentHistory:
    """One enrollment of a customer: where it is, since when, and the known part of its path.

    ``path`` holds every arrival: the entry state at entry, each state passed since (filters,
    draws, delays, messages: recorded by each run), and the current state.
    """

    id: int
    customer_id: str
    entry_number: int
    test: bool
    state_id: int
    status: str
    entered_at: datetime
    state_since: datetime | None
    wake_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    messages: tuple[SentMessage, ...]
    path: tuple[tuple[int, datetime], ...]


@dataclass(frozen=True, slots=True)
class CustomerEnrollment:
    """One of the customer's enrollments, with its journey's name."""

    journey_id: int
    journey_name: str
    journey_status: str
    history: EnrollmentHistory


@dataclass(frozen=True, slots=True)
class CustomerEnrollments:
    """The latest of a customer's enrollments, newest entry first, and how many they have."""

    items: list[CustomerEnrollment]
    count: int


ENROLLMENTS_SHOWN = 50
"""The enrollments ``customer_enrollments`` gives by default (the newest)."""

_HISTORY_COLUMNS = (
    enrollments.c.id,
    enrollments.c.entry_number,
    enrollments.c.test,
    enrollments.c.state_id,
    enrollments.c.status,
    enrollments.c.entered_at,
    enrollments.c.state_since,
    enrollments.c.wake_at,
    enrollments.c.ended_at,
    enrollments.c.end_reason,
    enrollments.c.path,
    enrollments.c.journey_id,
)


def customer_enrollments(
    conn: Connection, application_id: int, customer_id: str, *, limit: int = ENROLLMENTS_SHOWN
) -> CustomerEnrollments:
    """The customer's latest ``limit`` enrollments in any journey, newest entry first.

    Four queries however many journeys: the count and the page on the enrollments'
    ``(application_id, customer_id)`` index, then their journeys and their messages.
    """
    checked_page(limit, 0)
    mine = (
        enrollments.c.application_id == application_id,
        enrollments.c.customer_id == customer_id,
    )
    count = int(conn.execute(select(func.count()).where(*mine)).scalar_one())
    if not count:
        return CustomerEnrollments([], 0)
    rows = conn.execute(
        select(*_HISTORY_COLUMNS)
        .where(*mine)
        .order_by(enrollments.c.entered_at.desc(), enrollments.c.id.desc())
        .limit(limit)
    ).all()
    journey_ids = sorted({int(row.journey_id) for row in rows})
    found = {
        int(row.id): row
        for row in conn.execute(
            select(journeys.c.id, journeys.c.name, journeys.c.status, journeys.c.states).where(
                journeys.c.application_id == application_id, journeys.c.id.in_(journey_ids)
            )
        )
    }
    entries = {ident: entry_state(journey.states) for ident, journey in found.items()}
    messages = _messages(conn, application_id, customer_id, [int(row.id) for row in rows])
    items = []
    for row in rows:
        journey = found[int(row.journey_id)]
        history = _history(row, customer_id, entries[int(journey.id)], messages)
        items.append(CustomerEnrollment(int(journey.id), journey.name, journey.status, history))
    return CustomerEnrollments(items, count)


def entry_state(states: Any) -> int | None:
    """The id of the entry state of a stored journey's ``states`` (None when it has none)."""
    for raw in states if isinstance(states, list) else ():
        if not isinstance(raw, Mapping):
            continue
        state_id = raw.get("id")
        try:
            is_entry = StateType(str(raw.get("type"))).is_entry
        except ValueError:
            continue
        if is_entry and isinstance(state_id, int) and not isinstance(state_id, bool):
            return state_id
    return None


def enrollment_history(
    conn: Connection, application_id: int, journey_id: int, customer_id: str
) -> list[EnrollmentHistory]:
    """The customer's enrollments in the journey, oldest entry first (three queries)."""
    stored = get_journey(conn, application_id, journey_id)
    rows = conn.execute(
        select(*_HISTORY_COLUMNS)
        .where(
            enrollments.c.application_id == application_id,
            enrollments.c.journey_id == journey_id,
            enrollments.c.customer_id == customer_id,
        )
        .order_by(enrollments.c.test, enrollments.c.entry_number)
    ).all()
    messages = _messages(conn, application_id, customer_id, [int(row[0]) for row in rows])
    entry_id = entry_state(stored.states)
    return [_history(row, customer_id, entry_id, messages) for row in rows]


def _messages(
    conn: Connection, application_id: int, customer_id: str, ids: Sequence[int]
) -> dict[int, list[SentMessage]]:
    """The messages of the customer's enrollments ``ids``, by enrollment, oldest first."""
    messages: dict[int, list[SentMessage]] = defaultdict(list)
    if not ids:
        return messages
    for out in conn.execute(
        select(
            outbox.c.enrollment_id,
            outbox.c.state_id,
            outbox.c.channel,
            outbox.c.campaign_id,
            outbox.c.status,
            outbox.c.reason,
            outbox.c.created_at,
            outbox.c.sent_at,
        )
        .where(
            outbox.c.application_id == application_id,
            outbox.c.customer_id == customer_id,  # the outbox's index
            outbox.c.enrollment_id.in_(ids),
        )
        .order_by(outbox.c.created_at, outbox.c.id)
    ):
        messages[int(out[0])].append(
            SentMessage(
                state_id=None if out[1] is None else int(out[1]),
                channel=out[2],
                campaign_id=None if out[3] is None else int(out[3]),
                status=out[4],
                reason=out[5],
                created_at=out[6],
                sent_at=out[7],
            )
        )
    return messages


def _history(
    row: Any, customer_id: str, entry_id: int | None, messages: Mapping[int, list[SentMessage]]
) -> EnrollmentHistory:
    """An enrollment of ``_HISTORY_COLUMNS``' row, with its messages and path."""
    sent = tuple(messages.get(int(row[0]), ()))
    return EnrollmentHistory(
        id=int(row[0]),
        customer_id=customer_id,
        entry_number=int(row[1]),
        test=bool(row[2]),
        state_id=int(row[3]),
        status=row[4],
        entered_at=row[5],
        state_since=row[6],
        wake_at=row[7],
        ended_at=row[8],
        end_reason=row[9],
        messages=sent,
        path=_path(entry_id, row[5], row[10], sent, int(row[3]), row[6] or row[5]),
    )


def _path(
    entry_id: int | None,
    entered_at: datetime,
    recorded: str | None,
    messages: Iterable[SentMessage],
    state_id: int,
    since: datetime,
) -> tuple[tuple[int, datetime], ...]:
    steps: list[tuple[int, datetime]] = []
    if entry_id is not None:
        steps.append((entry_id, entered_at))
    if recorded is None:  # an enrollment from before paths were recorded: its message states
        steps.extend((m.state_id, m.created_at) for m in messages if m.state_id is not None)
    steps.extend(path_steps(recorded))
    if not steps or steps[-1][0] != state_id:
        steps.append((state_id, since))
    return tuple(steps)


def history_rows(
    conn: Connection, application_id: int, journey_id: int, *, test: bool = False
) -> Iterator[tuple[Any, ...]]:
    """Every enrollment of the journey as a ``HISTORY_COLUMNS`` tuple, streamed in batches."""
    get_journey(conn, application_id, journey_id)
    sent = (
        select(outbox.c.enrollment_id, func.count().label("n"))
        .where(
            outbox.c.application_id == application_id,
            outbox.c.journey_id == journey_id,
            outbox.c.status.in_(HANDED),
        )
        .group_by(outbox.c.enrollment_id)
        .subquery("sent")
    )
    query = (
        select(
            enrollments.c.customer_id,
            enrollments.c.entry_number,
            enrollments.c.status,
            enrollments.c.state_id,
            enrollments.c.entered_at,
            enrollments.c.ended_at,
            enrollments.c.end_reason,
            func.coalesce(sent.c.n, 0),
        )
        .select_from(enrollments.outerjoin(sent, sent.c.enrollment_id == enrollments.c.id))
        .where(
            enrollments.c.application_id == application_id,
            enrollments.c.journey_id == journey_id,
            enrollments.c.test.is_(test),
        )
        .order_by(enrollments.c.customer_id, enrollments.c.entry_number)
    )
    result = conn.execution_options(yield_per=2000).execute(query)
    for row in result:
        yield tuple(row)


def history_csv(
    conn: Connection, application_id: int, journey_id: int, *, test: bool = False
) -> Iterator[str]:
    """The journey's history as CSV text: the header, then one line per enrollment.

    ``NotFound`` is raised on the first ``next()``, before any line.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: Sequence[Any]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    rows = history_rows(conn, application_id, journey_id, test=test)
    first = next(rows, None)
    yield line(HISTORY_COLUMNS)
    if first is None:
        return
    for row in itertools.chain((first,), rows):
        yield line([_cell(value) for value in row])


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value
