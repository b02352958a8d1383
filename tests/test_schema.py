import subprocess
import sys
import uuid
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from wayfare.store.applications import application_id, create_application
from wayfare.store.database import Database
from wayfare.store.schema import applications, metadata

from .conftest import NOW


def test_migrated_schema_equals_declared_schema(database: Database) -> None:
    dialect = database.engine.dialect.name

    def declared_here(item: Any, name: Any, kind: str, reflected: bool, other: Any) -> bool:
        """Whether ``item`` is made on this database (an index may be for one dialect only)."""
        only = getattr(item, "_ddl_if", None)
        return reflected or only is None or only.dialect in (None, dialect)

    with database.engine.connect() as conn:
        opts = {"compare_type": True, "include_object": declared_here}
        context = MigrationContext.configure(conn, opts=opts)
        assert compare_metadata(context, metadata) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'w.db'}")
    with database.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    database.dispose()


def test_a_failed_write_leaves_nothing_behind(database: Database) -> None:
    try:
        with database.write() as conn:
            create_application(conn, "half", NOW)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with database.read() as conn:
        assert conn.execute(select(applications.c.name)).all() == []


def test_application_ids_are_found_by_name(database: Database, app_id: int) -> None:
    with database.read() as conn:
        assert application_id(conn, "acme") == app_id


def test_processes_starting_together_migrate_one_at_a_time(postgres_url: str | None) -> None:
    if postgres_url is None:
        pytest.skip("PostgreSQL unreachable: PostgreSQL cases NOT RUN")
    admin_url = postgres_url.rsplit("/", 1)[0] + "/postgres"
    name = f"wayfare_race_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    code = (
        "import sys; from wayfare.store.database import Database; Database(sys.argv[1]).migrate()"
    )
    try:
        runs = [subprocess.Popen([sys.executable, "-c", code, url]) for _ in range(3)]
        assert [run.wait(timeout=60) for run in runs] == [0, 0, 0]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
