"""Conditions (indigitall's ``cond``): a tree of frozen dataclasses, parsed and evaluated here.

``wayfare.store.conditions_sql`` compiles the same tree to SQL, with the same answers.

Semantics, shared with the SQL compiler: every test is two-valued. A missing value (absent or null)
makes every comparison false, ``neq`` included; a value of another kind than the operand (a number
field compared with a string) is false too. Strings compare by code point, numbers as doubles,
dates and datetimes as their canonical text (``wayfare.model.fields``); ``datePart`` compares the
listed parts (year, month, day) of that text; ``contains`` is a case-sensitive substring test.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wayfare.errors import InvalidInput, Problem
from wayfare.model.durations import Duration, parse_duration
from wayfare.model.fields import (
    FIELD_NAME,
    FieldType,
    FieldValue,
    ValueError_,
    canonical,
    kind_of,
)
from wayfare.model.fields import format_datetime as _format_datetime

Scalar = str | int | float | bool
"""An operand of a comparison."""

COMPARISONS = ("eq", "neq", "lt", "lte", "gt", "gte")
ORDERINGS = ("lt", "lte", "gt", "gte")
DATE_PARTS = ("year", "month", "day")
_PART_SLICES = {"year": (0, 4), "month": (5, 7), "day": (8, 10)}

RESERVED_ATTRIBUTES = (
    "customerId",
    "email",
    "phone",
    "whatsapp",
    "telegramChatId",
    "timezone",
    "language",
)
"""The customer's own attributes a condition can name (strings, columns of ``customers``)."""

_OPERATORS = (*COMPARISONS, "in", "contains", "isnull", "isnotnull", "useActualDate", "datePart")
_TEXT_TYPES = (FieldType.STRING, FieldType.DATE, FieldType.DATETIME)


# ---------------------------------------------------------------- the tree


