"""Stored journeys: drafts and their edits, validation against the catalog, activation, clone.

Every function takes the caller's ``Connection`` and is scoped by ``application_id`` (another
application's journey is ``NotFound``). Edits are optimistic: each write is one ``UPDATE ... WHERE
version = :v``, so of two concurrent edits of the same version exactly one wins and the other gets
``Conflict``. Which change is allowed in which status is ``wayfare.model.lifecycle``'s table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import Connection, RowMapping, func, or_, select
from sqlalchemy.exc import IntegrityError

from wayfare.errors import Conflict, InvalidInput, JourneyInvalid, NotFound, Problem
from wayfare.model.journey import DEFAULT_RECHECK_EVERY
from wayfare.model.lifecycle import Action, JourneyStatus, transition
from wayfare.model.states import raw_state_id
from wayfare.model.validation import ValidationReport, validate_journey
from wayfare.store.catalog import load_catalog
from wayfare.store.common import NAME_MAX, SURROGATE, Page, plain_json
from wayfare.store.schema import enrollments, journeys

DEACTIVATED_REASON = "journey deactivated"
"""The ``end_reason`` of enrollments ended by deactivation."""


@dataclass(frozen=True, slots=True)
class StoredJourney:
    """A journey as stored: its document (name, states, settings) and its lifecycle."""

    id: int
    application_id: int
    name: str
    status: JourneyStatus
    version: int
    states: list[Any]
    settings: dict[str, Any]
    cloned_from: int | None
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None
    deactivated_at: datetime | None

    def document(self) -> dict[str, Any]:
        """The journey document ``{name, states, settings}``, as validation and export take it."""
        return {"name": self.name, "states": self.states, "settings": self.settings}


@dataclass(frozen=True, slots=True)
class Deactivation:
    """What deactivation did: the journey as it is now, and how many enrollments it ended."""

    journey: StoredJourney
    enrollments_ended: int


# ---------------------------------------------------------------------------------------------
# Reading


def get_journey(conn: Connection, application_id: int, journey_id: int) -> StoredJourney:
    """The journey ``journey_id`` of the application; ``NotFound`` if it has none such."""
    row = (
        conn.execute(
            select(journeys).where(
                journeys.c.id == journey_id, journeys.c.application_id == application_id
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"journey {journey_id} does not exist")
    return _stored(row)


def list_journeys(
    conn: Connection,
    application_id: int,
    *,
    limit: int = 50,
    page: int = 0,
    status: JourneyStatus | None = None,
) -> Page[StoredJourney]:
    """The application's journeys, newest first, ``limit`` per page (``page`` counts from 0)."""
    if limit < 1 or page < 0:
        raise InvalidInput("limit must be at least 1 and page at least 0")
    scope = [journeys.c.application_id == application_id]
    if status is not None:
        scope.append(journeys.c.status == JourneyStatus(status).value)
    count = conn.execute(select(func.count()).select_from(journeys).where(*scope)).scalar_one()
    rows = conn.execute(
        select(journeys)
        .where(*scope)
        .order_by(journeys.c.id.desc())
        .limit(limit)
        .offset(page * limit)
    ).mappings()
    return Page([_stored(row) for row in rows], int(count))


def journey_names(conn: Connection, application_id: int, prefixes: Sequence[str]) -> set[str]:
    """The application's journey names that start with one of ``prefixes`` (case counts)."""
    wanted = [journeys.c.name.startswith(prefix, autoescape=True) for prefix in prefixes]
    if not wanted:
        return set()
    query = select(journeys.c.name).where(journeys.c.application_id == application_id, or_(*wanted))
    found = conn.execute(query).scalars()  # SQLite's LIKE ignores case: checked again here
    return {name for name in found if name.startswith(tuple(prefixes))}


@dataclass(frozen=True, slots=True)
class JourneyRef:
    """A journey that mentions something: its id, name and status."""

    id: int
    name: str
    status: str


