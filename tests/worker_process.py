"""A worker in a process of its own, for the crash tests: started, killed, restarted at will.

``python tests/worker_process.py URL --clock ISO [--mode both|run|dispatch|activate]
[--batch N] [--until-idle] [--journey ID]`` opens the database at URL and works at the fixed
time ``--clock``: ``both`` runs ``Worker.run`` (enrollments and outbox), ``run`` only
``Runner.tick``, ``dispatch`` only ``Dispatcher.tick``; ``activate`` activates journey ``--journey``
(``start_journey``, one transaction) and exits. With ``--until-idle`` it exits 0 once nothing is
due; otherwise it loops until killed (SIGTERM finishes the batch in hand). It prints ``ready``
once the database is open.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime
from types import FrameType

from sqlalchemy import select

from wayfare.engine.runner import start_journey
from wayfare.engine.worker import Dispatcher, Runner, Worker
from wayfare.settings import Settings
from wayfare.store.database import Database
from wayfare.store.schema import journeys


def main(argv: list[str]) -> int:
    """Run one worker as the arguments say; the exit status."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--clock", required=True, help="the fixed time the worker works at")
    parser.add_argument("--mode", choices=["both", "run", "dispatch", "activate"], default="both")
    parser.add_argument("--journey", type=int, help="the journey to activate")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--until-idle", action="store_true")
    args = parser.parse_args(argv)
    now = datetime.fromisoformat(args.clock)
    database = Database(args.url)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    print("ready", flush=True)
    try:
        if args.mode == "activate":
            with database.write() as conn:
                app_id = conn.execute(
                    select(journeys.c.application_id).where(journeys.c.id == args.journey)
                ).scalar_one()
                start_journey(conn, int(app_id), args.journey, now)
            return 0
        if args.mode == "both" and not args.until_idle:
            Worker(Settings(), database, clock=lambda: now, batch=args.batch).run(stop)
            return 0
        runner, dispatcher = Runner(database), Dispatcher(database)
        while not stop.is_set():
            done = 0
            if args.mode in ("both", "run"):
                done += runner.tick(now, args.batch)
            if args.mode in ("both", "dispatch"):
                done += dispatcher.tick(now, args.batch)
            if not done and args.until_idle:
                return 0
            if not done:
                stop.wait(0.05)
        return 0
    finally:
        database.dispose()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
