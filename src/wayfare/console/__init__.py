"""The web console, served by ``wayfare serve`` at ``/``: journeys, campaigns, customers, settings.

``install(app)`` adds its pages (``pages/``, one module per section) and its static files to the
FastAPI application, and answers a browser asking for a page that does not exist with an HTML
page (the API keeps its JSON errors). See ``web.py`` for what every page shares.
"""

from __future__ import annotations

import importlib
from contextlib import suppress
from pathlib import Path
from typing import cast

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from wayfare.console.throttle import LoginThrottle
from wayfare.console.web import LoginRequired, error_page, logged_in, viewer, wants_page
from wayfare.errors import WayfareError

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


def favicon() -> RedirectResponse:
    """Where browsers look for an icon on pages that name none (a JSON answer, a download)."""
    return RedirectResponse("/static/console/favicon.svg", status_code=301)


def install(app: FastAPI) -> None:
    """Serve the console from ``app``."""
    for name in PAGES:
        module = importlib.import_module(f"wayfare.console.pages.{name}")
        app.include_router(module.router)
    app.state.logins = LoginThrottle()
    static = Path(__file__).with_name("static")
    app.mount("/static/console", StaticFiles(directory=static), name="console-static")
    app.add_api_route("/favicon.ico", favicon, include_in_schema=False)
    answer_api_error = app.exception_handlers[HTTPException]

    def http_error(request: Request, error: Exception) -> Response:
        """A page that does not exist, asked for by a browser: an HTML page, with the menu."""
        assert isinstance(error, HTTPException)
        if error.status_code not in (404, 405) or not wants_page(request):
            return cast(Response, answer_api_error(request, error))
        with suppress(LoginRequired, WayfareError):
            viewer(request, logged_in(request))  # the layout shows the menu to a viewer
        answer = error_page(request, error.status_code, f"there is no page {request.url.path}")
        answer.headers.update(error.headers or {})  # a 405's Allow
        return answer

    app.add_exception_handler(HTTPException, http_error)
