"""What every console page shares: templates, the logged-in viewer, CSRF, notices and errors.

Pages are rendered on the server with Jinja2 (``templates/``, autoescaped) and call the same
store and engine functions as the ``/v1`` API; the console has no business logic of its own.

- ``Viewer`` is the parameter of every page behind the login: the session of the browser and the
  application it shows. A request without a live session is sent to ``/login``.
- Every form that changes something carries the session's CSRF token in a ``csrf`` field (or
  an ``X-CSRF-Token`` header for ``fetch``); ``Changing`` checks it.
- ``notice`` and ``see_other`` carry a one-line message to the next page (a short cookie).
- A ``WayfareError`` a page lets through, or a bad path or query parameter, becomes an HTML
  error page with the right status, never a traceback or the API's JSON.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection, select
from starlette.exceptions import HTTPException

from wayfare import __version__
from wayfare.api.errors import status_of, validation_problems
from wayfare.errors import InvalidInput, Problem, WayfareError
from wayfare.store.database import Database
from wayfare.store.lists import list_lists
from wayfare.store.schema import applications
from wayfare.store.segments import list_segments
from wayfare.store.users import Session, find_session

log = logging.getLogger(__name__)

SESSION_COOKIE = "wayfare_session"
NOTICE_COOKIE = "wayfare_notice"

templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
templates.env.globals["version"] = __version__

NAVIGATION = (
    ("Journeys", "/journeys"),
    ("Campaigns", "/campaigns"),
    ("Customers", "/customers"),
    ("Fields", "/fields"),
    ("Lists", "/lists"),
    ("Event types", "/event-types"),
    ("Places", "/places"),
    ("Channels", "/channels"),
    ("API keys", "/keys"),
)
"""The console's sections, in the order the menu shows them."""


class LoginRequired(Exception):
    """The request has no live session."""


@dataclass(frozen=True, slots=True)
class ViewerContext:
    """Who is looking, at which application, and how to reach the database."""

    session: Session
    application_id: int
    application_name: str
    database: Database


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


def database_of(request: Request) -> Database:
    """The database the console works on."""
    database: Database = request.app.state.database
    return database


def current_session(request: Request) -> Session | None:
    """The live session of ``request``'s cookie, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with database_of(request).read() as conn:
        return find_session(conn, token, utcnow())


def logged_in(request: Request) -> Session:
    """The live session of ``request``; ``LoginRequired`` when there is none."""
    session = current_session(request)
    if session is None:
        raise LoginRequired
    request.state.session = session
    return session


def viewer(request: Request, session: Annotated[Session, Depends(logged_in)]) -> ViewerContext:
    """The logged-in viewer of ``request`` and the application shown."""
    database = database_of(request)
    with database.read() as conn:
        rows = conn.execute(select(applications.c.id, applications.c.name).order_by("id")).all()
    chosen = next((row for row in rows if row.id == session.application_id), None)
    chosen = chosen or (rows[0] if rows else None)
    if chosen is None:
        raise InvalidInput("no application yet: create one with `wayfare keys create`")
    request.state.applications = rows
    request.state.application_id = chosen.id
    return ViewerContext(session, chosen.id, chosen.name, database)


async def check_csrf(request: Request, session: Annotated[Session, Depends(logged_in)]) -> None:
    """Refuse a changing request whose CSRF token is not the session's."""
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, session.csrf_token):
        await request.close()  # uploaded files of a refused form are not kept
        raise CsrfRefused


class CsrfRefused(WayfareError):
    """The form has expired or did not come from this console: reload the page and retry."""

    error_code = "csrf"


Viewer = Annotated[ViewerContext, Depends(viewer)]
"""A page parameter: the logged-in viewer."""

Changing = Annotated[None, Depends(check_csrf)]
"""A parameter of every page that changes something: the CSRF token is checked."""


def page(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    title: str = "",
) -> HTMLResponse:
    """``template`` rendered with ``context`` and what the layout needs (menu, notice, CSRF)."""
    session: Session | None = getattr(request.state, "session", None)
    values: dict[str, Any] = {
        "request": request,
        "title": title,
        "navigation": NAVIGATION,
        "session": session,
        "csrf": session.csrf_token if session else "",
        "applications": getattr(request.state, "applications", ()),
        "application_id": getattr(request.state, "application_id", None),
        "notice": unquote(request.cookies.get(NOTICE_COOKIE, "")),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, values, status_code=status)
    if values["notice"]:
        response.delete_cookie(NOTICE_COOKIE)
    return response


