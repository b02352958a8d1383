"""What the command modules share: the settings and database of this process."""

from __future__ import annotations

from datetime import UTC, datetime

from wayfare.settings import Settings
from wayfare.store.database import Database


def open_database(settings: Settings | None = None) -> Database:
    """The migrated database of ``settings`` (from the environment by default)."""
    settings = settings or Settings()
    database = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    database.migrate()
    return database


def utcnow() -> datetime:
    """Now, aware, in UTC: the one place the command line reads the clock."""
    return datetime.now(UTC)
