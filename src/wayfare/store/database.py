"""The database: one SQLAlchemy engine, its migrations, and the few SQLite/PostgreSQL differences.

SQLite runs as a file in WAL mode with ``synchronous=NORMAL``, a busy timeout and one writer at a
time (write transactions ``BEGIN IMMEDIATE``). PostgreSQL runs through psycopg 3.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Integer,
    String,
    any_,
    bindparam,
    case,
    cast,
    collate,
    create_engine,
    event,
    extract,
    func,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql.elements import ColumnElement

from wayfare.errors import ConfigurationError
from wayfare.model.durations import Duration

MIGRATIONS = Path(__file__).parent / "migrations"


def json_dumps(value: Any) -> str:
    r"""JSON text of ``value`` (orjson: several times faster than the standard library's).

    An integer beyond 64 bits (which no JSON column reader takes back) is an ``OverflowError``
    and a string with an unpaired surrogate (JSON's ``"\ud800"``) a ``UnicodeEncodeError``, as
    they are for a column, so the API answers them as bad input.
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError as exc:
        if "64-bit" in str(exc):
            raise OverflowError(f"{exc} (JSON integers are kept to 64 bits)") from exc
        if "surrogates" in str(exc):
            raise UnicodeEncodeError("utf-8", "", 0, 0, str(exc)) from exc
        raise


JSON_CODEC: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": orjson.loads}
"""How the engine writes and reads JSON columns."""
MIGRATION_LOCK = 0x57A7_FA2E
"""The PostgreSQL advisory lock key held while migrating."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
"""The unit of ``Dialect.microseconds_since`` and ``Dialect.bucket_number``: exact integers."""


@dataclass(frozen=True)
class Dialect:
    """What differs between SQLite and PostgreSQL, in one place."""

    name: str

    @property
    def is_postgres(self) -> bool:
        """Whether this is PostgreSQL (else SQLite)."""
        return self.name == "postgresql"

    def insert(self, table: Any) -> Any:
        """An INSERT that supports ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
        return (postgresql.insert if self.is_postgres else sqlite.insert)(table)

    def json_text(self, column: Any, key: str) -> ColumnElement[Any]:
        """The JSON member ``key`` of ``column`` as SQL text (NULL when absent)."""
        if self.is_postgres:
            return column.op("->>")(literal(key))  # type: ignore[no-any-return]
        return func.json_extract(column, literal("$." + _json_path_key(key)))

    def json_number(self, column: Any, key: str) -> ColumnElement[Any]:
        """The JSON member ``key`` of ``column`` as a double (NULL when absent)."""
        if self.is_postgres:
            return func.cast(self.json_text(column, key), postgresql.DOUBLE_PRECISION)
        return func.json_extract(column, literal("$." + _json_path_key(key)))

    def json_bool(self, column: Any, key: str) -> ColumnElement[Any]:
        """The JSON member ``key`` of ``column`` as a boolean (NULL when absent)."""
        if self.is_postgres:
            return func.cast(self.json_text(column, key), postgresql.BOOLEAN)
        return func.json_extract(column, literal("$." + _json_path_key(key)))

    def within(self, start: Any, duration: Duration, moment: Any) -> ColumnElement[bool]:
        """Whether ``moment`` is at most ``duration`` after ``start`` (columns), calendar-wise."""
        if self.is_postgres:
            return moment <= start + cast(literal(str(duration)), postgresql.INTERVAL)  # type: ignore[no-any-return]
        sign = "-" if duration.negative else "+"
        modifiers = [
            f"{sign}{value} {unit}"
            for value, unit in (
                (duration.years, "years"),
                (duration.months, "months"),
                (duration.days, "days"),
                (duration.seconds, "seconds"),
            )
            if value
        ]
        return func.julianday(moment) <= func.julianday(start, *[literal(m) for m in modifiers])

    def code_point_order(self, text: ColumnElement[Any]) -> ColumnElement[Any]:
        """``text`` ordered by code point, as Python orders strings (SQLite's default)."""
        return collate(text, "C") if self.is_postgres else text

    def contains(self, text: ColumnElement[Any], part: ColumnElement[Any]) -> ColumnElement[bool]:
        """Whether ``part`` occurs in ``text``, case-sensitively (no LIKE wildcards)."""
        return (func.strpos(text, part) if self.is_postgres else func.instr(text, part)) > 0

    def among(self, column: Any, values: Sequence[int] | Sequence[str]) -> ColumnElement[bool]:
        """``column IN values`` with the values bound as one parameter, however many there are.

        A JSON array read by ``json_each`` on SQLite, an array with ``= ANY`` on PostgreSQL:
        the statement stays short and cached, where an ``IN`` list of 20,000 bound values
        costs more to build than to run.
        """
        items = list(values)
        if self.is_postgres:  # the array of the column's own type (an empty list too)
            return column == any_(bindparam(None, items, type_=postgresql.ARRAY(column.type)))  # type: ignore[no-any-return]
        values_of = func.json_each(bindparam(None, json_dumps(items), type_=String()))
        return column.in_(select(literal_column("value")).select_from(values_of))  # type: ignore[no-any-return]

    def raw_among(self, column: str, values: Sequence[int] | Sequence[str]) -> tuple[str, Any]:
        """``among`` for a driver-level statement: the condition's text and its one parameter."""
        mark = self.marks(1)
        if self.is_postgres:
            return f"{column} = ANY({mark})", list(values)
        return f"{column} IN (SELECT value FROM json_each({mark}))", json_dumps(list(values))

    def marks(self, count: int) -> str:
        """``count`` positional parameter marks for a driver-level statement (``?`` or ``%s``)."""
        return ", ".join(["%s" if self.is_postgres else "?"] * count)

    def raw_datetime(self, value: datetime | None) -> Any:
        """An aware datetime as a driver-level parameter, stored as ``UtcDateTime`` stores it."""
        if value is None or self.is_postgres:
            return value
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def microseconds_since(self, column: Any, moment: datetime) -> ColumnElement[int]:
        """The microseconds from ``moment`` to the ``UtcDateTime`` ``column``, exactly (an integer).

        PostgreSQL subtracts the two and reads the interval's seconds (small enough for a double
        to hold every microsecond, whatever the server's version); SQLite reads its stored text
        (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC): whole seconds by ``strftime``, the fraction as
        written (``strftime`` alone would round it to the millisecond).
        """
        if moment.tzinfo is None:
            raise ValueError(f"naive datetime {moment!r}: Wayfare compares aware datetimes")
        if self.is_postgres:
            since = column - literal(moment.astimezone(UTC), DateTime(timezone=True))
            return cast(func.round(extract("epoch", since) * 1_000_000), BigInteger)
        seconds = cast(func.strftime("%s", func.substr(column, 1, 19)), BigInteger)
        fraction = cast(func.substr(column, 21, 6), Integer)
        start = (moment - EPOCH) // MICROSECOND
        return seconds * 1_000_000 + fraction - literal(start, BigInteger)

    def bucket_number(self, column: Any, start: datetime, step: timedelta) -> ColumnElement[int]:
        """Which ``step``-long bucket from ``start`` the ``UtcDateTime`` ``column`` falls in.

        ``floor((column - start) / step)`` in integer microseconds: 0 for ``[start, start +
        step)``, 1 for the next, -1 for the one before, with the same edges as ``column >=
        bucket_start AND column < bucket_end`` (``step`` is a positive whole number of
        microseconds).
        """
        size = step // MICROSECOND
        if size <= 0 or step % MICROSECOND:
            raise ValueError(f"bucket step {step!r} is not a positive number of microseconds")
        since = self.microseconds_since(column, start)
        # integer division truncates towards zero on both databases: floor the negative ones
        return case((since < 0, (since + 1) // size - 1), else_=since // size)


def _json_path_key(key: str) -> str:
    """A JSON path member, quoted so that any field name is taken literally."""
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def normalize_url(url: str) -> str:
    """The SQLAlchemy URL Wayfare uses for ``url``: psycopg 3 for PostgreSQL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(f"WAYFARE_DATABASE_URL {url!r} is not a database URL") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigurationError(
            f"WAYFARE_DATABASE_URL: {backend!r} is not supported; use sqlite:/// or postgresql://"
        )
    return parsed.render_as_string(hide_password=False)


class Database:
    """A Wayfare database: the engine, transactions, migrations and the dialect's differences."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> None:
        self.url = normalize_url(url)
        backend = make_url(self.url).get_backend_name()
        self.dialect = Dialect(backend)
        self._writer: threading.Lock | None = None
        self._busy_timeout = busy_timeout_ms / 1000
        if backend == "sqlite":
            self.engine = _sqlite_engine(self.url, busy_timeout_ms, echo)
            self._writer = threading.Lock()
        else:
            self.engine = create_engine(
                self.url,
                echo=echo,
                pool_pre_ping=True,
                # timestamps + intervals in UTC, as Python adds durations to UTC instants
                connect_args={"options": "-c timezone=UTC"},
                **JSON_CODEC,
            )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that writes: committed at the end of the block, rolled back on error.

        On SQLite the threads of this process take turns (first come, first served) before
        asking for the file's write lock: SQLite has one writer anyway, and its busy handler
        makes waiters sleep and retry, unfairly, which gives long tails under load.
        """
        # past the busy timeout, go on and let SQLite's own busy handling decide
        turn = self._writer is not None and self._writer.acquire(timeout=self._busy_timeout)
        try:
            with self.engine.begin() as conn:
                at_end = conn.info[_AT_END] = AtEnd()
                try:
                    yield conn
                    at_end.write(conn)
                finally:
                    conn.info.pop(_AT_END, None)  # gone if the connection was invalidated
        finally:
            if turn:
                assert self._writer is not None
                self._writer.release()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads (on SQLite it does not take the write lock)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(wayfare_read_only=True)
            with conn.begin():
                yield conn

    def migrate(self) -> None:
        """Bring the schema up to the newest migration."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            if self.dialect.is_postgres:  # processes starting together migrate one at a time
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_engine(url: str, busy_timeout_ms: int, echo: bool) -> Engine:
    engine = create_engine(url, echo=echo, **JSON_CODEC)

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transactions into our own hands (see on_begin), as SQLAlchemy's docs advise.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get("wayfare_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def fetch_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of a driver-level query as plain tuples, in the connection's transaction.

    For hot paths only: no SQLAlchemy row objects and no type processing (the caller converts
    JSON and datetimes; ``Dialect.marks`` gives the parameter marks).
    """
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


T = TypeVar("T")

_AT_END = "wayfare.at_end"


class AtEnd:
    """Writes a ``Database.write`` block makes last, just before it commits.

    For hot rows that many concurrent transactions update, the statistics counters: added up
    in memory through the transaction, then written once, in one order (the caller's), and held
    locked only from there to the commit. Written as they came, two transactions adding to the
    same counters in different orders could deadlock on PostgreSQL.
    """

    def __init__(self) -> None:
        self._pending: dict[str, tuple[Any, Callable[[Connection, Any], None]]] = {}

    def collect(
        self, name: str, empty: Callable[[], T], write: Callable[[Connection, T], None]
    ) -> T:
        """The value collected under ``name`` (``empty()`` at first), written by ``write``."""
        found = self._pending.get(name)
        if found is None:
            found = self._pending[name] = (empty(), write)
        value: T = found[0]
        return value

    def write(self, conn: Connection) -> None:
        """Write what was collected (once)."""
        pending, self._pending = self._pending, {}
        for value, write in pending.values():
            write(conn, value)


def at_end(conn: Connection) -> AtEnd | None:
    """The ``AtEnd`` of the ``Database.write`` block ``conn`` is in; None outside one."""
    found: AtEnd | None = conn.info.get(_AT_END)
    return found


def dialect_of(conn: Connection) -> Dialect:
    """The ``Dialect`` of a connection."""
    return Dialect(conn.dialect.name)
