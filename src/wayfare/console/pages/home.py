"""The console's front page: what the application holds, with links to each section."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from wayfare.console.web import ConsoleRoute, Viewer, page
from wayfare.store.schema import campaigns, customers, event_types, journeys

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/")
def home(request: Request, viewer: Viewer) -> Response:
    """Counts of the application's customers, journeys, campaigns and event types.

    (Not events: counting them reads an index as long as the application's whole history.)
    """
    with viewer.database.read() as conn:
        counts = {
            label: conn.execute(
                select(func.count()).where(table.c.application_id == viewer.application_id)
            ).scalar_one()
            for label, table in (
                ("customers", customers),
                ("event_types", event_types),
                ("journeys", journeys),
                ("campaigns", campaigns),
            )
        }
    return page(request, "home.html", {"counts": counts}, title=viewer.application_name)