@dataclass(frozen=True, slots=True)
class Compare:
    """``field <op> value`` (op: eq neq lt lte gt gte), on the ``parts`` of dates when given."""

    field: str
    op: str
    value: Scalar
    parts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OneOf:
    """``field`` equals one of ``values`` (``in``), on the ``parts`` of dates when given."""

    field: str
    values: tuple[Scalar, ...]
    parts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Contains:
    """``value`` is a substring of the text ``field`` (case-sensitive)."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class IsNull:
    """``field`` has no value (``null=True``) or has one (``null=False``)."""

    field: str
    null: bool


@dataclass(frozen=True, slots=True)
class ToToday:
    """``field <op>`` today's UTC date (or now, for datetime values) moved by ``offset``.

    A value longer than a date (a datetime) is compared with the moment ``now + offset`` unless
    ``parts`` are given; otherwise with the UTC date of ``now + offset``.
    """

    field: str
    op: str
    offset: Duration
    parts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class All:
    """Every one of ``items`` holds (true when empty)."""

    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one of ``items`` holds (``$or``)."""

    items: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``item`` does not hold (``$not``)."""

    item: Condition


@dataclass(frozen=True, slots=True)
class EventCount:
    """The customer's count of ``event`` satisfies every ``(op, number)`` of ``count``.

    Counted in the window (now - within, now]; all time up to now when ``within`` is None.
    """

    event: str
    within: Duration | None
    count: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class InSegment:
    """The customer is in at least one of the saved segments ``ids``."""

    ids: tuple[int, ...]


Condition = (
    Compare | OneOf | Contains | IsNull | ToToday | All | AnyOf | Not | EventCount | InSegment
)


def part_spans(parts: Sequence[str]) -> list[tuple[int, int]]:
    """The [start, end) character spans of date ``parts``, adjacent parts joined.

    Month and day of ``2026-03-15`` are one span, ``03-15``; year and day are two, ``2026``
    and ``15``. Joining keeps the projection one substring where it can be (one SQL ``substr``).
    """
    spans: list[tuple[int, int]] = []
    for part in DATE_PARTS:
        if part not in parts:
            continue
        start, end = _PART_SLICES[part]
        if spans and spans[-1][1] + 1 == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def project(text: str, parts: Sequence[str]) -> str:
    """The listed date ``parts`` of a canonical date or datetime text (see ``part_spans``)."""
    return "".join(text[start:end] for start, end in part_spans(parts))


def today_text(now: datetime, offset: Duration, as_datetime: bool) -> str:
    """The canonical text ``ToToday`` compares with: the moment, or its UTC date."""
    moment = _format_datetime(offset.add(now))
    return moment if as_datetime else moment[:10]


def window_start(now: datetime, within: Duration | None) -> datetime | None:
    """The exclusive start of an event window ending at ``now`` (None: all time)."""
    return None if within is None else within.subtract(now)


# ---------------------------------------------------------------- parsing


def parse_condition(
    raw: object,
    where: str = "cond",
    field_types: Mapping[str, FieldType] | None = None,
) -> tuple[Condition | None, list[Problem]]:
    """The condition tree of a JSON ``cond`` and every problem found in it, each with its path.

    With ``field_types``, unknown fields and operands that do not fit a field's type are problems
    too, and date and datetime operands are put in canonical form. The tree is None when there
    are problems.
    """
    parser = _Parser(field_types)
    tree = parser.condition(raw, where)
    if parser.problems:
        return None, parser.problems
    return tree, []


class _Parser:
    def __init__(self, field_types: Mapping[str, FieldType] | None) -> None:
        self.field_types = field_types
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str, code: str = "invalid") -> None:
        self.problems.append(Problem(where, message, code))

    def condition(self, raw: object, where: str) -> Condition:
        if not isinstance(raw, dict):
            self.problem(where, f"expected an object of conditions, got {kind_of(raw)}")
            return All(())
        items: list[Condition] = []
        for key, value in raw.items():
            path = f"{where}.{key}"
            if key == "$or":
                items.append(self.any_of(value, path))
            elif key == "$not":
                items.append(Not(self.condition(value, path)))
            elif key == "$event":
                items.append(self.event(value, path))
            elif key == "segmentIds":
                items.append(self.segments(value, path))
            elif not isinstance(key, str) or key.startswith("$"):
                self.problem(path, f"unknown operator {key!r}", "unknown_operator")
            else:
                items.extend(self.field_entry(key, value, path))
        return items[0] if len(items) == 1 else All(tuple(items))

    def any_of(self, raw: object, where: str) -> Condition:
        if not isinstance(raw, list) or not raw:
            self.problem(where, "expected a non-empty list of conditions")
            return AnyOf(())
        return AnyOf(tuple(self.condition(item, f"{where}[{i}]") for i, item in enumerate(raw)))

    def segments(self, raw: object, where: str) -> Condition:
        if not isinstance(raw, list) or not raw:
            self.problem(where, "expected a non-empty list of segment ids")
            return InSegment(())
        ids: list[int] = []
        for i, item in enumerate(raw):
            if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
                self.problem(f"{where}[{i}]", f"expected a segment id, got {_show(item)}")
            else:
                ids.append(item)
        return InSegment(tuple(ids))

    def event(self, raw: object, where: str) -> Condition:
        if not isinstance(raw, dict):
            self.problem(where, f"expected an object, got {kind_of(raw)}")
            return EventCount("", None, ())
        for key in raw:
            if key not in ("eventName", "within", "count"):
                self.problem(f"{where}.{key}", f"unknown key {key!r}", "unknown_operator")
        name = raw.get("eventName")
        if not isinstance(name, str) or not name:
            self.problem(f"{where}.eventName", "expected an event code")
            name = ""
        within = None
        if raw.get("within") is not None:
            within = self.duration(raw["within"], f"{where}.within")
            if within is not None and (within.negative or within.is_zero):
                self.problem(f"{where}.within", "expected a positive duration")
        count: list[tuple[str, int]] = []
        raw_count = raw.get("count", {"gte": 1})
        if not isinstance(raw_count, dict) or not raw_count:
            self.problem(f"{where}.count", 'expected an object such as {"gte": 1}')
        else:
            for op, number in raw_count.items():
                path = f"{where}.count.{op}"
                if op not in COMPARISONS:
                    self.problem(path, f"unknown operator {op!r}", "unknown_operator")
                elif isinstance(number, bool) or not isinstance(number, int) or number < 0:
                    self.problem(path, f"expected a whole number >= 0, got {_show(number)}")
                else:
                    count.append((op, number))
        return EventCount(name, within, tuple(count))

    def duration(self, raw: object, where: str) -> Duration | None:
        if not isinstance(raw, str):
            self.problem(where, f"expected an ISO 8601 duration, got {kind_of(raw)}")
            return None
        try:
            return parse_duration(raw)
        except ValueError as exc:
            self.problem(where, str(exc))
            return None

    def field_type(self, name: str, where: str) -> FieldType | None:
        """The type of field ``name`` (STRING for reserved attributes); None when unknown."""
        if name in RESERVED_ATTRIBUTES:
            return FieldType.STRING
        if not FIELD_NAME.fullmatch(name):
            self.problem(where, f"{name!r} is not a field name", "unknown_field")
            return None
        if self.field_types is None:
            return None
        if name not in self.field_types:
            self.problem(where, f"unknown field {name!r}", "unknown_field")
            return None
        return FieldType(self.field_types[name])

    def field_entry(self, name: str, raw: object, where: str) -> list[Condition]:
        known = self.field_type(name, where)
        typed = self.field_types is not None or name in RESERVED_ATTRIBUTES
        kind = known if typed else None
        if not isinstance(raw, dict) or not raw:
            self.problem(where, 'expected an object of operators such as {"eq": ...}')
            return []
        parts = self.date_parts(raw.get("datePart"), f"{where}.datePart", kind, "datePart" in raw)
        tests: list[Condition] = []
        null_test: Condition | None = None
        for op, value in raw.items():
            path = f"{where}.{op}"
            if op in ("isnull", "isnotnull"):
                if not isinstance(value, bool):
                    self.problem(path, f"expected true or false, got {_show(value)}")
                    continue
                test = IsNull(name, value if op == "isnull" else not value)
                if test.null:  # "has no value" makes every other test of the field moot
                    null_test = test
                else:
                    tests.append(test)
            elif op in COMPARISONS:
                operand = self.operand(value, path, kind, op, parts)
                if operand is not None:
                    tests.append(Compare(name, op, operand, parts))
            elif op == "in":
                tests.extend(self.one_of(name, value, path, kind, parts))
            elif op == "contains":
                if parts:
                    self.problem(path, "datePart does not apply to contains")
                if kind is not None and kind is not FieldType.STRING:
                    self.problem(path, f"contains applies to string fields, not {kind}")
                elif not isinstance(value, str):
                    self.problem(path, f"expected a string, got {kind_of(value)}")
                else:
                    tests.append(Contains(name, value))
            elif op == "useActualDate":
                tests.extend(self.to_today(name, value, path, kind, parts))
            elif op != "datePart":
                self.problem(path, f"unknown operator {op!r}", "unknown_operator")
        if null_test is not None:  # indigitall: isnull (true) overrides the other operators
            return [null_test]
        return tests

    def date_parts(
        self, raw: object, where: str, kind: FieldType | None, given: bool
    ) -> tuple[str, ...]:
        if not given:
            return ()
        if kind is not None and kind not in (FieldType.DATE, FieldType.DATETIME):
            self.problem(where, f"datePart applies to date and datetime fields, not {kind}")
            return ()
        if not isinstance(raw, list) or not raw:
            self.problem(where, 'expected a non-empty list of "year", "month", "day"')
            return ()
        seen: set[str] = set()
        for i, part in enumerate(raw):
            if part not in DATE_PARTS:
                self.problem(
                    f"{where}[{i}]", f'expected "year", "month" or "day", got {_show(part)}'
                )
            elif part in seen:
                self.problem(f"{where}[{i}]", f"{part!r} is listed twice")
            else:
                seen.add(part)
        return tuple(p for p in DATE_PARTS if p in seen)

    def operand(
        self, raw: object, where: str, kind: FieldType | None, op: str, parts: tuple[str, ...]
    ) -> Scalar | None:
        """A comparison operand, canonical for ``kind`` when known; None (and a problem) if bad."""
        if raw is None:
            self.problem(where, "expected a value; use isnull to test for no value")
            return None
        if isinstance(raw, list | dict):
            self.problem(where, f"expected a single value, got {kind_of(raw)}")
            return None
        if kind is None:
            if isinstance(raw, bool) and op in ORDERINGS:
                self.problem(where, f"{op} compares numbers, strings and dates, not booleans")
                return None
            if isinstance(raw, float) and not math.isfinite(raw):
                self.problem(where, "expected a finite number")
                return None
            if parts and not isinstance(raw, str):
                self.problem(where, f"expected a date, got {kind_of(raw)}")
                return None
            if not isinstance(raw, str | int | float):
                self.problem(where, f"expected a value, got {kind_of(raw)}")
                return None
            return raw
        if kind is FieldType.BOOLEAN and op in ORDERINGS:
            self.problem(where, f"{op} does not apply to a boolean field")
            return None
        expected = {
            FieldType.STRING: (str, "a string"),
            FieldType.NUMBER: (int | float, "a number"),
            FieldType.BOOLEAN: (bool, "true or false"),
            FieldType.DATE: (str, "a date (YYYY-MM-DD)"),
            FieldType.DATETIME: (str, "an ISO 8601 datetime"),
        }[kind]
        number_ok = kind is not FieldType.NUMBER or not isinstance(raw, bool)
        if not isinstance(raw, expected[0]) or not number_ok:
            self.problem(where, f"expected {expected[1]}, got {kind_of(raw)}", "type_mismatch")
            return None
        try:
            return canonical(kind, raw)
        except ValueError_ as exc:
            self.problem(where, str(exc), "type_mismatch")
            return None

    def one_of(
        self, name: str, raw: object, where: str, kind: FieldType | None, parts: tuple[str, ...]
    ) -> list[Condition]:
        if not isinstance(raw, list):
            self.problem(where, f"expected a list of values, got {kind_of(raw)}")
            return []
        values = [
            self.operand(item, f"{where}[{i}]", kind, "eq", parts) for i, item in enumerate(raw)
        ]
        return [OneOf(name, tuple(v for v in values if v is not None), parts)]

    def to_today(
        self, name: str, raw: object, where: str, kind: FieldType | None, parts: tuple[str, ...]
    ) -> list[Condition]:
        if not isinstance(raw, dict):
            self.problem(
                where, f'expected an object such as {{"active": true}}, got {kind_of(raw)}'
            )
            return []
        if kind is not None and kind not in (FieldType.DATE, FieldType.DATETIME):
            self.problem(where, f"useActualDate applies to date and datetime fields, not {kind}")
        for key in raw:
            if key not in ("active", "offset", "operator"):
                self.problem(f"{where}.{key}", f"unknown key {key!r}", "unknown_operator")
        active = raw.get("active", True)
        if not isinstance(active, bool):
            self.problem(f"{where}.active", f"expected true or false, got {_show(active)}")
        offset = self.duration(raw.get("offset", "PT0S"), f"{where}.offset")
        op = raw.get("operator", "eq")
        if op not in COMPARISONS:
            self.problem(
                f"{where}.operator", f"expected one of {', '.join(COMPARISONS)}, got {_show(op)}"
            )
        if active is not True or offset is None or op not in COMPARISONS:
            return []
        return [ToToday(name, str(op), offset, parts)]


def _show(value: object) -> str:
    return repr(value) if isinstance(value, str) else kind_of(value)


# ---------------------------------------------------------------- what a condition refers to


def _walk(cond: Condition) -> Iterable[Condition]:
    yield cond
    if isinstance(cond, All | AnyOf):
        for item in cond.items:
            yield from _walk(item)
    elif isinstance(cond, Not):
        yield from _walk(cond.item)


def referenced_fields(cond: Condition) -> frozenset[str]:
    """The customer fields ``cond`` names (not the reserved attributes, not through segments)."""
    return frozenset(
        node.field
        for node in _walk(cond)
        if isinstance(node, Compare | OneOf | Contains | IsNull | ToToday)
        and node.field not in RESERVED_ATTRIBUTES
    )


def referenced_events(cond: Condition) -> frozenset[str]:
    """The event codes ``cond`` counts."""
    return frozenset(node.event for node in _walk(cond) if isinstance(node, EventCount))


def referenced_segments(cond: Condition) -> frozenset[int]:
    """The segment ids ``cond`` names directly."""
    return frozenset(i for node in _walk(cond) if isinstance(node, InSegment) for i in node.ids)


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class CustomerFacts:
    """What a condition may look at for one customer.

    ``fields`` holds canonical values (absent or None: no value); ``attributes`` the reserved
    attributes by their condition names (``email``, ``telegramChatId``, ...); ``events`` the
    times of the customer's events by event code. Give ``fields`` only the application's
    defined fields (as the SQL compiler reads only those), for both to agree.
    """

    customer_id: str
    fields: Mapping[str, FieldValue | None] = field(default_factory=dict)
    attributes: Mapping[str, str | None] = field(default_factory=dict)
    events: Mapping[str, Sequence[datetime]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        customer_id: str,
        fields: Mapping[str, FieldValue | None] | None = None,
        attributes: Mapping[str, str | None] | None = None,
        events: Iterable[tuple[str, datetime]] = (),
    ) -> CustomerFacts:
        """Facts from (event code, occurred at) pairs, indexed by code."""
        index: dict[str, list[datetime]] = {}
        for code, moment in events:
            index.setdefault(code, []).append(moment)
        return cls(customer_id, dict(fields or {}), dict(attributes or {}), index)

    def value(self, name: str) -> FieldValue | None:
        """The value of a field or reserved attribute; None when it has none."""
        if name == "customerId":
            return self.customer_id
        if name in RESERVED_ATTRIBUTES:
            return self.attributes.get(name)
        return self.fields.get(name)


_CHECKS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: bool(a == b),
    "neq": lambda a, b: bool(a != b),
    "lt": lambda a, b: bool(a < b),
    "lte": lambda a, b: bool(a <= b),
    "gt": lambda a, b: bool(a > b),
    "gte": lambda a, b: bool(a >= b),
}


def family(value: object) -> str:
    """How a value compares: ``boolean``, ``number`` or ``text``.

    Values of two families never match, in Python as in SQL.
    """
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "text"


def _compare(value: FieldValue | None, op: str, operand: Scalar, parts: Sequence[str]) -> bool:
    if value is None or family(value) != family(operand):
        return False
    if parts:
        if not isinstance(value, str) or not isinstance(operand, str):
            return False
        value, operand = project(value, parts), project(operand, parts)
    if family(value) == "number":
        return _CHECKS[op](float(value), float(operand))
    return _CHECKS[op](value, operand)


def evaluate(
    cond: Condition,
    customer: CustomerFacts,
    now: datetime,
    *,
    segments: Mapping[int, Condition] | None = None,
) -> bool:
    """Whether ``customer`` matches ``cond`` at ``now``.

    ``segments`` resolves ``segmentIds`` (an id missing from it matches nobody); ``InvalidInput``
    if segments refer to themselves.
    """
    return _evaluate(cond, customer, now, segments or {}, ())


def _evaluate(
    cond: Condition,
    customer: CustomerFacts,
    now: datetime,
    segments: Mapping[int, Condition],
    stack: tuple[int, ...],
) -> bool:
    if isinstance(cond, Compare):
        return _compare(customer.value(cond.field), cond.op, cond.value, cond.parts)
    if isinstance(cond, OneOf):
        value = customer.value(cond.field)
        return any(_compare(value, "eq", item, cond.parts) for item in cond.values)
    if isinstance(cond, Contains):
        value = customer.value(cond.field)
        return isinstance(value, str) and cond.value in value
    if isinstance(cond, IsNull):
        return (customer.value(cond.field) is None) == cond.null
    if isinstance(cond, ToToday):
        value = customer.value(cond.field)
        if not isinstance(value, str):
            return False
        target = today_text(now, cond.offset, as_datetime=len(value) > 10 and not cond.parts)
        return _compare(value, cond.op, target, cond.parts)
    if isinstance(cond, All):
        return all(_evaluate(item, customer, now, segments, stack) for item in cond.items)
    if isinstance(cond, AnyOf):
        return any(_evaluate(item, customer, now, segments, stack) for item in cond.items)
    if isinstance(cond, Not):
        return not _evaluate(cond.item, customer, now, segments, stack)
    if isinstance(cond, EventCount):
        start = window_start(now, cond.within)
        count = sum(
            1
            for moment in customer.events.get(cond.event, ())
            if moment <= now and (start is None or moment > start)
        )
        return all(_CHECKS[op](count, number) for op, number in cond.count)
    return any(
        _evaluate(segments[i], customer, now, segments, segment_stack(stack, i))
        for i in cond.ids
        if i in segments
    )


def segment_stack(stack: tuple[int, ...], segment_id: int) -> tuple[int, ...]:
    """``stack`` with ``segment_id`` entered; ``InvalidInput`` if it is already being entered."""
    if segment_id in stack:
        chain = " -> ".join(str(i) for i in (*stack, segment_id))
        raise InvalidInput(
            problems=[Problem(f"segment {segment_id}", f"refers to itself ({chain})", "cycle")]
        )
    return (*stack, segment_id)
