"""Enrollments and statistics counters as the engine reads and writes them, in sets.

Entries are one ``INSERT ... SELECT`` (an audience) or one ``executemany`` (customers put in);
due work is claimed in batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL); the outcomes of a
batch are written with one ``executemany`` per table, each enrollment update guarded by its
transition counter. The caller owns the transaction.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from wayfare.errors import Conflict
from wayfare.model.fields import format_datetime, parse_datetime
from wayfare.model.journey import HOLDOUT
from wayfare.store.database import Dialect, at_end, dialect_of, fetch_rows
from wayfare.store.schema import customers, enrollments, list_members, stat_counters

ACTIVE = ("ready", "waiting")
"""The statuses of an enrollment still in its journey."""

DUE = enrollments.c.status.in_([literal_column(f"'{status}'") for status in ACTIVE])
"""``status IN ('ready', 'waiting')`` written with literals, as the partial index
``ix_enrollments_due`` is: with bound parameters SQLite cannot use that index, and every claim
became a scan of all enrollments (quadratic over a large activation)."""

COLUMNS = (
    enrollments.c.id,
    enrollments.c.application_id,
    enrollments.c.journey_id,
    enrollments.c.customer_id,
    enrollments.c.entry_number,
    enrollments.c.test,
    enrollments.c.state_id,
    enrollments.c.status,
    enrollments.c.wake_at,
    enrollments.c.wait_event,
    enrollments.c.wait,
    enrollments.c.context,
    enrollments.c.transitions,
    enrollments.c.entered_at,
    enrollments.c.state_since,
)


@dataclass(frozen=True, slots=True)
class EnrollmentRow:
    """A stored enrollment, as the runner needs it."""

    id: int
    application_id: int
    journey_id: int
    customer_id: str
    entry_number: int
    test: bool
    state_id: int
    status: str
    wake_at: datetime | None
    wait_codes: frozenset[str]
    memo: Mapping[str, Any]
    context: Mapping[str, Any]
    transitions: int
    entered_at: datetime
    state_since: datetime


def _row(row: Any) -> EnrollmentRow:
    return EnrollmentRow(
        id=int(row[0]),
        application_id=int(row[1]),
        journey_id=int(row[2]),
        customer_id=row[3],
        entry_number=int(row[4]),
        test=bool(row[5]),
        state_id=int(row[6]),
        status=row[7],
        wake_at=row[8],
        wait_codes=frozenset(row[9].split()) if row[9] else frozenset(),
        memo=row[10] or {},
        context=row[11] or {},
        transitions=int(row[12]),
        entered_at=row[13],
        state_since=row[14] or row[13],
    )


def wait_text(codes: Iterable[str]) -> str | None:
    """The ``wait_event`` column for awaited ``codes``: `` a b `` (None when there are none)."""
    ordered = sorted(set(codes))
    return f" {' '.join(ordered)} " if ordered else None


# ---------------------------------------------------------------------------------------------
# Entries


def _previous(journey_id: int) -> Any:
    """Per customer of the journey: highest entry number, live entries, live active ones.

    An entry held out (end reason ``holdout``) counts as active: a customer held out is held
    out once, and does not come back at each re-entry check.
    """
    live = enrollments.c.test.is_(False)
    return (
        select(
            enrollments.c.customer_id,
            func.max(enrollments.c.entry_number).label("last"),
            func.sum(case((live, 1), else_=0)).label("live"),
            _staying(live).label("active"),
        )
        .where(enrollments.c.journey_id == journey_id)
        .group_by(enrollments.c.customer_id)
        .subquery("prev")
    )


def _staying(live: ColumnElement[bool]) -> Any:
    """How many of a customer's ``live`` entries keep them in the journey: active, or held out."""
    stays = or_(enrollments.c.status.in_(ACTIVE), enrollments.c.end_reason == HOLDOUT)
    return func.sum(case((and_(live, stays), 1), else_=0))


def _eligible(prev: Any, reentry: bool, max_entries: int | None) -> ColumnElement[bool]:
    """Whether a customer with ``prev`` entries (NULL: none) may enter (again)."""
    never = or_(prev.c.customer_id.is_(None), prev.c.live == 0)
    if not reentry:
        return never
    again = prev.c.active == 0
    if max_entries is not None:
        again = and_(again, prev.c.live < max_entries)
    return or_(never, again)


