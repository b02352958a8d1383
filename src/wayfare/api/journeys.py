"""``/v1/journey``: drafts and their states, the validation report, start, stop, clone, delete.

The journey document is checked by the store (shape) and by ``wayfare.model.validation`` (on
check and start), whose problems name the state id and field path.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, Page, created, ok
from wayfare.engine.runner import start_journey, stop_journey
from wayfare.model.lifecycle import JourneyStatus
from wayfare.store.journeys import (
    StoredJourney,
    add_state,
    check_journey,
    clone_journey,
    create_journey,
    delete_journey,
    get_journey,
    list_journeys,
    remove_state,
    replace_state,
    update_journey,
)

router = APIRouter(prefix="/v1/journey", tags=["journeys"])


class JourneyBody(BaseModel):
    """A journey document (DESIGN.md §2); other keys of an exported journey are ignored."""

    model_config = ConfigDict(extra="ignore")

    name: str
    states: list[Any]
    settings: dict[str, Any] | None = None


class JourneyChanges(Body):
    """What to replace in a draft (the keys given); ``version`` guards against lost updates."""

    name: str | None = None
    states: list[Any] | None = None
    settings: dict[str, Any] | None = None
    version: int | None = Field(None, description="The version edited; 409 if it moved on.")


class StateBody(BaseModel):
    """A state ``{id?, type, params}``; ``params`` are replaced whole."""

    model_config = ConfigDict(extra="allow")

    id: int | None = None
    type: str | None = None
    params: dict[str, Any] | None = None


class CloneBody(Body):
    """The clone's name (by default ``<name> (copy)``)."""

    name: str | None = None


class StartBody(Body):
    """The activation options."""

    reentry: bool = False
    maxEntries: int | None = Field(None, ge=1)
    recheckEvery: str | None = Field(None, description="ISO 8601 duration; PT10M by default.")


def journey_json(journey: StoredJourney) -> dict[str, Any]:
    """A stored journey as the API shows it."""
    return {
        "id": journey.id,
        "name": journey.name,
        "status": journey.status.value,
        "version": journey.version,
        "states": journey.states,
        "settings": journey.settings,
        "clonedFrom": journey.cloned_from,
        "createdAt": journey.created_at,
        "updatedAt": journey.updated_at,
        "activatedAt": journey.activated_at,
        "deactivatedAt": journey.deactivated_at,
    }


def _state_body(body: StateBody) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


@router.post("", status_code=201)
def create(body: JourneyBody, caller: Auth, database: Db) -> Json:
    """Store a new draft (it may be half done: check it with ``GET …/check``)."""
    with database.write() as conn:
        journey_id = create_journey(
            conn, caller.application_id, body.model_dump(exclude_none=True), utcnow()
        )
        journey = get_journey(conn, caller.application_id, journey_id)
    return created(journey_json(journey))


@router.get("")
def index(
    caller: Auth,
    database: Db,
    page: Page,
    status: Literal["DRAFT", "ACTIVE", "DEACTIVATED"] | None = Query(None),
) -> Json:
    """The journeys, newest first."""
    with database.read() as conn:
        found = list_journeys(
            conn,
            caller.application_id,
            limit=page.limit,
            page=page.page,
            status=None if status is None else JourneyStatus(status),
        )
    return ok([journey_json(j) for j in found.items], count=found.count)


@router.get("/{journey_id}")
def show(journey_id: int, caller: Auth, database: Db) -> Json:
    """One journey."""
    with database.read() as conn:
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok(journey_json(journey))


@router.put("/{journey_id}")
def update(journey_id: int, body: JourneyChanges, caller: Auth, database: Db) -> Json:
    """Replace a draft's name, states and/or settings (only drafts can be edited)."""
    document = body.model_dump(exclude_unset=True, exclude={"version"})
    with database.write() as conn:
        update_journey(
            conn,
            caller.application_id,
            journey_id,
            document,
            utcnow(),
            expected_version=body.version,
        )
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok(journey_json(journey))


@router.delete("/{journey_id}")
def delete(journey_id: int, caller: Auth, database: Db) -> Json:
    """Delete a draft or a deactivated journey (an active one must be stopped first)."""
    with database.write() as conn:
        delete_journey(conn, caller.application_id, journey_id)
    return ok({"id": journey_id})


@router.post("/{journey_id}/clone", status_code=201)
def clone(journey_id: int, caller: Auth, database: Db, body: CloneBody | None = None) -> Json:
    """Copy a journey (in any status) into a new draft."""
    with database.write() as conn:
        new_id = clone_journey(
            conn, caller.application_id, journey_id, utcnow(), name=body.name if body else None
        )
        journey = get_journey(conn, caller.application_id, new_id)
    return created(journey_json(journey))


@router.get("/{journey_id}/check")
def check(journey_id: int, caller: Auth, database: Db) -> Json:
    """The validation report: every problem with its state id and field path."""
    with database.read() as conn:
        report = check_journey(conn, caller.application_id, journey_id)
    return ok(report.to_json())


@router.put("/{journey_id}/start")
def start(journey_id: int, caller: Auth, database: Db, body: StartBody | None = None) -> Json:
    """Validate the draft with the activation options and make it ACTIVE."""
    options = body or StartBody()
    with database.write() as conn:
        entered = start_journey(
            conn,
            caller.application_id,
            journey_id,
            utcnow(),
            reentry=options.reentry,
            max_entries=options.maxEntries,
            recheck_every=options.recheckEvery,
        )
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok({**journey_json(journey), "entered": entered})


@router.put("/{journey_id}/stop")
def stop(journey_id: int, caller: Auth, database: Db) -> Json:
    """Deactivate the journey for good: no new entries, waiting enrollments end."""
    with database.write() as conn:
        ended = stop_journey(conn, caller.application_id, journey_id, utcnow())
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok({**journey_json(journey), "enrollmentsEnded": ended})


@router.post("/{journey_id}/state", status_code=201)
def create_state(journey_id: int, body: StateBody, caller: Auth, database: Db) -> Json:
    """Add a state to the draft (its id: the one given, else one more than the largest)."""
    with database.write() as conn:
        state_id = add_state(conn, caller.application_id, journey_id, _state_body(body), utcnow())
        journey = get_journey(conn, caller.application_id, journey_id)
    return created({"stateId": state_id, "journey": journey_json(journey)})


@router.put("/{journey_id}/state/{state_id}")
def put_state(journey_id: int, state_id: int, body: StateBody, caller: Auth, database: Db) -> Json:
    """Replace a state of the draft (``params`` whole; ``type`` kept when absent)."""
    with database.write() as conn:
        replace_state(
            conn, caller.application_id, journey_id, state_id, _state_body(body), utcnow()
        )
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok(journey_json(journey))


@router.delete("/{journey_id}/state/{state_id}")
def delete_state(journey_id: int, state_id: int, caller: Auth, database: Db) -> Json:
    """Remove a state from the draft (``forward``s to it are left for the check to report)."""
    with database.write() as conn:
        remove_state(conn, caller.application_id, journey_id, state_id, utcnow())
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok(journey_json(journey))
