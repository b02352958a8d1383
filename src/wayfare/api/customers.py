"""``/v1/customer``: customer fields, customers one by one, in bulk and by CSV upload.

Bodies are checked twice: their shape by pydantic here, their values (addresses, field types)
by ``wayfare.model.customers``; either way a mistake is a 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, Page, created, ok
from wayfare.api.uploads import UPLOAD_BODY, spool_upload
from wayfare.errors import InvalidInput, Problem
from wayfare.importing import import_customers
from wayfare.model.customers import BODY_KEYS
from wayfare.store.customers import (
    FieldDefinition,
    UpsertResult,
    define_field,
    delete_customer,
    delete_field,
    get_customer,
    list_customers,
    list_fields,
    upsert_customers,
)

router = APIRouter(prefix="/v1/customer", tags=["customers"])

MAX_BULK = 10_000
"""Customers in one ``PUT /v1/customer/list``."""


class FieldBody(Body):
    """A customer field definition."""

    name: str = Field(description="Letters, digits and _, not starting with a digit.")
    type: str = Field(description="string, number, boolean, date or datetime.")


class PushTokenBody(Body):
    """A device's push token."""

    token: str
    platform: str | None = None


class CustomerChanges(Body):
    """What to set on a customer: a key left out keeps its value, a ``null`` clears it."""

    email: str | None = None
    phone: str | None = Field(None, description="E.164, e.g. +34600111222.")
    whatsapp: str | None = None
    telegramChatId: str | None = None
    timezone: str | None = Field(None, description="IANA name, e.g. Europe/Madrid.")
    language: str | None = None
    pushTokens: list[PushTokenBody] | None = None
    consent: dict[str, bool | None] | None = None
    fields: dict[str, Any] | None = Field(None, description="Field name → value (null removes).")


class CustomerBody(CustomerChanges):
    """A customer to create or update."""

    customerId: str


class BulkBody(Body):
    """Customers to create or update: ``{customerId, data: {field or attribute: value}}`` each."""

    customers: list[dict[str, Any]] = Field(max_length=MAX_BULK)


def _field(definition: FieldDefinition) -> dict[str, Any]:
    return {
        "name": definition.name,
        "type": definition.type.value,
        "createdAt": definition.created_at,
    }


def _rebased(problems: Sequence[Problem], old: str, new: str) -> list[Problem]:
    """``problems`` with the location prefix ``old`` replaced by ``new``."""
    rebased = []
    for problem in problems:
        where = problem.where
        if where == old or where.startswith(old + "."):
            where = (new + where[len(old) :]).lstrip(".") or "body"
        rebased.append(Problem(where, problem.message, problem.code))
    return rebased


def _upsert_one(conn: Any, application_id: int, body: Mapping[str, Any]) -> UpsertResult:
    try:
        return upsert_customers(conn, application_id, [body], utcnow())
    except InvalidInput as exc:
        raise InvalidInput(problems=_rebased(exc.problems, "customers[0]", "")) from None


def _result(result: UpsertResult) -> dict[str, Any]:
    return {
        "created": result.created,
        "updated": result.updated,
        "duplicates": result.duplicates,
        "errors": len(result.problems),
        "problems": [
            {"where": p.where, "message": p.message, "code": p.code} for p in result.problems
        ],
    }


# -- fields --------------------------------------------------------------------------------------


@router.post("/field", status_code=201)
def create_field(body: FieldBody, caller: Auth, database: Db) -> Json:
    """Define a customer field (again with the same type: no change)."""
    with database.write() as conn:
        definition = define_field(conn, caller.application_id, body.name, body.type, utcnow())
    return created(_field(definition))


@router.get("/field")
def fields(caller: Auth, database: Db) -> Json:
    """The customer fields, by name."""
    with database.read() as conn:
        found = list_fields(conn, caller.application_id)
    return ok([_field(f) for f in found], count=len(found))


@router.delete("/field/{name}")
def remove_field(name: str, caller: Auth, database: Db) -> Json:
    """Delete a customer field and its value on every customer."""
    with database.write() as conn:
        delete_field(conn, caller.application_id, name)
    return ok({"name": name})


# -- many customers ------------------------------------------------------------------------------