def enrol_audience(
    conn: Connection,
    application_id: int,
    journey_id: int,
    state_id: int,
    audience: ColumnElement[bool] | None,
    now: datetime,
    *,
    reentry: bool,
    max_entries: int | None,
    list_id: int | None = None,
) -> int:
    """Enrol the customers matching ``audience`` (a test over ``customers``) in one statement.

    With ``list_id`` the audience is that list's members (their context values come along).
    Customers with an active enrollment in the journey are left out; without ``reentry`` a
    customer enters once ever, with it at most ``max_entries`` times. New enrollments are
    ``ready`` at ``state_id`` and due at ``now``. Returns how many entered.
    """
    prev = _previous(journey_id)
    source: Any = customers.outerjoin(prev, prev.c.customer_id == customers.c.customer_id)
    context: Any = literal_column("'{}'") if not dialect_of(conn).is_postgres else None
    if list_id is not None:
        source = source.join(
            list_members,
            and_(
                list_members.c.list_id == list_id,
                list_members.c.customer_id == customers.c.customer_id,
            ),
        )
        context = list_members.c.context
    elif context is None:
        context = literal_column("'{}'::jsonb")
    query: Select[Any] = (
        select(
            literal(application_id).label("application_id"),
            literal(journey_id).label("journey_id"),
            customers.c.customer_id,
            (func.coalesce(prev.c.last, 0) + 1).label("entry_number"),
            false().label("test"),
            literal(state_id).label("state_id"),
            literal("ready").label("status"),
            bindparam("wake", now, type_=enrollments.c.wake_at.type).label("wake_at"),
            context.label("context"),
            literal(0).label("transitions"),
            bindparam("entered", now, type_=enrollments.c.entered_at.type).label("entered_at"),
            bindparam("since", now, type_=enrollments.c.state_since.type).label("state_since"),
            bindparam("updated", now, type_=enrollments.c.updated_at.type).label("updated_at"),
        )
        .select_from(source)
        .where(
            customers.c.application_id == application_id,
            audience if audience is not None else true(),
            _eligible(prev, reentry, max_entries),
        )
    )
    names = [
        "application_id",
        "journey_id",
        "customer_id",
        "entry_number",
        "test",
        "state_id",
        "status",
        "wake_at",
        "context",
        "transitions",
        "entered_at",
        "state_since",
        "updated_at",
    ]
    statement = enrollments.insert().from_select(names, query)
    if dialect_of(conn).is_postgres:  # psycopg gives no rowcount for INSERT ... SELECT here
        inserted = statement.returning(literal(1)).cte("inserted")
        return int(conn.execute(select(func.count()).select_from(inserted)).scalar_one())
    return int(conn.execute(statement).rowcount)


@dataclass(frozen=True, slots=True)
class Entries:
    """What ``enrol_customers`` did: the new enrollments' ids, and the customers left out."""

    ids: list[int]
    discarded: list[str]


def enrol_customers(
    conn: Connection,
    application_id: int,
    journey_id: int,
    state_id: int,
    entries: Sequence[tuple[str, Mapping[str, Any]]],
    now: datetime,
    *,
    reentry: bool,
    max_entries: int | None,
    test: bool = False,
) -> Entries:
    """Enrol the given (customer id, context) pairs with one grouped read and one insert.

    A customer already in the journey (an active enrollment; for a test run, an active test
    one), past ``max_entries``, or entered before without ``reentry``, is discarded; so is a
    customer given twice (the first one counts).
    """
    wanted: dict[str, Mapping[str, Any]] = {}
    discarded: list[str] = []
    for customer_id, context in entries:
        if customer_id in wanted:
            discarded.append(customer_id)
        else:
            wanted[customer_id] = context
    if not wanted:
        return Entries([], discarded)
    history: dict[str, tuple[int, int, int]] = {}
    live = enrollments.c.test.is_(test)
    rows = conn.execute(
        select(
            enrollments.c.customer_id,
            func.max(enrollments.c.entry_number),
            func.sum(case((live, 1), else_=0)),
            _staying(live),
        )
        .where(
            enrollments.c.journey_id == journey_id,
            dialect_of(conn).among(enrollments.c.customer_id, list(wanted)),
        )
        .group_by(enrollments.c.customer_id)
    )
    for customer_id, last, count, active in rows:
        history[customer_id] = (int(last), int(count or 0), int(active or 0))
    rows_to_insert = []
    for customer_id, context in wanted.items():
        last, count, active = history.get(customer_id, (0, 0, 0))
        if count and (not reentry or active or (max_entries is not None and count >= max_entries)):
            discarded.append(customer_id)
            continue
        rows_to_insert.append(
            {
                "application_id": application_id,
                "journey_id": journey_id,
                "customer_id": customer_id,
                "entry_number": last + 1,
                "test": test,
                "state_id": state_id,
                "status": "ready",
                "wake_at": now,
                "context": dict(context),
                "transitions": 0,
                "entered_at": now,
                "state_since": now,
                "updated_at": now,
            }
        )
    if not rows_to_insert:
        return Entries([], discarded)
    result = conn.execute(
        enrollments.insert().returning(enrollments.c.id, sort_by_parameter_order=True),
        rows_to_insert,
    )
    return Entries([int(row[0]) for row in result], discarded)


