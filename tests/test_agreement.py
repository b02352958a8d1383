"""The simulator and the live engine on SQLite agree: same messages, keys and final states.

Each case runs one journey over the same customers and events twice: through ``simulate`` and
through the live engine on a fresh SQLite file, its events recorded one by one at their times
(``record_events`` with ``now`` = the event's time) and the runner ticked at every due time in
order, events before timers at equal times, as the simulator takes them.
"""

from __future__ import annotations

import copy
import os
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from wayfare.engine import calendar
from wayfare.engine.decisions import WebhookResponse
from wayfare.engine.runner import start_journey
from wayfare.engine.simulation import (
    DEFAULT_WEBHOOK,
    SimEvent,
    SimulationResult,
    checked_journey,
    iso,
    simulate,
)
from wayfare.engine.worker import Runner
from wayfare.model.conditions import Condition, parse_condition
from wayfare.model.customers import Customer, PushToken
from wayfare.model.events import BUILTIN_EVENTS
from wayfare.model.fields import FieldType
from wayfare.model.states import BirthdayEntryParams
from wayfare.store.applications import create_application
from wayfare.store.customers import define_field
from wayfare.store.database import Database
from wayfare.store.enrollments import next_wake
from wayfare.store.events import define_event_type, record_events
from wayfare.store.journeys import create_journey
from wayfare.store.lists import add_members, create_list
from wayfare.store.schema import (
    campaigns,
    customers,
    enrollments,
    journeys,
    outbox,
    stat_counters,
)
from wayfare.store.segments import create_segment

from .test_simulation import T0, random_journeys

CUSTOM_CODES = ["cart.add", "purchase", "visit", "unsubscribe"]
CODES = [*CUSTOM_CODES, "push.click", "link.click"]
ZONES = [None, "UTC", "Europe/Madrid", "America/New_York", "Asia/Tokyo"]
SEND_CHANNELS = {
    "PUSH": "push",
    "EMAIL": "email",
    "SMS": "sms",
    "INAPP": "inapp",
    "WHATSAPP": "whatsapp",
    "TELEGRAM": "telegram",
}
FIELD_TYPES = {"age": FieldType.NUMBER, "birthday": FieldType.DATE}
SEGMENT_ID = 1
"""The id of the one segment a case may define (``IN_SEGMENT`` entries): the first in a new
database."""

EXAMPLES = int(os.environ.get("WAYFARE_AGREEMENT_EXAMPLES", "30"))
"""Random cases per run; set ``WAYFARE_AGREEMENT_EXAMPLES`` higher to hunt for disagreements."""

MessageKey = tuple[str, int, str, int | None, datetime, str | None, str]


# --- the people and events of a case ------------------------------------------------------------


def person(
    customer_id: str,
    *,
    timezone: str | None = "UTC",
    push: bool = True,
    email: bool = True,
    phone: bool = True,
    whatsapp: bool = False,
    **fields: Any,
) -> Customer:
    return Customer(
        customer_id=customer_id,
        email=f"{customer_id}@example.com" if email else None,
        phone="+34600100001" if phone else None,
        whatsapp="+34600100002" if whatsapp else None,
        telegram_chat_id=None,
        push_tokens=(PushToken("token-" + customer_id, "android"),) if push else (),
        consent={},
        timezone=timezone,
        language=None,
        fields=fields,
        created_at=T0,
        updated_at=T0,
    )


YES_OR_NO = st.sampled_from([True, False])
"""A boolean whose simplest value is True: cases start with reachable customers."""


@st.composite
def random_people(draw: st.DrawFn) -> list[Customer]:
    """One to five customers, each with or without each address, in one of a few zones."""
    ids = draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True))
    found = []
    for customer_id in sorted(ids):
        fields: dict[str, Any] = {"age": draw(st.integers(0, 80))}
        day = draw(st.sampled_from([4, 3, 5, 6, 2, 1, 8, None]))
        if day is not None:  # around the cases' days: 2 to 7 March 2026
            fields["birthday"] = f"1990-03-{day:02d}"
        found.append(
            person(
                customer_id,
                timezone=draw(st.sampled_from(ZONES)),
                push=draw(YES_OR_NO),
                email=draw(YES_OR_NO),
                phone=draw(YES_OR_NO),
                whatsapp=draw(YES_OR_NO),
                **fields,
            )
        )
    return found


