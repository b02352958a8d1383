"""Timers falling due at once: N enrollments woken by a ``FLOW_DELAY P1D``, run to a push.

``python bench/bench_due.py [--customers N] [--only sqlite|postgres] [--workers 1,2]``

Set-up (not timed): N push-reachable customers and the journey ``IN_ALL`` -> ``FLOW_DELAY P1D``
-> ``ACTION_PUSH_SEND`` (a Liquid campaign with two fields) -> end, started at T0 and run at T0
(the engine's own ``start_journey`` and ``Runner.tick``), so every enrollment waits on the delay.
Timed: at T0 + 1 day, ``Runner.tick`` in batches until nothing is due, in worker processes
(spawned, each on its own ``Database``; on PostgreSQL they share the work through ``SKIP
LOCKED``). Then checked: one outbox row per customer for the push state, every enrollment
completed. Target (issue 3): >= 50,000 enrollments/s on SQLite; on PostgreSQL two workers faster
than one. On PostgreSQL the set-up is made once in a fresh database, and each run works on a
copy of it (``CREATE DATABASE ... TEMPLATE``); every database made is dropped at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import (
    admin,
    backend_pid,
    elapsed,
    insert_customers,
    peak_mb,
    postgres_admin_url,
    process_cpu,
    push_campaign,
    table,
    with_database,
)

T0 = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
PUSH_STATE = 3
DEFAULT_POSTGRES = f"postgresql+psycopg://postgres@127.0.0.1:5432/wayfare_bench_due_{os.getpid()}"


def setup(url: str, count: int, batch: int) -> dict[str, Any]:
    """Customers, campaign and journey in ``url`` (migrated here), started and run at T0."""
    from sqlalchemy import func, select

    from wayfare.engine.entries import start_journey
    from wayfare.engine.worker import Runner
    from wayfare.store.applications import create_application
    from wayfare.store.database import Database
    from wayfare.store.journeys import create_journey
    from wayfare.store.schema import enrollments

    database = Database(url)
    database.migrate()
    started = time.perf_counter()
    with database.write() as conn:
        app = create_application(conn, "bench", T0)
        insert_customers(conn, app, count, T0)
        campaign = push_campaign(conn, app, T0)
        states = [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {"id": 2, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": PUSH_STATE}},
            {
                "id": PUSH_STATE,
                "type": "ACTION_PUSH_SEND",
                "params": {"action": {"campaignId": campaign}, "forward": None},
            },
        ]
        journey = create_journey(conn, app, {"name": "due", "states": states}, T0)
    customers_s = elapsed(started)
    started = time.perf_counter()
    with database.write() as conn:
        entered = start_journey(conn, app, journey, T0)
    runner = Runner(database)
    while runner.tick(T0, batch):
        pass
    with database.read() as conn:
        waiting = conn.execute(
            select(func.count()).where(
                enrollments.c.journey_id == journey,
                enrollments.c.status == "waiting",
                enrollments.c.state_id == 2,
                enrollments.c.wake_at == T1,
            )
        ).scalar_one()
    if database.dialect.is_postgres:
        with database.write() as conn:
            conn.exec_driver_sql("ANALYZE")
    database.dispose()
    assert entered == count and waiting == count, (entered, waiting)
    return {
        "journey": journey,
        "customers_s": customers_s,
        "enrol_s": elapsed(started),
    }


def work(url: str, batch: int, barrier: Any, results: Any, profile: str | None) -> None:
    """A worker process: ``Runner.tick(T1, batch)`` until nothing is due; figures to ``results``."""
    from wayfare.cli.common import settle_heap
    from wayfare.engine.worker import Runner
    from wayfare.store.database import Database

    database = Database(url)
    with database.read() as conn:  # connect before the clock starts
        server = backend_pid(conn)
    runner = Runner(database)
    settle_heap()  # as `wayfare worker` and `wayfare serve` do once set up
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    barrier.wait()
    server_cpu, cpu = process_cpu(server), time.process_time()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    done = ticks = 0
    while count := runner.tick(T1, batch):
        done += count
        ticks += 1
    finished = time.perf_counter()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(f"{profile}.{os.getpid()}")
    results.put(
        {
            "done": done,
            "ticks": ticks,
            "started": started,
            "finished": finished,
            "cpu_s": time.process_time() - cpu,
            # the pool keeps one connection for the whole loop, so this is the worker's backend
            "server_cpu_s": process_cpu(server) - server_cpu if server else None,
            "peak_mb": peak_mb(),
        }
    )
    database.dispose()


def run_workers(url: str, workers: int, batch: int, profile: str | None) -> dict[str, Any]:
    """Run the timed part in ``workers`` spawned processes; the wall time and their figures."""
    context = mp.get_context("spawn")
    barrier = context.Barrier(workers + 1)
    results = context.Queue()
    processes = [
        context.Process(target=work, args=(url, batch, barrier, results, profile))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=300)  # broken (an error) if a worker dies before it is ready
    found: list[dict[str, Any]] = []
    while len(found) < workers:
        try:
            found.append(results.get(timeout=1))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in processes):
                for process in processes:
                    process.kill()
                raise SystemExit("a worker failed (see its traceback above)") from None
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"a worker failed (exit code {process.exitcode})")
    wall = max(f["finished"] for f in found) - min(f["started"] for f in found)
    return {"wall_s": wall, "workers": found}


def check(url: str, journey: int, count: int) -> None:
    """Assert one outbox row per customer for the push state and every enrollment completed."""
    from sqlalchemy import distinct, func, select

    from wayfare.store.database import Database
    from wayfare.store.schema import enrollments, outbox

    database = Database(url)
    with database.read() as conn:
        rows, customers = conn.execute(
            select(func.count(), func.count(distinct(outbox.c.customer_id))).where(
                outbox.c.journey_id == journey, outbox.c.state_id == PUSH_STATE
            )
        ).one()
        statuses = dict(
            conn.execute(
                select(enrollments.c.status, func.count())
                .where(enrollments.c.journey_id == journey)
                .group_by(enrollments.c.status)
            ).all()
        )
    database.dispose()
    assert rows == count and customers == count, f"outbox rows {rows:,}, customers {customers:,}"
    assert statuses == {"completed": count}, f"enrollments by status: {statuses}"


def figures(backend: str, workers: int, count: int, run: dict[str, Any]) -> list[Any]:
    """One row of the printed table."""
    per = run["workers"]
    server = [f["server_cpu_s"] for f in per if f["server_cpu_s"] is not None]
    return [
        backend,
        workers,
        count,
        round(run["wall_s"], 2),
        round(count / run["wall_s"]),
        " + ".join(f"{f['done']:,}" for f in per),
        " + ".join(f"{f['cpu_s']:.1f}" for f in per),
        " + ".join(f"{s:.1f}" for s in server) if server else "-",
        " / ".join(f"{f['peak_mb']:.0f}" for f in per),
    ]


HEADERS = [
    "backend",
    "workers",
    "enrollments",
    "wall s",
    "enrollments/s",
    "per worker",
    "worker CPU s",
    "server CPU s",
    "worker peak MB",
]


def bench_sqlite(args: argparse.Namespace) -> list[list[Any]]:
    """Set up a SQLite file, run one worker on it, check."""
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        url = f"sqlite:///{Path(folder) / 'due.db'}"
        made = setup(url, args.customers, args.batch)
        print(
            f"sqlite set-up: customers {made['customers_s']:.1f} s, "
            f"start + run to the delay {made['enrol_s']:.1f} s",
            flush=True,
        )
        run = run_workers(url, 1, args.batch, args.profile)
        check(url, made["journey"], args.customers)
        rows.append(figures("SQLite", 1, args.customers, run))
    return rows


def bench_postgres(args: argparse.Namespace) -> list[list[Any]]:
    """Set up a fresh PostgreSQL database once; each worker count runs on a copy of it."""
    url = args.postgres
    _, base = postgres_admin_url(url)
    admin(url, f'DROP DATABASE IF EXISTS "{base}"', f'CREATE DATABASE "{base}"')
    copies = []
    rows = []
    try:
        made = setup(url, args.customers, args.batch)
        print(
            f"postgres set-up: customers {made['customers_s']:.1f} s, "
            f"start + run to the delay {made['enrol_s']:.1f} s",
            flush=True,
        )
        for workers in args.workers:
            copy = f"{base}_w{workers}"
            copies.append(copy)
            admin(url, f'DROP DATABASE IF EXISTS "{copy}"')
            admin(url, f'CREATE DATABASE "{copy}" TEMPLATE "{base}"')
            copy_url = with_database(url, copy)
            run = run_workers(copy_url, workers, args.batch, args.profile)
            check(copy_url, made["journey"], args.customers)
            admin(url, f'DROP DATABASE "{copy}" WITH (FORCE)')
            rows.append(figures("PostgreSQL", workers, args.customers, run))
            print(table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    finally:
        for name in [*copies, base]:
            admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return rows


def main() -> None:
    """Parse the options, run the chosen backends, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument(
        "--batch", type=int, default=20_000, help="Runner.tick limit (default 20,000)"
    )
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="one backend only")
    parser.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="a database URL; the database is created and dropped (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 2],
        help="worker process counts to run on PostgreSQL (default 1,2)",
    )
    parser.add_argument("--tmp", help="folder for the SQLite file (default: the system's)")
    parser.add_argument(
        "--profile", metavar="PREFIX", help="cProfile each worker into PREFIX.<pid>"
    )
    args = parser.parse_args()
    rows = []
    if args.only in (None, "sqlite"):
        rows += bench_sqlite(args)
    if args.only in (None, "postgres"):
        rows += bench_postgres(args)
    print(f"\ndelay due at T0 + 1 day, run to the push state (batch {args.batch:,}):")
    print(table(HEADERS, rows))
    print(f"set-up process peak memory {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
