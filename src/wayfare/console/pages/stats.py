"""Console pages (being built)."""

from __future__ import annotations

from fastapi import APIRouter

from wayfare.console.web import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
