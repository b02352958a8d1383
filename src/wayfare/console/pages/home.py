"""The console's front page: what the application holds, with links to each section."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from wayfare.console.web import ConsoleRoute, Viewer, page
from wayfare.store.schema import campaigns, customers, events, journeys

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/")
def home(request: Request, viewer: Viewer) -> Response:
    """Counts of the application's customers, events, journeys and campaigns."""
    with viewer.database.read() as conn:
        counts = {
            label: conn.execute(
                select(func.count()).where(table.c.application_id == viewer.application_id)
            ).scalar_one()
            for label, table in (
                ("customers", customers),
                ("events", events),
                ("journeys", journeys),
                ("campaigns", campaigns),
            )
        }
    return page(request, "home.html", {"counts": counts}, title=viewer.application_name)
