"""Crash safety with real processes: workers killed with SIGKILL mid-run, and racing workers.

Each test runs journey R1 (``IN_ALL`` → push → ``FLOW_DELAY PT0S`` → push) over 20,000
customers with workers in processes of their own (``tests/worker_process.py``, or ``wayfare
worker`` on PostgreSQL), kills them at seeded random moments, restarts them, and checks that
every customer got each message exactly once into the outbox, that each message was dispatched
once, and that no enrollment was lost. An activation killed while it writes enrols nobody.
``WAYFARE_CRASH_SEED=n`` moves the kills; ``WAYFARE_CRASH_BATCH`` sets the PostgreSQL workers'
``--batch`` (500).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select, text

from wayfare.engine.runner import start_journey
from wayfare.store.applications import create_application
from wayfare.store.channels import put_channel
from wayfare.store.database import Database
from wayfare.store.journeys import create_journey
from wayfare.store.schema import campaigns, customers, enrollments, metadata, outbox, stat_counters

from .conftest import NOW, POSTGRES_URL

CUSTOMERS = 20_000
SCRIPT = Path(__file__).with_name("worker_process.py")
ROOT = SCRIPT.parent.parent
WAYFARE = Path(sys.executable).with_name("wayfare")
POLL = 0.005
"""Seconds between looks at the database while waiting for a worker's progress."""

R1_COUNTERS = [
    (1, "entered"),
    (1, "branch:entered"),
    (2, "entered"),
    (2, "sent"),
    (2, "branch:sent"),
    (3, "entered"),
    (3, "branch:done"),
    (4, "entered"),
    (4, "sent"),
    (4, "branch:sent"),
    (4, "completed"),
]
"""Every statistics counter of R1; each counts every customer exactly once."""
SEED = int(os.environ.get("WAYFARE_CRASH_SEED", "0"))
"""Added to each test's seed: ``WAYFARE_CRASH_SEED=n`` replays the kills at other moments."""

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------- helpers


def progress(database: Database) -> tuple[int, int, int]:
    """(outbox rows, of which sent, enrollments completed)."""
    with database.read() as conn:
        rows, sent = conn.execute(
            select(func.count(), func.count().filter(outbox.c.status == "sent"))
        ).one()
        completed = conn.execute(
            select(func.count()).where(enrollments.c.status == "completed")
        ).scalar_one()
    return int(rows), int(sent or 0), int(completed)


def work_done(database: Database) -> int:
    """Units of work done: outbox rows written, rows sent, enrollments completed (5 N in all)."""
    return sum(progress(database))


STARTED: list[subprocess.Popen[str]] = []
"""The processes the running test started (the ``reaped`` fixture kills what is left)."""


@pytest.fixture(autouse=True)
def reaped() -> Iterator[None]:
    """Kill and reap whatever worker processes a test leaves behind (a failure mid-way)."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def spawn(
    command: list[str],
    ready: str,
    *,
    env: dict[str, str] | None = None,
    stderr: IO[str] | None = None,
) -> subprocess.Popen[str]:
    """Start ``command`` in the repository; returns once its first line contains ``ready``."""
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    STARTED.append(process)
    assert process.stdout is not None
    assert ready in process.stdout.readline()
    return process


def start_worker(url: str, *args: str) -> subprocess.Popen[str]:
    """Start ``tests/worker_process.py`` at the fixed time NOW; returns once it is ready."""
    command = [sys.executable, str(SCRIPT), url, "--clock", NOW.isoformat(), *args]
    return spawn(command, "ready")


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` until true (seconds it took); fail after ``timeout`` seconds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL)
    return time.monotonic() - started


def kill_at(
    database: Database,
    process: subprocess.Popen[str],
    target: int,
    rng: random.Random,
    measure: Callable[[Database], int] = work_done,
    moment: Callable[[], bool] | None = None,
) -> int:
    """SIGKILL ``process`` once its work passes ``target``; the work done then.

    It dies a random instant (0 to 30 ms) later, or as soon as ``moment()`` says so.
    """
    wait_for(lambda: measure(database) >= target or process.poll() is not None, 60, "progress")
    if moment is not None:
        wait_for(lambda: moment() or process.poll() is not None, 10, "the moment to kill")
    else:
        deadline = time.monotonic() + rng.uniform(0.0, 0.03)
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.001)
    assert process.poll() is None, "the worker finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL
    return measure(database)


def writing(path: Path) -> Callable[[], bool]:
    """A probe: whether another process holds the SQLite file's write lock right now."""

    def probe() -> bool:
        conn = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return True  # database is locked: a write transaction is open
        else:
            conn.execute("ROLLBACK")
            return False
        finally:
            conn.close()

    return probe


