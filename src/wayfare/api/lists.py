"""``/v1/list``: contact lists, their members put by id or by CSV upload."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, Page, created, ok
from wayfare.api.uploads import UPLOAD_BODY, spool_upload
from wayfare.importing import import_list
from wayfare.store.lists import (
    ContactList,
    add_members,
    create_list,
    delete_list,
    get_list,
    list_lists,
    list_members,
)

router = APIRouter(prefix="/v1/list", tags=["contact lists"])

MAX_MEMBERS = 10_000
"""Members in one ``PUT /v1/list/{id}/customers`` (larger sets: the CSV upload)."""


class ListBody(Body):
    """A new contact list."""

    name: str = Field(min_length=1, max_length=200)


class MembersBody(Body):
    """Members to put in a list: customer ids, or ``{customerId, contextValues}`` objects."""

    customers: list[str | dict[str, Any]] = Field(max_length=MAX_MEMBERS)


def _list(found: ContactList) -> dict[str, Any]:
    return {
        "id": found.id,
        "name": found.name,
        "members": found.members,
        "createdAt": found.created_at,
    }


@router.post("", status_code=201)
def create(body: ListBody, caller: Auth, database: Db) -> Json:
    """Create an empty contact list."""
    with database.write() as conn:
        found = create_list(conn, caller.application_id, body.name, utcnow())
    return created(_list(found))


@router.get("")
def index(caller: Auth, database: Db, page: Page) -> Json:
    """The contact lists, oldest first, with their member counts."""
    with database.read() as conn:
        found = list_lists(conn, caller.application_id)
    return ok([_list(f) for f in found[page.offset : page.offset + page.limit]], count=len(found))


@router.get("/{list_id}")
def show(list_id: int, caller: Auth, database: Db, page: Page) -> Json:
    """A contact list and a page of its members (by customer id)."""
    with database.read() as conn:
        found = get_list(conn, caller.application_id, list_id)
        members = list_members(
            conn, caller.application_id, list_id, limit=page.limit, offset=page.offset
        )
    data = {
        **_list(found),
        "customers": [{"customerId": m.customer_id, "contextValues": m.context} for m in members],
    }
    return ok(data, count=found.members)


@router.put("/{list_id}/customers")
def put_members(list_id: int, body: MembersBody, caller: Auth, database: Db) -> Json:
    """Add members (a member already in the list gets the new context values)."""
    with database.write() as conn:
        result = add_members(conn, caller.application_id, list_id, body.customers, utcnow())
    return ok(
        {
            "added": result.added,
            "updated": result.updated,
            "customersCreated": result.customers_created,
        }
    )


@router.post("/{list_id}/csv", openapi_extra=UPLOAD_BODY)
async def upload(
    list_id: int,
    request: Request,
    caller: Auth,
    database: Db,
    ignoreErrors: bool = Query(False, description="Store the good rows, report the bad ones."),
) -> Json:
    """Add members from a CSV upload: a ``customerId`` column, the others context values."""
    with database.read() as conn:  # before reading a large upload
        get_list(conn, caller.application_id, list_id)
    stream = await spool_upload(request)
    try:
        report = await run_in_threadpool(
            import_list,
            database,
            caller.application_id,
            list_id,
            stream,
            utcnow(),
            ignore_errors=ignoreErrors,
        )
    finally:
        stream.close()
    return ok(report.to_dict())


@router.delete("/{list_id}")
def delete(list_id: int, caller: Auth, database: Db) -> Json:
    """Delete a contact list (its customers stay)."""
    with database.write() as conn:
        delete_list(conn, caller.application_id, list_id)
    return ok({"id": list_id})