@st.composite
def random_cases(draw: st.DrawFn) -> tuple[dict[str, Any], dict[int, Any]]:
    """A random journey (``random_journeys``) with more entries, channels and local-time delays.

    Also the segments it names (``{id: cond}``, raw).
    """
    doc = copy.deepcopy(draw(random_journeys()))
    entry = doc["states"][0]
    segments: dict[int, Any] = {}
    kind = draw(st.sampled_from(["same", "IN_LIST", "IN_SEGMENT", "IN_BIRTHDAY", "IN_EVENTS"]))
    if kind == "IN_LIST":
        entry["type"], entry["params"] = "IN_LIST", {"listId": 1, "forward": 2}
    elif kind == "IN_SEGMENT":
        segments[SEGMENT_ID] = {"age": {"gte": draw(st.integers(0, 60))}}
        entry["type"] = "IN_SEGMENT"
        entry["params"] = {"cond": {"segmentIds": [SEGMENT_ID]}, "forward": 2}
    elif kind == "IN_BIRTHDAY":
        entry["type"] = "IN_BIRTHDAY"
        entry["params"] = {
            "field": "birthday",
            "offset": draw(st.sampled_from(["P0D", "-P1D", "P2D"])),
            "at": draw(st.sampled_from(["09:00", "00:30", "23:45"])),
            "forward": 2,
        }
    elif kind == "IN_EVENTS":
        within = draw(st.sampled_from(["PT12H", "P1D"]))
        entry["type"] = "IN_FILTER"
        entry["params"] = {
            "cond": {"$event": {"eventName": "visit", "within": within}},
            "forward": 2,
        }
    for state in doc["states"][1:]:
        params = state["params"]
        if state["type"] == "FLOW_DELAY" and draw(st.booleans()):
            params["until"] = {"at": draw(st.sampled_from(["09:00", "21:30"]))}
        elif state["type"] in ("ACTION_PUSH_SEND", "ACTION_SMS_SEND") and draw(st.booleans()):
            state["type"] = draw(st.sampled_from(["ACTION_WHATSAPP_SEND", "ACTION_TELEGRAM_SEND"]))
    # Most random journeys send little: end most of their paths with one more message.
    last = len(doc["states"]) + 1
    channel = draw(st.sampled_from(sorted(SEND_CHANNELS)))
    doc["states"].append(
        {
            "id": last,
            "type": f"ACTION_{channel}_SEND",
            "params": {"action": {"campaignId": last}, "forward": None},
        }
    )
    for index, forwards in enumerate(_ends(doc["states"][1:-1])):
        if index == 0 or draw(YES_OR_NO):  # the first, so that the new state is reachable
            forwards["forward"] = last
    if draw(st.booleans()):
        doc["settings"]["timezone"] = draw(st.sampled_from(["Europe/Madrid", "Asia/Tokyo"]))
    if draw(st.integers(0, 3)) == 0:
        doc["settings"]["holdout"] = draw(st.sampled_from([0.25, 0.5]))
    return doc, segments


@st.composite
def random_stream(draw: st.DrawFn) -> list[SimEvent]:
    """Up to 25 events over four days on whole minutes, for known customers and one stranger."""
    found = []
    for _ in range(draw(st.integers(0, 25))):
        code = draw(st.sampled_from(CODES))
        data: dict[str, Any] = {}
        if code == "push.click":
            data["campaignId"] = draw(st.sampled_from([1, 2]))
        elif code == "link.click":
            data["url"] = draw(st.sampled_from(["https://x/sale", "https://x/other"]))
        moment = T0 + timedelta(minutes=draw(st.integers(0, 4 * 24 * 60)))
        found.append(SimEvent(draw(st.sampled_from("abcdez")), code, moment, data))
    return found


# --- the live run ------------------------------------------------------------------------------


class _Answer(BaseHTTPRequestHandler):
    """Answers a webhook call to ``.../<status>`` with that status and ``{}``."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"{}"
        self.send_response(int(self.path.rsplit("/", 1)[-1]))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def hook_url() -> Iterator[str]:
    """A local webhook: ``<url>/<status>`` answers ``status`` and ``{}``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def with_hook(doc: dict[str, Any], url: str) -> dict[str, Any]:
    """``doc`` with every ``FLOW_WEBHOOK`` calling ``url``."""
    doc = copy.deepcopy(doc)
    for state in doc["states"]:
        if state["type"] == "FLOW_WEBHOOK":
            state["params"]["url"] = url
    return doc


