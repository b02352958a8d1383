"""A probe for console tests: which SQL statements ran on the thread of the event loop.

An ``async def`` page that queries the database blocks every other request of the process
while it waits (on SQLite's writer lock, on a slow query); a plain ``def`` page, or the part of
an async one handed to ``run_in_threadpool``, does not. The probe listens to the real engine's
``before_cursor_execute`` and keeps the statements sent from a thread running an event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from wayfare.store.database import Database


@contextmanager
def queries_on_the_loop(database: Database) -> Iterator[list[str]]:
    """The statements run on an event loop's thread while the block runs (filled as they run)."""
    found: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        found.append(statement.split("\n")[0][:120])

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        yield found
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
