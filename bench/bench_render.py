"""Time the rendering of a typical campaign for stored customers, on one core.

``python bench/bench_render.py [CUSTOMERS]`` (default 20,000): stores CUSTOMERS customers with five
typed fields in a temporary SQLite database, then for three versions of a typical push campaign
(two fields, a filter, and a condition) prints renders per CPU second of one core:

- ``render``: ``CompiledCampaign.render`` alone, on variables built beforehand;
- ``from rows``: ``customer_from_row`` + ``variables`` + ``render`` over the fetched rows;
- ``from the database``: what the dispatcher does for a batch (``render_contents``: one
  driver-level query for the customers, each built and rendered);
- ``in place``: the engine's path for the ``log`` channel (``render_in_place``: only the
  customers' consent and fields are read when the campaign reads nothing else);

and, to see where the time goes, ``customer_from_row`` and ``variables`` alone, and (for scale on
a busy machine) python-liquid's own render of the same strings.

The campaigns: ``fast`` (outputs and filters only), ``if`` (``{% if vip %}`` compiled too), and
``liquid`` (``{% if vip == true %}``, outside the fast subset: python-liquid renders it).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from wayfare.channels.rendering import ToRender, render_contents, render_in_place
from wayfare.store.applications import create_application
from wayfare.store.customers import customer_from_row, define_field
from wayfare.store.database import Database
from wayfare.store.schema import campaigns, customers
from wayfare.templates import compile_campaign, variables
from wayfare.templates.environment import parse

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
NAMES = ["Ana", "Luis", "Marta", "João", "Chloé", "Yuki", "", "Pedro"]
CITIES = ["Madrid", "Lisboa", "Paris", "Tokyo", "Ciudad de México"]

TITLE = "Hi {{ first_name | default: 'friend' }}!"
CAMPAIGNS: dict[str, dict[str, Any]] = {
    "fast": {
        "title": TITLE,
        "body": "New in {{ city | upcase }}: {{ points }} points waiting for you.",
        "deepLink": "app://offers",
    },
    "if": {
        "title": TITLE,
        "body": "{% if vip %}Your VIP offer{% else %}Our offer{% endif %} in {{ city | upcase }}.",
        "deepLink": "app://offers",
    },
    "liquid": {
        "title": TITLE,
        "body": "{% if vip == true %}Your VIP offer{% else %}Our offer{% endif %} in "
        "{{ city | upcase }}.",
        "deepLink": "app://offers",
    },
}


def store(database: Database, count: int) -> int:
    """An application with ``count`` customers; its id."""
    rnd = random.Random(4)
    with database.write() as conn:
        app = create_application(conn, "bench", NOW)
        for name, kind in [
            ("first_name", "string"),
            ("city", "string"),
            ("vip", "boolean"),
            ("points", "number"),
            ("last_seen", "datetime"),
        ]:
            define_field(conn, app, name, kind, NOW)
        rows = []
        for i in range(count):
            fields: dict[str, Any] = {
                "city": rnd.choice(CITIES),
                "vip": rnd.random() < 0.2,
                "points": rnd.randint(0, 5000),
                "last_seen": f"2026-03-{rnd.randint(1, 14):02d}T10:00:00Z",
            }
            if name := rnd.choice(NAMES):
                fields["first_name"] = name
            rows.append(
                {
                    "application_id": app,
                    "customer_id": f"c{i:07d}",
                    "email": f"c{i:07d}@example.com",
                    "timezone": "Europe/Madrid",
                    "language": "es",
                    "push_tokens": [{"token": f"t{i}", "platform": "android"}],
                    "consent": {},
                    "fields": fields,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
        conn.execute(customers.insert(), rows)
    return app


def stored_campaign(database: Database, app: int, content: dict[str, Any]) -> int:
    """A push campaign with ``content``; its id."""
    with database.write() as conn:
        result = conn.execute(
            campaigns.insert().values(
                application_id=app,
                name=f"campaign {sorted(content)!r} {random.random()}",
                channel="push",
                content=content,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def rate(count: int, work: Callable[[], object]) -> float:
    """Items per CPU second of ``work`` (which handles ``count`` items), best of three.

    CPU time of this process, not wall time: on a shared machine, time spent waiting for a core
    is not counted.
    """
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return count / best


def main(count: int) -> None:
    """Store the customers and print the figures."""
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'render.db'}")
        database.migrate()
        app = store(database, count)
        query = select(customers).where(customers.c.application_id == app)
        with database.read() as conn:
            rows = conn.execute(query).all()
        built = [variables(customer_from_row(row), row.customer_id, {}, None) for row in rows]
        print(f"{count:,} customers; renders per second on one core:")
        for label, content in CAMPAIGNS.items():
            compiled = compile_campaign("push", content)
            render = compiled.render

            def render_only(render: Callable[[Any], Any] = render) -> None:
                for values in built:
                    render(values)

            def from_rows(render: Callable[[Any], Any] = render) -> None:
                for row in rows:
                    render(variables(customer_from_row(row), row.customer_id, {}, None))

            campaign_id = stored_campaign(database, app, content)
            items = [ToRender(app, row.customer_id, "push", campaign_id, {}) for row in rows]

            def from_database(items: list[ToRender] = items) -> None:
                with database.read() as conn:  # what the dispatcher does for a batch
                    found = render_contents(conn, items)
                assert all(isinstance(item, tuple) for item in found)

            def in_place(items: list[ToRender] = items) -> None:
                with database.read() as conn:  # the log channel's delivery in the engine
                    found = render_in_place(conn, items)
                assert all(item is not None for item in found)

            print(
                f"  {label:6} (fast path: {compiled.fast!s:5}): "
                f"render {rate(count, render_only):9,.0f}   "
                f"from rows {rate(count, from_rows):9,.0f}   "
                f"from the database {rate(count, from_database):9,.0f}   "
                f"in place {rate(count, in_place):9,.0f}"
            )
            sample = compiled.render(built[0])
            assert sample["title"].startswith("Hi "), sample

        def rows_only() -> None:
            for row in rows:
                customer_from_row(row)

        def variables_only() -> None:
            for customer in people:
                variables(customer, customer.customer_id, {}, None)

        people = [customer_from_row(row) for row in rows]
        print(
            f"  of which customer_from_row alone: {rate(count, rows_only):9,.0f}   "
            f"variables() alone: {rate(count, variables_only):9,.0f}"
        )
        templates = [parse(source) for source in CAMPAIGNS["if"].values()]

        def liquid_only() -> None:
            for values in built:
                for template in templates:
                    template.render(values)

        print(
            f"  python-liquid's own render of the 'if' campaign: {rate(count, liquid_only):9,.0f}"
        )
        database.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
