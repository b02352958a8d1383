"""``/v1/event``: event types, and events one at a time or in batches, idempotent by ``eventId``.

Event bodies are parsed with orjson and checked by ``wayfare.model.customers.parse_event`` alone
(no pydantic model): ingestion speed matters here. A single event is written by the app's group
writer (``api.event_groups``) with the other single events of the moment, in one transaction,
and answered once that commits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from wayfare.api.auth import SCHEME, Auth, Db, authenticate, utcnow
from wayfare.api.envelope import Body, Json, created, ok
from wayfare.api.event_groups import EventGroups
from wayfare.api.metrics import count_events
from wayfare.errors import InvalidInput, Problem
from wayfare.model.customers import EventRecord, parse_event
from wayfare.store.common import check_plain_json
from wayfare.store.database import Database
from wayfare.store.events import (
    EventType,
    RecordResult,
    define_event_type,
    list_event_types,
    record_events,
)

router = APIRouter(prefix="/v1/event", tags=["events"])

MAX_BATCH = 10_000
"""Events in one ``POST /v1/event/batch``."""


class EventTypeBody(Body):
    """A new event type."""

    code: str = Field(description="Letters, digits and _ . : -, e.g. cart.add.")
    name: str
    retentionDays: int | None = Field(None, ge=1)


class EventBody(Body):
    """One event; ``eventId`` makes it idempotent (a new one is made when absent)."""

    eventId: str | None = Field(None, max_length=64)
    eventCode: str
    customerId: str
    date: str | None = Field(None, description="ISO 8601; now when absent.")
    customData: dict[str, Any] | None = None


class BatchBody(Body):
    """Up to 10,000 events, stored all or nothing."""

    events: list[dict[str, Any]] = Field(max_length=MAX_BATCH)


def _type(found: EventType) -> dict[str, Any]:
    return {
        "code": found.code,
        "name": found.name,
        "retentionDays": found.retention_days,
        "enabled": found.enabled,
        "createdAt": found.created_at,
    }


def _recorded(result: RecordResult) -> dict[str, Any]:
    count_events(result.recorded)
    return {
        "recorded": result.recorded,
        "duplicates": result.duplicates,
        "customersCreated": result.customers_created,
    }


@router.post("/type", status_code=201)
def create_type(body: EventTypeBody, caller: Auth, database: Db) -> Json:
    """Define an event type."""
    with database.write() as conn:
        found = define_event_type(
            conn, caller.application_id, body.code, body.name, utcnow(), body.retentionDays
        )
    return created(_type(found))


@router.get("/type")
def types(caller: Auth, database: Db) -> Json:
    """The application's event types, by code (built-in message events not included)."""
    with database.read() as conn:
        found = list_event_types(conn, caller.application_id)
    return ok([_type(f) for f in found], count=len(found))


EVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": EventBody.model_json_schema()}},
    }
}
"""The single event's OpenAPI description (the body is read without a pydantic model)."""


@router.post(
    "",
    status_code=201,
    openapi_extra={**EVENT_BODY, "security": [{SCHEME: []}]},
    responses={200: {"description": "A duplicate: eventId already stored."}},
)
async def record(request: Request) -> Json:
    """Record one event (201; 200 when its ``eventId`` was already recorded).

    Concurrent requests are written together in one transaction (``api.event_groups``); the
    answer comes after the commit.
    """
    # authenticate called here, not as a dependency: FastAPI's dependency machinery was a
    # tenth of the server's time a request on this, the busiest endpoint
    caller = await authenticate(request, request.headers.get("authorization"))
    event = _event(await request.body(), utcnow())
    groups: EventGroups = request.app.state.event_groups
    outcome = await groups.record(caller.application_id, event)
    count_events(int(outcome.recorded))
    data = {
        "recorded": int(outcome.recorded),
        "duplicates": int(not outcome.recorded),
        "customersCreated": int(outcome.customer_created),
    }
    return created(data) if outcome.recorded else ok(data)


def _event(raw: bytes, now: datetime) -> EventRecord:
    r"""The event of a single-event body, checked but for its code; ``InvalidInput`` if bad.

    orjson refuses a lone surrogate escape (``"\ud800"``) that the standard library reads: the
    body is read again by the latter, so that the check names the field holding it.
    """
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            body = json.loads(raw)
        except ValueError:
            raise InvalidInput(
                problems=[Problem("body", "is not a JSON document", "invalid")]
            ) from None
    record, problems = parse_event(body, None, now, "")
    if record is None:
        raise InvalidInput(
            problems=[Problem(p.where.lstrip(".") or "body", p.message, p.code) for p in problems]
        )
    check_plain_json(record.custom_data, "customData")
    return record


BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": BatchBody.model_json_schema()}},
    }
}
"""The batch body's OpenAPI description (the body is read without a pydantic model)."""


@router.post("/batch", status_code=201, openapi_extra=BATCH_BODY)
async def record_batch(request: Request, caller: Auth, database: Db) -> Json:
    """Record up to 10,000 events: all or nothing; ``eventId``s already stored are skipped.

    The body is parsed with orjson and each event checked once, by ``parse_event`` (a pydantic
    model of 10,000 dicts cost a third of the ingestion).
    """
    events = _batch(await request.body())
    return await run_in_threadpool(_record_batch, caller.application_id, events, database)


def _batch(raw: bytes) -> list[Any]:
    """The ``events`` of a batch body; ``InvalidInput`` naming what is wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput(
            problems=[Problem("body", "is not a JSON document", "invalid")]
        ) from None
    if not isinstance(body, dict):
        raise InvalidInput(problems=[Problem("body", "expected an object", "type")])
    unknown = [Problem(key, "unknown key", "unknown_key") for key in body if key != "events"]
    if unknown:
        raise InvalidInput(problems=unknown)
    events = body.get("events")
    if not isinstance(events, list):
        raise InvalidInput(problems=[Problem("events", "expected a list of events", "type")])
    if len(events) > MAX_BATCH:
        raise InvalidInput(
            problems=[Problem("events", f"at most {MAX_BATCH:,} events a batch", "too_long")]
        )
    return events


def _record_batch(application_id: int, events: list[Any], database: Database) -> Json:
    with database.write() as conn:
        result = record_events(conn, application_id, events, utcnow())
    return created(_recorded(result))
