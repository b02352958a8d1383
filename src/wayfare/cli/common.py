"""What the command modules share: the settings and database of this process."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from wayfare.errors import ConfigurationError
from wayfare.settings import Settings
from wayfare.store.database import Database


def load_settings() -> Settings:
    """The settings from the environment; a bad ``WAYFARE_*`` value is one clear line."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "WAYFARE_" + str(first["loc"][0]).upper() if first["loc"] else "a WAYFARE_ setting"
        raise ConfigurationError(f"{name}: {first['msg']}") from exc


def open_database(settings: Settings | None = None) -> Database:
    """The migrated database of ``settings`` (from the environment by default).

    A database that cannot be reached is a one-line ``ConfigurationError``.
    """
    settings = settings or load_settings()
    database = Database(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        database.migrate()
    except OperationalError as exc:
        database.dispose()
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigurationError(
            f"cannot open the database (WAYFARE_DATABASE_URL): {reason}"
        ) from exc
    return database


def utcnow() -> datetime:
    """Now, aware, in UTC: the one place the command line reads the clock."""
    return datetime.now(UTC)


def settle_heap() -> None:
    """Take what start-up made (modules, classes, the app) out of the garbage collector's sight.

    Call once a long-running process is set up. Under load, objects that live a little while (a
    request waiting for its group's commit, a batch being run) reach the collector's oldest
    generation, whose full collections scanned the whole heap: in ``wayfare serve`` about 200,000
    objects, 100-120 ms each, several times a second, stalling every request. Frozen, start-up's
    objects are not scanned again: they are still freed when nothing refers to them, but a
    reference cycle among them is never collected (they live as long as the process anyway).
    """
    gc.collect()
    gc.freeze()
