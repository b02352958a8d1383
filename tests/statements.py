"""Recording the SQL statements a block of code runs, for tests that count or inspect them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from wayfare.store.database import Database


@contextmanager
def statements_run(database: Database) -> Iterator[list[str]]:
    """The statements run on ``database`` while the block runs (the list fills as they run)."""
    found: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        found.append(statement)

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        yield found
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
