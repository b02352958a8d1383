"""Time ``count_matching`` over 1,000,000 customers on SQLite and PostgreSQL.

``python bench/bench_conditions.py [ROWS] [--runs N] [--keep]``: generates ROWS customers with 10
typed fields into ``bench/data/conditions.db`` and into the PostgreSQL database ``wayfare_bench``
(127.0.0.1:5432, user postgres; dropped at the end unless ``--keep``), then times a three-part
condition (number gt, string eq, datetime within 30 days) and a few others, printing the figures.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import func, select, text

from wayfare.model.conditions import Condition, parse_condition
from wayfare.model.fields import FieldType, format_datetime
from wayfare.store.applications import create_application
from wayfare.store.conditions_sql import compile_condition, count_matching
from wayfare.store.customers import field_types as load_field_types
from wayfare.store.database import Database
from wayfare.store.schema import customer_fields, customers

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
BENCH_DB = "wayfare_bench"

FIELDS = {
    "age": FieldType.NUMBER,
    "score": FieldType.NUMBER,
    "orders": FieldType.NUMBER,
    "vip": FieldType.BOOLEAN,
    "newsletter": FieldType.BOOLEAN,
    "city": FieldType.STRING,
    "plan": FieldType.STRING,
    "signup": FieldType.DATE,
    "birthday": FieldType.DATE,
    "last_login": FieldType.DATETIME,
}
CITIES = ["Madrid", "Vigo", "Sevilla", "Bilbao", "Lisboa", "Porto", "Paris", "Lyon", "Roma", "Oslo"]
PLANS = ["free", "basic", "gold", "platinum"]

CONDITIONS: dict[str, dict[str, Any]] = {
    "age gt + city eq + last_login within 30 days": {
        "age": {"gt": 30},
        "city": {"eq": "Madrid"},
        "last_login": {"useActualDate": {"active": True, "offset": "-P30D", "operator": "gte"}},
    },
    "birthday today (datePart day, month)": {
        "birthday": {
            "useActualDate": {"active": True, "offset": "PT0S", "operator": "eq"},
            "datePart": ["day", "month"],
        }
    },
    "$or / $not / contains / isnull": {
        "$or": [{"plan": {"in": ["gold", "platinum"]}}, {"vip": {"eq": True}}],
        "$not": {"city": {"contains": "o"}},
        "newsletter": {"isnull": False},
    },
}


def customer_rows(rows: int, seed: int = 7) -> Iterator[tuple[str, str]]:
    """(customerId, fields JSON) for ``rows`` customers, ~3% of values absent."""
    rnd = random.Random(seed)
    for n in range(rows):
        month, day = rnd.randint(1, 12), rnd.randint(1, 28)
        values: dict[str, Any] = {
            "age": rnd.randint(18, 90),
            "score": round(rnd.random() * 100, 2),
            "orders": rnd.randint(0, 200),
            "vip": rnd.random() < 0.2,
            "newsletter": n % 3 != 0,
            "city": rnd.choice(CITIES),
            "plan": rnd.choice(PLANS),
            "signup": f"2024-{month:02d}-{day:02d}",
            "birthday": f"{rnd.randint(1940, 2006)}-{month:02d}-{day:02d}",
            "last_login": format_datetime(NOW - timedelta(seconds=rnd.randrange(120 * 86400))),
        }
        for name in list(values):
            if rnd.random() < 0.03:
                del values[name]
        yield f"c{n:08d}", orjson.dumps(values).decode()


def _field_rows(app_id: int) -> list[dict[str, Any]]:
    return [
        {"application_id": app_id, "name": name, "type": str(kind), "created_at": NOW}
        for name, kind in FIELDS.items()
    ]


def load_sqlite(rows: int) -> Database:
    """A migrated SQLite file with ``rows`` customers (plain executemany)."""
    DATA.mkdir(exist_ok=True)
    path = DATA / "conditions.db"
    for leftover in DATA.glob("conditions.db*"):
        leftover.unlink()
    database = Database(f"sqlite:///{path}")
    database.migrate()
    with database.write() as conn:
        app_id = create_application(conn, "bench", NOW)
        conn.execute(customer_fields.insert(), _field_rows(app_id))
        stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.executemany(
            "INSERT INTO customers (application_id, customer_id, push_tokens, consent, fields,"
            " created_at, updated_at) VALUES (?, ?, '[]', '{}', ?, ?, ?)",
            ((app_id, cid, doc, stamp, stamp) for cid, doc in customer_rows(rows)),
        )
    with database.write() as conn:  # statistics: the planner then scans rather than walks the index
        conn.exec_driver_sql("ANALYZE")
    return database


def load_postgres(rows: int) -> Database:
    """The database ``wayfare_bench``, created afresh with ``rows`` customers (COPY)."""
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{BENCH_DB}"')
    database = Database(f"{POSTGRES}/{BENCH_DB}")
    database.migrate()
    with database.write() as conn:
        app_id = create_application(conn, "bench", NOW)
        conn.execute(customer_fields.insert(), _field_rows(app_id))
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        copy_sql = (
            "COPY customers (application_id, customer_id, push_tokens, consent, fields,"
            " created_at, updated_at) FROM STDIN"
        )
        with cursor.copy(copy_sql) as copy:
            for cid, doc in customer_rows(rows):
                copy.write_row((app_id, cid, "[]", "{}", doc, NOW, NOW))
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE customers"))
    return database


def drop_postgres() -> None:
    """Drop the benchmark database."""
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def time_counts(database: Database, runs: int) -> None:
    """Print count, best and median seconds of ``count_matching`` for each condition."""
    with database.read() as conn:
        app_id = int(conn.execute(select(func.min(customers.c.application_id))).scalar_one())
        field_types = load_field_types(conn, app_id)
    for label, raw in CONDITIONS.items():
        cond, problems = parse_condition(raw, field_types=field_types)
        assert cond is not None, problems
        seconds, count = _timed(database, app_id, cond, runs)
        print(
            f"  {label:<48} count={count:>7}  best={min(seconds):.3f}s  "
            f"median={statistics.median(seconds):.3f}s  runs={runs}"
        )


def _timed(database: Database, app_id: int, cond: Condition, runs: int) -> tuple[list[float], int]:
    seconds: list[float] = []
    count = 0
    for _ in range(runs):
        started = time.perf_counter()
        with database.read() as conn:
            count = count_matching(conn, app_id, cond, NOW)
        seconds.append(time.perf_counter() - started)
    return seconds, count


def explain(database: Database) -> None:
    """Print the query plan of the first condition."""
    raw = next(iter(CONDITIONS.values()))
    with database.read() as conn:
        field_types = load_field_types(conn, 1)
        cond, _ = parse_condition(raw, field_types=field_types)
        assert cond is not None
        test = compile_condition(cond, dialect=database.dialect, field_types=field_types, now=NOW)
        query = (
            select(func.count()).select_from(customers).where(customers.c.application_id == 1, test)
        )
        compiled = query.compile(conn, compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN ANALYZE " if database.dialect.is_postgres else "EXPLAIN QUERY PLAN "
        print("  " + str(compiled).replace("\n", " "))
        for row in conn.exec_driver_sql(prefix + str(compiled)):
            print("   ", " | ".join(str(v) for v in row))


def main() -> None:
    """Generate, time, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args()

    for name, loader in (("sqlite", load_sqlite), ("postgresql", load_postgres)):
        started = time.perf_counter()
        database = loader(args.rows)
        print(f"{name}: {args.rows:,} customers generated in {time.perf_counter() - started:.1f}s")
        try:
            if args.explain:
                explain(database)
            time_counts(database, args.runs)
        finally:
            database.dispose()
            if name == "postgresql" and not args.keep:
                drop_postgres()


if __name__ == "__main__":
    main()
