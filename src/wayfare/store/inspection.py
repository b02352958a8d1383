"""Journey inspection: where each customer is in a journey, how they got there, the history CSV.

``customer_enrollments`` gathers one customer's enrollments in every journey (the console's
profile page).

Read with set queries in batches; the caller owns the (read) transaction.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from wayfare.model.journey import parse_journey
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


def customer_enrollments(
    conn: Connection, application_id: int, customer_id: str
) -> list[CustomerEnrollment]:
    """Every enrollment of the customer, in any journey, newest entry first.

    The journeys come from one query on the enrollments' ``(application_id, customer_id)``
    index; each journey's enrollments from ``enrollment_history``.
    """
    rows = conn.execute(
        select(journeys.c.id, journeys.c.name, journeys.c.status)
        .where(
            journeys.c.application_id == application_id,
            journeys.c.id.in_(
                select(enrollments.c.journey_id).where(
                    enrollments.c.application_id == application_id,
                    enrollments.c.customer_id == customer_id,
                )
            ),
        )
        .order_by(journeys.c.id)
    ).all()
    found = [
        CustomerEnrollment(int(row.id), row.name, row.status, history)
        for row in rows
        for history in enrollment_history(conn, application_id, int(row.id), customer_id)
    ]
    return sorted(found, key=lambda e: (e.history.entered_at, e.history.id), reverse=True)


def enrollment_history(
    conn: Connection, application_id: int, journey_id: int, customer_id: str
) -> list[EnrollmentHistory]:
    """The customer's enrollments in the journey, oldest entry first (two queries)."""
    stored = get_journey(conn, application_id, journey_id)
    parsed = parse_journey(stored.document())
    entry_id = next((s.id for s in parsed.states if s.type.is_entry), None)
    rows = conn.execute(
        select(
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
        )
        .where(
            enrollments.c.application_id == application_id,
            enrollments.c.journey_id == journey_id,
            enrollments.c.customer_id == customer_id,
        )
        .order_by(enrollments.c.test, enrollments.c.entry_number)
    ).all()
    ids = [int(row[0]) for row in rows]
    messages: dict[int, list[SentMessage]] = defaultdict(list)
    if ids:
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
    found: list[EnrollmentHistory] = []
    for row in rows:
        sent = tuple(messages.get(int(row[0]), ()))
        found.append(
            EnrollmentHistory(
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
        )
    return found


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
