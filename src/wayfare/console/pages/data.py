"""The console's data definitions: customer fields, contact lists, event types and places.

Each page calls the store functions of its ``/v1`` router (``api.customers``, ``api.lists``,
``api.events``, ``api.places``); a refused change is shown next to the input it names, with
status 400 (409 for a field still in use). Lists are filled from CSV uploads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from wayfare.console.journey_words import duration_words
from wayfare.console.pages.customers import customer_url, page_number_of
from wayfare.console.web import (
    Changing,
    ConsoleRoute,
    Viewer,
    ViewerContext,
    errors_by_field,
    page,
    problems_of,
    see_other,
    utcnow,
)
from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
from wayfare.importing import import_list
from wayfare.model.fields import FieldType
from wayfare.store.customers import define_field, delete_field, fields_in_use, list_fields
from wayfare.store.events import define_event_type, list_event_types
from wayfare.store.lists import create_list, delete_list, get_list, list_lists, list_members
from wayfare.store.places import (
    DEFAULT_COOLDOWN,
    create_place,
    delete_place,
    get_place,
    list_places,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

MEMBERS_PAGE = 100
"""Members in one page of a list."""

FIELD_TYPES = [(t.value, t.value) for t in FieldType]


def _named(error: InvalidInput | Conflict, where: str) -> list[Problem]:
    """The problems of a refused change; one that names no input is put on ``where``."""
    return [p if p.where else Problem(where, p.message, p.code) for p in problems_of(error)]


# -- customer fields -----------------------------------------------------------------------------


def _fields_page(
    request: Request,
    viewer: ViewerContext,
    *,
    form: dict[str, str] | None = None,
    problems: Sequence[Problem] = (),
    status: int = 200,
) -> Response:
    with viewer.database.read() as conn:
        users = fields_in_use(conn, viewer.application_id)
        fields = [(f, users.get(f.name, [])) for f in list_fields(conn, viewer.application_id)]
    return page(
        request,
        "data_fields.html",
        {
            "fields": fields,
            "types": FIELD_TYPES,
            "form": form or {"name": "", "type": "string"},
            "problems": problems,
            "errors": errors_by_field(problems),
        },
        title="Customer fields",
        status=status,
    )


@router.get("/fields")
def fields(request: Request, viewer: Viewer) -> Response:
    """The customer fields: name, type and what uses them; a form to add one."""
    return _fields_page(request, viewer)


@router.post("/fields")
def add_field(
    request: Request,
    viewer: Viewer,
    _csrf: Changing,
    name: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "",
) -> Response:
    """Define a customer field (``POST /v1/customer/field``)."""
    name = name.strip()
    try:
        with viewer.database.write() as conn:
            found = list_fields(conn, viewer.application_id)
            if any(f.name == name for f in found):
                raise Conflict(f"customer field {name!r} already exists")
            define_field(conn, viewer.application_id, name, type, utcnow())
    except (InvalidInput, Conflict) as error:
        problems = _named(error, "name")
        form = {"name": name, "type": type}
        return _fields_page(request, viewer, form=form, problems=problems, status=400)
    return see_other("/fields", f"Field {name} ({type}) added.")


@router.post("/fields/{name}/delete")
def remove_field(request: Request, name: str, viewer: Viewer, _csrf: Changing) -> Response:
    """Delete a customer field and its values (refused while a journey or segment uses it)."""
    try:
        with viewer.database.write() as conn:
            delete_field(conn, viewer.application_id, name)
    except Conflict as error:
        return _fields_page(request, viewer, problems=_named(error, name), status=409)
    except NotFound:
        return see_other("/fields", f"Field {name} was already deleted.")
    return see_other("/fields", f"Field {name} deleted, with its value on every customer.")


# -- contact lists -------------------------------------------------------------------------------


def _lists_page(
    request: Request,
    viewer: ViewerContext,
    *,
    name: str = "",
    problems: Sequence[Problem] = (),
    status: int = 200,
) -> Response:
    with viewer.database.read() as conn:
        found = list_lists(conn, viewer.application_id)
    return page(
        request,
        "data_lists.html",
        {"lists": found, "name": name, "problems": problems, "errors": errors_by_field(problems)},
        title="Contact lists",
        status=status,
    )


@router.get("/lists")
def lists(request: Request, viewer: Viewer) -> Response:
    """The contact lists with their member counts; a form to create one."""
    return _lists_page(request, viewer)


@router.post("/lists")
def add_list(
    request: Request, viewer: Viewer, _csrf: Changing, name: Annotated[str, Form()] = ""
) -> Response:
    """Create an empty contact list (``POST /v1/list``)."""
    try:
        with viewer.database.write() as conn:
            found = create_list(conn, viewer.application_id, name, utcnow())
    except (InvalidInput, Conflict) as error:
        return _lists_page(request, viewer, name=name, problems=_named(error, "name"), status=400)
    return see_other(f"/lists/{found.id}", f"List {found.name} created.")


def _list_page(
    request: Request,
    viewer: ViewerContext,
    list_id: int,
    page_number: int = 1,
    *,
    problems: Sequence[Problem] = (),
    status: int = 200,
) -> Response:
    with viewer.database.read() as conn:
        found = get_list(conn, viewer.application_id, list_id)
        members = list_members(
            conn,
            viewer.application_id,
            list_id,
            limit=MEMBERS_PAGE,
            offset=(page_number - 1) * MEMBERS_PAGE,
        )
    return page(
        request,
        "data_list.html",
        {
            "list": found,
            "members": [(m, customer_url(m.customer_id)) for m in members],
            "page_number": page_number,
            "limit": MEMBERS_PAGE,
            "problems": problems,
            "errors": errors_by_field(problems),
            "delete_question": (
                f"Delete the list {found.name}? Its {found.members:,} memberships go; "
                "the customers stay. Journeys that enter from it will find it missing."
            ),
        },
        title=f"List {found.name}",
        status=status,
    )


@router.get("/lists/{list_id}")
def show_list(
    request: Request,
    list_id: int,
    viewer: Viewer,
    page_text: Annotated[str, Query(alias="page")] = "1",
) -> Response:
    """A contact list: its members a page at a time, and a CSV upload of more."""
    return _list_page(request, viewer, list_id, page_number_of(page_text))


@router.post("/lists/{list_id}/csv")
async def upload_members(
    request: Request,
    list_id: int,
    viewer: Viewer,
    _csrf: Changing,
) -> Response:
    """Add members from a CSV file with the API's ``import_list`` (``POST /v1/list/{id}/csv``).

    The file has a ``customerId`` column; the other columns are context values. Async only
    to read the form (``Changing`` parsed it, spooling the file to disk past 1 MB): the import
    and the pages run in the thread pool.
    """
    form = await request.form()
    try:
        return await run_in_threadpool(_import, request, list_id, viewer, form)
    finally:
        await form.close()


def _import(request: Request, list_id: int, viewer: ViewerContext, form: FormData) -> Response:
    upload = form.get("file")
    skip_bad = form.get("ignoreErrors") == "on"
    with viewer.database.read() as conn:
        get_list(conn, viewer.application_id, list_id)
    if not isinstance(upload, UploadFile) or not upload.filename:
        problem = Problem("file", "choose a CSV file to upload", "missing")
        return _list_page(request, viewer, list_id, problems=[problem], status=400)
    try:
        report = import_list(
            viewer.database,
            viewer.application_id,
            list_id,
            upload.file,
            utcnow(),
            ignore_errors=skip_bad,
        )
    except InvalidInput as error:
        return _list_page(request, viewer, list_id, problems=problems_of(error), status=400)
    notice = (
        f"Read {report.rows:,} rows of {upload.filename}: {report.stored:,} members added, "
        f"{report.duplicates:,} already in the list, {report.customers_created:,} new customers"
    )
    if report.errors:
        first = report.problems[0] if report.problems else None
        notice += f", {report.errors:,} bad rows skipped" + (f" (first: {first})" if first else "")
    return see_other(f"/lists/{list_id}", notice + ".")


@router.post("/lists/{list_id}/delete")
def remove_list(list_id: int, viewer: Viewer, _csrf: Changing) -> Response:
    """Delete a contact list; its customers stay (``DELETE /v1/list/{id}``)."""
    with viewer.database.write() as conn:
        name = get_list(conn, viewer.application_id, list_id).name
        delete_list(conn, viewer.application_id, list_id)
    return see_other("/lists", f"List {name} deleted.")


# -- event types ---------------------------------------------------------------------------------


def _event_types_page(
    request: Request,
    viewer: ViewerContext,
    *,
    form: dict[str, str] | None = None,
    problems: Sequence[Problem] = (),
    status: int = 200,
) -> Response:
    with viewer.database.read() as conn:
        found = list_event_types(conn, viewer.application_id)
    return page(
        request,
        "data_event_types.html",
        {
            "types": found,
            "form": form or {},
            "problems": problems,
            "errors": errors_by_field(problems),
        },
        title="Event types",
        status=status,
    )


@router.get("/event-types")
def event_types(request: Request, viewer: Viewer) -> Response:
    """The application's event types; a form to define one."""
    return _event_types_page(request, viewer)


