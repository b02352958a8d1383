"""What the engine decides from, loaded in sets: the journeys and the customers' facts.

Stored journeys are parsed once per version; a batch's facts take one query per kind of fact.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, and_, func, select

from wayfare.engine.calendar import customer_zone
from wayfare.engine.decisions import Facts
from wayfare.engine.facts import facts_for
from wayfare.model.besttime import ENGAGEMENT, hour_of_week
from wayfare.model.conditions import Condition, window_start
from wayfare.model.journey import Journey
from wayfare.model.states import SendParams, StateType
from wayfare.model.validation import validate_journey
from wayfare.store import experiments
from wayfare.store.conditions_sql import load_segments
from wayfare.store.customers import customers_by_id
from wayfare.store.customers import field_types as load_field_types
from wayfare.store.database import dialect_of
from wayfare.store.enrollments import EnrollmentRow
from wayfare.store.journeys import json_references
from wayfare.store.schema import customers, events, journeys, outbox


@dataclass(frozen=True, slots=True)
class LoadedJourney:
    """A stored journey with its parsed form (None when it no longer validates)."""

    id: int
    application_id: int
    status: str
    journey: Journey | None
    states: Any
    uses_events: frozenset[str]
    segment_ids: frozenset[int]
    bulk: bool = False
    """Runs are alike for customers alike in reachability, zone and position (``run_due``)."""
    experiments: bool = False
    """It has a ``FLOW_RANDOM`` experiment (whose winner, once decided, runs read)."""
    best_time: bool = False
    """It has a best-time send (runs read the customers' opens and clicks, and the population's)."""


_PARSED: dict[tuple[int, int, bytes], LoadedJourney] = {}
"""Parsed journeys by (id, version, document): a document is validated once per process."""


def load_journeys(conn: Connection, ids: Iterable[int]) -> dict[int, LoadedJourney]:
    """The journeys ``ids`` (missing ones left out), each document parsed once per version."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found: dict[int, LoadedJourney] = {}
    for row in conn.execute(select(journeys).where(journeys.c.id.in_(wanted))):
        document = {"name": row.name, "states": row.states, "settings": row.settings}
        key = (int(row.id), int(row.version), orjson.dumps(document))
        cached = _PARSED.get(key)
        if cached is None:
            report = validate_journey(document)
            journey = report.journey if report.valid else None
            best_time = _best_time(journey)
            cached = LoadedJourney(
                int(row.id),
                int(row.application_id),
                str(row.status),
                journey,
                row.states,
                frozenset(_event_codes(row.states)) | (ENGAGEMENT if best_time else frozenset()),
                frozenset(json_references(row.states, "segmentIds")),
                _bulk(journey, best_time),
                journey is not None and bool(journey.experiments()),
                best_time,
            )
            if len(_PARSED) > 10_000:
                _PARSED.clear()
            _PARSED[key] = cached
        found[cached.id] = replace(
            cached, application_id=int(row.application_id), status=str(row.status)
        )
    return found


PERSONAL = frozenset({StateType.FLOW_FILTER, StateType.FLOW_RANDOM, StateType.FLOW_WEBHOOK})
"""States whose decision depends on more than the customer's reachability and zone."""


def _best_time(journey: Journey | None) -> bool:
    return journey is not None and any(
        isinstance(state.params, SendParams) and state.params.best_time is not None
        for state in journey.states
    )


POPULATION_FOR = timedelta(minutes=10)
"""How long a process keeps an application's population profile before reading it again."""
POPULATION_DAYS = 90
POPULATION_EVENTS = 50_000
"""The population profile: the latest opens and clicks of the last 90 days, at most 50,000."""
_POPULATION: dict[tuple[str, int], tuple[datetime, Counter[int]]] = {}
"""By (database, application): when read, and the profile."""


def population_profile(conn: Connection, application_id: int, now: datetime) -> Counter[int]:
    """The application's opens and clicks per local hour of the week (each customer's zone).

    Read from its latest engagement events and kept ``POPULATION_FOR`` in this process.
    """
    key = (str(conn.engine.url), application_id)
    kept = _POPULATION.get(key)
    if kept is not None and kept[0] <= now < kept[0] + POPULATION_FOR:
        return kept[1]
    rows = conn.execute(
        select(events.c.occurred_at, customers.c.timezone)
        .select_from(
            events.outerjoin(
                customers,
                and_(
                    customers.c.application_id == events.c.application_id,
                    customers.c.customer_id == events.c.customer_id,
                ),
            )
        )
        .where(
            events.c.application_id == application_id,
            events.c.event_code.in_(sorted(ENGAGEMENT)),
            events.c.occurred_at > now - timedelta(days=POPULATION_DAYS),
            events.c.occurred_at <= now,
        )
        .order_by(events.c.occurred_at.desc())
        .limit(POPULATION_EVENTS)
    )
    found: Counter[int] = Counter()
    zones: dict[str | None, ZoneInfo] = {}
    for at, tz in rows:
        zone = zones.get(tz) or zones.setdefault(tz, customer_zone(tz, None))
        found[hour_of_week(at, zone)] += 1
    if len(_POPULATION) > 1000:
        _POPULATION.clear()
    _POPULATION[key] = (now, found)
    return found


