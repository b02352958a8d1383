"""Applications (tenants): everything else in the database belongs to one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from wayfare.errors import Conflict, NotFound
from wayfare.store.common import checked_name
from wayfare.store.schema import applications


def create_application(conn: Connection, name: str, now: datetime) -> int:
    """Create the application ``name`` (1 to 200 characters); its id."""
    name = checked_name(name)
    if conn.execute(select(applications.c.id).where(applications.c.name == name)).first():
        raise Conflict(f"application {name!r} already exists")
    result = conn.execute(
        applications.insert().values(name=name, settings={}, created_at=now)
    ).inserted_primary_key
    assert result is not None
    return int(result[0])


def application_id(conn: Connection, name: str) -> int:
    """The id of the application ``name``; ``NotFound`` if there is none."""
    found = conn.execute(select(applications.c.id).where(applications.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"application {name!r} does not exist")
    return int(found)


def ensure_application(conn: Connection, name: str, now: datetime) -> int:
    """The id of the application ``name``, created if it does not exist yet."""
    found = conn.execute(select(applications.c.id).where(applications.c.name == name)).scalar()
    return int(found) if found is not None else create_application(conn, name, now)


def list_applications(conn: Connection) -> list[dict[str, Any]]:
    """Every application, oldest first."""
    rows = conn.execute(select(applications).order_by(applications.c.id)).mappings()
    return [dict(row) for row in rows]
