"""Statistics counters: added up through a transaction, written at its end in key order."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, select

from wayfare.store import enrollments as store
from wayfare.store.database import Database
from wayfare.store.schema import stat_counters

from .conftest import NOW
from .test_runner import journey

BUCKET = store.counter_hour(NOW)


def counters(database: Database) -> dict[tuple[int, str], int]:
    with database.read() as conn:
        rows = conn.execute(
            select(stat_counters.c.state_id, stat_counters.c.metric, stat_counters.c.value)
        ).all()
    return {(state_id, metric): value for state_id, metric, value in rows}


def test_counts_wait_for_the_end_of_the_transaction(database: Database, app_id: int) -> None:
    jid = journey(database, app_id, {"type": "IN_ALL", "params": {"forward": None}})
    with database.write() as conn:
        store.add_counters(conn, {(jid, 1, "entered", False, BUCKET): 2})
        store.add_counters(conn, {(jid, 1, "entered", False, BUCKET): 3})
        written = conn.execute(select(stat_counters.c.value)).scalars().all()
    assert written == []  # nothing written inside the block: added up in memory
    assert counters(database) == {(1, "entered"): 5}

    try:
        with database.write() as conn:
            store.add_counters(conn, {(jid, 1, "entered", False, BUCKET): 7})
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert counters(database) == {(1, "entered"): 5}  # a rolled-back block adds nothing

    with database.engine.begin() as conn:  # outside a Database.write block: written at once
        store.add_counters(conn, {(jid, 1, "entered", False, BUCKET): 1})
        assert conn.execute(select(stat_counters.c.value)).scalar_one() == 6


def test_crossed_orders_do_not_deadlock(database: Database, app_id: int) -> None:
    """Two transactions add to the same two counters in opposite orders, interleaved.

    Written as they came, each would hold the counter the other wants next (PostgreSQL's
    deadlock detector would then fail one of them).
    """
    if not database.dialect.is_postgres:
        pytest.skip("SQLite runs one write transaction at a time")
    jid = journey(database, app_id, {"type": "IN_ALL", "params": {"forward": None}})
    first, second = (jid, 1, "entered", False, BUCKET), (jid, 1, "completed", False, BUCKET)
    with database.write() as conn:  # both rows exist, so that each upsert locks its row
        store.add_counters(conn, {first: 1, second: 1})
    both_added_once = threading.Barrier(2, timeout=10)
    failures: list[BaseException] = []

    def transaction(order: tuple[tuple[int, int, str, bool, object], ...]) -> Callable[[], None]:
        def run() -> None:
            try:
                with database.write() as conn:
                    add(conn, order[0])
                    both_added_once.wait()
                    add(conn, order[1])
            except BaseException as exc:
                failures.append(exc)

        return run

    def add(conn: Connection, key: tuple[int, int, str, bool, object]) -> None:
        store.add_counters(conn, {key: 10})  # type: ignore[dict-item]

    threads = [
        threading.Thread(target=transaction((first, second))),
        threading.Thread(target=transaction((second, first))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []
    assert counters(database) == {(1, "entered"): 21, (1, "completed"): 21}
