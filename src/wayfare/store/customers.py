"""Customers and customer field definitions: define, upsert one or many, read, erase.

Upserts merge: the attributes and fields given are set, the others kept, and a ``null`` removes.
Many customers are written in batches through ``CustomerWriter`` (plain ``executemany`` on
SQLite; on PostgreSQL ``COPY`` into a staging table then one ``INSERT ... SELECT ... ON
CONFLICT``, or for the CSV import's new customers ``COPY`` straight into ``customers``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg.errors import UniqueViolation
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
from wayfare.store.common import checked_page
from wayfare.store.database import dialect_of
from wayfare.store.schema import (
    contact_lists,
    customer_fields,
    customers,
    enrollments,
    events,
    journeys,
    list_members,
    outbox,
    segments,
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
_JSON_DEFAULTS = {"push_tokens": "[]", "consent": "{}"}
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


def db_time(conn: Connection, now: datetime) -> Any:
    """``now`` as this database stores a ``UtcDateTime`` (for raw driver statements)."""
    if dialect_of(conn).is_postgres:
        return now.astimezone(UTC)
    return now.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _json_path(name: str) -> str:
    """The SQLite JSON path of the member ``name`` (a field name: letters, digits, ``_``)."""
    return f"'$.\"{name}\"'"


class CustomerWriter:
    """Writes batches of customer rows that set the same ``columns``, merged into what is stored.

    ``columns`` is a subset of ``ATTRIBUTE_COLUMNS``; the caller owns the transaction.

    A row is ``(customer_id, *values of columns, fields)``: text columns as ``str`` or ``None``
    (clear), ``push_tokens`` / ``consent`` / ``fields`` as JSON text (``None`` in ``fields``
    members or in ``consent`` removes them). A batch must not repeat a customer id on
    PostgreSQL. Every row written gets ``updated_at = now``.

    ``replace_fields`` (the CSV import): every row sets exactly these fields, its ``fields``
    document holds no nulls, and the fields of the list it lacks are removed from the customer.
    On PostgreSQL such a writer ``COPY``-es the customers it has not written before straight into
    ``customers`` while the application had none when it started (inside a savepoint: if another
    writer created one of them meanwhile, that batch is merged the general way).
    """

    _staging_names = itertools.count(1)

    def __init__(
        self,
        conn: Connection,
        application_id: int,
        columns: Sequence[str],
        now: datetime,
        *,
        replace_fields: Sequence[str] | None = None,
    ) -> None:
        unknown = set(columns) - set(ATTRIBUTE_COLUMNS)
        assert not unknown, unknown
        self.conn = conn
        self.application_id = int(application_id)
        self.columns = tuple(columns)
        self.now = now
        self.replace = None if replace_fields is None else tuple(replace_fields)
        assert all(FIELD_NAME.fullmatch(name) for name in self.replace or ())
        self.postgres = dialect_of(conn).is_postgres
        self.raw: Any = conn.connection.driver_connection
        self._staging: str | None = None
        self._names = ["customer_id", *self.columns, "fields"]
        self._defaults = [c for c in _JSON_COLUMNS if c not in self._names]
        self._line_names = ["application_id", *self._names, *self._defaults]
        self._line_names += ["created_at", "updated_at"]
        self._direct: bool | None = None  # COPY new customers straight in? (first write_copy)
        self._staged: set[str] = set()
        self._removes = False
        if not self.postgres:
            self._sql = self._sqlite_sql()

    def _sqlite_sql(self) -> str:
        stamp = "'" + db_time(self.conn, self.now) + "'"
        values = []
        sets = []
        for number, name in enumerate(self._names, start=1):
            if name == "fields" and self.replace is not None:
                values.append(f"?{number}")
                kept = "customers.fields"
                for start in range(0, len(self.replace), 100):  # SQLite: at most 127 arguments
                    part = self.replace[start : start + 100]
                    kept = f"json_remove({kept}, {', '.join(_json_path(f) for f in part)})"
                sets.append(f"fields = json_patch({kept}, ?{number})")
            elif name in _MERGED:
                # json_patch drops null members (removals).
                values.append(
                    f"CASE WHEN instr(?{number}, ':null') THEN json_patch('{{}}', ?{number})"
                    f" ELSE ?{number} END"
                )
                sets.append(f"{name} = json_patch(customers.{name}, ?{number})")
            elif name in _JSON_COLUMNS:
                values.append(f"coalesce(?{number}, {_JSON_COLUMNS[name]})")
                sets.append(f"{name} = excluded.{name}")
            else:
                values.append(f"?{number}")
                if name != "customer_id":
                    sets.append(f"{name} = excluded.{name}")
        values += [_JSON_COLUMNS[c] for c in self._defaults] + [stamp, stamp]
        return (
            f"INSERT INTO customers (application_id, {', '.join(self._names + self._defaults)},"
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
        cursor = self.raw.cursor()
        try:
            if self.postgres:
                self._stage(cursor, rows, lines=False)
                self._merge(cursor, lines=False)
            else:
                cursor.executemany(self._sql, rows)
        finally:
            cursor.close()

    def copy_line(self) -> tuple[str, str] | None:
        """PostgreSQL with ``replace_fields``: what goes before and after each ``write_copy`` row.

        A line of ``COPY`` text is the head, the row's values (``customer_id``, the columns,
        ``fields``) escaped for ``COPY`` (NULL for ``None``; a missing ``push_tokens`` is
        ``[]``), tab-separated, then the tail (which ends the line). ``None`` elsewhere.
        """
        if not self.postgres or self.replace is None or "consent" in self.columns:
            return None
        defaults = "".join("\t" + _JSON_DEFAULTS[name] for name in self._defaults)
        stamp = self.now.astimezone(UTC).isoformat()
        return f"{self.application_id}\t", f"{defaults}\t{stamp}\t{stamp}\n"

    def write_copy(self, first: bytes, again: bytes) -> None:
        """Write one batch given as ``COPY`` text (lines as ``copy_line`` says, distinct ids).

        ``first``: the lines of customers no earlier batch of this writer had; ``again``: the
        lines of customers an earlier batch had. While the application had no customers when
        the writer started, ``first`` is ``COPY``-ed straight into ``customers`` (in a savepoint:
        if another writer has just created one of them, the batch is merged instead).
        """
        cursor = self.raw.cursor()
        try:
            if self._direct is None:
                cursor.execute(
                    "SELECT EXISTS (SELECT 1 FROM customers WHERE application_id = %s)",
                    (self.application_id,),
                )
                self._direct = not cursor.fetchone()[0]
            merged = [again, first]
            if self._direct and self._copy_new(cursor, first):
                merged = [again]
            if any(merged):
                self._stage(cursor, merged, lines=True)
                self._merge(cursor, lines=True)
        finally:
            cursor.close()

    def _copy_new(self, cursor: Any, text: bytes) -> bool:
        """``COPY`` lines of new customers into ``customers``; False if one of them exists."""
        if not text:
            return True
        cursor.execute("SAVEPOINT wayfare_copy")
        try:
            with cursor.copy(f"COPY customers ({', '.join(self._line_names)}) FROM STDIN") as copy:
                copy.write(text)
        except UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT wayfare_copy")
            self._direct = False  # another writer adds customers: merge from now on
            return False
        cursor.execute("RELEASE SAVEPOINT wayfare_copy")
        return True

    def _stage(self, cursor: Any, rows: Sequence[Any], *, lines: bool) -> None:
        """Fill the staging table: with ``rows`` (tuples), or with ``COPY`` text (``lines``)."""
        names = self._line_names if lines else self._names
        staging = self._staging_table(lines)
        if staging not in self._staged:
            self._staged.add(staging)
            kinds = {name: "text" for name in names}
            kinds.update(dict.fromkeys([*_JSON_COLUMNS, "fields"], "jsonb"))
            kinds.update(
                application_id="bigint", created_at="timestamptz", updated_at="timestamptz"
            )
            cursor.execute(
                f"CREATE TEMP TABLE {staging} ("
                + ", ".join(f"{name} {kinds[name]}" for name in names)
                + ", PRIMARY KEY (customer_id)) ON COMMIT DROP"
            )
        else:
            cursor.execute(f"TRUNCATE {staging}")
        with cursor.copy(f"COPY {staging} ({', '.join(names)}) FROM STDIN") as copy:
            if lines:
                for text in rows:
                    copy.write(text)
            else:
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
        self._removes = self.replace is None and any(":null" in row[len(names) - 1] for row in rows)

    def _staging_table(self, lines: bool) -> str:
        if self._staging is None:
            self._staging = f"wayfare_staging_{next(self._staging_names)}"
        return self._staging + ("_lines" if lines else "")

    def _merge(self, cursor: Any, *, lines: bool) -> None:
        """Merge the staging table into ``customers`` with one ``INSERT ... ON CONFLICT``."""
        names = self._names
        staging = self._staging_table(lines)
        removes = self._removes
        selected = []
        sets = []
        for name in names:
            if name == "fields" and self.replace is not None:
                selected.append("coalesce(s.fields, '{}')")
                sets.append("fields = (customers.fields - %(replace)s::text[]) || excluded.fields")
            elif name in _MERGED and (removes or name == "consent"):
                selected.append(f"jsonb_strip_nulls(coalesce(s.{name}, '{{}}'))")
                sets.append(
                    f"{name} = jsonb_strip_nulls(customers.{name} || (SELECT t.{name} FROM"
                    f" {staging} t WHERE t.customer_id = excluded.customer_id))"
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
        defaults = self._defaults
        cursor.execute(
            f"INSERT INTO customers (application_id, {', '.join(names + defaults)},"
            " created_at, updated_at)"
            f" SELECT %(app)s, {', '.join(selected + [_JSON_COLUMNS[c] for c in defaults])},"
            f" %(now)s, %(now)s FROM {staging} s"
            " ON CONFLICT (application_id, customer_id) DO UPDATE SET "
            + ", ".join([*sets, "updated_at = excluded.updated_at"]),
            {
                "app": self.application_id,
                "now": db_time(self.conn, self.now),
                "replace": list(self.replace or ()),
            },
        )

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
) -> tuple[list[Customer], int]:
    """A page of customers by id, and how many there are in all.

    ``q``: only the customers whose id or email starts with it, in any case.
    """
    checked_page(limit, offset)
    where = [customers.c.application_id == application_id]
    if q:
        pattern = q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(
            func.lower(customers.c.customer_id).like(pattern + "%", escape="\\")
            | func.lower(customers.c.email).like(pattern + "%", escape="\\")
        )
    total = conn.execute(select(func.count()).where(and_(*where))).scalar_one()
    rows = conn.execute(
        select(customers)
        .where(*where)
        .order_by(dialect_of(conn).code_point_order(customers.c.customer_id))
        .limit(limit)
        .offset(offset)
    )
    return [customer_from_row(row) for row in rows], int(total)


def field_users(conn: Connection, application_id: int, name: str) -> list[str]:
    """The active journeys and segments that would lose a reference if field ``name`` went.

    Found by checking each against the application's catalog without that field.
    """
    from wayfare.model.conditions import parse_condition
    from wayfare.model.validation import validate_journey
    from wayfare.store.catalog import load_catalog

    catalog = load_catalog(conn, application_id)
    if name not in catalog.fields:
        return []
    without = replace(catalog, fields={k: v for k, v in catalog.fields.items() if k != name})
    unknown = repr(name)

    def loses(problems: Iterable[Problem]) -> bool:
        return any(p.code == "unknown_field" and unknown in p.message for p in problems)

    users = []
    active = conn.execute(
        select(journeys.c.id, journeys.c.name, journeys.c.states, journeys.c.settings).where(
            journeys.c.application_id == application_id, journeys.c.status == "ACTIVE"
        )
    )
    for row in active:
        document = {"name": row.name, "states": row.states, "settings": row.settings}
        if loses(validate_journey(document, without).problems):
            users.append(f"active journey {row.id} ({row.name})")
    saved = conn.execute(
        select(segments.c.id, segments.c.name, segments.c.cond).where(
            segments.c.application_id == application_id
        )
    )
    for segment in saved:
        if loses(parse_condition(segment.cond, "cond", without.fields)[1]):
            users.append(f"segment {segment.id} ({segment.name})")
    return users


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