def assert_exactly_once(database: Database, journey_id: int, *, sent: bool = True) -> None:
    """Two outbox rows per customer (states 2 and 4), one enrollment each, all completed."""
    with database.read() as conn:
        rows = conn.execute(
            select(
                outbox.c.customer_id,
                outbox.c.state_id,
                outbox.c.idempotency_key,
                outbox.c.status,
                outbox.c.attempts,
            )
        ).all()
        people = conn.execute(
            select(enrollments.c.customer_id, enrollments.c.status, enrollments.c.entry_number)
        ).all()
    expected = {f"c{i:04d}" for i in range(CUSTOMERS)}
    assert len(rows) == 2 * CUSTOMERS
    assert {(c, int(s)) for c, s, *_ in rows} == {(c, s) for c in expected for s in (2, 4)}
    keys = {key for _, _, key, _, _ in rows}
    assert len(keys) == 2 * CUSTOMERS  # journey:customer:entry:state:step, the first entry
    assert all(key.startswith(f"{journey_id}:{c}:1:{s}:") for c, s, key, _, _ in rows)
    assert len(people) == CUSTOMERS
    assert {c for c, _, _ in people} == expected
    assert {(s, int(n)) for _, s, n in people} == {("completed", 1)}
    if sent:
        assert {(status, int(attempts)) for *_, status, attempts in rows} == {("sent", 1)}
    found = counters(database, journey_id)
    assert found[(2, "sent")] == found[(4, "sent")] == CUSTOMERS
    assert found == dict.fromkeys(R1_COUNTERS, CUSTOMERS)


