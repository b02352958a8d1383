"""Group commit for single events: concurrent ``POST /v1/event`` requests share one transaction.

A request checks its event, hands it to the app's ``EventGroups`` and waits. One writer thread
takes every event waiting (up to ``MAX_GROUP``), writes them with
``store.events.record_event_group`` (the batch path, journeys moved the same way) in ONE
transaction, and only after the commit answers each request with its own outcome: recorded or
a duplicate, or its own error (an unknown event code). If the group's transaction fails as a
whole, its events are written again one by one, each in its own transaction, so that each
request gets its own answer. Under load a group holds what arrived during the previous
group's write; alone, an event is written at once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from wayfare.api.auth import utcnow
from wayfare.api.metrics import count_event_group
from wayfare.errors import InvalidInput
from wayfare.model.customers import EventRecord
from wayfare.store.database import Database
from wayfare.store.events import EventOutcome, record_event_group

log = logging.getLogger("wayfare.api")

MAX_GROUP = 500
"""Events written in one transaction at most."""

IDLE_SECONDS = 30.0
"""The writer thread ends after this long without events (the next event starts it again)."""


@dataclass(frozen=True, slots=True)
class _Waiting:
    """An event handed over and the future its request waits on."""

    application_id: int
    record: EventRecord
    answer: Future[EventOutcome]


class EventGroups:
    """The group writer of one app: events in, one transaction per group, an answer per event.

    ``clock`` gives each group's ``now`` (the time its events are received and journeys move).
    """

    def __init__(
        self,
        database: Database,
        clock: Callable[[], datetime] = utcnow,
        *,
        max_group: int = MAX_GROUP,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        if max_group < 1:
            raise ValueError("a group holds at least one event")
        self.database = database
        self.clock = clock
        self.max_group = max_group
        self.idle_seconds = idle_seconds
        self.groups_written = 0
        """Groups committed so far (a group written again one by one not counted)."""
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def record(self, application_id: int, record: EventRecord) -> EventOutcome:
        """Record a checked event with the others waiting; its outcome once committed.

        ``InvalidInput`` when the application does not know its code; a database error when
        the event could not be written on its own either.
        """
        return await asyncio.wrap_future(self.submit(application_id, record))

    def submit(self, application_id: int, record: EventRecord) -> Future[EventOutcome]:
        """Hand a checked event to the writer; the future of its outcome."""
        answer: Future[EventOutcome] = Future()
        with self._lock:
            self._queue.put(_Waiting(application_id, record, answer))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="wayfare-event-groups", daemon=True
                )
                self._thread.start()
        return answer

    def close(self, timeout: float = 30.0) -> None:
        """Write what is waiting, then stop the writer thread (an event after starts a new one)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(None)  # the events before it are written by that thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            try:
                first = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():  # submit() starts a new thread after this
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
                continue
            if first is None:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                group.append(item)
            self._write([w for w in group if w.answer.set_running_or_notify_cancel()])

    def _write(self, group: list[_Waiting]) -> None:
        """Write a group in one transaction; on failure, each event in its own."""
        if not group:
            return
        try:
            outcomes = self._transaction(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].answer.set_exception(exc)
                return
            log.warning(
                "a group of %d events failed (%s); writing them one by one", len(group), exc
            )
            for waiting in group:
                try:
                    [outcome] = self._transaction([waiting])
                except Exception as single:
                    waiting.answer.set_exception(single)
                else:
                    _answer(waiting, outcome)
            return
        self.groups_written += 1
        count_event_group()
        for waiting, outcome in zip(group, outcomes, strict=True):
            _answer(waiting, outcome)

    def _transaction(self, group: list[_Waiting]) -> list[EventOutcome | InvalidInput]:
        now = self.clock()
        with self.database.write() as conn:
            return record_event_group(conn, [(w.application_id, w.record) for w in group], now)


def _answer(waiting: _Waiting, outcome: EventOutcome | InvalidInput) -> None:
    if isinstance(outcome, InvalidInput):
        waiting.answer.set_exception(outcome)
    else:
        waiting.answer.set_result(outcome)
