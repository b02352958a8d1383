"""The web console, served by ``wayfare serve`` at ``/``: journeys, campaigns, customers, settings.

``install(app)`` adds its pages (``pages/``, one module per section) and its static files to the
FastAPI application. See ``web.py`` for what every page shares.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

PAGES = (
    "auth",
    "home",
    "journeys",
    "builder",
    "stats",
    "customers",
    "data",
    "campaigns",
    "settings",
)
"""The modules of ``wayfare.console.pages`` whose ``router`` makes up the console."""


def install(app: FastAPI) -> None:
    """Serve the console from ``app``."""
    for name in PAGES:
        module = importlib.import_module(f"wayfare.console.pages.{name}")
        app.include_router(module.router)
    static = Path(__file__).with_name("static")
    app.mount("/static/console", StaticFiles(directory=static), name="console-static")
