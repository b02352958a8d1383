"""The simulator and the live engine on SQLite agree: same messages, keys and final states.

Each case runs one journey over the same customers and events twice: through ``simulate`` and
through the live engine on a fresh SQLite file, its events recorded one by one at their times
(``record_events`` with ``now`` = the event's time) and the runner ticked at every due time in
order, events before timers at equal times, as the simulator takes them.
"""

from __future__ import annotations

import copy
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from wayfare.engine.runner import start_journey
from wayfare.engine.simulation import SimEvent, SimulationResult, iso, simulate
from wayfare.engine.worker import Runner
from wayfare.model.customers import Customer, PushToken
from wayfare.model.events import BUILTIN_EVENTS
from wayfare.model.fields import FieldType
from wayfare.store.applications import create_application
from wayfare.store.customers import define_field
from wayfare.store.database import Database
from wayfare.store.enrollments import next_wake
from wayfare.store.events import define_event_type, record_events
from wayfare.store.journeys import create_journey
from wayfare.store.schema import campaigns, customers, enrollments, journeys, outbox

from .test_simulation import T0, random_journeys

CUSTOM_CODES = ["cart.add", "purchase", "visit", "unsubscribe"]
CODES = [*CUSTOM_CODES, "push.click", "link.click"]
ZONES = [None, "UTC", "Europe/Madrid", "America/New_York", "Asia/Tokyo"]
SEND_CHANNELS = {"PUSH": "push", "EMAIL": "email", "SMS": "sms", "INAPP": "inapp"}

MessageKey = tuple[str, int, str, int | None, datetime, str | None, str]


# --- the people and events of a case ------------------------------------------------------------


def person(
    customer_id: str,
    *,
    timezone: str | None = "UTC",
    push: bool = True,
    email: bool = True,
    phone: bool = True,
    **fields: Any,
) -> Customer:
    return Customer(
        customer_id=customer_id,
        email=f"{customer_id}@example.com" if email else None,
        phone="+34600100001" if phone else None,
        whatsapp=None,
        telegram_chat_id=None,
        push_tokens=(PushToken("token-" + customer_id, "android"),) if push else (),
        consent={},
        timezone=timezone,
        language=None,
        fields=fields,
        created_at=T0,
        updated_at=T0,
    )


@st.composite
def random_people(draw: st.DrawFn) -> list[Customer]:
    """One to five customers, each with or without each address, in one of a few zones."""
    ids = draw(st.lists(st.sampled_from("abcde"), min_size=1, max_size=5, unique=True))
    return [
        person(
            customer_id,
            timezone=draw(st.sampled_from(ZONES)),
            push=draw(st.booleans()),
            email=draw(st.booleans()),
            phone=draw(st.booleans()),
            age=draw(st.integers(0, 80)),
        )
        for customer_id in sorted(ids)
    ]


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


class _Ok(BaseHTTPRequestHandler):
    """Answers every webhook call 200 ``{}``: the simulator's default answer."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def hook_url() -> Iterator[str]:
    """A local webhook answering 200 ``{}`` to everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
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


def setup(database: Database, doc: dict[str, Any], people: Sequence[Customer]) -> tuple[int, int]:
    """The application, fields, event types, campaigns (ids 1..n), customers and the draft."""
    with database.write() as conn:
        app = create_application(conn, "acme", T0)
        define_field(conn, app, "age", "number", T0)
        for code in sorted(set(CUSTOM_CODES) - BUILTIN_EVENTS):
            define_event_type(conn, app, code, code, T0)
        channels = campaign_channels(doc)
        for campaign_id in range(1, max(channels, default=0) + 1):
            result = conn.execute(
                campaigns.insert().values(
                    application_id=app,
                    name=f"campaign {campaign_id}",
                    channel=channels.get(campaign_id, "push"),
                    content={"title": "Hi", "body": "Hello"},
                    created_at=T0,
                    updated_at=T0,
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
                        "push_tokens": [
                            {"token": t.token, "platform": t.platform} for t in p.push_tokens
                        ],
                        "consent": dict(p.consent),
                        "timezone": p.timezone,
                        "fields": dict(p.fields),
                        "created_at": T0,
                        "updated_at": T0,
                    }
                    for p in people
                ],
            )
        journey_id = create_journey(conn, app, doc, T0)
    return app, journey_id


def run_live(
    database: Database,
    doc: dict[str, Any],
    people: Sequence[Customer],
    events: Sequence[SimEvent],
    until: datetime,
) -> int:
    """Run the journey live from ``T0`` to ``until``; the journey's id."""
    app, journey_id = setup(database, doc, people)
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
                T0,
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
        ingest(T0)
    else:
        ingest(T0)
        activate()
    drain(T0)
    while True:
        with database.read() as conn:
            due = [next_wake(conn)]
            check = conn.execute(
                select(journeys.c.next_entry_check_at).where(journeys.c.id == journey_id)
            ).scalar()
            due.append(check)
        if queue:
            due.append(queue[0][1].at)
        found = [moment for moment in due if moment is not None]
        if not found or min(found) > until:
            return journey_id
        now = min(found)
        assert now.tzinfo is not None
        ingest(now)
        drain(now)


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


def assert_agree(
    database: Database,
    doc: dict[str, Any],
    people: Sequence[Customer],
    events: Sequence[SimEvent],
    until: datetime,
) -> SimulationResult:
    """Run both sides and compare messages (with keys), final states and statuses."""
    journey_id = run_live(database, doc, people, events, until)
    field_types = {"age": FieldType.NUMBER}
    result = simulate(
        doc,
        people,
        events,
        start=T0,
        until=until,
        journey_id=journey_id,
        field_types=field_types,
    )
    simulated, live = simulated_messages(result), live_messages(database)
    assert simulated == live, _diff(simulated, live)
    entry_id = doc["states"][0]["id"]
    assert simulated_ends(result, entry_id) == live_ends(database, journey_id)
    assert simulated_statuses(result) == live_statuses(database, journey_id)
    return result


def _diff(simulated: Counter[MessageKey], live: Counter[MessageKey]) -> str:
    only_sim = sorted((simulated - live).elements(), key=repr)
    only_live = sorted((live - simulated).elements(), key=repr)
    return f"only simulated: {only_sim}\nonly live: {only_live}"


# --- the property ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(random_journeys(), random_people(), random_stream())
def test_random_journeys_and_events_agree_between_the_simulator_and_sqlite(
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    hook_url: str,
    doc: dict[str, Any],
    people: list[Customer],
    events: list[SimEvent],
) -> None:
    doc = with_hook(doc, hook_url)
    database = fresh(sqlite_template, tmp_path_factory.getbasetemp())
    try:
        assert_agree(database, doc, people, events, T0 + timedelta(days=5))
    finally:
        database.dispose()
