"""Customers and customer field definitions: define, upsert one or many, read, erase.

Upserts merge: the attributes and fields given are set, the others kept, and a ``null`` removes.
Many customers are written in batches through ``customer_writer.CustomerWriter``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
from wayfare.model.conditions import Condition, referenced_segments
from wayfare.model.customers import (
    CHANNELS,
    RESERVED_NAMES,
    Customer,
    CustomerUpdate,
    PushToken,
    parse_customer,
    push_tokens_from_json,
    push_tokens_json,
)
from wayfare.model.fields import FIELD_NAME, FieldType
from wayfare.store.common import checked_page
from wayfare.store.customer_writer import ATTRIBUTE_COLUMNS, CustomerWriter
from wayfare.store.database import dialect_of, fetch_rows, json_dumps
from wayfare.store.schema import (
    contact_lists,
    customer_fields,
    customers,
    enrollments,
    events,
    experiment_entries,
    inbox_messages,
    journeys,
    list_members,
    location_reports,
    outbox,
    place_presence,
    segments,
    utc_from_db,
    wallet_passes,
)

_CLEAR_CONSENT = orjson.dumps(dict.fromkeys(CHANNELS)).decode()


@dataclass(frozen=True, slots=True)
class FieldDefinition:
    """A customer field: its name and type."""

    name: str
    type: FieldType
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What ``upsert_customers`` did: customers created and updated, repeated ids, bad records."""

    created: int
    updated: int
    duplicates: int
    problems: tuple[Problem, ...] = ()

    @property
    def stored(self) -> int:
        """Customers written (created or updated)."""
        return self.created + self.updated


# -- field definitions ---------------------------------------------------------------------------


def define_field(
    conn: Connection, application_id: int, name: str, type: str | FieldType, now: datetime
) -> FieldDefinition:
    """Define the customer field ``name`` of ``type``.

    Defining it again with the same type is a no-op; with another type, a ``Conflict``.
    """
    problems = check_field_name(name)
    try:
        field_type = FieldType(type)
    except ValueError:
        kinds = ", ".join(t.value for t in FieldType)
        problems.append(Problem("type", f"{type!r} is not a field type ({kinds})", "invalid_type"))
    if problems:
        raise InvalidInput(problems=problems)
    found = conn.execute(
        select(customer_fields.c.type, customer_fields.c.created_at).where(
            customer_fields.c.application_id == application_id, customer_fields.c.name == name
        )
    ).first()
    if found is not None:
        if found.type != field_type.value:
            raise Conflict(f"customer field {name!r} already exists with type {found.type}")
        return FieldDefinition(name, field_type, found.created_at)
    conn.execute(
        customer_fields.insert().values(
            application_id=application_id, name=name, type=field_type.value, created_at=now
        )
    )
    return FieldDefinition(name, field_type, now)


def check_field_name(name: Any) -> list[Problem]:
    """The problems with ``name`` as a customer field name (none when it is fine)."""
    if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
        return [
            Problem(
                "name",
                f"{name!r} is not a field name (letters, digits and _, not starting with a digit)",
                "invalid_name",
            )
        ]
    if name in RESERVED_NAMES:
        return [Problem("name", f"{name!r} is reserved for a customer attribute", "reserved_name")]
    return []


def list_fields(conn: Connection, application_id: int) -> list[FieldDefinition]:
    """The customer fields of the application, by name."""
    rows = conn.execute(
        select(customer_fields.c.name, customer_fields.c.type, customer_fields.c.created_at)
        .where(customer_fields.c.application_id == application_id)
        .order_by(customer_fields.c.name)
    )
    return [FieldDefinition(row.name, FieldType(row.type), row.created_at) for row in rows]


def field_types(conn: Connection, application_id: int) -> dict[str, FieldType]:
    """The customer fields of the application: name → type."""
    return {field.name: field.type for field in list_fields(conn, application_id)}


