"""Customers and customer field definitions: define, upsert one or many, read, erase.

Upserts merge: the attributes and fields given are set, the others kept, and a ``null`` removes.
Many customers are written in batches through ``CustomerWriter`` (plain ``executemany`` on
SQLite; ``COPY`` into a staging table then one ``INSERT ... SELECT ... ON CONFLICT`` on
PostgreSQL), which the CSV import shares.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, literal, select

from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
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
from wayfare.store.database import dialect_of
from wayfare.store.schema import (
    contact_lists,
    customer_fields,
    customers,
    enrollments,
    events,
    list_members,
    outbox,
)

ATTRIBUTE_COLUMNS = (
    "email",
    "phone",
    "whatsapp",
    "telegram_chat_id",
    "timezone",
    "language",
    "push_tokens",
    "consent",
)
"""The customer columns an update may set, in the order ``CustomerWriter`` rows carry them."""

_JSON_COLUMNS = {"push_tokens": "'[]'", "consent": "'{}'"}
_MERGED = ("consent", "fields")
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
    """Delete the customer field ``name`` and remove its value from every customer."""
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


def db_time(conn: Connection, now: datetime) -> Any:
    """``now`` as this database stores a ``UtcDateTime`` (for raw driver statements)."""
    if dialect_of(conn).is_postgres:
        return now.astimezone(UTC)
    return now.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


class CustomerWriter:
    """Writes batches of customer rows that set the same ``columns``, merged into what is stored.

    ``columns`` is a subset of ``ATTRIBUTE_COLUMNS``; the caller owns the transaction.

    A row is ``(customer_id, *values of columns, fields)``: text columns as ``str`` or ``None``
    (clear), ``push_tokens`` / ``consent`` / ``fields`` as JSON text (``fields`` may also be UTF-8
    bytes on SQLite; ``None`` in ``fields`` members or in ``consent`` removes them). A batch
    must not repeat a customer id on PostgreSQL.
    Every row written gets ``updated_at = now``.
    """

    _staging_names = itertools.count(1)

    def __init__(
        self, conn: Connection, application_id: int, columns: Sequence[str], now: datetime
    ) -> None:
        unknown = set(columns) - set(ATTRIBUTE_COLUMNS)
        assert not unknown, unknown
        self.conn = conn
        self.application_id = int(application_id)
        self.columns = tuple(columns)
        self.now = now
        self.postgres = dialect_of(conn).is_postgres
        self.raw: Any = conn.connection.driver_connection
        self._staging: str | None = None
        if not self.postgres:
            self._sql = self._sqlite_sql()

    def _sqlite_sql(self) -> str:
        stamp = "'" + db_time(self.conn, self.now) + "'"
        names = ["customer_id", *self.columns, "fields"]
        values = []
        sets = []
        for number, name in enumerate(names, start=1):
            if name in _MERGED:
                # JSON may come as UTF-8 bytes; json_patch drops null members (removals).
                text = f"CAST(?{number} AS TEXT)"
                values.append(
                    f"CASE WHEN instr({text}, ':null') THEN json_patch('{{}}', {text})"
                    f" ELSE {text} END"
                )
                sets.append(f"{name} = json_patch(customers.{name}, {text})")
            elif name in _JSON_COLUMNS:
                values.append(f"coalesce(?{number}, {_JSON_COLUMNS[name]})")
                sets.append(f"{name} = excluded.{name}")
            else:
                values.append(f"?{number}")
                if name != "customer_id":
                    sets.append(f"{name} = excluded.{name}")
        defaults = [c for c in _JSON_COLUMNS if c not in names]
        values += [_JSON_COLUMNS[c] for c in defaults] + [stamp, stamp]
        return (
            f"INSERT INTO customers (application_id, {', '.join(names + defaults)},"
            f" created_at, updated_at) VALUES ({self.application_id}, {', '.join(values)})"
            " ON CONFLICT (application_id, customer_id) DO UPDATE SET "
            + ", ".join([*sets, "updated_at = excluded.updated_at"])
        )

    def __enter__(self) -> CustomerWriter:
        """Tune the connection for a large import (SQLite: a 64 MB page cache)."""
        if not self.postgres:
            self._cache_size = self.raw.execute("PRAGMA cache_size").fetchone()[0]
            self.raw.execute("PRAGMA cache_size = -65536")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.postgres:
            self.raw.execute(f"PRAGMA cache_size = {int(self._cache_size)}")

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Write one batch of rows."""
        if not rows:
            return
        if self.postgres:
            self._write_postgres(rows)
        else:
            cursor = self.raw.cursor()
            cursor.executemany(self._sql, rows)
            cursor.close()

    def _write_postgres(self, rows: Sequence[Sequence[Any]]) -> None:
        names = ["customer_id", *self.columns, "fields"]
        cursor = self.raw.cursor()
        if self._staging is None:
            self._staging = f"wayfare_staging_{next(self._staging_names)}"
            kinds = [("jsonb" if n in (*_JSON_COLUMNS, "fields") else "text") for n in names]
            cursor.execute(
                f"CREATE TEMP TABLE {self._staging} ("
                + ", ".join(f"{n} {k}" for n, k in zip(names, kinds, strict=True))
                + ", PRIMARY KEY (customer_id)) ON COMMIT DROP"
            )
        else:
            cursor.execute(f"TRUNCATE {self._staging}")
        with cursor.copy(f"COPY {self._staging} ({', '.join(names)}) FROM STDIN") as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row)
        fields_index = len(names) - 1
        removes = any(":null" in row[fields_index] for row in rows)
        selected = []
        sets = []
        for name in names:
            if name in _MERGED and (removes or name == "consent"):
                selected.append(f"jsonb_strip_nulls(coalesce(s.{name}, '{{}}'))")
                sets.append(
                    f"{name} = jsonb_strip_nulls(customers.{name} || (SELECT t.{name} FROM"
                    f" {self._staging} t WHERE t.customer_id = excluded.customer_id))"
                )
            elif name in _MERGED:
                selected.append(f"coalesce(s.{name}, '{{}}')")
                sets.append(f"{name} = customers.{name} || excluded.{name}")
            elif name in _JSON_COLUMNS:
                selected.append(f"coalesce(s.{name}, {_JSON_COLUMNS[name]})")
                sets.append(f"{name} = excluded.{name}")
            else:
                selected.append(f"s.{name}")
                if name != "customer_id":
                    sets.append(f"{name} = excluded.{name}")
        defaults = [c for c in _JSON_COLUMNS if c not in names]
        cursor.execute(
            f"INSERT INTO customers (application_id, {', '.join(names + defaults)},"
            " created_at, updated_at)"
            f" SELECT %(app)s, {', '.join(selected + [_JSON_COLUMNS[c] for c in defaults])},"
            f" %(now)s, %(now)s FROM {self._staging} s"
            " ON CONFLICT (application_id, customer_id) DO UPDATE SET "
            + ", ".join([*sets, "updated_at = excluded.updated_at"]),
            {"app": self.application_id, "now": db_time(self.conn, self.now)},
        )
        cursor.close()

    def touched(self) -> int:
        """How many customers of the application have ``updated_at = now``.

        That is the distinct customers written with this ``now`` (keep ``now`` distinct per import).
        """
        return int(
            self.conn.execute(
                select(func.count()).where(
                    customers.c.application_id == self.application_id,
                    customers.c.updated_at == self.now,
                )
            ).scalar_one()
        )