def journeys_using(
    conn: Connection, application_id: int, key: str, ids: Iterable[int], *, active: bool = False
) -> dict[int, list[JourneyRef]]:
    """For each of ``ids``, the journeys whose states mention it under ``key``, by journey id.

    ``key`` is ``campaignId`` (message states, push clicks, reminders) or ``segmentIds``;
    ``active``: only the active journeys. Every id of ``ids`` is a key (with no journeys).
    """
    found: dict[int, list[JourneyRef]] = {ref_id: [] for ref_id in ids}
    query = (
        select(journeys.c.id, journeys.c.name, journeys.c.status, journeys.c.states)
        .where(journeys.c.application_id == application_id)
        .order_by(journeys.c.id)
    )
    if active:
        query = query.where(journeys.c.status == JourneyStatus.ACTIVE.value)
    for row in conn.execute(query):
        for ref_id in set(json_references(row.states, key)) & found.keys():
            found[ref_id].append(JourneyRef(int(row.id), str(row.name), str(row.status)))
    return found


def active_journeys_using(
    conn: Connection, application_id: int, key: str, ref_id: int
) -> list[tuple[int, str]]:
    """The active journeys (id, name) whose states mention ``ref_id`` under ``key``."""
    return [
        (j.id, j.name)
        for j in journeys_using(conn, application_id, key, [ref_id], active=True)[ref_id]
    ]