def delete_field(conn: Connection, application_id: int, name: str) -> None:
    """Delete the customer field ``name`` and remove its value from every customer.

    Refused (``Conflict``) while an active journey or a segment uses the field.
    """
    users = field_users(conn, application_id, name)
    if users:
        raise Conflict(
            f"customer field {name!r} is used by {', '.join(users)}: it cannot be deleted"
        )
    deleted = conn.execute(
        customer_fields.delete().where(
            customer_fields.c.application_id == application_id, customer_fields.c.name == name
        )
    ).rowcount
    if not deleted:
        raise NotFound(f"customer field {name!r} does not exist")
    fields = customers.c.fields
    if dialect_of(conn).is_postgres:
        removed: Any = fields.op("-")(literal(name))
        present: Any = fields.op("?")(literal(name))
    else:
        path = literal('$."' + name + '"')  # field names are [A-Za-z0-9_]
        removed, present = func.json_remove(fields, path), func.json_type(fields, path).isnot(None)
    conn.execute(
        customers.update()
        .where(customers.c.application_id == application_id, present)
        .values(fields=removed)
    )


# -- writing -------------------------------------------------------------------------------------


def _row(update: CustomerUpdate, columns: Sequence[str]) -> tuple[Any, ...]:
    values: list[Any] = [update.customer_id]
    for column in columns:
        value = update.attributes[column]
        if column == "push_tokens":
            value = None if value is None else json_dumps(push_tokens_json(value))
        elif column == "consent":
            value = _CLEAR_CONSENT if value is None else json_dumps(value)
        values.append(value)
    values.append(json_dumps(update.fields))  # an unpaired surrogate: UnicodeEncodeError
    return tuple(values)


def upsert_customers(
    conn: Connection,
    application_id: int,
    records: Iterable[Mapping[str, Any] | CustomerUpdate],
    now: datetime,
    *,
    ignore_errors: bool = False,
) -> UpsertResult:
    """Create or update customers, merging into what is stored.

    ``records`` are API bodies (see ``wayfare.model.customers``) or checked ``CustomerUpdate``s.

    All or nothing by default: any bad record raises ``InvalidInput`` listing every problem
    (``customers[i].fields.age: ...``) and nothing is written. With ``ignore_errors`` the good
    records are written and the bad ones reported in ``problems``. A customer id given twice
    is merged in order (later keys win) and counted in ``duplicates``.
    """
    types = field_types(conn, application_id)
    merged: dict[str, CustomerUpdate] = {}
    problems: list[Problem] = []
    good = 0
    for index, record in enumerate(records):
        if isinstance(record, CustomerUpdate):
            update: CustomerUpdate | None = record
        else:
            update, found = parse_customer(record, types, f"customers[{index}]")
            problems.extend(found)
        if update is None:
            continue
        good += 1
        earlier = merged.get(update.customer_id)
        if earlier is not None:
            update = CustomerUpdate(
                update.customer_id,
                {**earlier.attributes, **update.attributes},
                {**earlier.fields, **update.fields},
            )
        merged[update.customer_id] = update
    if problems and not ignore_errors:
        raise InvalidInput(problems=problems)
    existing = len(existing_customer_ids(conn, application_id, merged))
    shapes: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for update in merged.values():
        columns = tuple(c for c in ATTRIBUTE_COLUMNS if c in update.attributes)
        shapes.setdefault(columns, []).append(_row(update, columns))
    for columns, rows in shapes.items():
        CustomerWriter(conn, application_id, columns, now).write(rows)
    return UpsertResult(
        created=len(merged) - existing,
        updated=existing,
        duplicates=good - len(merged),
        problems=tuple(problems),
    )