def campaign_channels(doc: dict[str, Any]) -> dict[int, str]:
    """The channel of each campaign id the journey names (its campaigns must exist live)."""
    found: dict[int, str] = {}
    for state in doc["states"]:
        kind, params = state["type"], state["params"]
        if kind.startswith("ACTION_") and kind.endswith("_SEND"):
            found[params["action"]["campaignId"]] = SEND_CHANNELS[kind[7:-5]]
        elif kind == "FLOW_PUSH_CLICK":
            found[params["click"]["campaignId"]] = "push"
        elif kind == "FLOW_RETARGETING":
            for reminder in params["reminders"]:
                found[reminder["campaignId"]] = reminder["channel"]
    return found


def fresh(template: Path, folder: Path) -> Database:
    """A new database: a copy of the migrated SQLite template."""
    path = folder / f"{uuid.uuid4().hex}.db"
    shutil.copy(template, path)
    return Database(f"sqlite:///{path}")


def _ends(value: Any) -> Iterator[dict[str, Any]]:
    """Every object in ``value`` with ``"forward": null``."""
    if isinstance(value, dict):
        if "forward" in value and value["forward"] is None:
            yield value
        for item in value.values():
            yield from _ends(item)
    elif isinstance(value, list):
        for item in value:
            yield from _ends(item)


def prepare(
    database: Database,
    doc: dict[str, Any],
    people: Sequence[Customer],
    start: datetime,
    segments: dict[int, Any] | None = None,
) -> tuple[int, int]:
    """The application, fields, event types, campaigns (ids 1..n), customers, the list (when
    the entry is ``IN_LIST``), the segments and the draft."""
    segments = segments or {}
    with database.write() as conn:
        app = create_application(conn, "acme", start)
        define_field(conn, app, "age", "number", start)
        define_field(conn, app, "birthday", "date", start)
        for code in sorted(set(CUSTOM_CODES) - BUILTIN_EVENTS):
            define_event_type(conn, app, code, code, start)
        channels = campaign_channels(doc)
        for campaign_id in range(1, max(channels, default=0) + 1):
            result = conn.execute(
                campaigns.insert().values(
                    application_id=app,
                    name=f"campaign {campaign_id}",
                    channel=channels.get(campaign_id, "push"),
                    content={"title": "Hi", "body": "Hello"},
                    created_at=start,
                    updated_at=start,
                )
            )
            assert result.inserted_primary_key is not None
            assert result.inserted_primary_key[0] == campaign_id
        if people:
            conn.execute(
                customers.insert(),
                [
                    {
                        "application_id": app,
                        "customer_id": p.customer_id,
                        "email": p.email,
                        "phone": p.phone,
                        "whatsapp": p.whatsapp,
                        "telegram_chat_id": p.telegram_chat_id,
                        "push_tokens": [
                            {"token": t.token, "platform": t.platform} for t in p.push_tokens
                        ],
                        "consent": dict(p.consent),
                        "timezone": p.timezone,
                        "fields": dict(p.fields),
                        "created_at": start,
                        "updated_at": start,
                    }
                    for p in people
                ],
            )
        if doc["states"][0]["type"] == "IN_LIST":
            list_id = create_list(conn, app, "given", start).id
            add_members(conn, app, list_id, [p.customer_id for p in people], start)
        for segment_id, cond in sorted(segments.items()):
            assert create_segment(conn, app, f"segment {segment_id}", cond, start) == segment_id
        journey_id = create_journey(conn, app, doc, start)
    return app, journey_id


def run_live(
    database: Database,
    doc: dict[str, Any],
    people: Sequence[Customer],
    events: Sequence[SimEvent],
    start: datetime,
    until: datetime,
    segments: dict[int, Any] | None = None,
) -> int:
    """Run the journey live from ``start`` to ``until``; the journey's id."""
    app, journey_id = prepare(database, doc, people, start, segments)
    birthdays = birthday_instants(doc, people, start, until)
    options = doc.get("settings", {})
    runner = Runner(database, allow_private_webhooks=True)
    ordered = sorted(enumerate(events), key=lambda pair: (pair[1].at, pair[0]))
    queue = [(f"e{index:05d}", event) for index, event in ordered]

    def ingest(now: datetime) -> None:
        while queue and queue[0][1].at <= now:
            event_id, event = queue.pop(0)
            body = {
                "eventId": event_id,
                "eventCode": event.code,
                "customerId": event.customer_id,
                "date": iso(event.at),
                "customData": dict(event.data),
            }
            with database.write() as conn:  # one at a time, as the simulator takes them
                record_events(conn, app, [body], event.at)

    def activate() -> None:
        with database.write() as conn:
            start_journey(
                conn,
                app,
                journey_id,
                start,
                reentry=bool(options.get("reentry", False)),
                max_entries=options.get("maxEntries"),
                recheck_every=options.get("recheckEvery"),
            )

    def drain(now: datetime) -> None:
        while runner.tick(now, limit=500):
            pass

    # At the start: an event entry must be active to see the events of that instant; other
    # entries enter after them (the simulator's re-entry check comes after events).
    if doc["states"][0]["type"] == "IN_CUSTOM_EVENT":
        activate()
        ingest(start)
    else:
        ingest(start)
        activate()
    drain(start)
    while True:
        with database.read() as conn:
            due = [next_wake(conn)]
            check = conn.execute(
                select(journeys.c.next_entry_check_at).where(journeys.c.id == journey_id)
            ).scalar()
        if birthdays is None:
            due.append(check)
        else:  # the journey's check time is when it last looked: it looks at every tick
            while birthdays and check is not None and birthdays[0] <= check:
                birthdays.pop(0)
            due.extend(birthdays[:1])
        if queue:
            due.append(queue[0][1].at)
        found = [moment for moment in due if moment is not None]
        if not found or min(found) > until:
            return journey_id
        now = min(found)
        assert now.tzinfo is not None
        ingest(now)
        drain(now)


