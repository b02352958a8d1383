"""The floor of journey R1 on SQLite: the writes alone, with bare ``sqlite3`` and no engine.

What any engine keeping one durable row per enrollment and per message must write, on this
schema: N enrollments by one ``INSERT ... SELECT``, 2 N outbox rows (with their indexes), and
the N enrollments updated to their end. Usage: ``python bench/bench_sqlite_floor.py [N]``.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from wayfare.store.database import Database

STAMP = "2026-01-01 00:00:00.000000"


def main(count: int) -> None:
    """Time the three writes over ``count`` customers and print them."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "floor.db"
        Database(f"sqlite:///{path}").migrate()
        conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute(
            "INSERT INTO applications (id, name, settings, created_at) VALUES (1, 'a', '{}', ?)",
            (STAMP,),
        )
        conn.execute(
            "INSERT INTO journeys (id, application_id, name, status, version, states, settings,"
            " created_at, updated_at) VALUES (1, 1, 'j', 'ACTIVE', 1, '[]', '{}', ?, ?)",
            (STAMP, STAMP),
        )
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO customers (application_id, customer_id, push_tokens, consent, fields,"
            " created_at, updated_at) VALUES (1, ?, '[]', '{}', ?, ?, ?)",
            (
                (f"c{i:07d}", f'{{"name": "Name {i}", "city": "Madrid"}}', STAMP, STAMP)
                for i in range(count)
            ),
        )
        conn.execute("COMMIT")
        timings = {}
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO enrollments (application_id, journey_id, customer_id, entry_number, test,"
            " state_id, status, wake_at, context, transitions, entered_at, state_since,"
            " updated_at) SELECT application_id, 1, customer_id, 1, 0, 1, 'ready', ?, '{}', 0,"
            " ?, ?, ? FROM customers",
            (STAMP, STAMP, STAMP, STAMP),
        )
        conn.execute("COMMIT")
        timings["enrol (INSERT ... SELECT)"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO outbox (application_id, idempotency_key, enrollment_id, journey_id,"
            " state_id, customer_id, channel, payload, status, attempts, next_attempt_at,"
            " created_at, rendered, sent_at) VALUES (1, ?, ?, 1, ?, ?, 'push',"
            " '{\"entryNumber\": 1, \"context\": {}}', 'sent', 1, ?, ?, ?, ?)",
            (
                (
                    f"1:c{i:07d}:1:{state}:1",
                    i + 1,
                    state,
                    f"c{i:07d}",
                    STAMP,
                    STAMP,
                    f'{{"title": "Hi Name {i}", "body": "From Madrid"}}',
                    STAMP,
                )
                for i in range(count)
                for state in (2, 4)
            ),
        )
        conn.execute("COMMIT")
        timings["2 N outbox rows (executemany)"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute(
            "UPDATE enrollments SET status = 'completed', state_id = 4, wake_at = NULL,"
            " transitions = 3, updated_at = ?, ended_at = ?",
            (STAMP, STAMP),
        )
        conn.execute("COMMIT")
        timings["update every enrollment"] = time.perf_counter() - started
        conn.close()
    for label, seconds in timings.items():
        print(f"{count:>9,} customers: {label:32s} {seconds:6.2f} s")
    print(f"{count:>9,} customers: {'total':32s} {sum(timings.values()):6.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