def ensure_customers(
    conn: Connection,
    application_id: int,
    customer_ids: Iterable[str],
    now: datetime,
    *,
    existing: set[str] | None = None,
) -> int:
    """Create a bare customer for each id that has none yet; how many were created.

    The ids already stored are read first (one query, unless the caller gives them as
    ``existing``), so a batch of known customers writes nothing; the others are inserted with
    one driver-level ``executemany``.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    if existing is None:
        existing = existing_customer_ids(conn, application_id, ids)
    missing = [customer_id for customer_id in ids if customer_id not in existing]
    if not missing:
        return 0
    dialect = dialect_of(conn)
    stamp = dialect.raw_datetime(now)
    result = conn.exec_driver_sql(
        "INSERT INTO customers (application_id, customer_id, push_tokens, consent, fields,"
        f" created_at, updated_at) VALUES ({dialect.marks(7)})"
        " ON CONFLICT (application_id, customer_id) DO NOTHING",
        [(application_id, customer_id, "[]", "{}", "{}", stamp, stamp) for customer_id in missing],
    )
    return max(0, int(result.rowcount))


# -- reading and erasing -------------------------------------------------------------------------


def customer_from_row(row: Any) -> Customer:
    """The ``Customer`` of a row of ``customers`` (all its columns)."""
    return Customer(
        customer_id=row.customer_id,
        email=row.email,
        phone=row.phone,
        whatsapp=row.whatsapp,
        telegram_chat_id=row.telegram_chat_id,
        push_tokens=push_tokens_from_json(row.push_tokens),
        consent=dict(row.consent or {}),
        timezone=row.timezone,
        language=row.language,
        fields=dict(row.fields or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


CUSTOMER_COLUMNS = (
    "customer_id",
    "email",
    "phone",
    "whatsapp",
    "telegram_chat_id",
    "push_tokens",
    "consent",
    "timezone",
    "language",
    "fields",
    "created_at",
    "updated_at",
)
"""The columns ``customers_by_id`` reads, in the order of ``Customer``'s attributes."""


_TEXT = (str, bytes)


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, _TEXT) else value


def customers_by_id(
    conn: Connection, application_id: int, ids: Sequence[str]
) -> dict[str, Customer]:
    """The stored customers among ``ids`` (one driver-level query: the dispatch's hot path)."""
    if not ids:
        return {}
    return {
        row[0]: Customer(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            push_tokens_from_json(_json(row[5])),
            _json(row[6]) or {},
            row[7],
            row[8],
            _json(row[9]) or {},
            utc_from_db(row[10]),  # type: ignore[arg-type]
            utc_from_db(row[11]),  # type: ignore[arg-type]
        )
        for row in _rows_among(conn, application_id, ids, CUSTOMER_COLUMNS)
    }


def _rows_among(
    conn: Connection, application_id: int, ids: Sequence[str], columns: Sequence[str]
) -> list[tuple[Any, ...]]:
    """``columns`` of the application's customers among ``ids``, in one driver-level query.

    The ids are bound as one value: an array on PostgreSQL, a JSON array read by ``json_each``
    on SQLite.
    """
    dialect = dialect_of(conn)
    among, values = dialect.raw_among("customer_id", ids)
    return fetch_rows(
        conn,
        f"SELECT {', '.join(columns)} FROM customers"
        f" WHERE application_id = {dialect.marks(1)} AND {among}",
        (application_id, values),
    )


