"""The FastAPI application factory: ``create_app(settings)`` builds the whole HTTP side.

It serves the ``/v1`` API (one router per resource, errors mapped in ``wayfare.api.errors``),
``/health`` and a summary page of what the database holds; the console plugs in here when it lands.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from wayfare import __version__
from wayfare.api import callbacks, campaigns, keys, lists, passkit
from wayfare.api import channels as channel_api
from wayfare.api import customers as customer_api
from wayfare.api import events as event_api
from wayfare.api import inapp as inapp_api
from wayfare.api import journeys as journey_api
from wayfare.api import messages as message_api
from wayfare.api import metrics as metrics_api
from wayfare.api import sdk as sdk_api
from wayfare.api import sendings as sending_api
from wayfare.api import tracking as tracking_api
from wayfare.api.errors import install_error_handlers
from wayfare.api.idempotency import Idempotency
from wayfare.api.limits import BodyLimit
from wayfare.api.metrics import Measure
from wayfare.api.ratelimit import RateLimit, TokenBuckets, bucket_size
from wayfare.settings import Settings
from wayfare.store.database import Database
from wayfare.store.schema import applications, customers, events, journeys

ROUTERS = (
    keys,
    customer_api,
    lists,
    event_api,
    journey_api,
    campaigns,
    tracking_api,
    callbacks,
    inapp_api,
    passkit,
    channel_api,
    message_api,
    sending_api,
    sdk_api,
    metrics_api,
)
"""The modules whose ``router`` makes up ``/v1``."""


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """The Wayfare HTTP application for ``settings`` (on ``database`` when one is given)."""
    database = database or Database(
        settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        database.dispose()

    app = FastAPI(title="Wayfare", version=__version__, lifespan=lifespan)
    app.state.database = database
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(Idempotency)
    if settings.rate_limit > 0:
        burst = bucket_size(settings.rate_limit, settings.rate_limit_burst)
        app.add_middleware(RateLimit, buckets=TokenBuckets(settings.rate_limit, burst))
    app.add_middleware(Measure)
    for module in ROUTERS:
        app.include_router(module.router)

    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        """Whether this process is up and its database answers."""
        try:
            with database.read() as conn:
                conn.execute(select(1)).scalar_one()
        except SQLAlchemyError as exc:
            return JSONResponse(
                {
                    "statusCode": 503,
                    "message": "database unreachable",
                    "errorCode": "unhealthy",
                    "data": {"database": database.dialect.name, "detail": str(exc)},
                },
                status_code=503,
            )
        data = {"status": "ok", "version": __version__, "database": database.dialect.name}
        return JSONResponse({"statusCode": 200, "message": "OK", "data": data})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def summary() -> str:
        """A plain page of what the database holds, until the console lands."""
        with database.read() as conn:
            rows = _application_summary(conn)
        items = "".join(
            f"<tr><td>{html.escape(row['name'])}</td><td>{row['customers']:,}</td>"
            f"<td>{row['events']:,}</td><td>{row['journeys']:,}</td></tr>"
            for row in rows
        )
        return (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Wayfare</title>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'></head><body>"
            f"<h1>Wayfare {__version__}</h1><table><thead><tr><th>application</th>"
            "<th>customers</th><th>events</th><th>journeys</th></tr></thead>"
            f"<tbody>{items}</tbody></table>"
            "<p><a href='/health'>health</a> · <a href='/docs'>API docs</a></p></body></html>"
        )

    return app


def _application_summary(conn: Any) -> list[dict[str, Any]]:
    def count_of(table: Any) -> Any:
        return (
            select(func.count())
            .where(table.c.application_id == applications.c.id)
            .scalar_subquery()
        )

    query = select(
        applications.c.name,
        count_of(customers).label("customers"),
        count_of(events).label("events"),
        count_of(journeys).label("journeys"),
    ).order_by(applications.c.id)
    return [dict(row) for row in conn.execute(query).mappings()]
