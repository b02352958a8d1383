"""Calendar arithmetic in each customer's time zone: delays, times of day, quiet hours, birthdays.

Pure functions: they take the instants they need (aware datetimes), never read the clock, and
return aware datetimes in UTC. The rules for local wall times that a DST change skips or repeats
are the same everywhere (see ``local_instant``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wayfare.model.durations import Duration
from wayfare.model.states import Until

UTC_ZONE = ZoneInfo("UTC")
"""UTC, the zone of customers and journeys that name none."""
_ISO_WEEKDAYS = frozenset(range(1, 8))
_ONE_DAY = timedelta(days=1)
_SEARCH_DAYS = 7
"""How far around ``day - offset`` ``birthday_dates`` looks for anniversaries."""


def customer_zone(customer_tz: str | None, journey_tz: str | None) -> ZoneInfo:
    """The zone a customer's local times are read in.

    The customer's own zone, else the journey's ``timezone`` setting, else UTC. A name that is
    not a known IANA zone is skipped the same way as a missing one (names are validated where
    they come in; this never fails).
    """
    for name in (customer_tz, journey_tz):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return UTC_ZONE


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) at which the wall clock of ``zone`` reads ``at`` on ``day``.

    A wall time that a DST change skips (02:30 on the night clocks jump from 02:00 to 03:00)
    is read with the offset from before the jump, which lands as far past the end of the gap as
    it was into it (02:30 → 03:30), as RFC 5545 does. A wall time that happens twice (clocks go
    back from 03:00 to 02:00) is its first occurrence. Either way a day has one such instant.
    """
    _check_wall_time(at)
    return datetime.combine(day, at.replace(fold=0), tzinfo=zone).astimezone(UTC)


def next_local_time(
    after: datetime, at: time, zone: ZoneInfo, weekdays: frozenset[int] = frozenset()
) -> datetime:
    """The first instant >= ``after`` whose local wall time is ``at`` on an allowed weekday.

    ``weekdays`` are ISO numbers (Monday = 1 … Sunday = 7), empty for any day; the weekday is
    that of the local date whose ``at`` it is. Each local date contributes the one instant of
    ``local_instant`` (a skipped time moves past the gap; a repeated one is its first occurrence,
    so the repeat is never chosen).
    """
    _check_aware(after, "after")
    if not weekdays <= _ISO_WEEKDAYS:
        raise ValueError(f"weekdays must be ISO numbers 1 (Monday) … 7 (Sunday), got {weekdays}")
    # Start a day early: on a date whose `at` falls in a gap that crosses midnight, the instant
    # lands on the next local date.
    day = after.astimezone(zone).date() - _ONE_DAY
    for _ in range(16):
        if not weekdays or day.isoweekday() in weekdays:
            candidate = local_instant(day, at, zone)
            if candidate >= after:
                return candidate
        day += _ONE_DAY
    raise AssertionError("unreachable: a week holds every weekday")  # pragma: no cover


def after_delay(
    start: datetime, time: Duration | None, until: Until | None, zone: ZoneInfo
) -> datetime:
    """When a ``FLOW_DELAY`` entered at ``start`` ends (UTC).

    First ``time``: its years, months and days move the local calendar (``P1D`` keeps the wall
    clock across a DST change, ``P1M`` from 31 January is the last day of February), its hours,
    minutes and seconds are elapsed time. Then, with ``until``, the first instant at or after
    that moment at the local time ``until.at`` on one of ``until.weekdays`` (see
    ``next_local_time``).
    """
    _check_aware(start, "start")
    fixed = fixed_delay(time, until)
    if fixed is not None:
        return start.astimezone(UTC) + fixed
    moment = start.astimezone(zone)
    if time is not None:
        moment = time.add(moment)
    if until is not None:
        return next_local_time(moment, until.at, zone, until.weekdays)
    return moment.astimezone(UTC)


def fixed_delay(time: Duration | None, until: Until | None) -> timedelta | None:
    """The length of a ``FLOW_DELAY`` when it is the same for every customer and start, else None.

    That is elapsed time only (``PT10M``, ``PT0S``) with no ``until``: its end is the start plus
    this, in any zone, so a whole batch can be scheduled with one addition.
    """
    if until is not None or (time is not None and time.is_calendar):
        return None
    if time is None:
        return timedelta()
    return timedelta(seconds=-time.seconds if time.negative else time.seconds)


