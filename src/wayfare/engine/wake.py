"""How writers wake the workers: ``NOTIFY wayfare`` on PostgreSQL, an in-process event on SQLite."""

from __future__ import annotations

import threading

from sqlalchemy import Connection, text

from wayfare.store.database import dialect_of

LOCAL_WAKE = threading.Event()
"""Set when this process creates ready work on SQLite: wakes the in-process worker at once.

Setting it before the commit is safe: the worker's next write transaction waits for the
single SQLite writer, so it sees the work once committed.
"""


def notify(conn: Connection) -> None:
    """Wake the workers: ``NOTIFY wayfare`` on PostgreSQL (at commit), else ``LOCAL_WAKE``."""
    if dialect_of(conn).is_postgres:
        conn.execute(text("SELECT pg_notify('wayfare', '')"))
    else:
        LOCAL_WAKE.set()