def _row(update: CustomerUpdate, columns: Sequence[str]) -> tuple[Any, ...]:
    values: list[Any] = [update.customer_id]
    for column in columns:
        value = update.attributes[column]
        if column == "push_tokens":
            value = None if value is None else orjson.dumps(push_tokens_json(value)).decode()
        elif column == "consent":
            value = _CLEAR_CONSENT if value is None else orjson.dumps(value).decode()
        values.append(value)
    values.append(orjson.dumps(update.fields).decode())
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
    existing = _existing(conn, application_id, list(merged))
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


def _existing(conn: Connection, application_id: int, ids: list[str]) -> int:
    count = 0
    for start in range(0, len(ids), 500):
        count += conn.execute(
            select(func.count()).where(
                customers.c.application_id == application_id,
                customers.c.customer_id.in_(ids[start : start + 500]),
            )
        ).scalar_one()
    return count


def ensure_customers(
    conn: Connection, application_id: int, customer_ids: Iterable[str], now: datetime
) -> int:
    """Create a bare customer for each id that has none yet; how many were created."""
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    statement = (
        dialect_of(conn)
        .insert(customers)
        .on_conflict_do_nothing(index_elements=["application_id", "customer_id"])
        .returning(customers.c.id)
    )
    rows = [
        {
            "application_id": application_id,
            "customer_id": customer_id,
            "push_tokens": [],
            "consent": {},
            "fields": {},
            "created_at": now,
            "updated_at": now,
        }
        for customer_id in ids
    ]
    return len(conn.execute(statement, rows).all())


# -- reading and erasing -------------------------------------------------------------------------


def _customer(row: Any) -> Customer:
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


def get_customer(conn: Connection, application_id: int, customer_id: str) -> Customer:
    """The customer ``customer_id``; ``NotFound`` if there is none."""
    row = conn.execute(
        select(customers).where(
            customers.c.application_id == application_id, customers.c.customer_id == customer_id
        )
    ).first()
    if row is None:
        raise NotFound(f"customer {customer_id!r} does not exist")
    return _customer(row)


def list_customers(
    conn: Connection,
    application_id: int,
    *,
    limit: int = 50,
    offset: int = 0,
    q: str | None = None,
) -> tuple[list[Customer], int]:
    """A page of customers by id (``q``: the id or email starts with it) and the total count."""
    where = [customers.c.application_id == application_id]
    if q:
        pattern = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            customers.c.customer_id.like(pattern, escape="\\")
            | customers.c.email.like(pattern, escape="\\")
        )
    total = conn.execute(select(func.count()).where(and_(*where))).scalar_one()
    rows = conn.execute(
        select(customers)
        .where(*where)
        .order_by(customers.c.customer_id)
        .limit(limit)
        .offset(offset)
    )
    return [_customer(row) for row in rows], int(total)


def delete_customer(conn: Connection, application_id: int, customer_id: str) -> None:
    """Erase a customer (right to erasure); ``NotFound`` if there is no such customer.

    Removes their row and field values, list memberships, events, enrollments and pending
    outbox rows (the caller's transaction makes it all or nothing).
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
    for table in (enrollments, events):
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
    "ATTRIBUTE_COLUMNS",
    "CustomerWriter",
    "FieldDefinition",
    "PushToken",
    "UpsertResult",
    "check_field_name",
    "define_field",
    "delete_customer",
    "delete_field",
    "ensure_customers",
    "field_types",
    "get_customer",
    "list_customers",
    "list_fields",
    "upsert_customers",
]