def see_other(url: str, notice: str | None = None) -> RedirectResponse:
    """A 303 to ``url`` (after a POST), carrying ``notice`` to the page it leads to."""
    response = RedirectResponse(url, status_code=303)
    if notice:
        response.set_cookie(NOTICE_COOKIE, quote(notice[:500]), max_age=60, httponly=True)
    return response


def whole_number(text: str | None, *, most: int = 2**63 - 1) -> int | None:
    """The whole number ``text`` spells in ASCII digits (``"²"`` is not one), or None.

    None too above ``most``: a form's number that is out of range is the form's problem.
    """
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if number <= most else None


def problems_of(error: WayfareError) -> list[Problem]:
    """The problems an error names (one, its message, when it names none)."""
    if isinstance(error, InvalidInput) and error.problems:
        return list(error.problems)
    return [Problem("", error.message, error.error_code)]


def errors_by_field(problems: Sequence[Problem], fields: Sequence[str] = ()) -> dict[str, str]:
    """Each problem's message keyed by the form field it belongs to, for ``m.field(errors=...)``.

    A problem belongs to the longest of ``fields`` its ``where`` starts with (``content.buttons``
    for ``content.buttons[1].url``, the rest of the path kept in the message); without ``fields``,
    to its ``where`` up to the first index (``ipAllowlist`` for ``ipAllowlist[2]``). Messages of
    one field are joined; problems of no field are left out (pages list them all at the top).
    """
    placed: dict[str, list[str]] = {}
    for problem in problems:
        where = problem.where
        if fields:
            owner = max(
                (f for f in fields if where == f or where.startswith((f + ".", f + "["))),
                key=len,
                default="",
            )
        else:
            owner = where.split("[")[0]
        if not owner:
            continue
        rest = where[len(owner) :].lstrip(".")
        placed.setdefault(owner, []).append(
            f"{rest}: {problem.message}" if rest else problem.message
        )
    return {field: "; ".join(messages) for field, messages in placed.items()}


class ConsoleRoute(APIRoute):
    """A console route: no login sends to ``/login``, a Wayfare error shows as an HTML page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, guarded."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path
                if request.url.query:
                    target += "?" + request.url.query
                if request.method != "GET":
                    target = "/"
                return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
            except RequestValidationError as invalid:
                error = InvalidInput(problems=validation_problems(invalid))
                context = {"problems": problems_of(error)}
                return page(request, "error.html", context, status=400, title="That did not work")
            except HTTPException as error:
                return error_page(request, error.status_code, str(error.detail))
            except WayfareError as error:
                status = status_of(error)
                status = 403 if isinstance(error, CsrfRefused) else status
                return page(
                    request,
                    "error.html",
                    {"problems": problems_of(error), "status": status},
                    status=status if status < 500 else 500,
                    title="Something went wrong" if status >= 500 else "That did not work",
                )

            except Exception:
                log.exception("console page %s %s failed", request.method, request.url.path)
                return error_page(request, 500, "the page failed; the server's log says why")

        return guarded


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An HTML page for an HTTP error (a page that does not exist, a failure)."""
    title = "Something went wrong" if status >= 500 else "That did not work"
    if status == 404:
        title = "Not found"
    context = {"problems": [Problem("", message, "error")]}
    return page(request, "error.html", context, status=status, title=title)


def wants_page(request: Request) -> bool:
    """Whether ``request`` is a browser's asking for a console page (not the API's JSON)."""
    path = request.url.path
    return "text/html" in request.headers.get("accept", "") and not path.startswith("/v1/")


def audience_names(conn: Connection, application_id: int) -> tuple[dict[int, str], dict[int, str]]:
    """The names of the application's lists and segments, by id (entries in words, graphs)."""
    lists = {c.id: c.name for c in list_lists(conn, application_id)}
    segments = {s.id: s.name for s in list_segments(conn, application_id, limit=1000).items}
    return lists, segments