def json_references(value: Any, key: str) -> Iterator[int]:
    """Every integer id under ``key`` anywhere in ``value`` (an id or a list of ids)."""
    if isinstance(value, dict):
        for k, item in value.items():
            if k == key:
                for ref in item if isinstance(item, list) else [item]:
                    if isinstance(ref, int) and not isinstance(ref, bool):
                        yield ref
            else:
                yield from json_references(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from json_references(item, key)


# ---------------------------------------------------------------------------------------------
# Drafts and their edits


def create_journey(
    conn: Connection, application_id: int, document: Mapping[str, Any], now: datetime
) -> int:
    """Store ``document`` as a new draft; its id.

    A draft may be half done (it is validated on check and activation), but it must be shaped like
    a journey: ``name`` a non-empty string, ``states`` a list, ``settings`` an object if present.
    A name already used in the application is a ``Conflict``.
    """
    name, states, settings = _shape(document, partial=False)
    assert name is not None and states is not None
    _check_name_free(conn, application_id, name)
    return _insert(
        conn,
        application_id,
        name=name,
        states=states,
        settings=settings if settings is not None else {},
        cloned_from=None,
        now=now,
    )


def update_journey(
    conn: Connection,
    application_id: int,
    journey_id: int,
    document: Mapping[str, Any],
    now: datetime,
    *,
    expected_version: int | None = None,
) -> int:
    """Replace the draft's ``name``, ``states`` and/or ``settings`` (those given); its new version.

    Only drafts can be edited. With ``expected_version`` the edit applies only to that version
    (else ``Conflict``: someone else saved in between); without it, to the version read here.
    """
    name, states, settings = _shape(document, partial=True)
    current = _editable(conn, application_id, journey_id, expected_version)
    values: dict[str, Any] = {}
    if name is not None and name != current.name:
        _check_name_free(conn, application_id, name)
        values["name"] = name
    if states is not None:
        values["states"] = states
    if settings is not None:
        values["settings"] = settings
    if not values:  # nothing given: nothing to save
        return current.version
    return _write(conn, current, values, now)


def add_state(
    conn: Connection,
    application_id: int,
    journey_id: int,
    state: Mapping[str, Any],
    now: datetime,
    *,
    expected_version: int | None = None,
) -> int:
    """Add ``state`` to the draft; the new state's id (one more than the largest when absent)."""
    new = plain_json(state, "state")
    if not isinstance(new, dict):
        raise InvalidInput(problems=[Problem("state", "must be an object", "type")])
    current = _editable(conn, application_id, journey_id, expected_version)
    ids = [sid for sid in (raw_state_id(s) for s in current.states) if sid is not None]
    if "id" not in new or new["id"] is None:
        new = {"id": max(ids, default=0) + 1, **{k: v for k, v in new.items() if k != "id"}}
    state_id = new["id"]
    if isinstance(state_id, bool) or not isinstance(state_id, int) or state_id < 1:
        raise InvalidInput(problems=[Problem("state.id", "must be a positive integer", "type")])
    if state_id in ids:
        raise Conflict(f"journey {journey_id} already has a state {state_id}")
    _write(conn, current, {"states": [*current.states, new]}, now)
    return state_id


def replace_state(
    conn: Connection,
    application_id: int,
    journey_id: int,
    state_id: int,
    state: Mapping[str, Any],
    now: datetime,
    *,
    expected_version: int | None = None,
) -> int:
    """Replace the draft's state ``state_id`` with ``state`` (``params`` whole); the new version.

    ``state.id``, when given, must be ``state_id``; ``state.type``, when absent, stays as it was.
    """
    new = plain_json(state, "state")
    if not isinstance(new, dict):
        raise InvalidInput(problems=[Problem("state", "must be an object", "type")])
    if new.get("id", state_id) != state_id:
        raise InvalidInput(
            problems=[Problem("state.id", f"must be {state_id}, the state replaced", "mismatch")]
        )
    current = _editable(conn, application_id, journey_id, expected_version)
    index = _state_index(current, state_id)
    old = current.states[index]
    replacement = {
        "id": state_id,
        "type": new.get("type", old.get("type")),
        "params": new.get("params", {}),
        **{k: v for k, v in new.items() if k not in ("id", "type", "params")},
    }
    states = list(current.states)
    states[index] = replacement
    return _write(conn, current, {"states": states}, now)


def remove_state(
    conn: Connection,
    application_id: int,
    journey_id: int,
    state_id: int,
    now: datetime,
    *,
    expected_version: int | None = None,
) -> int:
    """Remove the draft's state ``state_id``; the new version.

    ``forward`` references to it are left for validation to report (a draft may be half done).
    """
    current = _editable(conn, application_id, journey_id, expected_version)
    index = _state_index(current, state_id)
    states = [s for i, s in enumerate(current.states) if i != index]
    return _write(conn, current, {"states": states}, now)


# ---------------------------------------------------------------------------------------------
# Validation and the lifecycle


def check_journey(conn: Connection, application_id: int, journey_id: int) -> ValidationReport:
    """Validate the stored journey, its references checked against the application's catalog."""
    return validate_document(
        conn, application_id, get_journey(conn, application_id, journey_id).document()
    )


def activate_journey(
    conn: Connection,
    application_id: int,
    journey_id: int,
    now: datetime,
    *,
    reentry: bool,
    max_entries: int | None,
    recheck_every: str | None,
) -> StoredJourney:
    """Validate the draft with the activation options and make it ``ACTIVE``; the journey after.

    The options are stored in ``settings`` (``reentry``, ``maxEntries``, ``recheckEvery``, the last
    defaulting to ``PT10M``). Any problem raises ``JourneyInvalid`` carrying every problem, and
    nothing is changed.
    """
    current = get_journey(conn, application_id, journey_id)
    transition(current.status, Action.ACTIVATE, journey_id=journey_id)
    settings = {
        **current.settings,
        "reentry": reentry,
        "maxEntries": max_entries,
        "recheckEvery": str(DEFAULT_RECHECK_EVERY) if recheck_every is None else recheck_every,
    }
    problems = validate_document(
        conn, application_id, {**current.document(), "settings": settings}
    ).problems
    if problems:
        raise JourneyInvalid(
            f"journey {journey_id} cannot be activated: {problems[0]}"
            + (f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""),
            problems=problems,
        )
    _write(
        conn,
        current,
        {"settings": settings, "status": JourneyStatus.ACTIVE.value, "activated_at": now},
        now,
        action=Action.ACTIVATE,
        require=JourneyStatus.DRAFT,
    )
    return get_journey(conn, application_id, journey_id)


def deactivate_journey(
    conn: Connection, application_id: int, journey_id: int, now: datetime
) -> Deactivation:
    """Deactivate the active journey for good and end its waiting and ready enrollments.

    Both happen in the caller's transaction: the enrollments become ``exited`` with the end reason
    ``journey deactivated`` in one set-based update.
    """
    current = get_journey(conn, application_id, journey_id)
    transition(current.status, Action.DEACTIVATE, journey_id=journey_id)
    _write(
        conn,
        current,
        {"status": JourneyStatus.DEACTIVATED.value, "deactivated_at": now},
        now,
        action=Action.DEACTIVATE,
        require=JourneyStatus.ACTIVE,
        bump=False,
    )
    ended = conn.execute(
        enrollments.update()
        .where(
            enrollments.c.journey_id == journey_id,
            enrollments.c.application_id == application_id,
            enrollments.c.status.in_(("waiting", "ready")),
        )
        .values(
            status="exited",
            end_reason=DEACTIVATED_REASON,
            ended_at=now,
            updated_at=now,
            wake_at=None,
            wait_event=None,
        )
    ).rowcount
    return Deactivation(get_journey(conn, application_id, journey_id), int(ended))


def clone_journey(
    conn: Connection,
    application_id: int,
    journey_id: int,
    now: datetime,
    *,
    name: str | None = None,
) -> int:
    """Copy the journey (in any status) into a new draft; the draft's id.

    The draft is named ``name``, or by default ``"<name> (copy)"``, ``"<name> (copy 2)"``, ... the
    first one free. It remembers its source in ``cloned_from``.
    """
    source = get_journey(conn, application_id, journey_id)
    transition(source.status, Action.CLONE, journey_id=journey_id)
    if name is None:
        new_name = _free_copy_name(conn, application_id, source.name)
    else:
        given, _, _ = _shape({"name": name}, partial=True)
        assert given is not None
        new_name = given
        _check_name_free(conn, application_id, new_name)
    return _insert(
        conn,
        application_id,
        name=new_name,
        states=source.states,
        settings=source.settings,
        cloned_from=source.id,
        now=now,
    )


def delete_journey(conn: Connection, application_id: int, journey_id: int) -> None:
    """Delete a draft or a deactivated journey, with its enrollments and statistics."""
    current = get_journey(conn, application_id, journey_id)
    transition(current.status, Action.DELETE, journey_id=journey_id)
    deleted = conn.execute(
        journeys.delete().where(
            journeys.c.id == journey_id,
            journeys.c.application_id == application_id,
            journeys.c.status != JourneyStatus.ACTIVE.value,
        )
    ).rowcount
    if deleted != 1:  # activated in between
        _explain_lost_write(conn, current, Action.DELETE)


# ---------------------------------------------------------------------------------------------
# Helpers


def validate_document(
    conn: Connection, application_id: int, document: Mapping[str, Any]
) -> ValidationReport:
    """Validate a journey document, its references checked against the application's catalog.

    What ``check_journey`` and activation do for a stored journey; the builder uses it on a
    journey with an edit not stored yet.
    """
    return validate_journey(document, load_catalog(conn, application_id))


def _shape(
    document: Mapping[str, Any], *, partial: bool
) -> tuple[str | None, list[Any] | None, dict[str, Any] | None]:
    """The name, states and settings of ``document``, checked to be shaped like a journey."""
    if not isinstance(document, Mapping):
        raise InvalidInput(problems=[Problem("", "a journey must be an object", "type")])
    problems: list[Problem] = []
    name = document.get("name")
    if name is not None or not partial:
        if not isinstance(name, str) or not name.strip():
            problems.append(Problem("name", "must be a non-empty string", "required"))
        elif len(name) > NAME_MAX:
            problems.append(Problem("name", f"must be at most {NAME_MAX} characters", "too_long"))
        elif "\x00" in name or (not name.isascii() and SURROGATE.search(name)):
            message = "cannot contain NUL characters or unpaired surrogates"
            problems.append(Problem("name", message, "type"))
    states = document.get("states")
    if (states is not None or not partial) and not isinstance(states, list):
        problems.append(Problem("states", "must be a list of states", "type"))
    settings = document.get("settings")
    if settings is not None and not isinstance(settings, Mapping):
        problems.append(Problem("settings", "must be an object", "type"))
    if problems:
        raise InvalidInput(problems=problems)
    return (
        name.strip() if isinstance(name, str) else None,
        plain_json(states, "states") if states is not None else None,
        plain_json(settings, "settings") if settings is not None else None,
    )


def _state_index(journey: StoredJourney, state_id: int) -> int:
    for index, state in enumerate(journey.states):
        if raw_state_id(state) == state_id:
            return index
    raise NotFound(f"journey {journey.id} has no state {state_id}")


def _editable(
    conn: Connection, application_id: int, journey_id: int, expected_version: int | None
) -> StoredJourney:
    """The journey, checked to be an editable draft at ``expected_version`` (when given)."""
    current = get_journey(conn, application_id, journey_id)
    transition(current.status, Action.EDIT, journey_id=journey_id)
    if expected_version is not None and expected_version != current.version:
        raise Conflict(_stale(journey_id, expected_version, current.version))
    return current


def _stale(journey_id: int, expected: int, actual: int) -> str:
    return (
        f"journey {journey_id} was changed meanwhile: you edited version {expected}, "
        f"it is now at version {actual}; reload it and edit again"
    )


def _write(
    conn: Connection,
    current: StoredJourney,
    values: Mapping[str, Any],
    now: datetime,
    *,
    action: Action = Action.EDIT,
    require: JourneyStatus = JourneyStatus.DRAFT,
    bump: bool = True,
) -> int:
    """Apply ``values`` if the row still has ``current``'s version and status; the new version."""
    version = current.version + 1 if bump else current.version
    try:
        written = conn.execute(
            journeys.update()
            .where(
                journeys.c.id == current.id,
                journeys.c.application_id == current.application_id,
                journeys.c.version == current.version,
                journeys.c.status == require.value,
            )
            .values(**values, version=version, updated_at=now)
        ).rowcount
    except IntegrityError as exc:  # a name taken by a concurrent write
        raise Conflict(f"a journey named {values.get('name')!r} already exists") from exc
    if written != 1:
        _explain_lost_write(conn, current, action)
    return version


def _explain_lost_write(conn: Connection, before: StoredJourney, action: Action) -> NoReturn:
    """Raise the reason a conditional write touched no row: gone, moved on, or changed meanwhile."""
    now = get_journey(conn, before.application_id, before.id)
    if now.status != before.status:
        transition(now.status, action, journey_id=before.id)
    raise Conflict(_stale(before.id, before.version, now.version))


def _check_name_free(conn: Connection, application_id: int, name: str) -> None:
    taken = conn.execute(
        select(journeys.c.id).where(
            journeys.c.application_id == application_id, journeys.c.name == name
        )
    ).first()
    if taken is not None:
        raise Conflict(f"a journey named {name!r} already exists (journey {taken.id})")


def _free_copy_name(conn: Connection, application_id: int, name: str) -> str:
    """The first of ``<name> (copy)``, ``<name> (copy 2)``, ... that no journey has."""
    base = name[: NAME_MAX - len(" (copy 999999)")].rstrip()
    prefix = f"{base} (copy"
    taken = set(
        conn.execute(
            select(journeys.c.name).where(
                journeys.c.application_id == application_id,
                journeys.c.name.startswith(prefix, autoescape=True),
            )
        ).scalars()
    )
    candidate, n = f"{base} (copy)", 1
    while candidate in taken:
        n += 1
        candidate = f"{base} (copy {n})"
    return candidate


def _insert(
    conn: Connection,
    application_id: int,
    *,
    name: str,
    states: list[Any],
    settings: dict[str, Any],
    cloned_from: int | None,
    now: datetime,
) -> int:
    try:
        result = conn.execute(
            journeys.insert().values(
                application_id=application_id,
                name=name,
                status=JourneyStatus.DRAFT.value,
                version=1,
                states=states,
                settings=settings,
                cloned_from=cloned_from,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key
    except IntegrityError as exc:  # the same name saved by a concurrent transaction
        raise Conflict(f"a journey named {name!r} already exists") from exc
    assert result is not None
    return int(result[0])


def _stored(row: RowMapping) -> StoredJourney:
    return StoredJourney(
        id=int(row["id"]),
        application_id=int(row["application_id"]),
        name=row["name"],
        status=JourneyStatus(row["status"]),
        version=int(row["version"]),
        states=list(row["states"]),
        settings=dict(row["settings"]),
        cloned_from=row["cloned_from"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        activated_at=row["activated_at"],
        deactivated_at=row["deactivated_at"],
    )