def birthday_instants(
    doc: dict[str, Any], people: Sequence[Customer], start: datetime, until: datetime
) -> list[datetime] | None:
    """The ``IN_BIRTHDAY`` entry instants of the people in (start, until], in order.

    None for other entries. Live, the worker looks for birthdays at every tick; ticking at each
    instant is what a worker that never sleeps more than a second does.
    """
    journey = checked_journey(doc, FIELD_TYPES, source="journey")
    params = journey.entry.params
    if not isinstance(params, BirthdayEntryParams):
        return None
    found = set()
    for p in people:
        value = p.fields.get(params.field)
        if not isinstance(value, str):
            continue
        zone = calendar.customer_zone(p.timezone, journey.settings.timezone)
        after = start + timedelta(microseconds=1)
        while (
            moment := calendar.next_birthday_entry(
                date.fromisoformat(value), params.offset, params.at, zone, after
            )
        ) <= until:
            found.add(moment)
            after = moment + timedelta(microseconds=1)
    return sorted(found)


# --- the comparison ----------------------------------------------------------------------------


def simulated_messages(result: SimulationResult) -> Counter[MessageKey]:
    return Counter(
        (m.customer_id, m.state_id, m.channel, m.campaign_id, m.at, m.skipped, m.key)
        for m in result.messages
    )


def live_messages(database: Database) -> Counter[MessageKey]:
    with database.read() as conn:
        rows = conn.execute(
            select(
                outbox.c.customer_id,
                outbox.c.state_id,
                outbox.c.channel,
                outbox.c.campaign_id,
                outbox.c.next_attempt_at,
                outbox.c.status,
                outbox.c.reason,
                outbox.c.idempotency_key,
            )
        ).all()
    return Counter(
        (
            str(c),
            int(s),
            str(ch),
            None if camp is None else int(camp),
            at.astimezone(UTC),
            reason if status == "skipped" else None,
            str(key),
        )
        for c, s, ch, camp, at, status, reason, key in rows
    )


def simulated_ends(result: SimulationResult, entry_id: int) -> dict[str, tuple[int, int]]:
    """Each customer's (entries, state of the last enrollment now)."""
    return {
        customer_id: (sum(1 for s, _ in path if s == entry_id), path[-1][0])
        for customer_id, path in result.paths.items()
    }


def live_ends(database: Database, journey_id: int) -> dict[str, tuple[int, int]]:
    with database.read() as conn:
        rows = conn.execute(
            select(
                enrollments.c.customer_id, enrollments.c.entry_number, enrollments.c.state_id
            ).where(enrollments.c.journey_id == journey_id)
        ).all()
    ends: dict[str, tuple[int, int]] = {}
    for customer_id, number, state_id in rows:
        if customer_id not in ends or ends[customer_id][0] < number:
            ends[customer_id] = (int(number), int(state_id))
    return ends


def simulated_statuses(result: SimulationResult) -> Counter[tuple[int, str]]:
    """(state, waiting / exited / failed) counted over all enrollments."""
    found: Counter[tuple[int, str]] = Counter()
    for state_id, stat in result.stats.items():
        for status in ("waiting", "exited", "failed"):
            if getattr(stat, status):
                found[(state_id, status)] += getattr(stat, status)
    return found


def live_statuses(database: Database, journey_id: int) -> Counter[tuple[int, str]]:
    with database.read() as conn:
        rows = conn.execute(
            select(enrollments.c.state_id, enrollments.c.status).where(
                enrollments.c.journey_id == journey_id
            )
        ).all()
    found: Counter[tuple[int, str]] = Counter()
    for state_id, status in rows:
        kind = "waiting" if status in ("waiting", "ready") else str(status)
        if kind != "completed":
            found[(int(state_id), kind)] += 1
    return found