# ---------------------------------------------------------------------------------------------
# Reading enrollments to run


def claim_due(conn: Connection, now: datetime, limit: int) -> list[EnrollmentRow]:
    """Lock and return up to ``limit`` enrollments due at ``now``, earliest first.

    On PostgreSQL rows locked by another worker are skipped; on SQLite the write transaction is
    the only writer.
    """
    query = (
        select(*COLUMNS)
        .where(DUE, enrollments.c.wake_at <= now)
        .order_by(enrollments.c.wake_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_row(row) for row in conn.execute(query)]


def lock_by_ids(conn: Connection, ids: Sequence[int]) -> list[EnrollmentRow]:
    """Lock and return the enrollments ``ids`` still active (waits for other writers)."""
    if not ids:
        return []
    query = (
        select(*COLUMNS)
        .where(dialect_of(conn).among(enrollments.c.id, ids))
        .where(enrollments.c.status.in_(ACTIVE))
        .order_by(enrollments.c.id)
        .with_for_update()
    )
    return [_row(row) for row in conn.execute(query)]


def awaiting(
    conn: Connection, application_id: int, customer_ids: Sequence[str]
) -> list[EnrollmentRow]:
    """Lock and return the waiting enrollments of these customers that await any event.

    Their ids come first from one narrow driver-level query (most events find none, and every
    group of events asks), then those few are locked and read whole.
    """
    if not customer_ids:
        return []
    dialect = dialect_of(conn)
    among, values = dialect.raw_among("customer_id", customer_ids)
    mark = dialect.marks(1)
    ids = [
        int(row[0])
        for row in fetch_rows(
            conn,
            f"SELECT id FROM enrollments WHERE application_id = {mark} AND {among}"
            f" AND wait_event IS NOT NULL AND status = {mark}",
            (application_id, values, "waiting"),
        )
    ]
    if not ids:
        return []
    locked = lock_by_ids(conn, sorted(ids))  # what another writer changed meanwhile is re-read
    return [row for row in locked if row.status == "waiting" and row.wait_codes]


def next_wake(conn: Connection) -> datetime | None:
    """The earliest ``wake_at`` of an active enrollment, or None."""
    value = conn.execute(select(func.min(enrollments.c.wake_at)).where(DUE)).scalar()
    return aware(value, enrollments.c.wake_at.type, conn)


def aware(value: Any, column_type: Any, conn: Connection) -> datetime | None:
    """A ``MIN()`` of a timestamp column run through the column's type again (MIN() loses it)."""
    if value is None:
        return None
    result: datetime | None = column_type.process_result_value(value, conn.dialect)
    return result


# ---------------------------------------------------------------------------------------------
# Writing outcomes


@dataclass(frozen=True, slots=True)
class Change:
    """One enrollment's new row values, guarded by the transition counter it was read with."""

    id: int
    expected: int
    values: Mapping[str, Any]


def path_text(steps: Iterable[tuple[int, datetime]]) -> str:
    """States passed, as ``enrollments.path`` appends them: ``"3@2026-03-15T12:00:00Z;"``."""
    return "".join(f"{state_id}@{format_datetime(at)};" for state_id, at in steps)


def path_steps(text: str | None) -> list[tuple[int, datetime]]:
    """The (state id, arrival) steps of an ``enrollments.path``."""
    steps = []
    for item in (text or "").split(";"):
        if item:
            state_id, at = item.split("@", 1)
            steps.append((int(state_id), parse_datetime(at)))
    return steps


def _appended(suffix: Any) -> Any:
    """``path`` with ``suffix`` appended (the change's ``path`` value is what to append)."""
    return func.coalesce(enrollments.c.path, "").op("||")(suffix)


_GUARDED_UPDATE = (
    update(enrollments)
    .where(
        enrollments.c.id == bindparam("b_id"),
        enrollments.c.transitions == bindparam("b_expected"),
    )
    .values(path=_appended(bindparam("b_path", type_=Text())))
)
"""An enrollment's update, guarded by its transition counter (the values come as parameters)."""


def update_enrollments(conn: Connection, changes: Sequence[Change]) -> None:
    """Apply ``changes`` with one ``executemany``; ``Conflict`` if any row moved meanwhile.

    A change's ``path`` value is appended to the stored path (``path_text``), not set.

    The rows are locked by the caller's transaction, so a lost guard means a bug or a race the
    locks did not cover: the whole transaction must roll back rather than write half of it.
    """
    if not changes:
        return
    params = [
        {
            "b_id": c.id,
            "b_expected": c.expected,
            "b_path": c.values.get("path", ""),
            **{k: v for k, v in c.values.items() if k != "path"},
        }
        for c in changes
    ]
    written = conn.execute(_GUARDED_UPDATE, params).rowcount
    if written != len(changes) and written >= 0:
        raise Conflict(
            f"{len(changes) - written} enrollment(s) moved on while being run; try again"
        )


CounterKey = tuple[int, int, str, bool, datetime]
"""(journey id, state id, metric, test, hour bucket)."""


def counter_hour(moment: datetime) -> datetime:
    """The hour bucket ``moment`` counts in (the last part of a ``CounterKey``)."""
    return moment.replace(minute=0, second=0, microsecond=0)


def add_counters(conn: Connection, counts: Mapping[CounterKey, int]) -> None:
    """Add ``counts`` to the statistics counters, at the end of the transaction.

    In a ``Database.write`` block the counts are added up until it ends, then written with one
    upsert per counter, in key order (``AtEnd``); elsewhere they are written at once.
    """
    if not counts:
        return
    end = at_end(conn)
    if end is None:
        _write_counters(conn, counts)
    else:
        end.collect("counters", Counter, _write_counters).update(counts)


def _write_counters(conn: Connection, counts: Mapping[CounterKey, int]) -> None:
    if not counts:
        return
    rows = [
        {
            "journey_id": journey_id,
            "state_id": state_id,
            "metric": metric,
            "test": test,
            "bucket": bucket,
            "value": value,
        }
        for (journey_id, state_id, metric, test, bucket), value in sorted(counts.items())
    ]
    conn.execute(_counter_upsert(dialect_of(conn).name), rows)


@cache
def _counter_upsert(dialect: str) -> Any:
    """The counters' upsert statement (built once: building it costs more than running it)."""
    insert = Dialect(dialect).insert(stat_counters)
    return insert.on_conflict_do_update(
        index_elements=["journey_id", "state_id", "metric", "test", "bucket"],
        set_={"value": stat_counters.c.value + insert.excluded.value},
    )


def save_fields(
    conn: Connection,
    application_id: int,
    saves: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> None:
    """Merge ``saves`` (customer id → field values) into those customers' fields."""
    if not saves:
        return
    patch = bindparam("patch", type_=customers.c.fields.type)
    merged = (
        customers.c.fields.op("||")(patch)
        if dialect_of(conn).is_postgres
        else func.json_patch(customers.c.fields, patch)
    )
    statement = (
        update(customers)
        .where(
            customers.c.application_id == application_id,
            customers.c.customer_id == bindparam("b_customer"),
        )
        .values(fields=merged, updated_at=bindparam("b_now", type_=customers.c.updated_at.type))
    )
    conn.execute(
        statement,
        [
            {"b_customer": customer_id, "patch": dict(values), "b_now": now}
            for customer_id, values in saves.items()
        ],
    )


# ---------------------------------------------------------------------------------------------
# Whole groups at once: enrollments whose run is the same but for the customer's id


def claim_light(conn: Connection, now: datetime, limit: int) -> list[Any]:
    """Lock up to ``limit`` due enrollments, with what makes their runs alike, unprocessed.

    Each row: id, customer id, entry number, context (as text), then application id, journey
    id, then the signature: state id, status,
    transitions, wake_at, state_since, test, memo (as text), and of the customer: whether they
    exist, have an email, phone, WhatsApp, Telegram chat, push token, their consent (as text)
    and time zone. Two enrollments of a journey with equal signatures decide alike.
    """
    e, c = enrollments, customers
    postgres = dialect_of(conn).is_postgres

    def as_text(column: Any) -> Any:  # SQLite keeps JSON as text already: read it as it is
        return cast(column, Text) if postgres else type_coerce(column, Text)

    tokens = func.jsonb_array_length if postgres else func.json_array_length
    query = (
        select(
            e.c.id,
            e.c.customer_id,
            e.c.entry_number,
            as_text(e.c.context),
            e.c.application_id,
            e.c.journey_id,
            e.c.state_id,
            e.c.status,
            e.c.transitions,
            type_coerce(e.c.wake_at, String),
            type_coerce(e.c.state_since, String),
            e.c.test,
            as_text(e.c.wait),
            c.c.id.is_not(None),
            func.coalesce(c.c.email, "") != "",
            func.coalesce(c.c.phone, "") != "",
            func.coalesce(c.c.whatsapp, "") != "",
            func.coalesce(c.c.telegram_chat_id, "") != "",
            tokens(c.c.push_tokens) > 0,
            as_text(c.c.consent),
            c.c.timezone,
        )
        .select_from(
            e.outerjoin(
                c,
                and_(c.c.application_id == e.c.application_id, c.c.customer_id == e.c.customer_id),
            )
        )
        .where(DUE, e.c.wake_at <= now)
        .order_by(e.c.wake_at)
        .limit(limit)
        .with_for_update(skip_locked=True, of=e)
    )
    return list(conn.execute(query).all())


def update_group(
    conn: Connection, ids: Sequence[int], expected: int, values: Mapping[str, Any]
) -> None:
    """Give every enrollment ``ids`` the same ``values``; ``Conflict`` if any moved meanwhile."""
    among = dialect_of(conn).among
    own = {k: v for k, v in values.items() if k != "path"}
    written = conn.execute(
        update(enrollments)
        .where(among(enrollments.c.id, ids), enrollments.c.transitions == expected)
        .values(**own, path=_appended(literal(values.get("path", ""), type_=Text())))
    ).rowcount
    if written != len(ids):
        raise Conflict(f"{len(ids) - written} enrollment(s) moved on while being run; try again")


def birthday_candidates(
    conn: Connection, application_id: int, field: str, month_days: Iterable[tuple[int, int]]
) -> list[tuple[str, str | None, str]]:
    """Customers whose date field ``field`` falls on one of ``month_days``: (id, zone, value)."""
    wanted = sorted({f"{month:02d}-{day:02d}" for month, day in month_days})
    if not wanted:
        return []
    value = dialect_of(conn).json_text(customers.c.fields, field)
    rows = conn.execute(
        select(customers.c.customer_id, customers.c.timezone, value).where(
            customers.c.application_id == application_id,
            func.substr(value, 6, 5).in_(wanted),
        )
    )
    return [(str(c), z, str(v)) for c, z, v in rows]


def schedule_entries(conn: Connection, ids_and_times: Sequence[tuple[int, datetime]]) -> None:
    """Make new enrollments wait at their entry state until their entry time (a birthday)."""
    if not ids_and_times:
        return
    statement = (
        update(enrollments).where(enrollments.c.id == bindparam("b_id")).values(status="waiting")
    )
    conn.execute(
        statement,
        [
            {"b_id": i, "wake_at": at, "state_since": at, "entered_at": at}
            for i, at in ids_and_times
        ],
    )


# ---------------------------------------------------------------------------------------------
# Counting for listings


@dataclass(frozen=True, slots=True)
class JourneyCounts:
    """A journey's live (not test) enrollments: in it now (ready or waiting), and entered so far."""

    now: int
    entered: int


def journey_counts(
    conn: Connection, application_id: int, journey_ids: Sequence[int]
) -> dict[int, JourneyCounts]:
    """The live enrollment counts of each of ``journey_ids``, in one grouped query.

    A journey nobody entered is left out (the caller reads it as zero).
    """
    if not journey_ids:
        return {}
    rows = conn.execute(
        select(
            enrollments.c.journey_id,
            func.sum(case((DUE, 1), else_=0)),
            func.count(),
        )
        .where(
            enrollments.c.application_id == application_id,
            enrollments.c.journey_id.in_(list(journey_ids)),
            enrollments.c.test.is_(False),
        )
        .group_by(enrollments.c.journey_id)
    )
    return {int(j): JourneyCounts(int(now or 0), int(n)) for j, now, n in rows}
