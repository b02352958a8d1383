"""Customer field types: one canonical form per value, so Python and SQL compare alike."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wayfare.model.fields import (
    FIELD_NAME,
    FieldType,
    ValueError_,
    canonical,
    format_datetime,
    infer_type,
    parse_datetime,
)


@pytest.mark.parametrize(
    ("field_type", "value", "expected"),
    [
        (FieldType.STRING, "Madrid", "Madrid"),
        (FieldType.NUMBER, 31, 31),
        (FieldType.NUMBER, "31", 31),
        (FieldType.NUMBER, " 2.50 ", 2.5),
        (FieldType.BOOLEAN, "YES", True),
        (FieldType.BOOLEAN, False, False),
        (FieldType.DATE, "2024-02-29", "2024-02-29"),
        (FieldType.DATE, date(2024, 1, 5), "2024-01-05"),
        (FieldType.DATETIME, "2024-03-01T10:00:00+02:00", "2024-03-01T08:00:00Z"),
        (FieldType.DATETIME, "2024-03-01T10:00:00.999", "2024-03-01T10:00:00Z"),
    ],
)
def test_values_take_their_canonical_form(field_type, value, expected) -> None:
    assert canonical(field_type, value) == expected


@pytest.mark.parametrize(
    ("field_type", "value", "message"),
    [
        (FieldType.STRING, 3, "expected a string, got a number"),
        (FieldType.STRING, "a\x00b", "a string cannot contain the NUL character"),
        (FieldType.NUMBER, True, "expected a number, got a boolean"),
        (FieldType.NUMBER, "nan", "expected a finite number, got 'nan'"),
        (FieldType.NUMBER, float("inf"), "expected a finite number, got inf"),
        (FieldType.BOOLEAN, "maybe", "expected true or false, got 'maybe'"),
        (FieldType.DATE, "2023-02-29", "expected a date (YYYY-MM-DD), got '2023-02-29'"),
        (FieldType.DATE, datetime(2024, 1, 1, tzinfo=UTC), "expected a date, got a datetime"),
        (FieldType.DATETIME, "yesterday", "expected an ISO 8601 datetime, got 'yesterday'"),
        (
            FieldType.NUMBER,
            2**53 + 1,
            "9007199254740993 is too large: numbers are exact up to ±2**53",
        ),
        (
            FieldType.NUMBER,
            "-100000000000000000000",
            "-100000000000000000000 is too large: numbers are exact up to ±2**53",
        ),
        (
            FieldType.DATETIME,
            "0001-01-01T00:00:00+01:00",
            "'0001-01-01T00:00:00+01:00' is outside the years 1 to 9999 in UTC",
        ),
    ],
)
def test_values_that_do_not_fit_say_why(field_type, value, message) -> None:
    with pytest.raises(ValueError_) as caught:
        canonical(field_type, value)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", FieldType.NUMBER),
        ("-0.5", FieldType.NUMBER),
        ("true", FieldType.BOOLEAN),
        ("2024-01-31", FieldType.DATE),
        ("2024-01-31T08:00:00Z", FieldType.DATETIME),
        ("Madrid", FieldType.STRING),
        ("yes", FieldType.STRING),
    ],
)
def test_column_types_are_inferred_from_text(text, expected) -> None:
    assert infer_type(text) is expected


@pytest.mark.parametrize("name", ["age", "_x", "last_login2", "a" * 100])
def test_good_field_names(name) -> None:
    assert FIELD_NAME.fullmatch(name)


@pytest.mark.parametrize("name", ["", "2fast", "first-name", "age\n", "a" * 101, "名前"])
def test_bad_field_names(name) -> None:
    assert not FIELD_NAME.fullmatch(name)


def test_early_years_keep_four_digits() -> None:
    assert canonical(FieldType.DATETIME, "0999-01-01T00:00:00Z") == "0999-01-01T00:00:00Z"


@given(
    st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    ),
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
)
def test_datetime_text_order_is_time_order(a: datetime, b: datetime) -> None:
    first, second = format_datetime(a), format_datetime(b)
    a, b = a.replace(microsecond=0), b.replace(microsecond=0)
    assert (first < second) == (a < b)
    assert parse_datetime(first) == a
