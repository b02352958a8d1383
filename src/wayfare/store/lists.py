"""Contact lists: named sets of customer ids, each member with its context values.

Adding a member who is not a customer yet creates a bare customer, so a list is always an
audience of real customers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
from wayfare.model.customers import AttributeError_, check_customer_id
from wayfare.store.common import checked_name, checked_page, plain_json
from wayfare.store.customers import ensure_customers
from wayfare.store.database import dialect_of
from wayfare.store.schema import contact_lists
from wayfare.store.schema import list_members as members


@dataclass(frozen=True, slots=True)
class ContactList:
    """A contact list and how many members it has."""

    id: int
    name: str
    created_at: datetime
    members: int


@dataclass(frozen=True, slots=True)
class ListMember:
    """One member of a list: the customer id and the context values it came with."""

    customer_id: str
    context: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AddResult:
    """What ``add_members`` did.

    ``added``: members new to the list; ``updated``: members whose context was replaced;
    ``customers_created``: bare customers made for ids that had no customer.
    """

    added: int
    updated: int
    customers_created: int


def create_list(conn: Connection, application_id: int, name: str, now: datetime) -> ContactList:
    """Create the list ``name``; ``Conflict`` if the application has one of that name."""
    name = checked_name(name)
    if find_list(conn, application_id, name) is not None:
        raise Conflict(f"list {name!r} already exists")
    key = conn.execute(
        contact_lists.insert().values(application_id=application_id, name=name, created_at=now)
    ).inserted_primary_key
    assert key is not None
    return ContactList(int(key[0]), name, now, 0)


def _lists(conn: Connection, application_id: int, *where: Any) -> list[ContactList]:
    count = select(func.count()).where(members.c.list_id == contact_lists.c.id).scalar_subquery()
    rows = conn.execute(
        select(contact_lists.c.id, contact_lists.c.name, contact_lists.c.created_at, count)
        .where(contact_lists.c.application_id == application_id, *where)
        .order_by(contact_lists.c.id)
    )
    return [ContactList(int(r[0]), r[1], r[2], int(r[3])) for r in rows]


def get_list(conn: Connection, application_id: int, list_id: int) -> ContactList:
    """The list ``list_id``; ``NotFound`` if the application has none."""
    found = _lists(conn, application_id, contact_lists.c.id == list_id)
    if not found:
        raise NotFound(f"list {list_id} does not exist")
    return found[0]


def find_list(conn: Connection, application_id: int, name: str) -> ContactList | None:
    """The list named ``name``, if any."""
    found = _lists(conn, application_id, contact_lists.c.name == name)
    return found[0] if found else None


def list_lists(conn: Connection, application_id: int) -> list[ContactList]:
    """Every list of the application, oldest first."""
    return _lists(conn, application_id)


def add_members(
    conn: Connection,
    application_id: int,
    list_id: int,
    members: Iterable[str | Mapping[str, Any]],
    now: datetime,
) -> AddResult:
    """Add members: customer ids, or ``{customerId, contextValues?}`` objects.

    A member already in the list gets the new context. Any bad member raises ``InvalidInput``
    listing every problem (``customers[3].customerId: ...``) and nothing is added.
    """
    get_list(conn, application_id, list_id)
    rows: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for index, member in enumerate(members):
        where = f"customers[{index}]"
        if isinstance(member, str):
            customer_id: Any = member
            context: Any = {}
        elif isinstance(member, Mapping):
            customer_id, context = member.get("customerId"), member.get("contextValues") or {}
            unknown = set(member) - {"customerId", "contextValues"}
            problems += [Problem(f"{where}.{key}", "unknown key", "unknown_key") for key in unknown]
        else:
            problems.append(Problem(where, "expected a customer id or an object"))
            continue
        try:
            check_customer_id(customer_id)
        except AttributeError_ as exc:
            problems.append(Problem(f"{where}.customerId", str(exc), "invalid_customer_id"))
            continue
        if not isinstance(context, Mapping):
            problems.append(Problem(f"{where}.contextValues", "expected an object"))
            continue
        try:
            plain_json(context, f"{where}.contextValues")
        except InvalidInput as exc:
            problems.extend(exc.problems)
            continue
        rows[customer_id] = {
            "list_id": list_id,
            "customer_id": customer_id,
            "context": dict(context),
        }
    if problems:
        raise InvalidInput(problems=problems)
    before = member_count(conn, list_id)
    created = write_members(conn, application_id, list(rows.values()), now)
    added = member_count(conn, list_id) - before
    return AddResult(added=added, updated=len(rows) - added, customers_created=created)


def member_count(conn: Connection, list_id: int) -> int:
    """How many members the list has."""
    return int(
        conn.execute(
            select(func.count()).select_from(members).where(members.c.list_id == list_id)
        ).scalar_one()
    )


def write_members(
    conn: Connection, application_id: int, rows: Sequence[Mapping[str, Any]], now: datetime
) -> int:
    """Upsert member rows ``{list_id, customer_id, context}``; how many customers were created.

    The ids must be distinct and checked; customers that do not exist are created bare.
    """
    if not rows:
        return 0
    created = ensure_customers(conn, application_id, (row["customer_id"] for row in rows), now)
    statement = dialect_of(conn).insert(members)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["list_id", "customer_id"], set_={"context": statement.excluded.context}
        ),
        list(rows),
    )
    return created


def list_members(
    conn: Connection,
    application_id: int,
    list_id: int,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> list[ListMember]:
    """The members of a list by customer id (a page of them with ``limit`` / ``offset``)."""
    if limit is not None:
        checked_page(limit, offset)
    get_list(conn, application_id, list_id)
    query = (
        select(members.c.customer_id, members.c.context)
        .where(members.c.list_id == list_id)
        .order_by(members.c.customer_id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [ListMember(row.customer_id, dict(row.context)) for row in conn.execute(query)]


def delete_list(conn: Connection, application_id: int, list_id: int) -> None:
    """Delete a list and its memberships (the customers stay); ``NotFound`` if there is none."""
    deleted = conn.execute(
        contact_lists.delete().where(
            contact_lists.c.application_id == application_id, contact_lists.c.id == list_id
        )
    ).rowcount
    if not deleted:
        raise NotFound(f"list {list_id} does not exist")
    conn.execute(members.delete().where(members.c.list_id == list_id))