def simulated_counts(result: SimulationResult) -> Counter[tuple[int, str]]:
    """Each state's statistics as the live counters name them (``branch:<b>``, ``skipped:<r>``)."""
    found: Counter[tuple[int, str]] = Counter()
    for state_id, stat in result.stats.items():
        found[(state_id, "entered")] += stat.entered
        found[(state_id, "exited")] += stat.exited
        found[(state_id, "failed")] += stat.failed
        for branch, count in stat.branches.items():
            found[(state_id, f"branch:{branch}")] += count
        if stat.sent is not None:
            found[(state_id, "sent")] += stat.sent
        for reason, count in (stat.skipped or {}).items():
            found[(state_id, f"skipped:{reason}")] += count
    return +found


def live_counts(database: Database, journey_id: int) -> Counter[tuple[int, str]]:
    """The live statistics counters of the journey, summed over time (``completed`` and the
    ``exit`` branch left out: the simulator counts an exit once, as ``exited``)."""
    with database.read() as conn:
        rows = conn.execute(
            select(
                stat_counters.c.state_id,
                stat_counters.c.metric,
                func.sum(stat_counters.c.value),
            )
            .where(stat_counters.c.journey_id == journey_id, stat_counters.c.test.is_(False))
            .group_by(stat_counters.c.state_id, stat_counters.c.metric)
        ).all()
    found: Counter[tuple[int, str]] = Counter()
    for state_id, metric, value in rows:
        if metric not in ("completed", "branch:exit"):
            found[(int(state_id), str(metric))] += int(value)
    return +found


def assert_agree(
    database: Database,
    doc: dict[str, Any],
    people: Sequence[Customer],
    events: Sequence[SimEvent],
    until: datetime,
    *,
    start: datetime = T0,
    segments: dict[int, Any] | None = None,
    webhook: WebhookResponse = DEFAULT_WEBHOOK,
) -> SimulationResult:
    """Run both sides and compare messages (with keys), final states and statuses."""
    journey_id = run_live(database, doc, people, events, start, until, segments)
    conditions: dict[int, Condition] = {}
    for segment_id, raw in (segments or {}).items():
        cond, problems = parse_condition(raw)
        assert cond is not None and not problems
        conditions[segment_id] = cond
    result = simulate(
        doc,
        people,
        events,
        start=start,
        until=until,
        journey_id=journey_id,
        field_types=FIELD_TYPES,
        segments=conditions,
        webhook=webhook,
    )
    simulated, live = simulated_messages(result), live_messages(database)
    assert simulated == live, _diff(simulated, live)
    entry_id = doc["states"][0]["id"]
    assert simulated_ends(result, entry_id) == live_ends(database, journey_id)
    assert simulated_statuses(result) == live_statuses(database, journey_id)
    assert simulated_counts(result) == live_counts(database, journey_id)
    return result


def _diff(simulated: Counter[MessageKey], live: Counter[MessageKey]) -> str:
    only_sim = sorted((simulated - live).elements(), key=repr)
    only_live = sorted((live - simulated).elements(), key=repr)
    return f"only simulated: {only_sim}\nonly live: {only_live}"


# --- the property ------------------------------------------------------------------------------


@settings(max_examples=EXAMPLES, deadline=None)
@given(random_cases(), random_people(), random_stream(), st.sampled_from([200, 503]))
def test_random_journeys_and_events_agree_between_the_simulator_and_sqlite(
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    hook_url: str,
    case: tuple[dict[str, Any], dict[int, Any]],
    people: list[Customer],
    events: list[SimEvent],
    answer: int,
) -> None:
    doc, segments = case
    doc = with_hook(doc, f"{hook_url}/{answer}")
    database = fresh(sqlite_template, tmp_path_factory.getbasetemp())
    try:
        result = assert_agree(
            database,
            doc,
            people,
            events,
            T0 + timedelta(days=5),
            segments=segments,
            webhook=WebhookResponse(answer, {}),
        )
    finally:
        database.dispose()
        Path(str(database.engine.url.database)).unlink()
    # What the cases cover (pytest --hypothesis-show-statistics).
    entered = result.stats[1].entered
    event(f"entry {doc['states'][0]['type']}: {'someone' if entered else 'nobody'} entered")
    for outcome in sorted({m.skipped or "sent" for m in result.messages} or {"no message"}):
        event(f"messages: {outcome}")