@router.put("/list")
def bulk(
    body: BulkBody,
    caller: Auth,
    database: Db,
    ignoreErrors: bool = Query(False, description="Store the good ones, report the bad ones."),
) -> Json:
    """Create or update many customers: all or nothing, unless ``ignoreErrors``."""
    records = []
    for item in body.customers:
        if "data" in item and isinstance(item.get("data"), Mapping):
            data = item["data"]
            record: dict[str, Any] = {
                "customerId": item.get("customerId"),
                **{k: v for k, v in data.items() if k in BODY_KEYS or k == "fields"},
            }
            record.setdefault("fields", {})
            extra = {k: v for k, v in data.items() if k not in BODY_KEYS and k != "fields"}
            record["fields"] = {**(record["fields"] or {}), **extra}
            record.update({k: v for k, v in item.items() if k not in ("customerId", "data")})
            records.append(record)
        else:
            records.append(item)
    with database.write() as conn:
        try:
            result = upsert_customers(
                conn, caller.application_id, records, utcnow(), ignore_errors=ignoreErrors
            )
        except InvalidInput as exc:
            raise InvalidInput(problems=_data_paths(exc.problems, body.customers)) from None
    result = UpsertResult(
        result.created,
        result.updated,
        result.duplicates,
        tuple(_data_paths(result.problems, body.customers)),
    )
    return ok(_result(result))


def _data_paths(problems: Sequence[Problem], items: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """Locations of ``{customerId, data}`` items as sent: ``customers[4].data.age``."""
    located = []
    for problem in problems:
        where = problem.where
        if where.startswith("customers[") and "]" in where:
            head, _, rest = where.partition("]")
            index = int(head[len("customers[") :])
            if index < len(items) and "data" in items[index] and rest.startswith("."):
                member = rest[1:]
                if member.startswith("fields."):
                    member = member[len("fields.") :]
                if member != "customerId" and not member.startswith("customerId."):
                    where = f"{head}].data.{member}"
        located.append(Problem(where, problem.message, problem.code))
    return located


@router.post("/csv", openapi_extra=UPLOAD_BODY)
async def upload(
    request: Request,
    caller: Auth,
    database: Db,
    ignoreErrors: bool = Query(False, description="Store the good rows, report the bad ones."),
) -> Json:
    """Import customers from a CSV upload (the customer CSV format), streamed."""
    stream = await spool_upload(request)
    try:
        report = await run_in_threadpool(
            import_customers,
            database,
            caller.application_id,
            stream,
            utcnow(),
            ignore_errors=ignoreErrors,
        )
    finally:
        stream.close()
    return ok(report.to_dict())


# -- one customer --------------------------------------------------------------------------------


@router.post("", status_code=201, responses={200: {"description": "Updated: the id existed."}})
def create_customer(body: CustomerBody, caller: Auth, database: Db) -> Json:
    """Create a customer, or update it if the id exists (201 when created, else 200)."""
    with database.write() as conn:
        result = _upsert_one(conn, caller.application_id, body.model_dump(exclude_unset=True))
        customer = get_customer(conn, caller.application_id, body.customerId)
    if result.created:
        return created(customer.to_dict())
    return ok(customer.to_dict())


@router.get("")
def customers(
    caller: Auth,
    database: Db,
    page: Page,
    q: str | None = Query(None, max_length=200, description="The id or email starts with it."),
) -> Json:
    """A page of customers by id."""
    with database.read() as conn:
        found, total = list_customers(
            conn, caller.application_id, limit=page.limit, offset=page.offset, q=q
        )
    return ok([c.to_dict() for c in found], count=total)


@router.get("/{customerId}")
def customer(customerId: str, caller: Auth, database: Db) -> Json:
    """One customer."""
    with database.read() as conn:
        found = get_customer(conn, caller.application_id, customerId)
    return ok(found.to_dict())


@router.put("/{customerId}")
def update_customer(customerId: str, body: CustomerChanges, caller: Auth, database: Db) -> Json:
    """Change some of a customer's attributes and fields (the others are kept)."""
    with database.write() as conn:
        get_customer(conn, caller.application_id, customerId)
        _upsert_one(
            conn,
            caller.application_id,
            {"customerId": customerId, **body.model_dump(exclude_unset=True)},
        )
        found = get_customer(conn, caller.application_id, customerId)
    return ok(found.to_dict())


@router.delete("/{customerId}")
def erase_customer(customerId: str, caller: Auth, database: Db) -> Json:
    """Erase a customer: their data, list memberships, events and enrollments."""
    with database.write() as conn:
        delete_customer(conn, caller.application_id, customerId)
    return ok({"customerId": customerId})
