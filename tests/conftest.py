"""Fixtures shared by the whole suite: real databases (a SQLite file and a PostgreSQL database).

``database`` runs a test once per backend. PostgreSQL is at ``WAYFARE_TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``); each run creates its own database
there and drops it at the end. Where PostgreSQL is down the PostgreSQL cases are skipped with a
loud reason, except in CI (``CI`` set) or with ``WAYFARE_REQUIRE_POSTGRES=1``, where they fail.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from wayfare.store.applications import create_application
from wayfare.store.database import Database
from wayfare.store.schema import metadata

from .console_support import (  # noqa: F401 (fixtures of the console tests)
    browser,
    browser_page,
    console,
    demo_database,
    demo_template,
    fresh_page,
    live_console,
)
from .providers import provider  # noqa: F401 (a fixture every test module may use)

POSTGRES_URL = os.environ.get(
    "WAYFARE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
POSTGRES_REQUIRED = bool(os.environ.get("CI")) or os.environ.get("WAYFARE_REQUIRE_POSTGRES") == "1"
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def _postgres_admin() -> psycopg.Connection[tuple[object, ...]] | None:
    try:
        return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if POSTGRES_REQUIRED:
            pytest.fail(f"PostgreSQL is required here but unreachable at {POSTGRES_URL}: {exc}")
        return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "wayfare.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A migrated PostgreSQL database of this test run, or None when PostgreSQL is down."""
    admin = _postgres_admin()
    if admin is None:
        yield None
        return
    name = f"wayfare_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    database = Database(url)
    database.migrate()
    database.dispose()
    try:
        yield url
    finally:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[Database]:
    """A fresh, migrated, empty database: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "wayfare.db"
        shutil.copy(sqlite_template, path)
        database = Database(f"sqlite:///{path}")
    else:
        url = request.getfixturevalue("postgres_url")
        if url is None:
            pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}: PostgreSQL cases NOT RUN")
        database = Database(url)
        tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        with database.write() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def app_id(database: Database) -> int:
    """The id of a new application named ``acme`` in ``database``."""
    with database.write() as conn:
        return create_application(conn, "acme", NOW)
