"""Calendar arithmetic in customers' zones: instants checked by hand, then properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wayfare.engine.calendar import (
    after_delay,
    birthday_dates,
    birthday_entry,
    customer_zone,
    fixed_delay,
    local_instant,
    next_birthday_entry,
    next_local_time,
    quiet_until,
)
from wayfare.model.durations import Duration, parse_duration
from wayfare.model.states import Until

MADRID = ZoneInfo("Europe/Madrid")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KOLKATA = ZoneInfo("Asia/Kolkata")
UTC_ZONE = ZoneInfo("UTC")
SANTIAGO = ZoneInfo("America/Santiago")  # clocks change at midnight: the gap is 00:00-01:00
CHATHAM = ZoneInfo("Pacific/Chatham")  # +12:45 / +13:45

WEEKDAYS = frozenset({1, 2, 3, 4, 5})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=zone)


# --- zones -------------------------------------------------------------------------------------


def test_customer_zone_prefers_the_customer_then_the_journey_then_utc() -> None:
    assert customer_zone("Asia/Kolkata", "Europe/Madrid") == KOLKATA
    assert customer_zone(None, "Europe/Madrid") == MADRID
    assert customer_zone("", "Europe/Madrid") == MADRID
    assert customer_zone(None, None) == UTC_ZONE


@pytest.mark.parametrize("bad", ["Mars/Olympus", "Europe", "../etc/passwd", "europe madrid"])
def test_customer_zone_skips_names_that_are_not_zones(bad: str) -> None:
    assert customer_zone(bad, "America/New_York") == NEW_YORK
    assert customer_zone(None, bad) == UTC_ZONE


# --- local times: gaps and folds on each side --------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "at", "expected"),
    [
        # Madrid, 29 March 2026: 02:00 CET -> 03:00 CEST at 01:00 UTC.
        (MADRID, date(2026, 3, 29), time(1, 59), utc(2026, 3, 29, 0, 59)),
        (MADRID, date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1, 0)),  # 03:00 CEST
        (MADRID, date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1, 30)),  # 03:30 CEST
        (MADRID, date(2026, 3, 29), time(3, 0), utc(2026, 3, 29, 1, 0)),
        (MADRID, date(2026, 3, 29), time(3, 30), utc(2026, 3, 29, 1, 30)),
        # Madrid, 25 October 2026: 03:00 CEST -> 02:00 CET at 01:00 UTC; 02:xx happens twice.
        (MADRID, date(2026, 10, 25), time(1, 59), utc(2026, 10, 24, 23, 59)),
        (MADRID, date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30)),  # first, CEST
        (MADRID, date(2026, 10, 25), time(3, 0), utc(2026, 10, 25, 2, 0)),
        # New York, 8 March 2026: 02:00 EST -> 03:00 EDT at 07:00 UTC.
        (NEW_YORK, date(2026, 3, 8), time(1, 59), utc(2026, 3, 8, 6, 59)),
        (NEW_YORK, date(2026, 3, 8), time(2, 30), utc(2026, 3, 8, 7, 30)),  # 03:30 EDT
        (NEW_YORK, date(2026, 3, 8), time(3, 0), utc(2026, 3, 8, 7, 0)),
        # New York, 1 November 2026: 02:00 EDT -> 01:00 EST at 06:00 UTC; 01:xx twice.
        (NEW_YORK, date(2026, 11, 1), time(0, 59), utc(2026, 11, 1, 4, 59)),
        (NEW_YORK, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),  # first, EDT
        (NEW_YORK, date(2026, 11, 1), time(2, 0), utc(2026, 11, 1, 7, 0)),
        # Lord Howe, 4 October 2026: 02:00 (+10:30) -> 02:30 (+11) at 15:30 UTC on the 3rd.
        (LORD_HOWE, date(2026, 10, 4), time(1, 59), utc(2026, 10, 3, 15, 29)),
        (LORD_HOWE, date(2026, 10, 4), time(2, 15), utc(2026, 10, 3, 15, 45)),  # 02:45 (+11)
        (LORD_HOWE, date(2026, 10, 4), time(2, 30), utc(2026, 10, 3, 15, 30)),
        # Lord Howe, 5 April 2026: 02:00 (+11) -> 01:30 (+10:30) at 15:00 UTC on the 4th.
        (LORD_HOWE, date(2026, 4, 5), time(1, 29), utc(2026, 4, 4, 14, 29)),
        (LORD_HOWE, date(2026, 4, 5), time(1, 45), utc(2026, 4, 4, 14, 45)),  # first, +11
        (LORD_HOWE, date(2026, 4, 5), time(2, 0), utc(2026, 4, 4, 15, 30)),
        # No DST at all.
        (KOLKATA, date(2026, 3, 29), time(2, 30), utc(2026, 3, 28, 21, 0)),
        (UTC_ZONE, date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 2, 30)),
    ],
)
def test_local_instant_reads_gaps_forward_and_folds_as_their_first_occurrence(
    zone: ZoneInfo, day: date, at: time, expected: datetime
) -> None:
    assert local_instant(day, at, zone) == expected
    assert next_local_time(datetime.combine(day, time(), tzinfo=zone), at, zone) == expected


def test_the_repeat_of_a_folded_time_is_never_chosen() -> None:
    # 01:30 EDT (05:30 UTC) was chosen; from 01:10 EST (06:10 UTC) the next one is a day later,
    # not 01:30 EST.
    assert next_local_time(utc(2026, 11, 1, 5, 30), time(1, 30), NEW_YORK) == utc(
        2026, 11, 1, 5, 30
    )
    assert next_local_time(utc(2026, 11, 1, 5, 31), time(1, 30), NEW_YORK) == utc(
        2026, 11, 2, 6, 30
    )
    assert next_local_time(utc(2026, 10, 25, 0, 31), time(2, 30), MADRID) == utc(
        2026, 10, 26, 1, 30
    )
    assert next_local_time(utc(2026, 4, 4, 14, 46), time(1, 45), LORD_HOWE) == utc(
        2026, 4, 5, 15, 15
    )


def test_a_gap_at_midnight_moves_the_time_past_it() -> None:
    # Santiago, 6 September 2026: 00:00 (-04) -> 01:00 (-03) at 04:00 UTC.
    assert local_instant(date(2026, 9, 6), time(0, 30), SANTIAGO) == utc(2026, 9, 6, 4, 30)
    assert next_local_time(utc(2026, 9, 6, 3, 0), time(0, 30), SANTIAGO) == utc(2026, 9, 6, 4, 30)


def test_next_local_time_is_the_same_instant_when_it_is_already_that_time() -> None:
    at_nine = local(MADRID, 2026, 11, 27, 9, 0)
    assert next_local_time(at_nine, time(9, 0), MADRID) == utc(2026, 11, 27, 8, 0)
    assert next_local_time(at_nine + timedelta(seconds=1), time(9, 0), MADRID) == utc(
        2026, 11, 28, 8, 0
    )


def test_weekdays_carry_a_friday_evening_over_the_week_end() -> None:
    friday_evening = local(MADRID, 2026, 11, 27, 18, 0)  # 27 November 2026 is a Friday
    assert next_local_time(friday_evening, time(9, 0), MADRID, WEEKDAYS) == utc(2026, 11, 30, 8, 0)
    assert next_local_time(friday_evening, time(9, 0), MADRID, frozenset({7})) == utc(
        2026, 11, 29, 8, 0
    )
    # Weekdays are those of the local date: 23:00 UTC on Thursday is Friday 04:30 in Kolkata.
    assert next_local_time(utc(2026, 11, 26, 23, 0), time(9, 0), KOLKATA, frozenset({5})) == (
        utc(2026, 11, 27, 3, 30)
    )
    assert next_local_time(utc(2026, 11, 27, 3, 31), time(9, 0), KOLKATA, frozenset({5})) == (
        utc(2026, 12, 4, 3, 30)
    )


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_local_time(datetime(2026, 1, 1), time(9), MADRID)
    with pytest.raises(ValueError, match="weekdays"):
        next_local_time(utc(2026, 1, 1), time(9), MADRID, frozenset({0}))
    with pytest.raises(ValueError, match="time zone"):
        next_local_time(utc(2026, 1, 1), time(9, tzinfo=UTC), MADRID)


# --- delays ------------------------------------------------------------------------------------


def test_p1d_keeps_the_wall_clock_and_pt24h_does_not_across_spring_forward() -> None:
    start = local(MADRID, 2026, 3, 28, 10, 0)  # 09:00 UTC, CET
    assert after_delay(start, parse_duration("P1D"), None, MADRID) == utc(2026, 3, 29, 8, 0)
    assert after_delay(start, parse_duration("PT24H"), None, MADRID) == utc(2026, 3, 29, 9, 0)
    # And the autumn row of docs/time.md: 10:00 CEST on Saturday 24 October.
    start = local(MADRID, 2026, 10, 24, 10, 0)
    assert after_delay(start, parse_duration("P1D"), None, MADRID) == utc(2026, 10, 25, 9, 0)
    assert after_delay(start, parse_duration("PT24H"), None, MADRID) == utc(2026, 10, 25, 8, 0)


def test_p1d_keeps_the_wall_clock_and_pt24h_does_not_across_fall_back() -> None:
    start = local(NEW_YORK, 2026, 10, 31, 12, 0)  # 16:00 UTC, EDT
    assert after_delay(start, parse_duration("P1D"), None, NEW_YORK) == utc(2026, 11, 1, 17, 0)
    assert after_delay(start, parse_duration("PT24H"), None, NEW_YORK) == utc(2026, 11, 1, 16, 0)
    # The delay is read in the customer's zone, whatever zone the start is written in.
    assert after_delay(start.astimezone(UTC), parse_duration("P1D"), None, NEW_YORK) == utc(
        2026, 11, 1, 17, 0
    )


def test_p1d_onto_a_skipped_time_lands_past_the_gap_and_onto_a_repeated_one_on_the_first() -> None:
    assert after_delay(
        local(MADRID, 2026, 3, 28, 2, 30), parse_duration("P1D"), None, MADRID
    ) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    assert after_delay(
        local(MADRID, 2026, 10, 24, 2, 30), parse_duration("P1D"), None, MADRID
    ) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, the first
    # Lord Howe moves by half an hour.
    assert after_delay(
        local(LORD_HOWE, 2026, 10, 3, 9, 0), parse_duration("P1D"), None, LORD_HOWE
    ) == utc(2026, 10, 3, 22, 0)  # 09:00 +11
    assert after_delay(
        local(LORD_HOWE, 2026, 10, 3, 9, 0), parse_duration("PT24H"), None, LORD_HOWE
    ) == utc(2026, 10, 3, 22, 30)  # 09:30 +11


def test_p1m_from_january_31_is_the_last_day_of_february() -> None:
    p1m = parse_duration("P1M")
    assert after_delay(local(MADRID, 2026, 1, 31, 10), p1m, None, MADRID) == utc(2026, 2, 28, 9, 0)
    assert after_delay(local(MADRID, 2028, 1, 31, 10), p1m, None, MADRID) == utc(2028, 2, 29, 9, 0)
    # Across the change to summer time the wall clock stays at 10:00.
    assert after_delay(local(MADRID, 2026, 3, 15, 10), p1m, None, MADRID) == utc(2026, 4, 15, 8, 0)


def test_delay_then_until_a_weekday_morning() -> None:
    friday = local(MADRID, 2026, 11, 27, 17, 0)
    until = Until(time(9, 0), WEEKDAYS)
    assert after_delay(friday, parse_duration("PT1H"), until, MADRID) == utc(2026, 11, 30, 8, 0)
    # The wait starts after the duration: a Thursday 08:30 + PT1H misses Thursday 09:00.
    thursday = local(MADRID, 2026, 11, 26, 8, 30)
    assert after_delay(thursday, parse_duration("PT1H"), until, MADRID) == utc(2026, 11, 27, 8, 0)
    assert after_delay(thursday, None, until, MADRID) == utc(2026, 11, 26, 8, 0)
    # In Kolkata (+05:30) 09:30 is past 09:00: the next morning.
    assert after_delay(utc(2026, 11, 27, 4, 0), None, Until(time(9, 0)), KOLKATA) == utc(
        2026, 11, 28, 3, 30
    )


def test_fixed_delays_are_elapsed_time_without_until() -> None:
    assert fixed_delay(parse_duration("PT10M"), None) == timedelta(minutes=10)
    assert fixed_delay(parse_duration("PT0S"), None) == timedelta()
    assert fixed_delay(None, None) == timedelta()
    assert fixed_delay(parse_duration("P1D"), None) is None
    assert fixed_delay(parse_duration("PT10M"), Until(time(9))) is None
    start = local(NEW_YORK, 2026, 11, 1, 1, 50)  # EDT; ten minutes later the clock reads 01:00
    assert after_delay(start, parse_duration("PT10M"), None, NEW_YORK) == utc(2026, 11, 1, 6, 0)


def test_no_time_and_no_until_ends_at_once_in_utc() -> None:
    start = local(KOLKATA, 2026, 11, 27, 9, 0)
    result = after_delay(start, None, None, KOLKATA)
    assert result == start
    assert result.tzinfo is UTC


# --- quiet hours -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (local(MADRID, 2026, 11, 27, 21, 59, 59), None),
        (local(MADRID, 2026, 11, 27, 22, 0), utc(2026, 11, 28, 7, 0)),
        (local(MADRID, 2026, 11, 27, 23, 59, 59), utc(2026, 11, 28, 7, 0)),
        (local(MADRID, 2026, 11, 28, 0, 0), utc(2026, 11, 28, 7, 0)),
        (local(MADRID, 2026, 11, 28, 7, 59, 59), utc(2026, 11, 28, 7, 0)),
        (local(MADRID, 2026, 11, 28, 8, 0), None),
        (local(MADRID, 2026, 11, 28, 12, 0), None),
        # The night of 28 to 29 March has an hour less; 08:00 is in summer time.
        (local(MADRID, 2026, 3, 28, 23, 0), utc(2026, 3, 29, 6, 0)),
    ],
)
def test_quiet_hours_across_midnight(moment: datetime, expected: datetime | None) -> None:
    assert quiet_until(moment, time(22, 0), time(8, 0), MADRID) == expected


def test_quiet_hours_within_a_day_and_none() -> None:
    assert quiet_until(local(KOLKATA, 2026, 6, 1, 13, 0), time(13), time(15), KOLKATA) == utc(
        2026, 6, 1, 9, 30
    )
    assert quiet_until(local(KOLKATA, 2026, 6, 1, 15, 0), time(13), time(15), KOLKATA) is None
    assert quiet_until(local(KOLKATA, 2026, 6, 1, 12, 59), time(13), time(15), KOLKATA) is None
    assert quiet_until(local(KOLKATA, 2026, 6, 1, 23, 0), time(13), time(15), KOLKATA) is None
    assert quiet_until(utc(2026, 6, 1, 12, 0), time(12), time(12), UTC_ZONE) is None


def test_quiet_hours_ending_in_a_gap_end_at_the_jump() -> None:
    # 02:30 does not exist in Madrid on 29 March: at 01:00 UTC the clock reads 03:00, past it.
    assert quiet_until(local(MADRID, 2026, 3, 28, 23), time(22), time(2, 30), MADRID) == utc(
        2026, 3, 29, 1, 0
    )
    assert quiet_until(utc(2026, 3, 29, 0, 59), time(22), time(2, 30), MADRID) == utc(
        2026, 3, 29, 1, 0
    )
    assert quiet_until(utc(2026, 3, 29, 1, 0), time(22), time(2, 30), MADRID) is None


def test_quiet_hours_ending_in_a_fold_end_at_the_next_reading_of_the_clock() -> None:
    # New York, 1 November 2026: 01:30 is at 05:30 UTC (EDT) and at 06:30 UTC (EST).
    assert quiet_until(utc(2026, 11, 1, 5, 10), time(22), time(1, 30), NEW_YORK) == utc(
        2026, 11, 1, 5, 30
    )
    assert quiet_until(utc(2026, 11, 1, 5, 45), time(22), time(1, 30), NEW_YORK) is None
    # Back to 01:10 on the second pass: the clock reads 01:30 again at 06:30 UTC.
    assert quiet_until(utc(2026, 11, 1, 6, 10), time(22), time(1, 30), NEW_YORK) == utc(
        2026, 11, 1, 6, 30
    )
    # Lord Howe, 5 April 2026: 01:45 at 14:45 UTC (+11) and 15:15 UTC (+10:30).
    assert quiet_until(utc(2026, 4, 4, 14, 50), time(1), time(1, 45), LORD_HOWE) is None
    assert quiet_until(utc(2026, 4, 4, 15, 5), time(1), time(1, 45), LORD_HOWE) == utc(
        2026, 4, 4, 15, 15
    )


# --- birthdays ---------------------------------------------------------------------------------

NINE = time(9, 0)
NO_OFFSET = Duration()
THREE_DAYS_BEFORE = parse_duration("-P3D")
DAY_AFTER = parse_duration("P1D")
LEAP_DAY = date(1992, 2, 29)


@pytest.mark.parametrize(
    ("birthday", "offset", "year", "expected"),
    [
        (LEAP_DAY, NO_OFFSET, 2028, utc(2028, 2, 29, 8, 0)),
        (LEAP_DAY, NO_OFFSET, 2027, utc(2027, 2, 28, 8, 0)),
        (LEAP_DAY, THREE_DAYS_BEFORE, 2028, utc(2028, 2, 26, 8, 0)),
        (LEAP_DAY, THREE_DAYS_BEFORE, 2027, utc(2027, 2, 25, 8, 0)),
        (LEAP_DAY, DAY_AFTER, 2028, utc(2028, 3, 1, 8, 0)),
        (LEAP_DAY, DAY_AFTER, 2027, utc(2027, 3, 1, 8, 0)),
        (LEAP_DAY, NO_OFFSET, 2100, utc(2100, 2, 28, 8, 0)),  # 2100 is not a leap year
        (LEAP_DAY, NO_OFFSET, 2000, utc(2000, 2, 29, 8, 0)),
        (date(1990, 12, 31), DAY_AFTER, 2026, utc(2027, 1, 1, 8, 0)),
        (date(1990, 1, 2), THREE_DAYS_BEFORE, 2027, utc(2026, 12, 30, 8, 0)),
        (date(1990, 3, 31), parse_duration("-P1M"), 2027, utc(2027, 2, 28, 8, 0)),
        (date(1990, 3, 29), NO_OFFSET, 2026, utc(2026, 3, 29, 7, 0)),  # summer time that day
    ],
)
def test_birthday_entry(birthday: date, offset: Duration, year: int, expected: datetime) -> None:
    assert birthday_entry(birthday, offset, NINE, MADRID, year) == expected


def test_birthday_entry_reads_the_local_time_in_the_customers_zone() -> None:
    assert birthday_entry(date(1990, 6, 1), NO_OFFSET, time(0, 30), KOLKATA, 2026) == utc(
        2026, 5, 31, 19, 0
    )
    # 02:30 on 29 March 2026 is skipped in Madrid: 03:30 CEST.
    assert birthday_entry(date(1990, 3, 29), NO_OFFSET, time(2, 30), MADRID, 2026) == utc(
        2026, 3, 29, 1, 30
    )


def test_next_birthday_entry_around_new_year() -> None:
    jan_2 = date(1990, 1, 2)
    # The 2027 entry (30 December 2026) is still ahead on 15 December 2026 ...
    assert next_birthday_entry(jan_2, THREE_DAYS_BEFORE, NINE, MADRID, utc(2026, 12, 15)) == utc(
        2026, 12, 30, 8, 0
    )
    # ... and gone on 31 December: the next is the 2028 one, on 30 December 2027.
    assert next_birthday_entry(jan_2, THREE_DAYS_BEFORE, NINE, MADRID, utc(2026, 12, 31)) == utc(
        2027, 12, 30, 8, 0
    )
    dec_31 = date(1990, 12, 31)
    assert next_birthday_entry(dec_31, DAY_AFTER, NINE, MADRID, utc(2026, 6, 1)) == utc(
        2027, 1, 1, 8, 0
    )
    assert next_birthday_entry(dec_31, DAY_AFTER, NINE, MADRID, utc(2027, 1, 1, 8, 0)) == utc(
        2027, 1, 1, 8, 0
    )
    assert next_birthday_entry(dec_31, DAY_AFTER, NINE, MADRID, utc(2027, 1, 1, 8, 1)) == utc(
        2028, 1, 1, 8, 0
    )
    # 29 February: the 28th in 2027, the 29th in 2028.
    assert next_birthday_entry(LEAP_DAY, NO_OFFSET, NINE, MADRID, utc(2027, 1, 1)) == utc(
        2027, 2, 28, 8, 0
    )
    assert next_birthday_entry(LEAP_DAY, NO_OFFSET, NINE, MADRID, utc(2027, 3, 1)) == utc(
        2028, 2, 29, 8, 0
    )


@pytest.mark.parametrize(
    ("day", "offset", "expected"),
    [
        (date(2027, 2, 28), NO_OFFSET, ((2, 28), (2, 29))),
        (date(2028, 2, 28), NO_OFFSET, ((2, 28),)),
        (date(2028, 2, 29), NO_OFFSET, ((2, 29),)),
        (date(2027, 3, 1), NO_OFFSET, ((3, 1),)),
        (date(2027, 2, 25), THREE_DAYS_BEFORE, ((2, 28), (2, 29))),
        (date(2028, 2, 26), THREE_DAYS_BEFORE, ((2, 29),)),
        (date(2027, 3, 1), DAY_AFTER, ((2, 28), (2, 29))),
        (date(2028, 3, 1), DAY_AFTER, ((2, 29),)),
        (date(2027, 1, 1), DAY_AFTER, ((12, 31),)),
        (date(2026, 12, 30), THREE_DAYS_BEFORE, ((1, 2),)),
        (date(2027, 2, 28), parse_duration("-P1M"), ((3, 28), (3, 29), (3, 30), (3, 31))),
        (date(2027, 2, 28), parse_duration("P1M"), ((1, 28), (1, 29), (1, 30), (1, 31))),
        (date(2028, 2, 28), parse_duration("P1Y"), ((2, 28), (2, 29))),
    ],
)
def test_birthday_dates(day: date, offset: Duration, expected: tuple[tuple[int, int], ...]) -> None:
    assert birthday_dates(day, offset) == expected


def test_birthday_offsets_are_whole_days() -> None:
    with pytest.raises(ValueError, match="whole"):
        birthday_dates(date(2027, 1, 1), parse_duration("-PT12H"))
    with pytest.raises(ValueError, match="whole"):
        birthday_entry(LEAP_DAY, parse_duration("P1DT1H"), NINE, MADRID, 2027)


# --- properties --------------------------------------------------------------------------------

ZONES = [MADRID, NEW_YORK, LORD_HOWE, KOLKATA, UTC_ZONE, SANTIAGO, CHATHAM]
QUARTER = timedelta(minutes=15)  # every offset of these zones is whole quarters of an hour


def wall(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)


@lru_cache
def transitions(zone: ZoneInfo) -> tuple[datetime, ...]:
    """The instants 2024-2030 at which the zone's offset changes, found by scanning."""
    found = []
    moment = utc(2024, 1, 1)
    while moment.year < 2031:
        later = moment + timedelta(days=1)
        if moment.astimezone(zone).utcoffset() != later.astimezone(zone).utcoffset():
            low, high = moment, later
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == low.astimezone(zone).utcoffset():
                    low = middle
                else:
                    high = middle
            found.append(high)
        moment = later
    return tuple(found)


