"""The FastAPI application factory: ``create_app(settings)`` builds the whole HTTP side.

It serves the ``/v1`` API (one router per resource, errors mapped in ``wayfare.api.errors``),
``/health`` and the web console (``wayfare.console``) at ``/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from wayfare import __version__, console
from wayfare.api import callbacks, campaigns, keys, lists, passkit, places
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
from wayfare.api.event_groups import EventGroups
from wayfare.api.idempotency import Idempotency
from wayfare.api.limits import BodyLimit
from wayfare.api.metrics import Measure
from wayfare.api.ratelimit import RateLimit, TokenBuckets, bucket_size
from wayfare.settings import Settings
from wayfare.store.database import Database

ROUTERS = (
    event_api,  # first: the busiest path, and FastAPI tries the routes in order
    keys,
    customer_api,
    lists,
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
    places,
    metrics_api,
)
"""The modules whose ``router`` makes up ``/v1``."""


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """The Wayfare HTTP application for ``settings`` (on ``database`` when one is given)."""
    database = database or Database(
        settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )

    event_groups = EventGroups(database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        event_groups.close()  # the last group is written before the database closes
        database.dispose()

    app = FastAPI(title="Wayfare", version=__version__, lifespan=lifespan)
    app.state.database = database
    app.state.settings = settings
    app.state.event_groups = event_groups
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

    console.install(app)
    return app