def existing_customer_ids(conn: Connection, application_id: int, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are customers of the application (one driver-level query)."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    return {row[0] for row in _rows_among(conn, application_id, wanted, ("customer_id",))}


def remove_push_tokens(
    conn: Connection, dead: Sequence[tuple[int, str, Sequence[str]]], now: datetime
) -> int:
    """Remove dead push tokens: (application id, customer id, tokens); how many customers changed.

    What providers said will never work again (an app removed, a browser's subscription gone),
    so that no later message is sent to them. Per application, the customers' tokens are read
    with one query (locked on PostgreSQL, so a token added meanwhile is not written over) and
    the changed lists written with one ``executemany``.
    """
    gone: dict[int, dict[str, set[str]]] = {}
    for application_id, customer_id, dead_tokens in dead:
        gone.setdefault(application_id, {}).setdefault(customer_id, set()).update(dead_tokens)
    dialect = dialect_of(conn)
    mark = dialect.marks(1)
    changed: list[tuple[str, Any, int, str]] = []
    for application_id, by_customer in sorted(gone.items()):
        among, values = dialect.raw_among("customer_id", sorted(by_customer))
        lock = " ORDER BY customer_id FOR UPDATE" if dialect.is_postgres else ""
        rows = fetch_rows(
            conn,
            f"SELECT customer_id, push_tokens FROM customers"
            f" WHERE application_id = {mark} AND {among}{lock}",
            (application_id, values),
        )
        for customer_id, stored in rows:
            devices = push_tokens_from_json(_json(stored))
            kept = tuple(d for d in devices if d.token not in by_customer[customer_id])
            if len(kept) < len(devices):
                changed.append(
                    (
                        json_dumps(push_tokens_json(kept)),
                        dialect.raw_datetime(now),
                        application_id,
                        customer_id,
                    )
                )
    if changed:
        conn.exec_driver_sql(
            f"UPDATE customers SET push_tokens = {mark}, updated_at = {mark}"
            f" WHERE application_id = {mark} AND customer_id = {mark}",
            changed,
        )
    return len(changed)


def fields_by_id(
    conn: Connection, application_id: int, ids: Sequence[str]
) -> dict[str, tuple[dict[str, bool], dict[str, Any]]]:
    """The consent and field values of the stored customers among ``ids``.

    Rendering's light path: templates that read only fields need nothing else.
    """
    if not ids:
        return {}
    rows = _rows_among(conn, application_id, ids, ("customer_id", "consent", "fields"))
    return {row[0]: (_json(row[1]) or {}, _json(row[2]) or {}) for row in rows}


def get_customer(conn: Connection, application_id: int, customer_id: str) -> Customer:
    """The customer ``customer_id``; ``NotFound`` if there is none."""
    row = conn.execute(
        select(customers).where(
            customers.c.application_id == application_id, customers.c.customer_id == customer_id
        )
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id!r} does not exist")
    return customer_from_row(row)


def list_customers(
    conn: Connection,
    application_id: int,
    *,
    limit: int = 50,
    offset: int = 0,
    q: str | None = None,
    condition: Condition | None = None,
    now: datetime | None = None,
) -> tuple[list[Customer], int]:
    """A page of customers by id, and how many there are in all.

    ``q``: only the customers whose id or email starts with it, in any case. ``condition``: only
    the customers it holds for at ``now`` (required with it), as a filter state would test them.
    """
    checked_page(limit, offset)
    where = _matching(conn, application_id, q, condition, now)
    total = conn.execute(select(func.count()).where(and_(*where))).scalar_one()
    return _page(conn, where, limit, offset), int(total)


def customers_page(
    conn: Connection, application_id: int, *, limit: int = 50, offset: int = 0
) -> list[Customer]:
    """A page of the application's customers by id, as ``list_customers``, without the count.

    For a short pick list, where counting every customer would cost more than the page.
    """
    checked_page(limit, offset)
    return _page(conn, _matching(conn, application_id, None, None, None), limit, offset)


def _matching(
    conn: Connection,
    application_id: int,
    q: str | None,
    condition: Condition | None,
    now: datetime | None,
) -> list[ColumnElement[bool]]:
    where = [customers.c.application_id == application_id]
    if q:
        pattern = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(
            func.lower(customers.c.customer_id).like(pattern + "%", escape="\\")
            | func.lower(customers.c.email).like(pattern + "%", escape="\\")
        )
    if condition is not None:
        if now is None:
            raise TypeError("list_customers: a condition needs now")
        where.append(_condition_test(conn, application_id, condition, now))
    return where


def _page(
    conn: Connection, where: Sequence[ColumnElement[bool]], limit: int, offset: int
) -> list[Customer]:
    """The customers ``where`` holds for, by id in code-point order (an index on PostgreSQL)."""
    rows = conn.execute(
        select(customers)
        .where(*where)
        .order_by(dialect_of(conn).code_point_order(customers.c.customer_id))
        .limit(limit)
        .offset(offset)
    )
    return [customer_from_row(row) for row in rows]


def _condition_test(
    conn: Connection, application_id: int, condition: Condition, now: datetime
) -> ColumnElement[bool]:
    """``condition`` as SQL over ``customers``, the application's fields and segments loaded."""
    from wayfare.store.conditions_sql import (  # it imports this module
        compile_condition,
        load_segments,
    )

    types = field_types(conn, application_id)
    saved = load_segments(conn, application_id, referenced_segments(condition), types)
    return compile_condition(
        condition, dialect=dialect_of(conn), field_types=types, now=now, segments=saved
    )


def field_users(conn: Connection, application_id: int, name: str) -> list[str]:
    """The active journeys and segments that would lose a reference if field ``name`` went."""
    return fields_in_use(conn, application_id).get(name, [])


def fields_in_use(conn: Connection, application_id: int) -> dict[str, list[str]]:
    """Every customer field of the application → the active journeys and segments using it.

    Each active journey and segment is checked once, against the application's catalog without
    any field: the fields it reports unknown are the ones it uses. A field nothing uses maps to
    an empty list.
    """
    from wayfare.model.conditions import parse_condition
    from wayfare.model.validation import validate_journey
    from wayfare.store.catalog import load_catalog

    catalog = load_catalog(conn, application_id)
    users: dict[str, list[str]] = {name: [] for name in sorted(catalog.fields)}
    if not users:
        return users
    without = replace(catalog, fields={})
    quoted = {repr(name): name for name in users}

    def note(problems: Iterable[Problem], user: str) -> None:
        named: dict[str, None] = {}
        for problem in problems:
            if problem.code == "unknown_field":
                for text, name in quoted.items():
                    if text in problem.message:
                        named[name] = None
        for name in named:
            users[name].append(user)

    active = conn.execute(
        select(journeys.c.id, journeys.c.name, journeys.c.states, journeys.c.settings)
        .where(journeys.c.application_id == application_id, journeys.c.status == "ACTIVE")
        .order_by(journeys.c.id)
    )
    for row in active:
        document = {"name": row.name, "states": row.states, "settings": row.settings}
        note(validate_journey(document, without).problems, f"active journey {row.id} ({row.name})")
    saved = conn.execute(
        select(segments.c.id, segments.c.name, segments.c.cond)
        .where(segments.c.application_id == application_id)
        .order_by(segments.c.id)
    )
    for segment in saved:
        note(
            parse_condition(segment.cond, "cond", without.fields)[1],
            f"segment {segment.id} ({segment.name})",
        )
    return users


def delete_customer(conn: Connection, application_id: int, customer_id: str) -> None:
    """Erase a customer (right to erasure); ``NotFound`` if there is no such customer.

    Removes their row and field values, list memberships, events, enrollments, in-app inbox,
    wallet passes, whether they are inside places, their experiment draws, and pending outbox
    rows; and of the messages they were sent the content, the context values, the provider's
    reason and id (the caller's transaction makes it all or nothing).
    """
    deleted = conn.execute(
        customers.delete().where(
            customers.c.application_id == application_id, customers.c.customer_id == customer_id
        )
    ).rowcount
    if not deleted:
        raise NotFound(f"customer {customer_id!r} does not exist")
    conn.execute(
        outbox.delete().where(
            outbox.c.application_id == application_id,
            outbox.c.customer_id == customer_id,
            outbox.c.status == "pending",
        )
    )
    conn.execute(  # what was sent stays counted, without the personal data it carried
        outbox.update()
        .where(outbox.c.application_id == application_id, outbox.c.customer_id == customer_id)
        .values(rendered=None, payload={}, reason=None, provider_message_id=None)
    )
    for table in (
        enrollments,
        events,
        inbox_messages,
        wallet_passes,
        place_presence,
        location_reports,
        experiment_entries,
    ):
        conn.execute(
            table.delete().where(
                table.c.application_id == application_id, table.c.customer_id == customer_id
            )
        )
    lists = select(contact_lists.c.id).where(contact_lists.c.application_id == application_id)
    conn.execute(
        list_members.delete().where(
            list_members.c.customer_id == customer_id, list_members.c.list_id.in_(lists)
        )
    )


__all__ = [
    "FieldDefinition",
    "PushToken",
    "UpsertResult",
    "check_field_name",
    "customers_page",
    "define_field",
    "delete_customer",
    "delete_field",
    "ensure_customers",
    "field_types",
    "field_users",
    "fields_in_use",
    "get_customer",
    "list_customers",
    "list_fields",
    "upsert_customers",
]