def _bulk(journey: Journey | None, best_time: bool) -> bool:
    if journey is None:
        return False
    settings = journey.settings
    if settings.frequency_cap is not None or settings.holdout > 0 or best_time:
        return False  # each customer's sends, draw or opens and clicks count
    return not any(state.type in PERSONAL for state in journey.states)


def _event_codes(value: Any) -> Iterable[str]:
    """The event names of every ``$event`` condition in ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if (
                key == "$event"
                and isinstance(item, dict)
                and isinstance(item.get("eventName"), str)
            ):
                yield item["eventName"]
            else:
                yield from _event_codes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _event_codes(item)


class BatchFacts:
    """The facts of a batch's customers, loaded with one query per kind of fact."""

    def __init__(
        self,
        conn: Connection,
        now: datetime,
        loaded: Mapping[int, LoadedJourney],
        rows: Sequence[EnrollmentRow],
    ) -> None:
        self.now = now
        by_app: dict[int, set[str]] = defaultdict(set)
        journeys_by_app: dict[int, set[int]] = defaultdict(set)
        for row in rows:
            by_app[row.application_id].add(row.customer_id)
            journeys_by_app[row.application_id].add(row.journey_id)
        self.customers: dict[tuple[int, str], Any] = {}
        self.fields: dict[int, list[str]] = {}
        self.segments: dict[int, dict[int, Condition]] = {}
        self.events: dict[tuple[int, str], list[tuple[str, datetime]]] = defaultdict(list)
        self.sent: dict[tuple[int, str, datetime], int] = {}
        self.winners = experiments.winners(
            conn, [j.id for j in loaded.values() if j.journey is not None and j.experiments]
        )
        self.population = {
            app: population_profile(conn, app, now)
            for app in {j.application_id for j in loaded.values() if j.best_time}
        }
        for app, ids in by_app.items():
            wanted = sorted(ids)
            in_app = [loaded[j] for j in journeys_by_app[app] if j in loaded]
            for customer_id, customer in customers_by_id(conn, app, wanted).items():
                self.customers[(app, customer_id)] = customer
            codes = sorted(set().union(*(j.uses_events for j in in_app)))
            if codes:
                self._events(conn, app, wanted, codes)
            windows = {
                j.journey.settings.frequency_cap.per
                for j in in_app
                if j.journey is not None and j.journey.settings.frequency_cap is not None
            }
            for per in windows:
                self._sent(conn, app, wanted, per)
            field_types = load_field_types(conn, app)
            self.fields[app] = sorted(field_types)
            segment_ids = frozenset().union(*(j.segment_ids for j in in_app))
            self.segments[app] = (
                load_segments(conn, app, segment_ids, field_types) if segment_ids else {}
            )

    def _events(self, conn: Connection, app: int, ids: list[str], codes: list[str]) -> None:
        for customer_id, code, at in conn.execute(
            select(events.c.customer_id, events.c.event_code, events.c.occurred_at).where(
                events.c.application_id == app,
                dialect_of(conn).among(events.c.customer_id, ids),
                events.c.event_code.in_(codes),
                events.c.occurred_at <= self.now,
            )
        ):
            self.events[(app, customer_id)].append((code, at))

    def _sent(self, conn: Connection, app: int, ids: list[str], per: Any) -> None:
        start = window_start(self.now, per)
        assert start is not None
        for customer_id, count in conn.execute(
            select(outbox.c.customer_id, func.count())
            .where(
                outbox.c.application_id == app,
                dialect_of(conn).among(outbox.c.customer_id, ids),
                outbox.c.status.in_(("pending", "sent")),
                outbox.c.created_at > start,
            )
            .group_by(outbox.c.customer_id)
        ):
            self.sent[(app, customer_id, start)] = int(count)

    def of(self, row: EnrollmentRow, journey: Journey) -> Facts | None:
        """The facts ``row``'s customer is decided on in ``journey`` (None: erased)."""
        customer = self.customers.get((row.application_id, row.customer_id))
        if customer is None:
            return None
        settings = journey.settings
        sent = 0
        if settings.frequency_cap is not None:
            start = window_start(self.now, settings.frequency_cap.per)
            sent = self.sent.get((row.application_id, row.customer_id, start), 0)  # type: ignore[arg-type]
        return facts_for(
            customer,
            settings,
            self.fields[row.application_id],
            events=self.events.get((row.application_id, row.customer_id), ()),
            segments=self.segments[row.application_id],
            sent_recently=sent,
            winners=self.winners.get(row.journey_id, {}),
            population=self.population.get(row.application_id, {}),
        )