def _retention(text: str) -> int | Problem | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return Problem("retentionDays", f"{text!r} is not a whole number of days")


@router.post("/event-types")
def add_event_type(
    request: Request,
    viewer: Viewer,
    _csrf: Changing,
    code: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    retentionDays: Annotated[str, Form()] = "",
) -> Response:
    """Define an event type (``POST /v1/event/type``)."""
    code = code.strip()
    form = {"code": code, "name": name, "retentionDays": retentionDays}
    retention = _retention(retentionDays)
    if isinstance(retention, Problem):
        return _event_types_page(request, viewer, form=form, problems=[retention], status=400)
    try:
        with viewer.database.write() as conn:
            define_event_type(conn, viewer.application_id, code, name, utcnow(), retention)
    except (InvalidInput, Conflict) as error:
        problems = _named(error, "code")
        return _event_types_page(request, viewer, form=form, problems=problems, status=400)
    return see_other("/event-types", f"Event type {code} added.")


# -- places --------------------------------------------------------------------------------------

PLACE_NUMBERS = ("latitude", "longitude", "radius")


def _places_page(
    request: Request,
    viewer: ViewerContext,
    *,
    form: dict[str, str] | None = None,
    problems: Sequence[Problem] = (),
    status: int = 200,
) -> Response:
    with viewer.database.read() as conn:
        found = list_places(conn, viewer.application_id)
    return page(
        request,
        "data_places.html",
        {
            "places": found,
            "cooldown": lambda place: duration_words(str(place.cooldown_duration)),
            "form": form or {"cooldown": DEFAULT_COOLDOWN},
            "problems": problems,
            "errors": errors_by_field(problems),
        },
        title="Places",
        status=status,
    )


