"""Logging in and out, and choosing the application the console shows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from wayfare.console.throttle import LoginThrottle
from wayfare.console.web import (
    SESSION_COOKIE,
    Changing,
    ConsoleRoute,
    Viewer,
    current_session,
    database_of,
    page,
    see_other,
    utcnow,
)
from wayfare.store.users import SESSION_LIFETIME, check_login, close_session, open_session
from wayfare.store.users import show_application as show

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    """The login form (straight on when already logged in)."""
    if current_session(request) is not None:
        return see_other(_safe_next(next))
    return page(request, "login.html", {"next": _safe_next(next)}, title="Log in")


@router.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Check the address and password; open a session."""
    database = database_of(request)
    client = request.client.host if request.client else ""
    logins: LoginThrottle = request.app.state.logins
    wait, ticket = logins.attempt(client, email)
    if wait:
        context = {"next": _safe_next(next), "email": email, "wait": wait}
        refused = page(request, "login.html", context, status=429, title="Log in")
        refused.headers["Retry-After"] = str(wait)
        return refused
    with database.read() as conn:  # the password hash costs ~50 ms: not inside a write
        user = check_login(conn, email, password)
    if user is None:
        context = {"next": _safe_next(next), "email": email, "failed": True}
        return page(request, "login.html", context, status=401, title="Log in")
    logins.succeeded(client, email, ticket)
    with database.write() as conn:
        token = open_session(conn, user, utcnow())
    response = see_other(_safe_next(next))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_served_over_https(request),
    )
    return response


def _served_over_https(request: Request) -> bool:
    """Whether browsers reach this console over HTTPS (directly, or through a TLS proxy)."""
    public_url = request.app.state.settings.public_url or ""
    return request.url.scheme == "https" or public_url.startswith("https://")


@router.post("/logout")
def logout(request: Request, _csrf: Changing) -> Response:
    """Close the session."""
    with database_of(request).write() as conn:
        close_session(conn, request.cookies[SESSION_COOKIE])
    response = see_other("/login", "Logged out.")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/application")
def show_application(
    request: Request,
    viewer: Viewer,
    _csrf: Changing,
    application: Annotated[int, Form()],
    back: Annotated[str, Form()] = "/",
) -> Response:
    """Show another application (any of the installation's)."""
    known = {row.id: row.name for row in request.state.applications}
    if application not in known:
        return see_other(_safe_next(back), "No such application.")
    with viewer.database.write() as conn:
        show(conn, viewer.session, application)
    return see_other(_safe_next(back), f"Showing {known[application]}.")