@st.composite
def instants(draw: st.DrawFn, zone: ZoneInfo) -> datetime:
    """An instant on a whole minute, often within two days of a DST change."""
    if draw(st.booleans()) and transitions(zone):
        near = draw(st.sampled_from(transitions(zone)))
        return near + timedelta(minutes=draw(st.integers(-2 * 24 * 60, 2 * 24 * 60)))
    minutes = draw(st.integers(0, 7 * 366 * 24 * 60))
    return utc(2024, 1, 1) + timedelta(minutes=minutes)


@st.composite
def local_time_cases(draw: st.DrawFn) -> tuple[datetime, time, ZoneInfo, frozenset[int]]:
    zone = draw(st.sampled_from(ZONES))
    after = draw(instants(zone))
    at = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45])))
    weekdays = draw(st.frozensets(st.integers(1, 7)))
    return after, at, zone, weekdays


def is_repeat(moment: datetime, zone: ZoneInfo) -> bool:
    """True when the wall clock already read this time within the three hours before."""
    return any(wall(moment - k * QUARTER, zone) == wall(moment, zone) for k in range(1, 13))


@settings(max_examples=300, deadline=None)
@given(local_time_cases())
@example((utc(2026, 11, 1, 5, 31), time(1, 30), NEW_YORK, frozenset()))
@example((utc(2026, 3, 29, 0, 0), time(2, 30), MADRID, frozenset({7})))
@example((utc(2026, 9, 6, 3, 0), time(0, 15), SANTIAGO, frozenset()))
def test_next_local_time_is_the_first_reading_of_the_wall_clock(
    case: tuple[datetime, time, ZoneInfo, frozenset[int]],
) -> None:
    after, at, zone, weekdays = case
    result = next_local_time(after, at, zone, weekdays)
    assert result >= after
    assert result.tzinfo is UTC

    def allowed(day: date) -> bool:
        return not weekdays or day.isoweekday() in weekdays

    reading = wall(result, zone)
    if reading.time() == at:
        assert allowed(reading.date())
        assert not is_repeat(result, zone)  # the first occurrence of a repeated time
    else:
        # The documented gap mapping: the wall clock jumped over `at` at some quarter `jump`
        # before the result, and the result is as far past the jump as `at` was into the gap.
        wanted = datetime.combine(reading.date(), at)
        if wanted > reading:
            wanted -= timedelta(days=1)
        assert allowed(wanted.date())
        jump = result
        while wall(jump - QUARTER, zone) + QUARTER == wall(jump, zone):
            jump -= QUARTER
            assert result - jump < timedelta(hours=3)
        gap_start = wall(jump - QUARTER, zone) + QUARTER
        assert gap_start <= wanted < wall(jump, zone)
        assert result == jump + (wanted - gap_start)

    # No earlier instant reads `at` on an allowed day, but for the repeat of a folded time.
    moment = utc(2024, 1, 1) + -(-(after - utc(2024, 1, 1)) // QUARTER) * QUARTER
    while moment < result:
        reading = wall(moment, zone)
        if reading.time() == at and allowed(reading.date()):
            assert is_repeat(moment, zone), moment
        moment += QUARTER


@st.composite
def birthday_offsets(draw: st.DrawFn) -> Duration:
    return Duration(
        years=draw(st.integers(0, 1)),
        months=draw(st.integers(0, 13)),
        days=draw(st.integers(0, 60)),
        negative=draw(st.booleans()),
    )


@settings(max_examples=20, deadline=None)
@given(
    year=st.sampled_from([2000, 2023, 2024, 2027, 2028, 2100]),
    offset=birthday_offsets(),
    zone=st.sampled_from(ZONES),
)
@example(year=2027, offset=Duration(), zone=UTC_ZONE)
@example(year=2027, offset=Duration(days=3, negative=True), zone=MADRID)
@example(year=2028, offset=Duration(days=1), zone=NEW_YORK)
def test_birthday_dates_agrees_with_birthday_entry_for_every_birthday(
    year: int, offset: Duration, zone: ZoneInfo
) -> None:
    every_birthday = [date(2000, 1, 1) + timedelta(days=n) for n in range(366)]
    entering: dict[date, set[tuple[int, int]]] = {}
    for anniversary_year in range(year - 4, year + 5):
        for birthday in every_birthday:
            entry = birthday_entry(birthday, offset, time(12), zone, anniversary_year)
            entering.setdefault(wall(entry, zone).date(), set()).add((birthday.month, birthday.day))
    day = date(year, 1, 1)
    while day.year == year:
        assert birthday_dates(day, offset) == tuple(sorted(entering.get(day, ()))), day
        day += timedelta(days=1)
