"""The worker: runs due enrollments, makes webhook calls, dispatches the outbox, sleeps well.

``Worker.run`` loops ``Runner.tick`` and ``Dispatcher.tick`` until no work is due, then sleeps
until the next ``wake_at`` / ``next_attempt_at`` (one second at most); on PostgreSQL it also
wakes at once on ``NOTIFY wayfare``, which writers send when they create ready work.
"""

from __future__ import annotations

import logging
import select as selectors
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from wayfare.channels import webhook
from wayfare.channels.dispatch import Dispatcher
from wayfare.channels.rendering import load_customers
from wayfare.engine.entries import recheck_entries
from wayfare.engine.experiments import CHECK_EVERY, decide_experiments
from wayfare.engine.runner import Pending, advance, run_due
from wayfare.engine.wake import LOCAL_WAKE
from wayfare.settings import Settings
from wayfare.store import enrollments as store
from wayfare.store import outbox
from wayfare.store.database import Database

log = logging.getLogger("wayfare.worker")

MAX_SLEEP = 1.0
"""The longest a worker sleeps between looks at the database (seconds)."""


class Runner:
    """Claims due enrollments in batches and runs them; makes webhook calls between batches."""

    def __init__(self, database: Database, *, allow_private_webhooks: bool = False) -> None:
        self.database = database
        self.allow_private_webhooks = allow_private_webhooks
        self.experiments_checked: datetime | None = None

    def tick(self, now: datetime, limit: int = 2000) -> int:
        """Run one batch of due work at ``now``; how many enrollments it processed or enrolled.

        Entry conditions are re-checked once nothing more is due at ``now``: timers falling due
        at the same instant as a re-check run first, as in the simulator. Then, at most once a
        minute, experiments that have their sample decide.
        """
        with self.database.write() as conn:
            count, calls = run_due(conn, now, limit)
            if count < limit:
                count += recheck_entries(conn, now)
                checked = self.experiments_checked
                if checked is None or not checked <= now < checked + CHECK_EVERY:
                    decide_experiments(conn, now)
                    self.experiments_checked = now
        if calls:
            self.make_calls(calls, now)
        return count

    def make_calls(self, calls: Sequence[Pending], now: datetime) -> None:
        """Make the webhook calls (outside any transaction), then apply their responses."""
        with self.database.read() as conn:
            people = load_customers(conn, {(c.application_id, c.customer_id) for c in calls})
        responses = {
            c.row_id: webhook.call(
                c.params,
                c.key,
                people.get((c.application_id, c.customer_id)),
                c.customer_id,
                c.context,
                allow_private=self.allow_private_webhooks,
            )
            for c in calls
        }
        expected = {call.row_id: call for call in calls}
        with self.database.write() as conn:
            rows = store.lock_by_ids(conn, sorted(responses))
            items = [
                (row, None, responses[row.id])
                for row in rows
                if row.transitions == expected[row.id].expected
                and row.memo.get("calling") == expected[row.id].key
            ]
            more = advance(conn, items, now)
        if more:
            self.make_calls(more, now)


def utc_now() -> datetime:
    """The current time, aware UTC (the worker's clock)."""
    return datetime.now(UTC)


class Worker:
    """One worker: a runner and a dispatcher on a database, looping until told to stop."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        clock: Callable[[], datetime] = utc_now,
        batch: int = 2000,
        allow_private_webhooks: bool | None = None,
    ) -> None:
        allow = allow_private_webhooks
        if allow is None:
            allow = settings.allow_private_webhooks
        self.settings = settings
        self.database = database
        self.clock = clock
        self.batch = batch
        self.runner = Runner(database, allow_private_webhooks=allow)
        self.dispatcher = Dispatcher(database, public_url=settings.public_url)

    def run_once(self, now: datetime | None = None) -> int:
        """Run and dispatch everything due; how many enrollments and messages.

        At ``now`` when given (tests, a virtual clock); else each batch reads the clock, so a
        long drain leases and schedules by the time it is, not the time it started.
        """
        total = 0
        while True:
            moment = self.clock() if now is None else now
            done = self.runner.tick(moment, self.batch)
            moment = self.clock() if now is None else now
            done += self.dispatcher.tick(moment, self.batch * 2)
            total += done
            if not done:
                return total

    def next_due(self) -> datetime | None:
        """The earliest time anything (an enrollment or a message) falls due."""
        with self.database.read() as conn:
            times = [store.next_wake(conn), outbox.next_attempt(conn)]
        found = [t for t in times if t is not None]
        return min(found) if found else None

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set: work, then sleep until something is due (or notified)."""
        listener = self._listen()
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                    due = self.next_due()
                except Exception:  # a worker survives a bad batch; the batch rolled back
                    log.exception("worker batch failed; retrying in a second")
                    due = None
                wait = MAX_SLEEP
                if due is not None:
                    wait = min(MAX_SLEEP, max(0.0, (due - self.clock()).total_seconds()))
                if wait > 0:
                    self._sleep(stop, listener, wait)
        finally:
            self.dispatcher.close()
            if listener is not None:
                listener.close()

    def _listen(self) -> Any:
        if not self.database.dialect.is_postgres:
            return None
        import psycopg

        url = self.database.engine.url.set(drivername="postgresql")
        listener = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
        listener.execute("LISTEN wayfare")
        return listener

    def _sleep(self, stop: threading.Event, listener: Any, wait: float) -> None:
        if stop.is_set():
            return
        if listener is None:  # SQLite: this process's writers set LOCAL_WAKE
            LOCAL_WAKE.wait(wait)
            LOCAL_WAKE.clear()
            return
        ready, _, _ = selectors.select([listener.fileno()], [], [], wait)
        if ready:
            for _ in listener.notifies(timeout=0):
                pass


def run_in_thread(worker: Worker) -> tuple[threading.Thread, threading.Event]:
    """Start ``worker`` in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name="wayfare-worker", daemon=True)
    thread.start()
    return thread, stop