@router.get("/places")
def places(request: Request, viewer: Viewer) -> Response:
    """The application's places (geofences); a form to add one."""
    return _places_page(request, viewer)


@router.post("/places")
def add_place(
    request: Request,
    viewer: Viewer,
    _csrf: Changing,
    name: Annotated[str, Form()] = "",
    latitude: Annotated[str, Form()] = "",
    longitude: Annotated[str, Form()] = "",
    radius: Annotated[str, Form()] = "",
    cooldown: Annotated[str, Form()] = "",
) -> Response:
    """Add a place (``POST /v1/place``)."""
    form = {
        "name": name,
        "latitude": latitude,
        "longitude": longitude,
        "radius": radius,
        "cooldown": cooldown,
    }
    body: dict[str, object] = {"name": name, "cooldown": cooldown.strip() or DEFAULT_COOLDOWN}
    problems: list[Problem] = []
    for key in PLACE_NUMBERS:
        try:
            body[key] = float(form[key].strip())
        except ValueError:
            problems.append(Problem(key, f"{form[key]!r} is not a number", "wrong_type"))
    if not problems:
        try:
            with viewer.database.write() as conn:
                create_place(conn, viewer.application_id, body, utcnow())
        except (InvalidInput, Conflict) as error:
            problems = _named(error, "name")
    if problems:
        return _places_page(request, viewer, form=form, problems=problems, status=400)
    return see_other("/places", f"Place {name.strip()} added.")


@router.post("/places/{place_id}/delete")
def remove_place(place_id: int, viewer: Viewer, _csrf: Changing) -> Response:
    """Delete a place (``DELETE /v1/place/{id}``)."""
    with viewer.database.write() as conn:
        name = get_place(conn, viewer.application_id, place_id).name
        delete_place(conn, viewer.application_id, place_id)
    return see_other("/places", f"Place {name} deleted.")