def test_a_timer_and_the_reentry_check_at_the_same_instant(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doc = {
        "name": "Hourly",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {"id": 2, "type": "FLOW_DELAY", "params": {"time": "PT1H", "forward": None}},
        ],
        "settings": {"reentry": True, "maxEntries": None, "recheckEvery": "PT1H"},
    }
    database = fresh(sqlite_template, tmp_path_factory.getbasetemp())
    try:
        # Simulated: enters at 10:00, 11:00 and 12:00 (each timer ends the enrollment, then the
        # check at that instant enters again). Live: 10:00 and 12:00 only.
        assert_agree(database, doc, [person("a")], [], T0 + timedelta(hours=2))
    finally:
        database.dispose()


# --- hand-written scenarios ------------------------------------------------------------------


@pytest.fixture
def sqlite(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite database (the simulator is compared with SQLite only)."""
    database = fresh(sqlite_template, tmp_path)
    try:
        yield database
    finally:
        database.dispose()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sent(result: SimulationResult) -> list[tuple[str, int, str, str | None]]:
    """(customer, campaign, at, skipped) of every simulated message, in output order."""
    return [(m.customer_id, m.campaign_id, iso(m.at), m.skipped) for m in result.messages]


def test_abandoned_cart_with_reminders_conversion_and_a_second_cart(sqlite: Database) -> None:
    doc = {
        "name": "Abandoned cart",
        "states": [
            {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "cart.add", "forward": 2}},
            {
                "id": 2,
                "type": "FLOW_RETARGETING",
                "params": {
                    "goalEvent": "purchase",
                    "wait": "PT1H",
                    "reminders": [
                        {"campaignId": 1, "channel": "push"},
                        {"campaignId": 2, "channel": "email"},
                    ],
                    "every": "P1D",
                    "converted": {"forward": 3},
                    "exhausted": {"forward": None},
                },
            },
            {
                "id": 3,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": 3}, "forward": None},
            },
        ],
        "settings": {
            "reentry": True,
            "maxEntries": None,
            "quietHours": {"from": "22:00", "to": "08:00"},
        },
    }
    people = [
        person("buyer", timezone="Europe/Madrid"),
        person("idle", timezone="America/New_York"),
        person("quick"),
        person("nomail", email=False),
    ]
    events = [
        SimEvent("buyer", "cart.add", at("2026-03-02T10:00:00Z")),
        SimEvent("idle", "cart.add", at("2026-03-02T10:00:00Z")),
        SimEvent("quick", "cart.add", at("2026-03-02T10:00:00Z")),
        SimEvent("nomail", "cart.add", at("2026-03-02T21:30:00Z")),
        SimEvent("quick", "purchase", at("2026-03-02T10:20:00Z")),  # before any reminder
        SimEvent("buyer", "cart.add", at("2026-03-02T10:30:00Z")),  # still in: no new entry
        SimEvent("buyer", "purchase", at("2026-03-02T11:00:00Z")),  # at the wait's end: converts
        SimEvent("buyer", "cart.add", at("2026-03-03T09:00:00Z")),  # out again: second entry
    ]
    result = assert_agree(sqlite, doc, people, events, at("2026-03-06T00:00:00Z"))
    assert sent(result) == [
        ("quick", 3, "2026-03-02T10:20:00Z", None),
        ("buyer", 3, "2026-03-02T11:00:00Z", None),
        ("idle", 1, "2026-03-02T13:00:00Z", None),  # 06:00 in New York: held until 08:00
        ("nomail", 1, "2026-03-03T08:00:00Z", None),  # 22:30 UTC: held until quiet hours end
        ("buyer", 1, "2026-03-03T10:00:00Z", None),
        ("idle", 2, "2026-03-03T13:00:00Z", None),  # a day after the first was decided
        ("nomail", 2, "2026-03-03T22:30:00Z", "no_address"),  # skipped: not held
        ("buyer", 2, "2026-03-04T10:00:00Z", None),
    ]


def test_a_delay_until_a_local_time_across_the_spring_dst_change(sqlite: Database) -> None:
    # 2026-03-29: Madrid goes from +01:00 to +02:00 at 02:00, New York changed on 03-08.
    doc = {
        "name": "Morning",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "FLOW_DELAY",
                "params": {"time": "PT1H", "until": {"at": "09:00"}, "forward": 3},
            },
            {
                "id": 3,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": 4},
            },
            {"id": 4, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": 5}},
            {
                "id": 5,
                "type": "ACTION_SMS_SEND",
                "params": {"action": {"campaignId": 2}, "forward": None},
            },
        ],
        "settings": {"timezone": "Europe/Madrid"},
    }
    people = [
        person("madrid", timezone="Europe/Madrid"),
        person("default", timezone=None),  # the journey's zone
        person("ny", timezone="America/New_York"),
        person("tokyo", timezone="Asia/Tokyo", phone=False),
    ]
    start = at("2026-03-28T20:00:00Z")
    result = assert_agree(sqlite, doc, people, [], at("2026-03-31T00:00:00Z"), start=start)
    assert sent(result) == [
        ("tokyo", 1, "2026-03-29T00:00:00Z", None),
        ("default", 1, "2026-03-29T07:00:00Z", None),  # 09:00 CEST, not 08:00Z (CET)
        ("madrid", 1, "2026-03-29T07:00:00Z", None),
        ("ny", 1, "2026-03-29T13:00:00Z", None),
        ("tokyo", 2, "2026-03-30T00:00:00Z", "no_address"),
        ("default", 2, "2026-03-30T07:00:00Z", None),
        ("madrid", 2, "2026-03-30T07:00:00Z", None),
        ("ny", 2, "2026-03-30T13:00:00Z", None),
    ]


def test_alike_customers_run_as_one_group_and_agree_key_by_key(sqlite: Database) -> None:
    # Ten alike customers make a group the live engine runs once for all (runner.BULK_MIN).
    doc = {
        "name": "Welcome",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": 3},
            },
            {
                "id": 3,
                "type": "FLOW_CUSTOM_EVENT",
                "params": {
                    "eventName": "visit",
                    "forward": 4,
                    "timeout": {"time": "PT2H", "forward": 5},
                },
            },
            {
                "id": 4,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": 2}, "forward": None},
            },
            {"id": 5, "type": "FLOW_DELAY", "params": {"time": "PT0S", "forward": 6}},
            {
                "id": 6,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 3}, "forward": None},
            },
        ],
        "settings": {"exitOn": ["unsubscribe"], "quietHours": {"from": "22:00", "to": "08:00"}},
    }
    people = [person(f"c{i:02d}", timezone="Europe/Madrid") for i in range(10)]
    people += [person("far", timezone="Pacific/Auckland"), person("dumb", push=False)]
    events = [
        SimEvent("c03", "visit", at("2026-03-02T11:00:00Z")),
        SimEvent("c07", "unsubscribe", at("2026-03-02T11:30:00Z")),
        SimEvent("c08", "visit", at("2026-03-02T12:00:00Z")),  # exactly at the timeout: wins
    ]
    result = assert_agree(sqlite, doc, people, events, at("2026-03-03T12:00:00Z"))
    by_campaign = Counter((m.campaign_id, m.skipped) for m in result.messages)
    assert by_campaign == {
        (1, None): 11,
        (1, "no_address"): 1,
        (2, None): 2,
        (3, None): 8,
        (3, "no_address"): 1,
    }
    # Auckland (+13:00) is at 01:00 at the timeout: its last push waits for 08:00 local.
    assert [iso(m.at) for m in result.messages if m.customer_id == "far"][-1] == (
        "2026-03-02T19:00:00Z"
    )


def test_an_entry_event_and_the_awaited_event_recorded_in_one_batch(sqlite: Database) -> None:
    doc = {
        "name": "Visit after cart",
        "states": [
            {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "cart.add", "forward": 2}},
            {
                "id": 2,
                "type": "FLOW_CUSTOM_EVENT",
                "params": {
                    "eventName": "visit",
                    "forward": 3,
                    "timeout": {"time": "PT1H", "forward": None},
                },
            },
            {
                "id": 3,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": None},
            },
        ],
        "settings": {},
    }
    people = [person("a")]
    app, journey_id = prepare(sqlite, doc, people, T0)
    with sqlite.write() as conn:
        start_journey(conn, app, journey_id, T0)
    with sqlite.write() as conn:
        record_events(
            conn,
            app,
            [
                {"eventId": "e1", "eventCode": "cart.add", "customerId": "a", "date": iso(T0)},
                {"eventId": "e2", "eventCode": "visit", "customerId": "a", "date": iso(T0)},
            ],
            T0,
        )
    runner = Runner(sqlite)
    for now in (T0, T0 + timedelta(hours=1)):
        while runner.tick(now):
            pass
    events = [SimEvent("a", "cart.add", T0), SimEvent("a", "visit", T0)]
    result = simulate(
        doc, people, events, start=T0, until=T0 + timedelta(hours=2), journey_id=journey_id
    )
    assert sent(result) == [("a", 1, "2026-03-02T10:00:00Z", None)]
    # Live: the visit was offered before the enrollment existed; it timed out at state 2.
    assert live_messages(sqlite) == simulated_messages(result)


@pytest.mark.parametrize(("answer", "campaign"), [(200, 1), (503, 2)])
def test_a_webhook_given_the_same_answer_on_both_sides(
    sqlite: Database, hook_url: str, answer: int, campaign: int
) -> None:
    doc = {
        "name": "Hook",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "FLOW_WEBHOOK",
                "params": {
                    "url": f"{hook_url}/{answer}",
                    "success": {"forward": 3},
                    "failure": {"forward": 4},
                },
            },
            {
                "id": 3,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": None},
            },
            {
                "id": 4,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 2}, "forward": None},
            },
        ],
        "settings": {},
    }
    result = assert_agree(
        sqlite,
        doc,
        [person("a"), person("b")],
        [],
        T0 + timedelta(hours=1),
        webhook=WebhookResponse(answer, {}),
    )
    assert [(m.customer_id, m.campaign_id) for m in result.messages] == [
        ("a", campaign),
        ("b", campaign),
    ]


def test_the_frequency_cap_after_a_webhook_call(sqlite: Database, hook_url: str) -> None:
    doc = {
        "name": "Capped",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": 3},
            },
            {
                "id": 3,
                "type": "FLOW_WEBHOOK",
                "params": {
                    "url": f"{hook_url}/200",
                    "success": {"forward": 4},
                    "failure": {"forward": 4},
                },
            },
            {
                "id": 4,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 2}, "forward": None},
            },
        ],
        "settings": {"frequencyCap": {"max": 1, "per": "P1D"}},
    }
    # Simulated: both pushes sent. Live: the second is skipped (frequency_cap), as it should be.
    assert_agree(sqlite, doc, [person("a")], [], T0 + timedelta(hours=1))


def test_event_data_picks_the_place_on_both_sides(sqlite: Database) -> None:
    doc = {
        "name": "Left the Madrid store",
        "states": [
            {
                "id": 1,
                "type": "IN_CUSTOM_EVENT",
                "params": {
                    "eventName": "place.enter",
                    "eventData": {"place": "Madrid"},
                    "forward": 2,
                },
            },
            {
                "id": 2,
                "type": "FLOW_CUSTOM_EVENT",
                "params": {
                    "eventName": "place.exit",
                    "eventData": {"placeId": "3"},  # as the console writes it: text
                    "forward": 3,
                    "timeout": {"time": "PT1H", "forward": None},
                },
            },
            {
                "id": 3,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": None},
            },
        ],
        "settings": {},
    }
    madrid = {"placeId": 3, "place": "Madrid"}
    events = [
        SimEvent("a", "place.enter", T0, madrid),
        SimEvent("b", "place.enter", T0, {"placeId": 4, "place": "Barcelona"}),
        SimEvent("a", "place.exit", T0 + timedelta(minutes=5), {"placeId": 4, "place": "x"}),
        SimEvent("a", "place.exit", T0 + timedelta(minutes=10), madrid),
        SimEvent("b", "place.exit", T0 + timedelta(minutes=10), madrid),
    ]
    result = assert_agree(sqlite, doc, [person("a"), person("b")], events, T0 + timedelta(hours=2))
    assert sent(result) == [("a", 1, "2026-03-02T10:10:00Z", None)]


def test_a_holdout_holds_out_the_same_customers_on_both_sides(sqlite: Database) -> None:
    doc = {
        "name": "Held out",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": None},
            },
        ],
        "settings": {"holdout": 0.4},
    }
    people = [person(f"p{i}") for i in range(30)]
    result = assert_agree(sqlite, doc, people, [], T0 + timedelta(hours=1))
    held = result.stats[1].branches["holdout"]
    assert 3 <= held <= 20 and len(result.messages) == 30 - held


def test_a_customer_held_out_does_not_come_back_at_each_re_entry_check(sqlite: Database) -> None:
    doc = {
        "name": "Held out, re-entry on",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {"id": 2, "type": "FLOW_DELAY", "params": {"time": "PT3H", "forward": 3}},
            {
                "id": 3,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": 1}, "forward": None},
            },
        ],
        "settings": {"holdout": 0.5, "reentry": True, "recheckEvery": "PT1H"},
    }
    people = [person(f"p{i}") for i in range(20)]
    result = assert_agree(sqlite, doc, people, [], T0 + timedelta(hours=8))
    held = result.stats[1].branches["holdout"]
    assert 3 <= held <= 17  # once each, not once an hour
    assert result.stats[1].branches["entered"] > 20 - held  # the others came back
