"""Parsing conditions (every problem, located) and evaluating them for one customer."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wayfare.errors import InvalidInput
from wayfare.model.conditions import (
    All,
    AnyOf,
    Compare,
    Condition,
    CustomerFacts,
    EventCount,
    InSegment,
    IsNull,
    Not,
    OneOf,
    ToToday,
    evaluate,
    parse_condition,
    project,
    referenced_events,
    referenced_fields,
    referenced_segments,
)
from wayfare.model.durations import parse_duration
from wayfare.model.fields import FieldType

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
TYPES = {
    "age": FieldType.NUMBER,
    "city": FieldType.STRING,
    "vip": FieldType.BOOLEAN,
    "birthday": FieldType.DATE,
    "last_login": FieldType.DATETIME,
    "unsubscribe_date": FieldType.DATE,
}


def parsed(raw: Any, field_types: Any = None) -> Condition:
    cond, problems = parse_condition(raw, field_types=field_types)
    assert problems == []
    assert cond is not None
    return cond


def problems_of(raw: Any, field_types: Any = None) -> dict[str, str]:
    cond, problems = parse_condition(raw, field_types=field_types)
    assert cond is None
    return {problem.where: problem.message for problem in problems}


def matches(raw: Any, customer: CustomerFacts, now: datetime = NOW, **kwargs: Any) -> bool:
    return evaluate(parsed(raw, TYPES), customer, now, **kwargs)


# ------------------------------------------------------------------ parsing


def test_the_indigitall_in_filter_example_parses_into_a_conjunction() -> None:
    cond = parsed(
        {
            "age": {"gt": 30},
            "last_login": {"isnotnull": True},
            "unsubscribe_date": {"isnull": True},
            "birthday": {
                "useActualDate": {"active": True, "offset": "PT0S", "operator": "eq"},
                "datePart": ["day", "month"],
            },
        },
        TYPES,
    )
    assert cond == All(
        (
            Compare("age", "gt", 30),
            IsNull("last_login", null=False),
            IsNull("unsubscribe_date", null=True),
            ToToday("birthday", "eq", parse_duration("PT0S"), ("month", "day")),
        )
    )


def test_extensions_parse() -> None:
    cond = parsed(
        {
            "$or": [{"city": {"in": ["Madrid", "Vigo"]}}, {"$not": {"vip": {"eq": True}}}],
            "$event": {"eventName": "purchase", "within": "P7D"},
            "segmentIds": [3, 4],
        }
    )
    assert cond == All(
        (
            AnyOf((OneOf("city", ("Madrid", "Vigo")), Not(Compare("vip", "eq", True)))),
            EventCount("purchase", parse_duration("P7D"), (("gte", 1),)),
            InSegment((3, 4)),
        )
    )
    assert referenced_fields(cond) == {"city", "vip"}
    assert referenced_events(cond) == {"purchase"}
    assert referenced_segments(cond) == {3, 4}


def test_reserved_attributes_are_not_customer_fields() -> None:
    cond = parsed({"email": {"contains": "@"}, "age": {"gt": 1}}, TYPES)
    assert referenced_fields(cond) == {"age"}


def test_every_structural_problem_is_reported_with_its_path() -> None:
    found = problems_of(
        {
            "age": {"gt": [1], "foo": 1, "isnull": "yes"},
            "city": "Madrid",
            "name": {},
            "bad-name": {"eq": 1},
            "$or": [],
            "$not": 3,
            "$and": [],
            "$event": {"within": "P7X", "count": {"gte": -1, "most": 2}, "extra": 1},
            "segmentIds": [1, "two", 0],
            "birthday": {
                "useActualDate": {"active": "yes", "offset": "soon", "operator": "like"},
                "datePart": ["day", "week", "day"],
            },
            "score": {"lt": True, "eq": None, "in": "x", "contains": 5},
        }
    )
    assert found == {
        "cond.age.gt": "expected a single value, got a list",
        "cond.age.foo": "unknown operator 'foo'",
        "cond.age.isnull": "expected true or false, got 'yes'",
        "cond.city": 'expected an object of operators such as {"eq": ...}',
        "cond.name": 'expected an object of operators such as {"eq": ...}',
        "cond.bad-name": "'bad-name' is not a field name",
        "cond.$or": "expected a non-empty list of conditions",
        "cond.$not": "expected an object of conditions, got a number",
        "cond.$and": "unknown operator '$and'",
        "cond.$event.extra": "unknown key 'extra'",
        "cond.$event.eventName": "expected an event code",
        "cond.$event.within": found["cond.$event.within"],
        "cond.$event.count.gte": "expected a whole number >= 0, got a number",
        "cond.$event.count.most": "unknown operator 'most'",
        "cond.segmentIds[1]": "expected a segment id, got 'two'",
        "cond.segmentIds[2]": "expected a segment id, got a number",
        "cond.birthday.datePart[1]": 'expected "year", "month" or "day", got \'week\'',
        "cond.birthday.datePart[2]": "'day' is listed twice",
        "cond.birthday.useActualDate.active": "expected true or false, got 'yes'",
        "cond.birthday.useActualDate.offset": found["cond.birthday.useActualDate.offset"],
        "cond.birthday.useActualDate.operator": (
            "expected one of eq, neq, lt, lte, gt, gte, got 'like'"
        ),
        "cond.score.lt": "lt compares numbers, strings and dates, not booleans",
        "cond.score.eq": "expected a value; use isnull to test for no value",
        "cond.score.in": "expected a list of values, got a string",
        "cond.score.contains": "expected a string, got a number",
    }
    assert "'P7X' is not an ISO 8601 duration" in found["cond.$event.within"]
    assert "'soon' is not an ISO 8601 duration" in found["cond.birthday.useActualDate.offset"]


def test_problems_carry_the_given_path_prefix_and_nested_paths() -> None:
    cond, problems = parse_condition(
        {"$or": [{"age": {"gt": 1}}, {"$not": {"age": {"lt": "x"}}}]},
        "state 3: params.filter[0].cond",
        TYPES,
    )
    assert cond is None
    assert [str(p) for p in problems] == [
        "state 3: params.filter[0].cond.$or[1].$not.age.lt: expected a number, got a string"
    ]


def test_field_types_make_unknown_fields_and_mismatches_problems() -> None:
    found = problems_of(
        {
            "nickname": {"eq": "x"},
            "age": {"gt": "30", "contains": "3", "datePart": ["day"]},
            "vip": {"lt": True, "eq": "yes"},
            "city": {"eq": 3, "useActualDate": {"operator": "eq"}},
            "birthday": {"eq": "15/03/2000", "in": ["2000-01-01", 5]},
            "email": {"eq": 5},
        },
        TYPES,
    )
    assert found == {
        "cond.nickname": "unknown field 'nickname'",
        "cond.age.datePart": "datePart applies to date and datetime fields, not number",
        "cond.age.gt": "expected a number, got a string",
        "cond.age.contains": "contains applies to string fields, not number",
        "cond.vip.lt": "lt does not apply to a boolean field",
        "cond.vip.eq": "expected true or false, got a string",
        "cond.city.eq": "expected a string, got a number",
        "cond.city.useActualDate": "useActualDate applies to date and datetime fields, not string",
        "cond.birthday.eq": "expected a date (YYYY-MM-DD), got '15/03/2000'",
        "cond.birthday.in[1]": "expected a date (YYYY-MM-DD), got a number",
        "cond.email.eq": "expected a string, got a number",
    }


def test_typed_parsing_puts_date_operands_in_canonical_form() -> None:
    cond = parsed(
        {"last_login": {"gt": "2026-03-01T10:00:00+02:00"}, "birthday": {"lte": "2000-01-05"}},
        {**TYPES, "birthday": FieldType.DATETIME},
    )
    assert cond == All(
        (
            Compare("last_login", "gt", "2026-03-01T08:00:00Z"),
            Compare("birthday", "lte", "2000-01-05T00:00:00Z"),
        )
    )


def test_isnull_overrides_the_other_operators_of_its_field() -> None:
    assert parsed({"age": {"gt": 30, "isnull": True}}) == IsNull("age", null=True)
    assert parsed({"age": {"isnotnull": False, "lt": 3}}) == IsNull("age", null=True)


def test_isnull_false_is_one_more_test_and_keeps_the_others() -> None:
    cond = parsed({"age": {"gt": 30, "isnull": False}})
    assert cond == All((Compare("age", "gt", 30), IsNull("age", null=False)))
    assert not evaluate(cond, CustomerFacts.of("c1", {"age": 20}), NOW)
    assert evaluate(cond, CustomerFacts.of("c1", {"age": 40}), NOW)


def test_an_empty_condition_matches_everyone_and_inactive_dates_are_ignored() -> None:
    anyone = CustomerFacts.of("c1")
    assert parsed({}) == All(())
    assert evaluate(parsed({}), anyone, NOW)
    inactive = {"birthday": {"useActualDate": {"active": False, "operator": "eq"}}}
    assert evaluate(parsed(inactive), anyone, NOW)


# ------------------------------------------------------------------ evaluation

ANA = CustomerFacts.of(
    "ana",
    {
        "age": 34,
        "city": "Madrid",
        "vip": False,
        "birthday": "1990-03-15",
        "last_login": "2026-03-10T08:30:00Z",
        "unsubscribe_date": None,
    },
    {"email": "Ana@Example.com", "language": "es"},
    [
        ("purchase", NOW - timedelta(days=7)),  # exactly at the window start: outside P7D
        ("purchase", NOW - timedelta(days=6, hours=23)),
        ("purchase", NOW),  # at now: inside
        ("purchase", NOW + timedelta(seconds=1)),  # in the future: never counted
        ("view", NOW - timedelta(days=40)),
    ],
)
NOBODY = CustomerFacts.of("nobody")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"age": {"gt": 30}}, True),
        ({"age": {"gt": 34}}, False),
        ({"age": {"gte": 34.0}}, True),
        ({"age": {"eq": 34.0}}, True),
        ({"age": {"neq": 35}}, True),
        ({"age": {"in": [1, 34]}}, True),
        ({"age": {"gt": 30, "lt": 34}}, False),
        ({"city": {"eq": "Madrid"}}, True),
        ({"city": {"eq": "madrid"}}, False),
        ({"city": {"contains": "adr"}}, True),
        ({"city": {"contains": "ADR"}}, False),
        ({"city": {"lt": "a"}}, True),  # code point order: "M" < "a"
        ({"city": {"lt": "Madrid\u00e9"}}, True),
        ({"vip": {"eq": False}}, True),
        ({"vip": {"neq": True}}, True),
        ({"birthday": {"lt": "2000-01-01"}}, True),
        ({"birthday": {"eq": "2026-03-15", "datePart": ["month", "day"]}}, True),
        ({"birthday": {"eq": "2026-04-15", "datePart": ["day"]}}, True),
        ({"birthday": {"gt": "1980-12-31", "datePart": ["year"]}}, True),
        ({"last_login": {"gt": "2026-03-10"}}, True),
        ({"unsubscribe_date": {"isnull": True}}, True),
        ({"last_login": {"isnotnull": True}}, True),
        ({"email": {"contains": "@Example"}}, True),
        ({"language": {"in": ["es", "pt"]}}, True),
        ({"customerId": {"eq": "ana"}}, True),
        ({"phone": {"isnull": True}}, True),
        ({"$or": [{"age": {"lt": 18}}, {"city": {"eq": "Madrid"}}]}, True),
        ({"$or": [{"age": {"lt": 18}}, {"city": {"eq": "Vigo"}}]}, False),
        ({"$not": {"city": {"eq": "Vigo"}}}, True),
    ],
)
def test_field_tests(raw: dict[str, Any], expected: bool) -> None:
    assert matches(raw, ANA) is expected


@pytest.mark.parametrize(
    "raw",
    [
        {"age": {"eq": 1}},
        {"age": {"neq": 1}},
        {"age": {"lt": 1000}},
        {"city": {"neq": "x"}},
        {"city": {"contains": ""}},
        {"city": {"in": ["x"]}},
        {"birthday": {"useActualDate": {"operator": "neq"}}},
        {"birthday": {"neq": "2000-01-01", "datePart": ["day"]}},
    ],
)
def test_a_missing_value_fails_every_comparison_and_its_negation_holds(
    raw: dict[str, Any],
) -> None:
    assert matches(raw, NOBODY) is False
    assert matches({"$not": raw}, NOBODY) is True
    assert matches({"city": {"isnull": True}}, NOBODY) is True


def test_a_value_of_another_kind_compares_false_even_with_neq() -> None:
    facts = CustomerFacts.of("x", {"age": "34"})
    assert evaluate(parsed({"age": {"neq": 34}}), facts, NOW) is False
    assert evaluate(parsed({"age": {"eq": "34"}}), facts, NOW) is True


def test_use_actual_date_compares_dates_with_today_and_datetimes_with_now() -> None:
    birthday = {"useActualDate": {"active": True, "offset": "PT0S", "operator": "eq"}}
    assert matches({"birthday": {**birthday, "datePart": ["day", "month"]}}, ANA)
    assert not matches({"birthday": birthday}, ANA)  # the whole date: 1990 is not 2026
    three_days_before = {
        "useActualDate": {"offset": "P3D", "operator": "eq"},
        "datePart": ["day", "month"],
    }
    assert matches({"birthday": three_days_before}, ANA, NOW - timedelta(days=3))
    assert not matches({"birthday": three_days_before}, ANA)
    # last_login 2026-03-10T08:30:00Z: within the last 6 days now, not a day later; the time
    # of day counts (now - 5 days is 2026-03-10T12:00:00Z, after it)
    recent = {"useActualDate": {"offset": "-P6D", "operator": "gte"}}
    assert matches({"last_login": recent}, ANA)
    assert not matches({"last_login": recent}, ANA, NOW + timedelta(days=1))
    assert not matches(
        {"last_login": {"useActualDate": {"offset": "-P5D", "operator": "gte"}}}, ANA
    )
    # datePart on a datetime compares its UTC date parts with today's
    seen_on = {"useActualDate": {"offset": "-P5D", "operator": "eq"}, "datePart": ["day"]}
    assert matches({"last_login": seen_on}, ANA)


def test_use_actual_date_offsets_are_calendar_aware() -> None:
    end_of_january = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    facts = CustomerFacts.of("x", {"birthday": "2026-02-28"})
    next_month = {"birthday": {"useActualDate": {"offset": "P1M", "operator": "eq"}}}
    assert matches(next_month, facts, end_of_january)


def test_event_counts_use_the_window_up_to_now() -> None:
    assert matches({"$event": {"eventName": "purchase"}}, ANA)
    assert matches({"$event": {"eventName": "purchase", "within": "P7D", "count": {"eq": 2}}}, ANA)
    assert matches({"$event": {"eventName": "purchase", "count": {"eq": 3}}}, ANA)
    assert matches({"$event": {"eventName": "view", "within": "P1M", "count": {"eq": 0}}}, ANA)
    assert matches({"$event": {"eventName": "view", "within": "P2M"}}, ANA)
    assert matches({"$event": {"eventName": "refund", "count": {"lt": 1}}}, ANA)
    assert not matches({"$event": {"eventName": "refund"}}, ANA)
    between = {"$event": {"eventName": "purchase", "count": {"gt": 1, "lte": 2}, "within": "P7D"}}
    assert matches(between, ANA)


def test_segments_resolve_through_the_given_conditions() -> None:
    saved = {1: parsed({"city": {"eq": "Vigo"}}), 2: parsed({"segmentIds": [1], "age": {"gt": 1}})}
    saved[3] = parsed({"$or": [{"segmentIds": [2]}, {"age": {"eq": 34}}]})
    assert matches({"segmentIds": [1, 3]}, ANA, segments=saved)
    assert not matches({"segmentIds": [1, 2]}, ANA, segments=saved)
    assert not matches({"segmentIds": [99]}, ANA, segments=saved)
    assert not matches({"segmentIds": [3]}, ANA)  # no segments given: nobody is in any


def test_segments_that_refer_to_themselves_are_refused() -> None:
    saved = {1: parsed({"segmentIds": [2]}), 2: parsed({"$not": {"segmentIds": [1]}})}
    with pytest.raises(InvalidInput) as caught:
        matches({"segmentIds": [1]}, ANA, segments=saved)
    assert str(caught.value) == "segment 1: refers to itself (1 -> 2 -> 1)"


def test_date_parts_project_adjacent_parts_as_one_span() -> None:
    assert project("2026-03-15", ["day", "month"]) == "03-15"
    assert project("2026-03-15T10:00:00Z", ["year", "day"]) == "202615"
    assert project("2026-03-15", ["year", "month", "day"]) == "2026-03-15"


def test_the_model_imports_no_database_library() -> None:
    code = (
        "import sys, wayfare.model.conditions; "
        "print(sorted(m for m in ('sqlalchemy', 'httpx', 'fastapi') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"
