"""Stored segments: named, saved conditions (``cond``) that ``IN_SEGMENT`` and ``segmentIds`` use.

A segment's condition is checked when it is saved, against the application's customer fields and
segments; it is stored as given. A segment in use (by an active journey or another segment)
cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, func, select
from sqlalchemy.exc import IntegrityError

from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
from wayfare.model.conditions import parse_condition, referenced_segments
from wayfare.store.common import NAME_MAX, Page, plain_json
from wayfare.store.customers import field_types
from wayfare.store.journeys import active_journeys_using, json_references
from wayfare.store.schema import segments


@dataclass(frozen=True, slots=True)
class StoredSegment:
    """A segment as stored."""

    id: int
    application_id: int
    name: str
    cond: dict[str, Any]
    created_at: datetime


def create_segment(
    conn: Connection, application_id: int, name: str, cond: Mapping[str, Any], now: datetime
) -> int:
    """Store a new segment; its id.

    ``cond`` must parse, name only the application's customer fields and existing segments;
    every problem is reported at once (``InvalidInput``). A name already used is a ``Conflict``.
    """
    problems: list[Problem] = []
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("name", "must be a non-empty string", "required"))
    elif len(name.strip()) > NAME_MAX:
        problems.append(Problem("name", f"must be at most {NAME_MAX} characters", "too_long"))
    problems.extend(_cond_problems(conn, application_id, cond))
    if problems:
        raise InvalidInput(problems=problems)
    name = name.strip()
    taken = conn.execute(
        select(segments.c.id).where(
            segments.c.application_id == application_id, segments.c.name == name
        )
    ).first()
    if taken is not None:
        raise Conflict(f"a segment named {name!r} already exists (segment {taken.id})")
    try:
        result = conn.execute(
            segments.insert().values(
                application_id=application_id,
                name=name,
                cond=plain_json(cond, "cond"),
                created_at=now,
            )
        ).inserted_primary_key
    except IntegrityError as exc:  # the same name saved by a concurrent transaction
        raise Conflict(f"a segment named {name!r} already exists") from exc
    assert result is not None
    return int(result[0])


def get_segment(conn: Connection, application_id: int, segment_id: int) -> StoredSegment:
    """The segment ``segment_id`` of the application; ``NotFound`` if it has none such."""
    row = (
        conn.execute(
            select(segments).where(
                segments.c.id == segment_id, segments.c.application_id == application_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"segment {segment_id} does not exist")
    return _stored(row)


def list_segments(
    conn: Connection, application_id: int, *, limit: int = 50, page: int = 0
) -> Page[StoredSegment]:
    """The application's segments, by name, ``limit`` per page (``page`` counts from 0)."""
    if limit < 1 or page < 0:
        raise InvalidInput("limit must be at least 1 and page at least 0")
    scope = segments.c.application_id == application_id
    count = conn.execute(select(func.count()).select_from(segments).where(scope)).scalar_one()
    rows = conn.execute(
        select(segments)
        .where(scope)
        .order_by(segments.c.name, segments.c.id)
        .limit(limit)
        .offset(page * limit)
    ).mappings()
    return Page([_stored(row) for row in rows], int(count))


def delete_segment(conn: Connection, application_id: int, segment_id: int) -> None:
    """Delete the segment; ``Conflict`` naming who uses it (an active journey, a segment)."""
    get_segment(conn, application_id, segment_id)
    users = [
        f"the active journey {jid} {name!r}"
        for jid, name in active_journeys_using(conn, application_id, "segmentIds", segment_id)
    ]
    rows = conn.execute(
        select(segments.c.id, segments.c.name, segments.c.cond).where(
            segments.c.application_id == application_id, segments.c.id != segment_id
        )
    )
    users.extend(
        f"segment {row.id} {row.name!r}"
        for row in rows
        if segment_id in set(json_references(row.cond, "segmentIds"))
    )
    if users:
        raise Conflict(f"segment {segment_id} is used by {', '.join(users)}: it cannot be deleted")
    conn.execute(
        segments.delete().where(
            segments.c.id == segment_id, segments.c.application_id == application_id
        )
    )


def _cond_problems(conn: Connection, application_id: int, cond: object) -> list[Problem]:
    if not isinstance(cond, Mapping):
        return [Problem("cond", "must be an object of conditions", "type")]
    tree, problems = parse_condition(
        plain_json(cond, "cond"), "cond", field_types(conn, application_id)
    )
    if tree is not None:
        wanted = referenced_segments(tree)
        if wanted:
            known = set(
                conn.execute(
                    select(segments.c.id).where(
                        segments.c.application_id == application_id, segments.c.id.in_(wanted)
                    )
                ).scalars()
            )
            problems.extend(
                Problem("cond.segmentIds", f"segment {sid} does not exist", "unknown_segment")
                for sid in sorted(wanted - known)
            )
    return problems


def _stored(row: RowMapping) -> StoredSegment:
    return StoredSegment(
        id=int(row["id"]),
        application_id=int(row["application_id"]),
        name=row["name"],
        cond=dict(row["cond"]),
        created_at=row["created_at"],
    )
