"""Benchmark R1 on SQLite: IN_ALL -> push -> FLOW_DELAY PT0S -> push, over N customers.

Times activation (one INSERT ... SELECT), the runner (both outbox rows for everyone) and the
dispatch by the ``log`` channel. Usage: ``python bench/bench_engine.py [N ...]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from wayfare.cli.common import settle_heap
from wayfare.engine.entries import start_journey
from wayfare.engine.worker import Dispatcher, Runner
from wayfare.store.applications import create_application
from wayfare.store.database import Database
from wayfare.store.journeys import create_journey
from wayfare.store.schema import campaigns, customers, outbox

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def setup(database: Database, count: int) -> tuple[int, int]:
    """An application with ``count`` push-reachable customers and the R1 journey."""
    with database.write() as conn:
        app = create_application(conn, "bench", NOW)
        for start in range(0, count, 50_000):
            conn.execute(
                customers.insert(),
                [
                    {
                        "application_id": app,
                        "customer_id": f"c{i:07d}",
                        "push_tokens": [{"token": f"t{i}", "platform": "android"}],
                        "consent": {},
                        "fields": {"name": f"Name {i}", "city": "Madrid"},
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in range(start, min(count, start + 50_000))
                ],
            )
        row = conn.execute(
            campaigns.insert().values(
                application_id=app,
                name="hello",
                channel="push",
                content={"title": "Hi {{ name }}", "body": "From {{ city }}"},
                created_at=NOW,
                updated_at=NOW,
            )
        ).inserted_primary_key
        assert row is not None
        cid = int(row[0])
        states = [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": cid}, "forward": 3},
            },
            {"id": 3, "type": "FLOW_DELAY", "params": {"time": "PT0S", "forward": 4}},
            {
                "id": 4,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": cid}, "forward": None},
            },
        ]
        journey_id = create_journey(conn, app, {"name": "R1", "states": states}, NOW)
    return app, journey_id


def bench(count: int, batch: int) -> None:
    """Run R1 over ``count`` customers and print the timings."""
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'bench.db'}")
        database.migrate()
        app, journey_id = setup(database, count)
        runner, dispatcher = Runner(database), Dispatcher(database)
        settle_heap()  # as `wayfare serve` and `wayfare worker` do once set up
        t0 = time.perf_counter()
        with database.write() as conn:
            entered = start_journey(conn, app, journey_id, NOW)
        t1 = time.perf_counter()
        ran = 0
        while done := runner.tick(NOW, batch):
            ran += done
        t2 = time.perf_counter()
        dispatched = 0
        while done := dispatcher.tick(NOW, batch * 2):
            dispatched += done
        t3 = time.perf_counter()
        with database.read() as conn:
            rows = conn.execute(select(func.count()).select_from(outbox)).scalar()
        print(
            f"{count:>9,} customers: enrol {t1 - t0:6.2f} s, run {t2 - t1:6.2f} s "
            f"({ran / (t2 - t1):,.0f}/s), outbox rows {rows:,}; dispatch {t3 - t2:6.2f} s "
            f"({dispatched:,}); activation to both rows written {t2 - t0:6.2f} s, "
            f"with dispatch {t3 - t0:6.2f} s; entered {entered:,}"
        )
        database.dispose()


if __name__ == "__main__":
    for n in [int(a) for a in sys.argv[1:]] or [100_000]:
        bench(n, int(os.environ.get("BATCH", "20000")))
