"""The engine on real databases: entries, claim-and-run ticks, events, races, crash safety."""

from __future__ import annotations

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select

from wayfare.engine.entries import enrol, put_customers, start_journey, stop_journey
from wayfare.engine.worker import Runner
from wayfare.store.customers import define_field
from wayfare.store.database import Database
from wayfare.store.enrollments import claim_due
from wayfare.store.events import define_event_type, record_events
from wayfare.store.journeys import create_journey
from wayfare.store.lists import add_members, create_list
from wayfare.store.schema import campaigns, customers, enrollments, outbox, stat_counters
from wayfare.store.segments import create_segment

from .conftest import NOW

LATER = NOW + timedelta(minutes=1)


def add_customers(database: Database, app_id: int, count: int, **fields: Any) -> None:
    with database.write() as conn:
        conn.execute(
            customers.insert(),
            [
                {
                    "application_id": app_id,
                    "customer_id": f"c{i:04d}",
                    "push_tokens": [{"token": f"t{i}", "platform": "android"}],
                    "consent": {},
                    "fields": {k: v(i) if callable(v) else v for k, v in fields.items()},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(count)
            ],
        )


def campaign(database: Database, app_id: int, channel: str = "push") -> int:
    with database.write() as conn:
        result = conn.execute(
            campaigns.insert().values(
                application_id=app_id,
                name=f"{channel} campaign",
                channel=channel,
                content={"title": "Hi", "body": "Hello"},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        assert result.inserted_primary_key is not None
        return int(result.inserted_primary_key[0])


def journey(
    database: Database,
    app_id: int,
    entry: dict[str, Any],
    *states: dict[str, Any],
    name: str = "j",
    **settings: Any,
) -> int:
    document = {
        "name": name,
        "states": [{"id": 1, **entry}, *states],
        "settings": settings,
    }
    with database.write() as conn:
        return create_journey(conn, app_id, document, NOW)


def push(state_id: int, campaign_id: int, forward: int | None) -> dict[str, Any]:
    return {
        "id": state_id,
        "type": "ACTION_PUSH_SEND",
        "params": {"action": {"campaignId": campaign_id}, "forward": forward},
    }


def delay(state_id: int, time: str, forward: int | None) -> dict[str, Any]:
    return {"id": state_id, "type": "FLOW_DELAY", "params": {"time": time, "forward": forward}}


def drain(runner: Runner, now: Any) -> int:
    total = 0
    while done := runner.tick(now, limit=500):
        total += done
    return total


def outbox_rows(database: Database) -> list[tuple[str, str, int, str]]:
    with database.read() as conn:
        rows = conn.execute(
            select(
                outbox.c.customer_id, outbox.c.idempotency_key, outbox.c.state_id, outbox.c.status
            ).order_by(outbox.c.customer_id, outbox.c.state_id)
        ).all()
    return [tuple(row) for row in rows]


def counters(
    database: Database, journey_id: int, *, test: bool = False
) -> dict[tuple[int, str], int]:
    with database.read() as conn:
        rows = conn.execute(
            select(
                stat_counters.c.state_id, stat_counters.c.metric, func.sum(stat_counters.c.value)
            )
            .where(stat_counters.c.journey_id == journey_id, stat_counters.c.test.is_(test))
            .group_by(stat_counters.c.state_id, stat_counters.c.metric)
        ).all()
    return {(int(s), str(m)): int(v) for s, m, v in rows}


def statuses(database: Database, journey_id: int) -> dict[str, str]:
    with database.read() as conn:
        rows = conn.execute(
            select(enrollments.c.customer_id, enrollments.c.status).where(
                enrollments.c.journey_id == journey_id
            )
        ).all()
    return {c: s for c, s in rows}


def r1(database: Database, app_id: int) -> int:
    cid = campaign(database, app_id)
    return journey(
        database,
        app_id,
        {"type": "IN_ALL", "params": {"forward": 2}},
        push(2, cid, 3),
        delay(3, "PT0S", 4),
        push(4, cid, None),
    )


# ------------------------------------------------------------------------------- entries


def test_activation_enrols_exactly_the_matching_customers_once(
    database: Database, app_id: int
) -> None:
    with database.write() as conn:
        define_field(conn, app_id, "age", "number", NOW)
    add_customers(database, app_id, 10, age=lambda i: 20 + i)
    cid = campaign(database, app_id)
    jid = journey(
        database,
        app_id,
        {"type": "IN_FILTER", "params": {"cond": {"age": {"gte": 25}}, "forward": 2}},
        push(2, cid, None),
    )
    with database.write() as conn:
        assert start_journey(conn, app_id, jid, NOW) == 5
    with database.write() as conn:  # without re-entry, checking again enrols nobody
        assert enrol(conn, app_id, jid, LATER) == 0
    runner = Runner(database)
    assert drain(runner, NOW) == 5
    with database.write() as conn:
        assert enrol(conn, app_id, jid, LATER) == 0
    assert statuses(database, jid) == {f"c{i:04d}": "completed" for i in range(5, 10)}
    assert [row[0] for row in outbox_rows(database)] == [f"c{i:04d}" for i in range(5, 10)]


def test_reentry_enrols_again_up_to_max_entries(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 3)
    cid = campaign(database, app_id)
    jid = journey(
        database, app_id, {"type": "IN_ALL", "params": {"forward": 2}}, push(2, cid, None)
    )
    runner = Runner(database)
    with database.write() as conn:
        assert start_journey(conn, app_id, jid, NOW, reentry=True, max_entries=2) == 3
    with database.write() as conn:  # still active: nobody enters again
        assert enrol(conn, app_id, jid, NOW) == 0
    drain(runner, NOW)
    # The re-check comes every recheckEvery (PT10M): not before, then once more, then never.
    assert drain(runner, NOW + timedelta(minutes=9)) == 0
    assert drain(runner, NOW + timedelta(minutes=10)) == 6  # 3 entered again, and their 3 runs
    assert drain(runner, NOW + timedelta(minutes=20)) == 0
    with database.read() as conn:
        numbers = conn.execute(
            select(enrollments.c.entry_number, func.count()).group_by(enrollments.c.entry_number)
        ).all()
    assert sorted(tuple(n) for n in numbers) == [(1, 3), (2, 3)]
    assert len(outbox_rows(database)) == 6
    assert len({row[1] for row in outbox_rows(database)}) == 6
    assert counters(database, jid)[(1, "entered")] == 6


def test_put_customers_discards_those_already_in_and_test_runs_stay_out_of_live_stats(
    database: Database, app_id: int
) -> None:
    add_customers(database, app_id, 3)
    cid = campaign(database, app_id)
    jid = journey(
        database,
        app_id,
        {"type": "IN_LIST", "params": {"forward": 2}},
        push(2, cid, 3),
        delay(3, "P1D", None),
    )
    runner = Runner(database)
    with database.write() as conn:  # a test run on the draft
        result = put_customers(conn, app_id, jid, ["c0000", "nobody"], NOW, test=True)
    assert (result.entered, result.unknown) == (1, ["nobody"])
    drain(runner, NOW)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
        result = put_customers(
            conn,
            app_id,
            jid,
            ["c0000", {"customerId": "c0001", "contextValues": {"code": "X1"}}],
            NOW,
        )
    assert (result.entered, result.discarded) == (2, [])
    with database.write() as conn:
        again = put_customers(conn, app_id, jid, ["c0001", "c0002"], NOW)
    assert (again.entered, again.discarded) == (1, ["c0001"])
    drain(runner, NOW)
    assert counters(database, jid) == {
        (1, "entered"): 3,
        (1, "branch:entered"): 3,
        (2, "entered"): 3,
        (2, "sent"): 3,
        (2, "branch:sent"): 3,
        (3, "entered"): 3,
    }
    assert counters(database, jid, test=True)[(2, "sent")] == 1
    with database.read() as conn:
        payloads = dict(
            conn.execute(
                select(outbox.c.customer_id, outbox.c.payload).where(
                    outbox.c.customer_id == "c0001"
                )
            ).all()
        )
    assert payloads["c0001"]["context"] == {"code": "X1"}


# ------------------------------------------------------------------------------- ticks


def test_r1_gives_exactly_two_outbox_rows_per_customer(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 300)
    jid = r1(database, app_id)
    with database.write() as conn:
        assert start_journey(conn, app_id, jid, NOW) == 300
    assert drain(Runner(database), NOW) == 300
    rows = outbox_rows(database)
    assert len(rows) == 600
    assert len({row[1] for row in rows}) == 600
    assert {row[2] for row in rows} == {2, 4}
    assert set(statuses(database, jid).values()) == {"completed"}
    with database.read() as conn:
        payload, key = conn.execute(
            select(outbox.c.payload, outbox.c.idempotency_key).where(
                outbox.c.customer_id == "c0007", outbox.c.state_id == 4
            )
        ).one()
        campaign_id = conn.execute(select(campaigns.c.id)).scalar_one()
    assert payload == {"entryNumber": 1, "context": {}, "campaignId": campaign_id}
    assert key == f"{jid}:c0007:1:4:4"
    stats = counters(database, jid)
    assert stats[(2, "sent")] == stats[(4, "sent")] == 300
    assert stats[(4, "completed")] == 300
    assert stats[(3, "branch:done")] == 300


def test_a_delay_wakes_exactly_at_its_time(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 2)
    cid = campaign(database, app_id)
    jid = journey(
        database,
        app_id,
        {"type": "IN_ALL", "params": {"forward": 2}},
        delay(2, "PT1H", 3),
        push(3, cid, None),
    )
    runner = Runner(database)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    drain(runner, NOW)
    assert set(statuses(database, jid).values()) == {"waiting"}
    assert drain(runner, NOW + timedelta(minutes=59, seconds=59)) == 0
    assert outbox_rows(database) == []
    assert drain(runner, NOW + timedelta(hours=1)) == 2
    with database.read() as conn:
        sent_at = set(conn.execute(select(outbox.c.next_attempt_at)).scalars())
    assert sent_at == {NOW + timedelta(hours=1)}


def test_a_crash_inside_the_tick_leaves_nothing_and_the_rerun_sends_once(
    database: Database, app_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_customers(database, app_id, 20)
    jid = r1(database, app_id)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)

    class Crash(Exception):
        pass

    from wayfare.store import enrollments as store

    original = store.add_counters

    def crashing(conn: Any, counts: Any) -> None:
        original(conn, counts)
        raise Crash  # after every write of the tick, before its commit

    runner = Runner(database)
    monkeypatch.setattr(store, "add_counters", crashing)
    with pytest.raises(Crash):
        runner.tick(NOW)
    monkeypatch.setattr(store, "add_counters", original)
    assert outbox_rows(database) == []
    assert counters(database, jid) == {(1, "entered"): 20}
    assert drain(runner, NOW) == 20
    assert drain(runner, NOW) == 0
    assert len(outbox_rows(database)) == 40
    assert counters(database, jid)[(2, "sent")] == 20


# ------------------------------------------------------------------------------- events


def click_wait(database: Database, app_id: int, exit_on: list[str] | None = None) -> int:
    cid = campaign(database, app_id)
    settings: dict[str, Any] = {"exitOn": exit_on} if exit_on else {}
    return journey(
        database,
        app_id,
        {"type": "IN_ALL", "params": {"forward": 2}},
        {
            "id": 2,
            "type": "FLOW_CUSTOM_EVENT",
            "params": {
                "eventName": "visit",
                "forward": 3,
                "timeout": {"time": "PT1H", "forward": None},
            },
        },
        push(3, cid, None),
        **settings,
    )


def test_an_event_moves_a_waiting_enrollment_inside_record_events(
    database: Database, app_id: int
) -> None:
    add_customers(database, app_id, 2)
    with database.write() as conn:
        define_event_type(conn, app_id, "visit", "Visit", NOW)
        define_event_type(conn, app_id, "optout", "Opt out", NOW)
    jid = click_wait(database, app_id, exit_on=["optout"])
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    drain(Runner(database), NOW)
    with database.write() as conn:
        record_events(
            conn,
            app_id,
            [
                {"eventId": "e1", "eventCode": "visit", "customerId": "c0000"},
                {"eventId": "e2", "eventCode": "optout", "customerId": "c0001"},
            ],
            LATER,
        )
        # Moved within the same transaction, before any tick.
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 1
    assert statuses(database, jid) == {"c0000": "completed", "c0001": "exited"}
    assert counters(database, jid)[(2, "exited")] == 1
    assert counters(database, jid)[(2, "branch:event")] == 1


def test_a_timer_and_an_event_racing_the_first_to_commit_wins(
    database: Database, app_id: int
) -> None:
    add_customers(database, app_id, 1)
    with database.write() as conn:
        define_event_type(conn, app_id, "visit", "Visit", NOW)
    jid = click_wait(database, app_id)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    runner = Runner(database)
    drain(runner, NOW)
    due = NOW + timedelta(hours=1)
    with database.read() as conn:  # the event's reader saw the enrollment waiting
        assert [row.customer_id for row in claim_due(conn, due, 10)] == ["c0000"]
    assert runner.tick(due) == 1  # the timer's claim commits first: timeout, completed
    with database.write() as conn:
        result = record_events(
            conn, app_id, [{"eventId": "e1", "eventCode": "visit", "customerId": "c0000"}], due
        )
    assert result.recorded == 1
    assert statuses(database, jid) == {"c0000": "completed"}
    assert outbox_rows(database) == []  # the event, second, changed nothing
    assert counters(database, jid)[(2, "branch:timeout")] == 1
    assert (2, "branch:event") not in counters(database, jid)


def test_custom_event_entries_run_at_once_and_respect_reentry(
    database: Database, app_id: int
) -> None:
    add_customers(database, app_id, 2)
    with database.write() as conn:
        define_event_type(conn, app_id, "cart.add", "Cart", NOW)
    cid = campaign(database, app_id)
    jid = journey(
        database,
        app_id,
        {"type": "IN_CUSTOM_EVENT", "params": {"eventName": "cart.add", "forward": 2}},
        push(2, cid, None),
    )
    with database.write() as conn:
        assert start_journey(conn, app_id, jid, NOW) == 0
    with database.write() as conn:
        record_events(
            conn,
            app_id,
            [
                {
                    "eventId": "e1",
                    "eventCode": "cart.add",
                    "customerId": "c0000",
                    "customData": {"sku": "A"},
                },
                {"eventId": "e2", "eventCode": "cart.add", "customerId": "new-one"},
            ],
            LATER,
        )
    assert statuses(database, jid) == {"c0000": "completed", "new-one": "completed"}
    assert counters(database, jid)[(2, "skipped:no_address")] == 1  # a bare new customer
    with database.write() as conn:  # re-entry off: once ever
        record_events(
            conn, app_id, [{"eventId": "e3", "eventCode": "cart.add", "customerId": "c0000"}], LATER
        )
    with database.read() as conn:
        count = conn.execute(
            select(func.count())
            .select_from(enrollments)
            .where(enrollments.c.customer_id == "c0000")
        ).scalar()
        payload = conn.execute(
            select(outbox.c.payload).where(outbox.c.customer_id == "c0000")
        ).scalar_one()
    assert count == 1
    assert payload["context"]["event"]["data"] == {"sku": "A"}
    assert counters(database, jid)[(1, "entered")] == 2


# ------------------------------------------------------------------------------- webhooks


class _Scores(BaseHTTPRequestHandler):
    calls: list[tuple[str, str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Scores.calls.append((self.path, self.headers.get("Idempotency-Key")))
        body = b'{"data": {"score": 42}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def webhook_journey(database: Database, app_id: int, url: str) -> int:
    with database.write() as conn:
        define_field(conn, app_id, "score", "number", NOW)
    cid = campaign(database, app_id)
    return journey(
        database,
        app_id,
        {"type": "IN_ALL", "params": {"forward": 2}},
        {
            "id": 2,
            "type": "FLOW_WEBHOOK",
            "params": {
                "url": url,
                "timeout": "PT5S",
                "success": {"forward": 3},
                "failure": {"forward": None},
                "saveAs": {"score": "data.score"},
            },
        },
        push(3, cid, None),
    )


def test_a_webhook_is_called_outside_the_transaction_and_its_answer_saved(
    database: Database, app_id: int
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scores)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Scores.calls = []
    try:
        add_customers(database, app_id, 2)
        url = f"http://127.0.0.1:{server.server_address[1]}/score"
        jid = webhook_journey(database, app_id, url)
        with database.write() as conn:
            start_journey(conn, app_id, jid, NOW)
        drain(Runner(database, allow_private_webhooks=True), NOW)
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(path for path, _ in _Scores.calls) == ["/score", "/score"]
    assert all(key and key.startswith(f"{jid}:c000") for _, key in _Scores.calls)
    assert statuses(database, jid) == {"c0000": "completed", "c0001": "completed"}
    with database.read() as conn:
        scores = conn.execute(select(customers.c.fields)).scalars().all()
    assert [fields["score"] for fields in scores] == [42, 42]
    assert counters(database, jid)[(2, "branch:success")] == 2
    assert len(outbox_rows(database)) == 2


def test_a_webhook_to_a_private_address_is_refused_by_default(
    database: Database, app_id: int
) -> None:
    add_customers(database, app_id, 1)
    jid = webhook_journey(database, app_id, "http://127.0.0.1:9/score")
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    drain(Runner(database), NOW)
    assert statuses(database, jid) == {"c0000": "completed"}
    assert counters(database, jid)[(2, "branch:failure")] == 1
    assert outbox_rows(database) == []


def test_two_runners_racing_send_each_message_once(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 400)
    jid = r1(database, app_id)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    done: list[int] = []

    def work() -> None:
        runner = Runner(database)
        while count := runner.tick(NOW, limit=50):
            done.append(count)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(done) == 400
    rows = outbox_rows(database)
    assert len(rows) == 800
    assert len({row[1] for row in rows}) == 800
    assert counters(database, jid)[(2, "sent")] == 400


def test_birthdays_enter_at_their_local_time_once(database: Database, app_id: int) -> None:
    with database.write() as conn:
        define_field(conn, app_id, "birthday", "date", NOW)
    add_customers(database, app_id, 3, birthday=lambda i: f"1990-03-{16 + i:02d}")
    with database.write() as conn:  # c0000 lives in Madrid (UTC+1 in March)
        conn.execute(
            customers.update()
            .where(customers.c.customer_id == "c0000")
            .values(timezone="Europe/Madrid")
        )
    cid = campaign(database, app_id)
    jid = journey(
        database,
        app_id,
        {"type": "IN_BIRTHDAY", "params": {"field": "birthday", "at": "09:00", "forward": 2}},
        push(2, cid, None),
    )
    with database.write() as conn:
        assert start_journey(conn, app_id, jid, NOW) == 0
    runner = Runner(database)
    day = NOW.replace(hour=0) + timedelta(days=1)  # 16 March, 00:00 UTC
    drain(runner, day + timedelta(hours=7, minutes=59))
    assert statuses(database, jid) == {}
    drain(runner, day + timedelta(hours=8, minutes=5))  # 09:05 in Madrid
    assert statuses(database, jid) == {"c0000": "completed"}
    with database.read() as conn:
        at = conn.execute(select(outbox.c.next_attempt_at)).scalar_one()
    assert at == day + timedelta(hours=8)  # the logical time is the birthday instant
    drain(runner, day + timedelta(days=1, hours=9))  # 17 March 09:00 UTC: c0001
    drain(runner, day + timedelta(days=400))  # c0002, and without re-entry nobody again
    assert statuses(database, jid) == {c: "completed" for c in ("c0000", "c0001", "c0002")}
    assert counters(database, jid)[(1, "entered")] == 3
    assert len(outbox_rows(database)) == 3


def test_stopping_a_journey_ends_and_counts_its_waiting_enrollments(
    database: Database, app_id: int
) -> None:
    add_customers(database, app_id, 3)
    cid = campaign(database, app_id)
    jid = journey(
        database,
        app_id,
        {"type": "IN_ALL", "params": {"forward": 2}},
        delay(2, "P1D", 3),
        push(3, cid, None),
    )
    runner = Runner(database)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    drain(runner, NOW)
    with database.write() as conn:
        assert stop_journey(conn, app_id, jid, LATER) == 3
    assert drain(runner, NOW + timedelta(days=2)) == 0
    assert set(statuses(database, jid).values()) == {"exited"}
    assert counters(database, jid)[(2, "exited")] == 3
    assert outbox_rows(database) == []


def test_saved_lists_and_segments_are_audiences(database: Database, app_id: int) -> None:
    with database.write() as conn:
        define_field(conn, app_id, "age", "number", NOW)
    add_customers(database, app_id, 6, age=lambda i: 20 + i)
    cid = campaign(database, app_id)
    with database.write() as conn:
        list_id = create_list(conn, app_id, "vip", NOW).id
        add_members(
            conn,
            app_id,
            list_id,
            ["c0001", {"customerId": "c0004", "contextValues": {"tier": "gold"}}],
            NOW,
        )
        segment_id = create_segment(conn, app_id, "older", {"age": {"gte": 24}}, NOW)
    by_list = journey(
        database,
        app_id,
        {"type": "IN_LIST", "params": {"listId": list_id, "forward": 2}},
        push(2, cid, None),
        name="by list",
    )
    by_segment = journey(
        database,
        app_id,
        {"type": "IN_SEGMENT", "params": {"cond": {"segmentIds": [segment_id]}, "forward": 2}},
        push(2, cid, None),
        name="by segment",
    )
    with database.write() as conn:
        assert start_journey(conn, app_id, by_list, NOW) == 2
        assert start_journey(conn, app_id, by_segment, NOW) == 2
    drain(Runner(database), NOW)
    assert statuses(database, by_list) == {"c0001": "completed", "c0004": "completed"}
    assert statuses(database, by_segment) == {"c0004": "completed", "c0005": "completed"}
    with database.read() as conn:
        payload = conn.execute(
            select(outbox.c.payload).where(
                outbox.c.journey_id == by_list, outbox.c.customer_id == "c0004"
            )
        ).scalar_one()
    assert payload["context"] == {"tier": "gold"}


def test_the_frequency_cap_and_event_conditions_see_the_stored_history(
    database: Database, app_id: int
) -> None:
    add_customers(database, app_id, 2)
    with database.write() as conn:
        define_event_type(conn, app_id, "visit", "Visit", NOW)
        record_events(
            conn,
            app_id,
            [
                {
                    "eventId": "v1",
                    "eventCode": "visit",
                    "customerId": "c0001",
                    "date": (NOW - timedelta(days=1)).isoformat(),
                }
            ],
            NOW,
        )
    cid = campaign(database, app_id)
    jid = journey(
        database,
        app_id,
        {"type": "IN_ALL", "params": {"forward": 2}},
        push(2, cid, 3),
        {
            "id": 3,
            "type": "FLOW_FILTER",
            "params": {
                "filter": [
                    {
                        "cond": {"$event": {"eventName": "visit", "within": "P7D"}},
                        "forward": 4,
                    }
                ],
                "else": {"forward": None},
            },
        },
        push(4, cid, None),
        frequencyCap={"max": 1, "per": "P1D"},
    )
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    drain(Runner(database), NOW)
    stats = counters(database, jid)
    assert stats[(3, "branch:filter[0]")] == 1  # c0001 visited in the last week
    assert stats[(3, "branch:else")] == 1
    assert stats[(4, "skipped:frequency_cap")] == 1  # one push a day
    with database.read() as conn:
        rows = conn.execute(
            select(
                outbox.c.customer_id, outbox.c.state_id, outbox.c.status, outbox.c.reason
            ).order_by(outbox.c.customer_id, outbox.c.state_id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("c0000", 2, "sent", None),  # the log channel delivers as the message is written
        ("c0001", 2, "sent", None),
        ("c0001", 4, "skipped", "frequency_cap"),
    ]
    again = journey(
        database,
        app_id,
        {"type": "IN_ALL", "params": {"forward": 2}},
        push(2, cid, None),
        name="again",
        frequencyCap={"max": 1, "per": "P1D"},
    )
    with database.write() as conn:
        start_journey(conn, app_id, again, LATER)
    drain(Runner(database), LATER)
    assert counters(database, again)[(2, "skipped:frequency_cap")] == 2  # sent earlier today
