"""The worker loop: run and dispatch until nothing is due, know when to wake, stop on request."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from wayfare.engine.entries import start_journey
from wayfare.engine.wake import LOCAL_WAKE
from wayfare.engine.worker import Dispatcher, Worker
from wayfare.errors import ConfigurationError
from wayfare.settings import Settings
from wayfare.store.database import Database
from wayfare.store.schema import outbox

from .conftest import NOW
from .test_runner import add_customers, campaign, delay, journey, push, r1


def sent_count(database: Database) -> tuple[int, int]:
    with database.read() as conn:
        rows = dict(
            conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
        )
    return int(rows.get("sent", 0)), int(rows.get("pending", 0))


def test_run_once_runs_and_dispatches_everything_due(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 50)
    jid = r1(database, app_id)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    worker = Worker(Settings(), database, clock=lambda: NOW)
    assert worker.run_once(NOW) == 50  # the log channel delivers as the messages are written
    assert sent_count(database) == (100, 0)
    assert worker.next_due() is None
    with database.read() as conn:
        assert set(conn.execute(select(outbox.c.sent_at)).scalars()) == {NOW}


def test_the_worker_knows_when_the_next_delay_falls_due(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 3)
    cid = campaign(database, app_id)
    jid = journey(
        database,
        app_id,
        {"type": "IN_ALL", "params": {"forward": 2}},
        delay(2, "PT2H", 3),
        push(3, cid, None),
    )
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    worker = Worker(Settings(), database)
    worker.run_once(NOW)
    assert worker.next_due() == NOW + timedelta(hours=2)
    assert Dispatcher(database).tick(NOW + timedelta(hours=3)) == 0  # nothing in the outbox yet
    assert worker.run_once(NOW + timedelta(hours=2)) == 3
    assert sent_count(database) == (3, 0)


def test_run_loops_until_stopped(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 10)
    jid = r1(database, app_id)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    stop = threading.Event()
    calls: list[datetime] = []

    def clock() -> datetime:
        calls.append(NOW)
        stop.set()  # checked before the next round: one round of work, then out
        return NOW

    Worker(Settings(), database, clock=clock).run(stop)
    assert sent_count(database) == (20, 0)


def test_the_worker_command_needs_postgresql(tmp_path: Path) -> None:
    from wayfare.cli.worker import worker

    env = {"WAYFARE_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    result = CliRunner().invoke(worker, [], env=env)
    assert isinstance(result.exception, ConfigurationError)
    assert "wayfare serve" in str(result.exception)


def test_new_work_wakes_the_worker_at_once(database: Database, app_id: int) -> None:
    add_customers(database, app_id, 2)
    jid = r1(database, app_id)
    LOCAL_WAKE.clear()
    if database.dialect.is_postgres:
        worker = Worker(Settings(), database)
        listener = worker._listen()
        try:
            with database.write() as conn:
                start_journey(conn, app_id, jid, NOW)
            assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == ["wayfare"]
        finally:
            listener.close()
    else:
        with database.write() as conn:
            start_journey(conn, app_id, jid, NOW)
        assert LOCAL_WAKE.is_set()
