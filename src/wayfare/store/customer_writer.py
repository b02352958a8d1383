"""Batches of customer rows merged into what is stored, the fastest way each database allows.

Plain ``executemany`` on SQLite; on PostgreSQL ``COPY`` into a staging table then one ``INSERT
... SELECT ... ON CONFLICT``, or for the CSV import's new customers ``COPY`` straight in.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import Connection, func, select

from wayfare.model.fields import FIELD_NAME
from wayfare.store.database import dialect_of
from wayfare.store.schema import customers

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