def quiet_until(moment: datetime, start: time, end: time, zone: ZoneInfo) -> datetime | None:
    """If ``moment`` is inside the local quiet window [``start``, ``end``), the instant it ends.

    The window may cross midnight (22:00 to 08:00); ``start == end`` means no quiet hours, and
    ``None`` is returned when ``moment`` is outside the window. The window ends at the first
    instant after ``moment`` when the wall clock reads ``end``; when a DST jump skips ``end``,
    at the jump itself (the first wall time past ``end``); when ``end`` happens twice and
    ``moment`` is between the two, at the second.
    """
    _check_aware(moment, "moment")
    _check_wall_time(start)
    _check_wall_time(end)
    start, end = start.replace(fold=0), end.replace(fold=0)
    if start == end:
        return None
    local = moment.astimezone(zone)
    now = local.time().replace(tzinfo=None, fold=0)
    if start < end:
        if not start <= now < end:
            return None
        day = local.date()
    elif now >= start:
        day = local.date() + _ONE_DAY
    elif now < end:
        day = local.date()
    else:
        return None
    return _first_reading(day, end, zone, moment)


def _first_reading(day: date, at: time, zone: ZoneInfo, after: datetime) -> datetime:
    """The first instant > ``after`` when the wall clock reads ``at`` on ``day`` or jumps past it.

    ``after`` is earlier than that wall time on ``day``.
    """
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) != wall:
        # Skipped by a jump: `second` is before the jump, `first` after it. Find the jump to
        # the second (zone offsets change on whole seconds).
        low, high = int(second.timestamp()), int(first.timestamp())
        while high - low > 1:
            middle = (low + high) // 2
            if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) < wall:
                low = middle
            else:
                high = middle
        return datetime.fromtimestamp(high, UTC)
    if first > after:
        return first
    return second


def birthday_entry(
    birthday: date, offset: Duration, at: time, zone: ZoneInfo, year: int
) -> datetime:
    """The instant (UTC) a customer born on ``birthday`` enters in ``year``.

    The anniversary in ``year`` (29 February is 28 February in a year without one), moved by
    ``offset`` on the calendar (``-P3D`` three days before; the entry may then fall in the
    previous or next year), at local time ``at`` (DST as in ``local_instant``). The birth year
    itself plays no part. ``offset`` must be whole years, months and days.
    """
    return local_instant(_entry_date(birthday.month, birthday.day, offset, year), at, zone)


def next_birthday_entry(
    birthday: date, offset: Duration, at: time, zone: ZoneInfo, after: datetime
) -> datetime:
    """The first birthday entry instant (see ``birthday_entry``) at or after ``after``."""
    _check_aware(after, "after")
    # Entries grow strictly with the anniversary year; start below the one that can reach `after`.
    local_day = after.astimezone(zone).date()
    year = _calendar_only(offset).subtract(datetime.combine(local_day, time())).year - 2
    while True:
        entry = birthday_entry(birthday, offset, at, zone, year)
        if entry >= after:
            return entry
        year += 1


@lru_cache(maxsize=4096)
def birthday_dates(day: date, offset: Duration) -> tuple[tuple[int, int], ...]:
    """The (month, day) birthdays whose entry date (anniversary + ``offset``) is ``day``, sorted.

    For the SQL side that finds who enters on a given local date. On 28 February of a year
    without a 29th this includes (2, 29); month offsets that clamp to a month's end give
    several (``-P1M`` on 28 February 2027: 28, 29, 30 and 31 March).
    """
    _calendar_only(offset)
    # An anniversary that lands on `day` is within a few days of `day - offset`: only a month
    # step that clamps to a month's end (at most three days) and 29 February (read as the 28th)
    # break the exact inverse.
    around = offset.subtract(datetime.combine(day, time())).date()
    found: set[tuple[int, int]] = set()
    for shift in range(-_SEARCH_DAYS, _SEARCH_DAYS + 1):
        anniversary = around + timedelta(days=shift)
        if _entry_date(anniversary.month, anniversary.day, offset, anniversary.year) == day:
            found.add((anniversary.month, anniversary.day))
            if anniversary.month == 2 and anniversary.day == 28 and not _is_leap(anniversary.year):
                found.add((2, 29))
    return tuple(sorted(found))


def _entry_date(month: int, day: int, offset: Duration, year: int) -> date:
    """The anniversary of (month, day) in ``year`` (Feb 29 → Feb 28 off leap years), moved."""
    if month == 2 and day == 29 and not _is_leap(year):
        day = 28
    anniversary = datetime(year, month, day)
    return _calendar_only(offset).add(anniversary).date()


def _calendar_only(offset: Duration) -> Duration:
    if offset.seconds:
        raise ValueError(
            f"a birthday offset is whole years, months or days; {offset} has hours, minutes "
            "or seconds"
        )
    return offset


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _check_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {moment!r}")


def _check_wall_time(at: time) -> None:
    if at.tzinfo is not None:
        raise ValueError(f"a local time of day has no time zone, got {at!r}")
