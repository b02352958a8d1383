"""Set-up the engine benchmarks share: push-reachable customers, a Liquid push campaign, figures.

Nothing here is timed; the benchmarks time only their own part.
"""

from __future__ import annotations

import re
import resource
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

PUSH_CONTENT = {"title": "Hi {{ name }}", "body": "News from {{ city }}"}
"""The campaign: a push message whose title and body each use one customer field."""

CHUNK = 50_000


def customer_rows(app_id: int, start: int, stop: int, now: datetime) -> list[dict[str, Any]]:
    """Rows of ``customers`` for ids ``c0000000``...: one push token, fields name and city."""
    return [
        {
            "application_id": app_id,
            "customer_id": f"c{i:07d}",
            "push_tokens": [{"token": f"t{i}", "platform": "android"}],
            "consent": {},
            "fields": {"name": f"Name {i}", "city": "Madrid"},
            "created_at": now,
            "updated_at": now,
        }
        for i in range(start, stop)
    ]


def insert_customers(conn: Connection, app_id: int, count: int, now: datetime) -> None:
    """Insert ``count`` push-reachable customers straight into the table (in chunks)."""
    from wayfare.store.schema import customers

    for start in range(0, count, CHUNK):
        conn.execute(
            customers.insert(), customer_rows(app_id, start, min(count, start + CHUNK), now)
        )


def push_campaign(conn: Connection, app_id: int, now: datetime) -> int:
    """The push campaign with ``PUSH_CONTENT``; its id."""
    from wayfare.store.campaigns import create_campaign

    return create_campaign(conn, app_id, "bench push", "push", PUSH_CONTENT, now)


def percentiles(values: Sequence[float], points: Sequence[float] = (50, 95, 99)) -> list[float]:
    """The nearest-rank percentiles ``points`` of ``values`` and their maximum (NaN if none)."""
    if not values:
        return [float("nan")] * (len(points) + 1)
    ordered = sorted(values)
    found = [
        ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] for p in points
    ]
    return [*found, ordered[-1]]


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that over from the parent into a spawned child (fork, then
    exec), so a worker would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by the local process ``pid``; 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table of ``rows`` (numbers formatted with thousands separators)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def postgres_admin_url(url: str) -> tuple[str, str]:
    """(a libpq URL of the same server's ``postgres`` database, the database named in ``url``)."""
    match = re.match(r"^(postgres(?:ql)?)(?:\+\w+)?(://[^/]*)/([^?]*)", url)
    if not match:
        raise SystemExit(f"not a PostgreSQL URL: {url}")
    return f"postgresql{match.group(2)}/postgres", match.group(3)


def with_database(url: str, name: str) -> str:
    """``url`` naming the database ``name`` instead (driver kept)."""
    head, _, tail = url.partition("://")
    hostpart, _, rest = tail.partition("/")
    query = rest.partition("?")[2]
    return f"{head}://{hostpart}/{name}" + (f"?{query}" if query else "")


def admin(url: str, *statements: str) -> None:
    """Run ``statements`` in autocommit on the server of ``url`` (its ``postgres`` database)."""
    import psycopg

    admin_url, _ = postgres_admin_url(url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def elapsed(started: float) -> float:
    """Seconds since ``started`` (a ``time.perf_counter()`` value)."""
    return time.perf_counter() - started


def backend_pid(conn: Connection) -> int | None:
    """The PostgreSQL backend process of ``conn`` (None on SQLite)."""
    if conn.dialect.name != "postgresql":
        return None
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