def r1_over_customers(database: Database) -> int:
    """An application with CUSTOMERS customers and journey R1, still a draft; its id."""
    with database.write() as conn:
        app_id = create_application(conn, "acme", NOW)
        conn.execute(
            customers.insert(),
            [
                {
                    "application_id": app_id,
                    "customer_id": f"c{i:04d}",
                    "push_tokens": [{"token": f"t{i}", "platform": "android"}],
                    "consent": {},
                    "fields": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(CUSTOMERS)
            ],
        )
        result = conn.execute(
            campaigns.insert().values(
                application_id=app_id,
                name="push campaign",
                channel="push",
                content={"title": "Hi", "body": "Hello"},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        assert result.inserted_primary_key is not None
        cid = int(result.inserted_primary_key[0])

        def push(state_id: int, forward: int | None) -> dict[str, Any]:
            action = {"action": {"campaignId": cid}, "forward": forward}
            return {"id": state_id, "type": "ACTION_PUSH_SEND", "params": action}

        states = [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            push(2, 3),
            {"id": 3, "type": "FLOW_DELAY", "params": {"time": "PT0S", "forward": 4}},
            push(4, None),
        ]
        return create_journey(conn, app_id, {"name": "R1", "states": states, "settings": {}}, NOW)


def counters(database: Database, journey_id: int) -> dict[tuple[int, str], int]:
    """The journey's live statistics: (state id, metric) → total."""
    with database.read() as conn:
        rows = conn.execute(
            select(
                stat_counters.c.state_id, stat_counters.c.metric, func.sum(stat_counters.c.value)
            )
            .where(stat_counters.c.journey_id == journey_id, stat_counters.c.test.is_(False))
            .group_by(stat_counters.c.state_id, stat_counters.c.metric)
        ).all()
    return {(int(s), str(m)): int(v) for s, m, v in rows}


def activate(database: Database, journey_id: int) -> None:
    with database.write() as conn:
        app_id = conn.execute(text("SELECT application_id FROM journeys")).scalar_one()
        assert start_journey(conn, int(app_id), journey_id, NOW) == CUSTOMERS


@pytest.fixture
def sqlite_file(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[str, Database]]:
    path = tmp_path / "wayfare.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    database = Database(url)
    try:
        yield url, database
    finally:
        database.dispose()


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


# ------------------------------------------------------------------------------- SQLite


def test_a_worker_killed_at_random_moments_sends_everything_exactly_once(
    sqlite_file: tuple[str, Database],
) -> None:
    url, database = sqlite_file
    journey_id = r1_over_customers(database)
    activate(database, journey_id)
    rng = random.Random(3 + SEED)
    total = 5 * CUSTOMERS
    targets = sorted(rng.randint(total // 20, total * 9 // 10) for _ in range(rng.randint(3, 5)))
    seen: list[int] = []
    started = time.monotonic()
    for number, target in enumerate(targets):
        worker = start_worker(url, "--batch", "500")
        # every other kill waits until the worker holds the write lock (a batch mid-way)
        moment = writing(sqlite_path(url)) if number % 2 else None
        seen.append(kill_at(database, worker, target, rng, moment=moment))
    assert all(done < total for done in seen), seen  # each kill left work undone
    last = start_worker(url, "--batch", "500", "--until-idle")
    assert last.wait(timeout=60) == 0
    elapsed = time.monotonic() - started
    assert_exactly_once(database, journey_id)
    print(f"\nSQLite worker: killed at work {seen} of {total}; all done in {elapsed:.2f} s")


def test_a_dispatcher_killed_at_random_moments_sends_each_message_once(
    sqlite_file: tuple[str, Database],
) -> None:
    url, database = sqlite_file
    journey_id = r1_over_customers(database)
    with database.write() as conn:  # through the dispatcher (an unconfigured channel is not)
        app_id = conn.execute(text("SELECT application_id FROM journeys")).scalar_one()
        put_channel(
            conn,
            app_id,
            "push",
            enabled=True,
            settings={"provider": "log"},
            rate_limit=None,
            now=NOW,
        )
    activate(database, journey_id)
    rng = random.Random(4 + SEED)
    runner = start_worker(url, "--mode", "run", "--batch", "500")
    kill_at(database, runner, rng.randint(CUSTOMERS // 2, CUSTOMERS * 3 // 2), rng)
    runner = start_worker(url, "--mode", "run", "--batch", "500", "--until-idle")
    assert runner.wait(timeout=60) == 0
    assert progress(database) == (2 * CUSTOMERS, 0, CUSTOMERS)  # only the outbox is pending
    assert_exactly_once(database, journey_id, sent=False)

    def sent(db: Database) -> int:
        return progress(db)[1]

    seen: list[int] = []
    started = time.monotonic()
    for target in sorted(rng.randint(1, 2 * CUSTOMERS * 7 // 10) for _ in range(3)):
        dispatcher = start_worker(url, "--mode", "dispatch", "--batch", "100")
        moment = writing(sqlite_path(url)) if len(seen) % 2 else None
        seen.append(kill_at(database, dispatcher, target, rng, sent, moment))
    assert all(done < 2 * CUSTOMERS for done in seen), seen
    dispatcher = start_worker(url, "--mode", "dispatch", "--batch", "500", "--until-idle")
    assert dispatcher.wait(timeout=60) == 0
    elapsed = time.monotonic() - started
    assert_exactly_once(database, journey_id)
    print(f"\nSQLite dispatch: killed at {seen} of {2 * CUSTOMERS} sent; done in {elapsed:.2f} s")


def test_an_activation_killed_mid_way_enrols_nobody_and_a_second_one_everybody_once(
    sqlite_file: tuple[str, Database],
) -> None:
    url, database = sqlite_file
    journey_id = r1_over_customers(database)
    probe = writing(sqlite_path(url))
    activator = start_worker(url, "--mode", "activate", "--journey", str(journey_id))
    wait_for(lambda: probe() or activator.poll() is not None, 30, "the activation to write")
    activator.send_signal(signal.SIGKILL)
    activator.wait(timeout=10)
    with database.read() as conn:
        status = conn.execute(text("SELECT status FROM journeys")).scalar_one()
        enrolled = conn.execute(select(func.count()).select_from(enrollments)).scalar_one()
    assert activator.returncode == -signal.SIGKILL  # killed, not finished
    assert (status, enrolled, counters(database, journey_id)) == ("DRAFT", 0, {})
    activator = start_worker(url, "--mode", "activate", "--journey", str(journey_id))
    assert activator.wait(timeout=30) == 0
    assert start_worker(url, "--batch", "2000", "--until-idle").wait(timeout=60) == 0
    assert_exactly_once(database, journey_id)


# ------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def postgres(postgres_url: str | None) -> Iterator[tuple[str, Database]]:
    if postgres_url is None:
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}: PostgreSQL cases NOT RUN")
    database = Database(postgres_url)
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    with database.write() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield postgres_url, database
    finally:
        database.dispose()


def in_transaction(database: Database) -> set[str]:
    """The application names (``PGAPPNAME``) of the workers mid-batch: rows locked or written."""
    with database.read() as conn:
        names = conn.execute(
            text(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE 'crash-worker-%' AND backend_xid IS NOT NULL"
            )
        ).scalars()
        return set(names)


def deadlocks(database: Database) -> int:
    """Deadlocks PostgreSQL has detected in this database so far."""
    with database.read() as conn:
        query = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        return int(conn.execute(text(query)).scalar_one())


def test_four_workers_racing_on_postgresql_one_killed_send_everything_once(
    postgres: tuple[str, Database], tmp_path: Path
) -> None:
    url, database = postgres
    journey_id = r1_over_customers(database)
    deadlocks_before = deadlocks(database)
    workers = []
    logs = []
    for number in range(4):
        env = {**os.environ, "WAYFARE_DATABASE_URL": url, "PGAPPNAME": f"crash-worker-{number}"}
        log = tmp_path / f"worker{number}.log"
        logs.append(log)
        with log.open("w") as stderr:
            command = [
                str(WAYFARE),
                "worker",
                "--batch",
                os.environ.get("WAYFARE_CRASH_BATCH", "500"),
            ]
            workers.append(spawn(command, "running", env=env, stderr=stderr))
    started = time.monotonic()
    activate(database, journey_id)  # the NOTIFY at commit wakes all four at once
    rng = random.Random(5 + SEED)
    victim = rng.randrange(4)
    busy: set[str] = set()

    def sampled(db: Database) -> int:
        busy.update(in_transaction(db))
        return work_done(db)

    name = f"crash-worker-{victim}"
    target = rng.randint(CUSTOMERS, 3 * CUSTOMERS)
    # killed mid-batch: its claimed rows locked (it has an xid), nothing committed yet
    kill_at(
        database, workers[victim], target, rng, sampled, lambda: name in in_transaction(database)
    )
    killed_at = time.monotonic() - started
    wait_for(
        lambda: progress(database) == (2 * CUSTOMERS, 2 * CUSTOMERS, CUSTOMERS),
        60,
        "the three workers left to finish",
    )
    elapsed = time.monotonic() - started
    for number, process in enumerate(workers):
        if number != victim:
            process.send_signal(signal.SIGTERM)
    for number, process in enumerate(workers):
        if number != victim:
            assert process.wait(timeout=30) == 0
    assert_exactly_once(database, journey_id)
    assert len(busy) >= 2, busy  # the workers did race (seen in transactions at once or in turn)
    failures = [line for log in logs for line in log.read_text().splitlines() if "failed" in line]
    print(
        f"\nfour workers on PostgreSQL: worker {victim} killed at {killed_at:.2f} s, all done"
        f" at {elapsed:.2f} s; seen mid-batch: {sorted(busy)}; batch failures logged:"
        f" {len(failures)} {failures[:3]}; deadlocks: {deadlocks(database) - deadlocks_before}"
    )
