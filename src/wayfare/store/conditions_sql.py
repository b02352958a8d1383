"""Conditions compiled to SQL over ``customers``: the same answers as ``evaluate`` in Python.

Every leaf is two-valued (``coalesce(test, false)``), so a missing value never leaks a SQL NULL
into ``NOT``. Field values come out of the ``fields`` JSON document through ``Dialect``; strings
compare by code point (``COLLATE "C"`` on PostgreSQL), numbers as doubles, dates and datetimes
as their canonical text, and ``$event`` is a correlated subquery on ``events``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Float,
    String,
    and_,
    case,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.sql.elements import ColumnElement

from wayfare.errors import InvalidInput, Problem
from wayfare.model.conditions import (
    All,
    AnyOf,
    Compare,
    Condition,
    Contains,
    EventCount,
    InSegment,
    IsNull,
    Not,
    OneOf,
    Scalar,
    ToToday,
    family,
    parse_condition,
    part_spans,
    project,
    referenced_segments,
    segment_stack,
    today_text,
    window_start,
)
from wayfare.model.fields import FieldType
from wayfare.store.customers import field_types
from wayfare.store.database import Dialect, dialect_of
from wayfare.store.schema import customers, events, segments

_RESERVED_COLUMNS = {
    "customerId": customers.c.customer_id,
    "email": customers.c.email,
    "phone": customers.c.phone,
    "whatsapp": customers.c.whatsapp,
    "telegramChatId": customers.c.telegram_chat_id,
    "timezone": customers.c.timezone,
    "language": customers.c.language,
}


def compile_condition(
    cond: Condition,
    *,
    dialect: Dialect,
    field_types: Mapping[str, FieldType],
    now: datetime,
    segments: Mapping[int, Condition] | None = None,
) -> ColumnElement[bool]:
    """A two-valued SQL test over ``customers`` that holds exactly where ``evaluate`` is true.

    Fields missing from ``field_types`` have no value; segment ids missing from ``segments``
    match nobody. ``InvalidInput`` if segments refer to themselves.
    """
    return _Compiler(dialect, field_types, now, segments or {}).compile(cond, ())


def count_matching(conn: Connection, application_id: int, cond: Condition, now: datetime) -> int:
    """How many customers of the application match ``cond`` at ``now``."""
    types = field_types(conn, application_id)
    saved = load_segments(conn, application_id, referenced_segments(cond), types)
    test = compile_condition(
        cond, dialect=dialect_of(conn), field_types=types, now=now, segments=saved
    )
    query = (
        select(func.count())
        .select_from(customers)
        .where(customers.c.application_id == application_id, test)
    )
    return int(conn.execute(query).scalar_one())


def load_segments(
    conn: Connection,
    application_id: int,
    ids: frozenset[int],
    field_types: Mapping[str, FieldType],
) -> dict[int, Condition]:
    """The parsed conditions of segments ``ids`` and of the segments they name in turn.

    Ids that do not exist are left out (they match nobody); ``InvalidInput`` if a saved
    segment's condition has problems.
    """
    found: dict[int, Condition] = {}
    wanted = set(ids)
    problems: list[Problem] = []
    while wanted:
        rows = conn.execute(
            select(segments.c.id, segments.c.cond).where(
                segments.c.application_id == application_id, segments.c.id.in_(sorted(wanted))
            )
        ).all()
        wanted = set()
        for segment_id, raw in rows:
            cond, found_problems = parse_condition(raw, f"segment {segment_id}: cond", field_types)
            problems.extend(found_problems)
            if cond is not None:
                found[segment_id] = cond
                wanted |= referenced_segments(cond) - found.keys()
    if problems:
        raise InvalidInput(problems=problems)
    return found


class _Compiler:
    def __init__(
        self,
        dialect: Dialect,
        field_types: Mapping[str, FieldType],
        now: datetime,
        segments: Mapping[int, Condition],
    ) -> None:
        self.dialect = dialect
        self.field_types = field_types
        self.now = now
        self.segments = segments

    def compile(self, cond: Condition, stack: tuple[int, ...]) -> ColumnElement[bool]:
        if isinstance(cond, Compare):
            return self.compare(cond.field, cond.op, [cond.value], cond.parts)
        if isinstance(cond, OneOf):
            return self.compare(cond.field, "in", list(cond.values), cond.parts)
        if isinstance(cond, Contains):
            return self.contains(cond)
        if isinstance(cond, IsNull):
            value, _ = self.value(cond.field)
            if value is None:
                return true() if cond.null else false()
            return value.is_(None) if cond.null else value.is_not(None)
        if isinstance(cond, ToToday):
            return self.to_today(cond)
        if isinstance(cond, All):
            items = [self.compile(item, stack) for item in cond.items]
            return and_(*items) if items else true()
        if isinstance(cond, AnyOf):
            items = [self.compile(item, stack) for item in cond.items]
            return or_(*items) if items else false()
        if isinstance(cond, Not):
            return not_(self.compile(cond.item, stack))
        if isinstance(cond, EventCount):
            return self.event_count(cond)
        return self.in_segment(cond, stack)

    def value(self, name: str) -> tuple[ColumnElement[Any] | None, str]:
        """The SQL value of a field or attribute and its family (text, number, boolean)."""
        if name in _RESERVED_COLUMNS:
            return _RESERVED_COLUMNS[name], "text"
        kind = self.field_types.get(name)
        if kind is None:
            return None, "missing"
        column = customers.c.fields
        if kind is FieldType.NUMBER:
            return self.dialect.json_number(column, name), "number"
        if kind is FieldType.BOOLEAN:
            return self.dialect.json_bool(column, name), "boolean"
        return type_coerce(self.dialect.json_text(column, name), String()), "text"

    def compare(
        self, name: str, op: str, operands: Sequence[Scalar], parts: Sequence[str]
    ) -> ColumnElement[bool]:
        value, kind = self.value(name)
        operands = [x for x in operands if family(x) == kind]
        if value is None or not operands or (parts and kind != "text"):
            return false()
        if parts:
            value = self.project(value, parts)
            operands = [project(str(x), parts) for x in operands]
        bound = [_literal(x) for x in operands]
        if op == "in":
            return _two_valued(value.in_(bound))
        if kind == "text" and op not in ("eq", "neq"):
            value = self.dialect.code_point_order(value)
        return _two_valued(_OPS[op](value, bound[0]))

    def project(self, value: ColumnElement[Any], parts: Sequence[str]) -> ColumnElement[Any]:
        pieces: list[ColumnElement[Any]] = [
            func.substr(value, start + 1, end - start) for start, end in part_spans(parts)
        ]
        result = pieces[0]
        for piece in pieces[1:]:
            result = result.op("||")(piece)
        return result

    def contains(self, cond: Contains) -> ColumnElement[bool]:
        value, kind = self.value(cond.field)
        if value is None or kind != "text":
            return false()
        needle = literal(cond.value, String())
        return _two_valued(self.dialect.contains(value, needle))

    def to_today(self, cond: ToToday) -> ColumnElement[bool]:
        value, kind = self.value(cond.field)
        if value is None or kind != "text":
            return false()
        date_text = today_text(self.now, cond.offset, as_datetime=False)
        if cond.parts:
            return self.compare(cond.field, cond.op, [date_text], cond.parts)
        moment_text = today_text(self.now, cond.offset, as_datetime=True)
        kind = self.field_types.get(cond.field, FieldType.STRING)
        if cond.field in _RESERVED_COLUMNS:
            kind = FieldType.STRING
        if kind is FieldType.DATE:
            return self.compare(cond.field, cond.op, [date_text], ())
        if kind is FieldType.DATETIME:
            return self.compare(cond.field, cond.op, [moment_text], ())
        # A string field: like ``evaluate``, a value longer than a date is taken as a datetime.
        return case(
            (
                func.length(value) > 10,
                self.compare(cond.field, cond.op, [moment_text], ()),
            ),
            else_=self.compare(cond.field, cond.op, [date_text], ()),
        )

    def event_count(self, cond: EventCount) -> ColumnElement[bool]:
        start = window_start(self.now, cond.within)
        tests = [
            events.c.application_id == customers.c.application_id,
            events.c.customer_id == customers.c.customer_id,
            events.c.event_code == cond.event,
            events.c.occurred_at <= self.now,
        ]
        if start is not None:
            tests.append(events.c.occurred_at > start)
        if cond.count in ((("gte", 1),), (("gt", 0),)):
            return exists().where(*tests)
        if cond.count in ((("eq", 0),), (("lt", 1),), (("lte", 0),)):
            return ~exists().where(*tests)
        number = select(func.count()).where(*tests).scalar_subquery()
        return and_(true(), *(_OPS[op](number, limit) for op, limit in cond.count))

    def in_segment(self, cond: InSegment, stack: tuple[int, ...]) -> ColumnElement[bool]:
        tests = [
            self.compile(self.segments[i], segment_stack(stack, i))
            for i in cond.ids
            if i in self.segments
        ]
        return or_(*tests) if tests else false()


_OPS: dict[str, Any] = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


def _literal(value: Scalar) -> ColumnElement[Any]:
    if isinstance(value, bool):
        return literal(value, Boolean())
    if isinstance(value, int | float):
        return literal(float(value), Float())
    return literal(value, String())


def _two_valued(test: ColumnElement[Any]) -> ColumnElement[bool]:
    """``test``, false where it is NULL (a missing value)."""
    return func.coalesce(test, false(), type_=Boolean)
