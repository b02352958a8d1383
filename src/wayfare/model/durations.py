"""ISO 8601 durations (``PT10M``, ``P5D``, ``P1M``, ``-P3D``) and calendar-aware arithmetic on them.

Years, months and days move the calendar in the moment's own time zone (``P1M`` from January 31
is the last day of February; ``P1D`` keeps the local time of day across a DST change); hours,
minutes and seconds are elapsed time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dateutil.relativedelta import relativedelta

_PATTERN = re.compile(
    r"""
    ^(?P<sign>[-+]?)P
    (?:(?P<years>\d+)Y)?
    (?:(?P<months>\d+)M)?
    (?:(?P<weeks>\d+)W)?
    (?:(?P<days>\d+)D)?
    (?:T
        (?:(?P<hours>\d+)H)?
        (?:(?P<minutes>\d+)M)?
        (?:(?P<seconds>\d+)S)?
    )?$
    """,
    re.VERBOSE,
)

_MAX_PART = 1_000_000
"""No part may be larger than this (a million days is ~2,700 years): catches typos early."""

_MAX_SECONDS = 1000 * 366 * 86_400
"""No duration may be longer than about a thousand years, so that every date it moves stays
within the calendar (years 1 to 9999) wherever it is used."""


@dataclass(frozen=True, slots=True)
class Duration:
    """A signed ISO 8601 duration: calendar parts (years, months, days) plus elapsed seconds.

    ``negative`` means "before": ``add`` then moves back in time. The parts themselves are never
    negative. Weeks are kept as days (``P2W`` is ``P14D``).
    """

    years: int = 0
    months: int = 0
    days: int = 0
    seconds: int = 0
    negative: bool = False

    def __post_init__(self) -> None:
        for name in ("years", "months", "days", "seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"duration {name} must be a non-negative integer, got {value!r}")

    @property
    def is_zero(self) -> bool:
        """True when the duration moves no time at all (``PT0S``, ``-P0D``)."""
        return not (self.years or self.months or self.days or self.seconds)

    @property
    def is_calendar(self) -> bool:
        """True when it has years, months or days (whose length depends on the calendar)."""
        return bool(self.years or self.months or self.days)

    def add(self, moment: datetime) -> datetime:
        """``moment`` moved by this duration (back in time when negative).

        Calendar parts apply to the wall clock of ``moment``'s time zone and clamp to the end
        of the month (Jan 31 + ``P1M`` = Feb 28 or 29); seconds are then added as elapsed time.
        """
        sign = -1 if self.negative else 1
        moved = moment
        if self.is_calendar:
            moved = moment + relativedelta(
                years=sign * self.years, months=sign * self.months, days=sign * self.days
            )
            if moved.tzinfo is not None:
                # Normalise a wall-clock time that a DST gap skipped (or a fold repeated).
                moved = moved.astimezone(UTC).astimezone(moved.tzinfo)
        if self.seconds:
            step = timedelta(seconds=sign * self.seconds)
            if moved.tzinfo is None:
                moved = moved + step
            else:
                moved = (moved.astimezone(UTC) + step).astimezone(moved.tzinfo)
        return moved

    def subtract(self, moment: datetime) -> datetime:
        """``moment`` moved back by this duration (forward when negative): ``-self`` added."""
        return (-self).add(moment)

    def __neg__(self) -> Duration:
        return Duration(self.years, self.months, self.days, self.seconds, not self.negative)

    def approximate_seconds(self) -> int:
        """A signed length in seconds with a year of 365 days and a month of 30, for ordering."""
        total = ((self.years * 365 + self.months * 30 + self.days) * 86_400) + self.seconds
        return -total if self.negative else total

    def __str__(self) -> str:
        text = "-P" if self.negative else "P"
        if self.years:
            text += f"{self.years}Y"
        if self.months:
            text += f"{self.months}M"
        if self.days:
            text += f"{self.days}D"
        hours, rest = divmod(self.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        time = ""
        if hours:
            time += f"{hours}H"
        if minutes:
            time += f"{minutes}M"
        if seconds:
            time += f"{seconds}S"
        if time:
            text += "T" + time
        if text in ("P", "-P"):
            text += "T0S"
        return text


ZERO = Duration()
"""``PT0S``."""


def parse_duration(text: str) -> Duration:
    """The ``Duration`` of ISO 8601 text such as ``PT10M``, ``P1Y2M3DT4H5M6S``, ``P2W``, ``-P3D``.

    Raises ``ValueError`` with a message for the user when the text is not such a duration
    (empty ``P``, a ``T`` with nothing after it, fractions, unknown letters, lower case).
    """
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO 8601 duration such as PT10M or P5D, got {text!r}")
    stripped = text.strip()
    if "." in stripped or "," in stripped:
        raise ValueError(
            f"{text!r} is not a supported duration: fractions are not allowed "
            "(write PT90M rather than PT1.5H)"
        )
    match = _PATTERN.match(stripped)
    if match is None or stripped.endswith("T"):
        raise ValueError(
            f"{text!r} is not an ISO 8601 duration (examples: PT10M, P5D, P1M, P1Y2M3DT4H, -P3D)"
        )
    parts = {
        name: int(value)
        for name, value in match.groupdict().items()
        if name != "sign" and value is not None
    }
    if not parts:
        raise ValueError(f"{text!r} is an empty duration: give at least one part, e.g. PT0S")
    for name, value in parts.items():
        if value > _MAX_PART:
            raise ValueError(f"{text!r} is too long: {value} {name} (at most {_MAX_PART})")
    seconds = parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60 + parts.get("seconds", 0)
    duration = Duration(
        years=parts.get("years", 0),
        months=parts.get("months", 0),
        days=parts.get("weeks", 0) * 7 + parts.get("days", 0),
        seconds=seconds,
        negative=match.group("sign") == "-",
    )
    if abs(duration.approximate_seconds()) > _MAX_SECONDS:
        raise ValueError(f"{text!r} is too long: at most about a thousand years")
    return duration
