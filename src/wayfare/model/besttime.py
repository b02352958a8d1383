"""Best-time sending: when, within the next hours, a customer most likely reads a message.

A customer's engagement profile counts their opens and clicks (``ENGAGEMENT``) per hour of the
week in their own time zone (Monday 00:00-01:00 is hour 0). A best-time send goes at the start
of the local hour, within its ``horizon`` from now, that the profile rates highest, among the
hours inside the send window and outside quiet hours (or the first minute of a window, or of
the end of quiet hours, that falls off the hour); the current hour counts from now. An
hour's rating is its engagements at that hour of the week, weighed ``WEEK_WEIGHT`` times, plus
those at the same hour of the day on any day: a few weeks of history rarely fill the hours of
the week, and people keep their hours from one day to the next. A
customer with fewer than ``OWN_HISTORY`` engagements is rated by the application's population
profile instead. Ties, and a profile with nothing to say, go to the earliest allowed hour.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from wayfare.model.durations import Duration

ENGAGEMENT = frozenset(
    {
        "push.click",
        "email.open",
        "email.click",
        "inapp.read",
        "inapp.click",
        "whatsapp.read",
        "link.click",
    }
)
"""The message events that show when a customer reads: opens and clicks."""

WEEK_WEIGHT = 7
"""An engagement at this very hour of the week weighs as much as seven at this hour on other
days: the week decides where it has evidence, the hour of the day where it has not."""

OWN_HISTORY = 5
"""Engagements a customer needs for their own profile to decide (else the population's)."""

HOUR = timedelta(hours=1)
DEFAULT_HORIZON = Duration(seconds=24 * 3600)
"""``PT24H``: how far ahead a best-time send may go by default."""


@dataclass(frozen=True, slots=True)
class BestTime:
    """A message state's ``sendTime: best``: the local window it may go in, and how far ahead."""

    window_start: time = time(8, 0)
    window_end: time = time(21, 0)
    horizon: Duration = DEFAULT_HORIZON


def hour_of_week(moment: datetime, zone: ZoneInfo) -> int:
    """The local hour of the week of ``moment`` (0: Monday 00:00-01:00 ... 167)."""
    local = moment.astimezone(zone)
    return local.weekday() * 24 + local.hour


def engagement_profile(events: Iterable[tuple[str, datetime]], zone: ZoneInfo) -> Counter[int]:
    """Opens and clicks per local hour of the week, of ``(event code, when)`` pairs."""
    return Counter(hour_of_week(at, zone) for code, at in events if code in ENGAGEMENT)


def in_window(local: time, start: time, end: time) -> bool:
    """Whether a local time of day is in ``[start, end)`` (a window may cross midnight)."""
    if start == end:
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


def best_moment(
    now: datetime,
    zone: ZoneInfo,
    best: BestTime,
    own: Mapping[int, int],
    population: Mapping[int, int],
    quiet: tuple[time, time] | None = None,
) -> datetime:
    """When to send: ``now`` or the start of a later local hour, as the module says.

    ``quiet``: the journey's quiet hours (start, end), never chosen. When no hour of the horizon
    is allowed, the first allowed hour after it (a window always has one within a day).
    """
    profile = own if sum(own.values()) >= OWN_HISTORY else population
    daily: Counter[int] = Counter()
    for hour, count in profile.items():
        daily[hour % 24] += count
    until = best.horizon.add(now)
    starts = [best.window_start] + ([quiet[1]] if quiet is not None else [])
    chosen: tuple[int, datetime] | None = None
    for candidate in _candidates(now, zone, until + timedelta(days=2), starts):
        if not _allowed(candidate, zone, best, quiet):
            continue
        if candidate > until:
            return chosen[1] if chosen is not None else candidate
        hour = hour_of_week(candidate, zone)
        score = WEEK_WEIGHT * profile.get(hour, 0) + daily[hour % 24]
        if chosen is None or score > chosen[0]:
            chosen = (score, candidate)
    return chosen[1] if chosen is not None else now


def _candidates(
    now: datetime, zone: ZoneInfo, until: datetime, starts: Iterable[time]
) -> list[datetime]:
    """Instants a send may go at, in time order.

    ``now``, the start of each following local hour, and each local time of ``starts`` (the
    window's start, the quiet hours' end: either may fall off the hour).
    """
    local = now.astimezone(zone)
    found = {now}
    moment = (
        now
        + timedelta(minutes=60 - local.minute, seconds=-local.second)
        - timedelta(microseconds=local.microsecond)
    )
    while moment <= until:
        found.add(moment)
        moment += HOUR
    day = local.date()
    while datetime.combine(day, time(0), zone) <= until:
        for start in starts:
            at = datetime.combine(day, start, zone).astimezone(now.tzinfo)
            if now < at <= until:
                found.add(at)
        day += timedelta(days=1)
    return sorted(found)


def _allowed(
    moment: datetime, zone: ZoneInfo, best: BestTime, quiet: tuple[time, time] | None
) -> bool:
    local = moment.astimezone(zone).time().replace(tzinfo=None)
    if not in_window(local, best.window_start, best.window_end):
        return False
    return quiet is None or quiet[0] == quiet[1] or not in_window(local, quiet[0], quiet[1])
