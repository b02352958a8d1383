"""Compiled conditions select exactly the customers ``evaluate`` accepts (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from tests.conftest import NOW
from wayfare.errors import InvalidInput
from wayfare.model.conditions import Condition, CustomerFacts, evaluate, parse_condition
from wayfare.model.fields import FieldType, format_datetime
from wayfare.store.conditions_sql import compile_condition, count_matching
from wayfare.store.database import Database
from wayfare.store.schema import customer_fields, customers, events, segments

FIELDS = {
    "s1": FieldType.STRING,
    "s2": FieldType.STRING,
    "n1": FieldType.NUMBER,
    "n2": FieldType.NUMBER,
    "b1": FieldType.BOOLEAN,
    "d1": FieldType.DATE,
    "t1": FieldType.DATETIME,
}
ATTRIBUTES = {"email": "email", "language": "language", "telegramChatId": "telegram_chat_id"}
SEGMENTS = {
    1: {"n1": {"gt": 0}},
    2: {"$event": {"eventName": "buy", "within": "P7D"}, "segmentIds": [1]},
}
EVENT_CODES = ["buy", "view"]

# ------------------------------------------------------------------ values

TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=5,
)
STRINGS = st.one_of(
    st.sampled_from(["", "a", "B", "ab", "abc", "é", "Madrid", "ma", "😀", "Z"]), TEXT
)
NUMBERS = st.one_of(
    st.sampled_from([0, 1, -1, 30, 30.0, 0.5, -2.25, 2**53]),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
)
DATES = st.one_of(
    st.integers(-40, 40).map(lambda days: (NOW.date() + timedelta(days=days)).isoformat()),
    st.dates(date(1900, 1, 1), date(2100, 12, 31)).map(date.isoformat),
    st.sampled_from(["2000-03-15", "1999-02-28", "2026-02-15", "2025-03-15"]),
)
DATETIMES = st.one_of(
    st.integers(-40 * 86400, 40 * 86400).map(lambda s: format_datetime(NOW + timedelta(seconds=s))),
    st.sampled_from([-86400, -3600, 0, 3600, -30 * 86400]).map(
        lambda s: format_datetime(NOW + timedelta(seconds=s))
    ),
    st.datetimes(datetime(1990, 1, 1), datetime(2060, 1, 1)).map(
        lambda d: format_datetime(d.replace(tzinfo=UTC))
    ),
)
BY_TYPE = {
    FieldType.STRING: STRINGS,
    FieldType.NUMBER: NUMBERS,
    FieldType.BOOLEAN: st.booleans(),
    FieldType.DATE: DATES,
    FieldType.DATETIME: DATETIMES,
}
ANY_VALUE = st.one_of(STRINGS, NUMBERS, st.booleans(), DATES, DATETIMES)


@st.composite
def customer(draw: st.DrawFn, index: int) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, kind in FIELDS.items():
        choice = draw(st.sampled_from(["value", "value", "value", "absent", "null"]))
        if choice == "value":
            fields[name] = draw(BY_TYPE[kind])
        elif choice == "null":
            fields[name] = None
    attributes = {name: draw(st.none() | STRINGS) for name in ATTRIBUTES}
    moments = st.one_of(
        st.integers(-3 * 86400, 40 * 86400).map(lambda s: NOW - timedelta(seconds=s)),
        st.sampled_from([NOW, NOW - timedelta(days=7), NOW - timedelta(hours=1)]),
    )
    happened = draw(st.lists(st.tuples(st.sampled_from(EVENT_CODES), moments), max_size=4))
    return {
        "customerId": f"c{index}",
        "fields": fields,
        "attributes": attributes,
        "events": happened,
    }


@st.composite
def customer_batch(draw: st.DrawFn) -> list[dict[str, Any]]:
    size = draw(st.integers(1, 12))
    return [draw(customer(i)) for i in range(size)]


# ------------------------------------------------------------------ conditions

FIELD_NAMES = st.sampled_from([*FIELDS, *ATTRIBUTES, "customerId", "unknown_field"])
COMPARE_OPS = st.sampled_from(["eq", "neq", "lt", "lte", "gt", "gte"])
OFFSETS = st.sampled_from(["PT0S", "-P1D", "P1D", "-P30D", "PT1H", "-PT1H", "-P1M", "P1Y"])
PARTS = st.lists(st.sampled_from(["year", "month", "day"]), min_size=1, max_size=3, unique=True)


def operand_for(name: str) -> st.SearchStrategy[Any]:
    kind = FIELDS.get(name, FieldType.STRING)
    return st.one_of(BY_TYPE[kind], BY_TYPE[kind], ANY_VALUE)


@st.composite
def field_entry(draw: st.DrawFn, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    for op in draw(st.lists(st.sampled_from(OPERATORS), min_size=1, max_size=2, unique=True)):
        if op in ("isnull", "isnotnull"):
            entry[op] = draw(st.booleans())
        elif op == "in":
            entry[op] = draw(st.lists(operand_for(name), max_size=3))
        elif op == "contains":
            entry[op] = draw(st.one_of(STRINGS, st.sampled_from(["-03-", "T1", "a"])))
        elif op == "useActualDate":
            entry[op] = {
                "active": draw(st.sampled_from([True, True, True, False])),
                "offset": draw(OFFSETS),
                "operator": draw(COMPARE_OPS),
            }
        elif op == "datePart":
            entry[op] = draw(PARTS)
        else:
            entry[op] = draw(operand_for(name))
    return entry


OPERATORS = [
    *["eq", "neq", "lt", "lte", "gt", "gte"],
    *["in", "contains", "isnull", "isnotnull", "useActualDate", "datePart"],
]


def event_condition() -> st.SearchStrategy[dict[str, Any]]:
    count = st.dictionaries(COMPARE_OPS, st.integers(0, 3), min_size=1, max_size=2)
    return st.fixed_dictionaries(
        {"eventName": st.sampled_from([*EVENT_CODES, "never"])},
        optional={"within": st.sampled_from(["P7D", "PT1H", "P1M", "P30D"]), "count": count},
    )


def raw_condition() -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.one_of(
        FIELD_NAMES.flatmap(lambda name: field_entry(name).map(lambda entry: {name: entry})),
        event_condition().map(lambda e: {"$event": e}),
        st.lists(st.sampled_from([1, 2, 99]), min_size=1, max_size=2).map(
            lambda ids: {"segmentIds": ids}
        ),
    )

    def extend(inner: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        return st.one_of(
            st.lists(inner, min_size=1, max_size=3).map(lambda items: {"$or": items}),
            inner.map(lambda item: {"$not": item}),
            st.lists(inner, min_size=2, max_size=3).map(_merge),
        )

    return st.recursive(leaf, extend, max_leaves=6)


def _merge(items: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for item in items:
        for key, value in item.items():
            merged.setdefault(key, value)
    return merged


@st.composite
def condition(draw: st.DrawFn) -> Condition:
    raw = draw(raw_condition())
    typed = draw(st.booleans())
    cond, _ = parse_condition(raw, field_types=FIELDS if typed else None)
    if cond is None:  # typed parsing refuses mismatched operands: keep them, untyped
        cond, _ = parse_condition(raw)
    assume(cond is not None)  # untyped parsing still refuses structural mistakes
    assert cond is not None
    return cond


# ------------------------------------------------------------------ the test


def _facts(row: dict[str, Any]) -> CustomerFacts:
    return CustomerFacts.of(row["customerId"], row["fields"], row["attributes"], row["events"])


def _insert(conn: Any, app_id: int, batch: list[dict[str, Any]]) -> None:
    rows = [
        {
            "application_id": app_id,
            "customer_id": row["customerId"],
            "push_tokens": [],
            "consent": {},
            "fields": row["fields"],
            "created_at": NOW,
            "updated_at": NOW,
            **{column: row["attributes"][name] for name, column in ATTRIBUTES.items()},
        }
        for row in batch
    ]
    conn.execute(customers.insert(), rows)
    happened = [
        {
            "application_id": app_id,
            "event_id": f"{row['customerId']}-{i}",
            "event_code": code,
            "customer_id": row["customerId"],
            "occurred_at": moment,
            "custom_data": {},
            "received_at": moment,
        }
        for row in batch
        for i, (code, moment) in enumerate(row["events"])
    ]
    if happened:
        conn.execute(events.insert(), happened)


def test_sql_and_python_select_the_same_customers(database: Database, app_id: int) -> None:
    with database.write() as conn:
        conn.execute(
            customer_fields.insert(),
            [
                {"application_id": app_id, "name": n, "type": str(t), "created_at": NOW}
                for n, t in FIELDS.items()
            ],
        )
        conn.execute(
            segments.insert(),
            [
                {"id": i, "application_id": app_id, "name": f"s{i}", "cond": c, "created_at": NOW}
                for i, c in SEGMENTS.items()
            ],
        )
    saved = {i: parse_condition(c, field_types=FIELDS)[0] for i, c in SEGMENTS.items()}
    assert all(c is not None for c in saved.values())

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(batch=customer_batch(), conds=st.lists(condition(), min_size=1, max_size=6))
    def check(batch: list[dict[str, Any]], conds: list[Condition]) -> None:
        with database.write() as conn:
            _insert(conn, app_id, batch)
        try:
            with database.read() as conn:
                for cond in conds:
                    expected = {
                        row["customerId"]
                        for row in batch
                        if evaluate(cond, _facts(row), NOW, segments=saved)  # type: ignore[arg-type]
                    }
                    test = compile_condition(
                        cond,
                        dialect=database.dialect,
                        field_types=FIELDS,
                        now=NOW,
                        segments=saved,  # type: ignore[arg-type]
                    )
                    query = select(customers.c.customer_id).where(
                        customers.c.application_id == app_id, test
                    )
                    got = set(conn.execute(query).scalars())
                    assert got == expected, cond
                    assert count_matching(conn, app_id, cond, NOW) == len(expected)
        finally:
            with database.write() as conn:
                conn.execute(delete(events).where(events.c.application_id == app_id))
                conn.execute(delete(customers).where(customers.c.application_id == app_id))

    check()


def test_self_referencing_segments_are_refused(database: Database, app_id: int) -> None:
    with database.write() as conn:
        conn.execute(
            segments.insert(),
            [
                {
                    "id": 5,
                    "application_id": app_id,
                    "name": "a",
                    "cond": {"segmentIds": [6]},
                    "created_at": NOW,
                },
                {
                    "id": 6,
                    "application_id": app_id,
                    "name": "b",
                    "cond": {"segmentIds": [5]},
                    "created_at": NOW,
                },
            ],
        )
    cond, _ = parse_condition({"segmentIds": [5]})
    assert cond is not None
    with database.read() as conn, pytest.raises(InvalidInput) as caught:
        count_matching(conn, app_id, cond, NOW)
    assert caught.value.problems[0].code == "cycle"
