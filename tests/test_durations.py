from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wayfare.model.durations import ZERO, Duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT10M", Duration(seconds=600)),
        ("P5D", Duration(days=5)),
        ("P1M", Duration(months=1)),
        ("P1Y", Duration(years=1)),
        ("P1Y2M3DT4H5M6S", Duration(1, 2, 3, 4 * 3600 + 5 * 60 + 6)),
        ("P2W", Duration(days=14)),
        ("-P3D", Duration(days=3, negative=True)),
        ("+PT1H", Duration(seconds=3600)),
        ("PT0S", ZERO),
        ("PT36H", Duration(seconds=36 * 3600)),
        (" P1D ", Duration(days=1)),
    ],
)
def test_parse_accepts_iso_durations(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not an ISO 8601 duration"),
        ("P", "empty duration"),
        ("-P", "empty duration"),
        ("PT", "not an ISO 8601 duration"),
        ("P1DT", "not an ISO 8601 duration"),
        ("10M", "not an ISO 8601 duration"),
        ("pt10m", "not an ISO 8601 duration"),
        ("P1H", "not an ISO 8601 duration"),
        ("PT1D", "not an ISO 8601 duration"),
        ("P1D1Y", "not an ISO 8601 duration"),
        ("PT1.5H", "fractions are not allowed"),
        ("PT0,5S", "fractions are not allowed"),
        ("P-1D", "not an ISO 8601 duration"),
        ("P99999999D", "too long"),
        ("P1100Y", "at most about a thousand years"),
        ("P400000D", "at most about a thousand years"),
        ("soon", "not an ISO 8601 duration"),
    ],
)
def test_parse_rejects_garbage_with_a_clear_message(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_duration(text)


def test_parse_rejects_non_text() -> None:
    with pytest.raises(ValueError, match="expected an ISO 8601 duration"):
        parse_duration(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("PT10M", "PT10M"),
        ("P2W", "P14D"),
        ("PT90M", "PT1H30M"),
        ("P1Y2M3DT4H5M6S", "P1Y2M3DT4H5M6S"),
        ("-P3D", "-P3D"),
        ("PT0S", "PT0S"),
        ("P0D", "PT0S"),
    ],
)
def test_str_gives_back_iso_text(text: str, canonical: str) -> None:
    assert str(parse_duration(text)) == canonical


def test_one_month_from_january_31_is_the_last_day_of_february() -> None:
    jan31 = datetime(2027, 1, 31, 9, 30, tzinfo=UTC)
    assert parse_duration("P1M").add(jan31) == datetime(2027, 2, 28, 9, 30, tzinfo=UTC)
    leap = datetime(2028, 1, 31, tzinfo=UTC)
    assert parse_duration("P1M").add(leap) == datetime(2028, 2, 29, tzinfo=UTC)
    assert parse_duration("P1Y").add(datetime(2028, 2, 29, tzinfo=UTC)) == datetime(
        2029, 2, 28, tzinfo=UTC
    )


def test_negative_duration_moves_back() -> None:
    moment = datetime(2027, 3, 1, 12, tzinfo=UTC)
    assert parse_duration("-P3D").add(moment) == datetime(2027, 2, 26, 12, tzinfo=UTC)
    assert parse_duration("P3D").subtract(moment) == datetime(2027, 2, 26, 12, tzinfo=UTC)
    assert parse_duration("-PT1H").add(moment) == datetime(2027, 3, 1, 11, tzinfo=UTC)


def test_days_keep_local_time_across_dst_but_hours_are_elapsed() -> None:
    madrid = ZoneInfo("Europe/Madrid")
    before_change = datetime(2027, 3, 27, 10, 0, tzinfo=madrid)  # DST starts on March 28
    after_day = parse_duration("P1D").add(before_change)
    assert (after_day.hour, after_day.day) == (10, 28)
    after_hours = parse_duration("PT24H").add(before_change)
    assert (after_hours.hour, after_hours.day) == (11, 28)
    assert (after_hours.astimezone(UTC) - before_change.astimezone(UTC)).total_seconds() == 86_400


def test_mixed_parts_apply_calendar_then_time() -> None:
    moment = datetime(2027, 1, 31, 23, 0, tzinfo=UTC)
    assert parse_duration("P1MT2H").add(moment) == datetime(2027, 3, 1, 1, 0, tzinfo=UTC)


def test_is_zero_and_ordering_helpers() -> None:
    assert parse_duration("PT0S").is_zero
    assert parse_duration("-P0D").is_zero
    assert not parse_duration("PT1S").is_zero
    assert (
        parse_duration("P1M").approximate_seconds() > parse_duration("P29D").approximate_seconds()
    )
    assert parse_duration("-P1D").approximate_seconds() == -86_400


def test_duration_rejects_negative_parts() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Duration(days=-1)


@given(
    st.integers(0, 50),
    st.integers(0, 30),
    st.integers(0, 400),
    st.integers(0, 200_000),
    st.booleans(),
)
def test_text_round_trips(years: int, months: int, days: int, seconds: int, negative: bool) -> None:
    duration = Duration(years, months, days, seconds, negative)
    again = parse_duration(str(duration))
    assert (again.years, again.months, again.days, again.seconds) == (years, months, days, seconds)
    assert again == duration
