"""The journeys list and the journey workflow, from a new draft to its deactivation.

New journeys come from the template gallery or from scratch; drafts are validated and activated
with options; active ones deactivated; any cloned; drafts and deactivated ones removed; customers
put into a list-entry journey from a CSV.

Each action calls what the ``/v1/journey`` router calls (``wayfare.api.journeys``): the store's
journey functions (``store.journey_templates`` for the gallery), the engine's ``start_journey``
and ``stop_journey``, and ``importing.entries.put_csv`` for a CSV of customers. The builder
(``GET /journeys/{id}``, ``builder.py``) and the statistics (``stats.py``) are other pages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from wayfare.console.web import (
    Changing,
    ConsoleRoute,
    Viewer,
    audience_names,
    page,
    see_other,
    utcnow,
    whole_number,
)
from wayfare.engine.runner import start_journey, stop_journey
from wayfare.errors import Conflict, InvalidInput, InvalidTransition, Problem
from wayfare.importing.entries import PutReport, put_csv
from wayfare.model.fields import FieldType
from wayfare.model.lifecycle import JourneyStatus
from wayfare.model.templates import TEMPLATES, find_template
from wayfare.store import journey_templates
from wayfare.store.common import NAME_MAX
from wayfare.store.customers import list_fields
from wayfare.store.enrollments import journey_counts
from wayfare.store.events import list_event_types
from wayfare.store.journeys import (
    StoredJourney,
    check_journey,
    clone_journey,
    create_journey,
    delete_journey,
    get_journey,
    journey_names,
    list_journeys,
)
from wayfare.store.lists import list_lists
from wayfare.store.segments import list_segments

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

PAGE_SIZE = 20
"""Journeys per page of the list."""
LAST_PAGE = 10**8
"""The highest page number taken (past it, the first page is shown)."""

STATUS_LOOK = {
    JourneyStatus.DRAFT: ("draft", "draft"),
    JourneyStatus.ACTIVE: ("active", "active"),
    JourneyStatus.DEACTIVATED: ("deactivated", "stopped"),
}
"""Each status's badge: its words and its CSS class."""

ENTRY_TYPES = (
    ("IN_ALL", "All customers"),
    ("IN_LIST", "A contact list, or customers put in (API or CSV)"),
    ("IN_SEGMENT", "A segment"),
    ("IN_FILTER", "Customers matching a filter"),
    ("IN_CUSTOM_EVENT", "A custom event"),
    ("IN_BIRTHDAY", "A birthday (a date field's anniversary)"),
)
"""The entry types a journey can start from scratch with, in the words of the form."""

UNITS = {"minutes": ("PT", "M"), "hours": ("PT", "H"), "days": ("P", "D")}
"""The re-check interval's units and how each writes an ISO 8601 duration."""

_INTERVAL = re.compile(r"^(PT(?P<m>[0-9]+)M|PT(?P<h>[0-9]+)H|P(?P<d>[0-9]+)D)$")
_SAFE_BACK = re.compile(r"^/journeys(/\d+)?$")

SUMMARY_PROBLEMS = 4
"""Problems named in the one-line notice of a failed validation (the rest are counted)."""


# ---------------------------------------------------------------------------------------------
# Words


def entry_words(
    states: Sequence[Any], lists: Mapping[int, str], segments: Mapping[int, str]
) -> str:
    """How a journey's entry reads in a list: "Custom event cart.add", "All customers", ..."""
    entry = next(
        (s for s in states if isinstance(s, Mapping) and str(s.get("type", "")).startswith("IN_")),
        None,
    )
    if entry is None:
        return "No entry state yet"
    params = entry.get("params")
    params = params if isinstance(params, Mapping) else {}
    kind = str(entry["type"])
    if kind == "IN_ALL":
        return "All customers"
    if kind == "IN_LIST":
        list_id = params.get("listId")
        if isinstance(list_id, int):
            return f"Contact list {lists.get(list_id, f'#{list_id}')}"
        return "Customers put in (API or CSV)"
    if kind == "IN_SEGMENT":
        cond = params.get("cond")
        ids = cond.get("segmentIds") if isinstance(cond, Mapping) else None
        ids = ids if isinstance(ids, list) else []
        names = [segments.get(i, f"#{i}") for i in ids if isinstance(i, int)]
        noun = "Segments" if len(names) > 1 else "Segment"
        return f"{noun} {', '.join(names)}" if names else "A segment (none chosen)"
    if kind == "IN_FILTER":
        return "Customers matching a filter"
    if kind == "IN_CUSTOM_EVENT":
        event = params.get("eventName")
        return f"Custom event {event}" if event else "A custom event (none chosen)"
    if kind == "IN_BIRTHDAY":
        return "Birthday"
    return kind


def takes_csv(journey: StoredJourney) -> bool:
    """Whether customers can be put into the journey from a CSV (an ``IN_LIST`` entry, not over)."""
    listed = any(isinstance(s, Mapping) and s.get("type") == "IN_LIST" for s in journey.states)
    return listed and journey.status is not JourneyStatus.DEACTIVATED


def moment(value: datetime | None) -> str:
    """A stored time as the list shows it (UTC, to the minute)."""
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def summary(problems: Sequence[Problem]) -> str:
    """A failed validation in one line: "3 problems: state 4: params.forward: ...; ..."."""
    count = len(problems)
    named = "; ".join(str(p) for p in problems[:SUMMARY_PROBLEMS])
    more = f"; and {count - SUMMARY_PROBLEMS} more" if count > SUMMARY_PROBLEMS else ""
    return f"{count} problem{'s' if count != 1 else ''}: {named}{more}"


def _back(target: str, default: str = "/journeys") -> str:
    """Where to go after an action: the list or a journey's page, never off the console."""
    return target if _SAFE_BACK.match(target) else default


# ---------------------------------------------------------------------------------------------
# The list


@dataclass(frozen=True, slots=True)
class JourneyRow:
    """One line of the journeys list."""

    journey: StoredJourney
    entry: str
    status_words: str
    status_class: str
    created: str
    updated: str
    now: int
    entered: int
    takes_csv: bool

    @property
    def deactivate_question(self) -> str:
        """What deactivating does, said in full before it is done."""
        name = self.journey.name
        inside = (
            "No one is in it now."
            if not self.now
            else f"The {self.now:,} customer(s) in it now leave it at once and get no further "
            "steps (messages already handed to a channel are not recalled)."
        )
        return (
            f"Deactivating is final: {name} cannot be activated again and no one new enters it. "
            + inside
        )


@router.get("/journeys")
def journeys_list(
    request: Request,
    viewer: Viewer,
    page_text: Annotated[str, Query(alias="page")] = "1",
    status: str = "",
) -> Response:
    """The application's journeys, newest first, with their live counts and actions."""
    page_number = max(whole_number(page_text, most=LAST_PAGE) or 1, 1)
    chosen = JourneyStatus(status) if status in JourneyStatus.__members__ else None
    with viewer.database.read() as conn:
        found = list_journeys(
            conn, viewer.application_id, limit=PAGE_SIZE, page=page_number - 1, status=chosen
        )
        counts = journey_counts(conn, viewer.application_id, [j.id for j in found.items])
        lists, segments = audience_names(conn, viewer.application_id)
    rows = []
    for journey in found.items:
        words, css = STATUS_LOOK[journey.status]
        live = counts.get(journey.id)
        rows.append(
            JourneyRow(
                journey=journey,
                entry=entry_words(journey.states, lists, segments),
                status_words=words,
                status_class=css,
                created=moment(journey.created_at),
                updated=moment(journey.updated_at),
                now=live.now if live else 0,
                entered=live.entered if live else 0,
                takes_csv=takes_csv(journey),
            )
        )
    context = {
        "rows": rows,
        "count": found.count,
        "page_number": page_number,
        "limit": PAGE_SIZE,
        "status": chosen.value if chosen else "",
        "statuses": [(s.value, STATUS_LOOK[s][0]) for s in JourneyStatus],
        "base": f"/journeys?status={chosen.value}&" if chosen else "/journeys?",
    }
    return page(request, "journeys_list.html", context, title="Journeys")


# ---------------------------------------------------------------------------------------------
# New journeys


def _new_page(
    request: Request,
    viewer: Viewer,
    *,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    template_errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The gallery of templates and the from-scratch form, with what a failed try left."""
    with viewer.database.read() as conn:
        lists = list_lists(conn, viewer.application_id)
        segments = list_segments(conn, viewer.application_id, limit=1000).items
        event_types = list_event_types(conn, viewer.application_id)
        dates = [
            f.name
            for f in list_fields(conn, viewer.application_id)
            if f.type in (FieldType.DATE, FieldType.DATETIME)
        ]
        taken = journey_names(conn, viewer.application_id, [t.name for t in TEMPLATES])
    gallery = [
        {
            "template": t,
            "name": _free_name(t.name, taken),
            "entry": entry_words(t.to_json()["states"], {}, {}),
            "channels": ", ".join(t.channels) or "none",
        }
        for t in TEMPLATES
    ]
    context = {
        "gallery": gallery,
        "entry_types": ENTRY_TYPES,
        "lists": [("", "None: customers are put in (API or CSV)")]
        + [(str(c.id), c.name) for c in lists],
        "segments": [("", "Choose a segment")] + [(str(s.id), s.name) for s in segments],
        "event_types": [("", "Choose an event")]
        + [(e.code, f"{e.name} ({e.code})") for e in event_types],
        "date_fields": [("", "Choose a date field")] + [(n, n) for n in dates],
        "values": values or {},
        "errors": errors or {},
        "template_errors": template_errors or {},
    }
    return page(request, "journeys_new.html", context, status=status, title="New journey")


@router.get("/journeys/new")
def new_journey(request: Request, viewer: Viewer) -> Response:
    """The "New journey" page: the template gallery and a from-scratch form."""
    return _new_page(request, viewer)


def _free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name 2``, ``name 3``, ... the first no journey has: a Create that works."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name} {n}"
    return candidate


def _name_problem(name: str) -> str | None:
    """What is wrong with a new journey's name, if anything."""
    if not name.strip():
        return "give the journey a name"
    if len(name.strip()) > NAME_MAX:
        return f"at most {NAME_MAX} characters"
    return None


@router.post("/journeys/new/template")
def create_from_template(
    request: Request,
    viewer: Viewer,
    _csrf: Changing,
    template: Annotated[str, Form()],
    name: Annotated[str, Form()] = "",
) -> Response:
    """Create a draft from a gallery template, as ``POST /v1/journey/template/{id}`` does."""
    chosen = find_template(template)
    wrong = _name_problem(name)
    if wrong is None:
        try:
            with viewer.database.write() as conn:
                draft = journey_templates.create_from_template(
                    conn, viewer.application_id, chosen, name.strip(), {}, utcnow()
                )
        except (Conflict, InvalidInput) as error:
            wrong = error.message
    if wrong is not None:
        return _new_page(
            request,
            viewer,
            values={f"name-{chosen.id}": name},
            template_errors={chosen.id: wrong},
            status=400,
        )
    placeholders = len(draft.new_campaigns)
    notice = f"Created {name.strip()} from the template {chosen.name}"
    if placeholders:
        notice += f", with {placeholders} placeholder campaign(s) to write in Campaigns"
    return see_other(f"/journeys/{draft.journey_id}", notice + ".")


@router.post("/journeys/new")
def create_from_scratch(
    request: Request,
    viewer: Viewer,
    _csrf: Changing,
    name: Annotated[str, Form()] = "",
    entry: Annotated[str, Form()] = "IN_ALL",
    list_id: Annotated[str, Form(alias="listId")] = "",
    segment_id: Annotated[str, Form(alias="segmentId")] = "",
    event_name: Annotated[str, Form(alias="eventName")] = "",
    date_field: Annotated[str, Form(alias="field")] = "",
) -> Response:
    """Create a draft holding only its entry state; the builder adds the rest."""
    values = {
        "name": name,
        "entry": entry,
        "listId": list_id,
        "segmentId": segment_id,
        "eventName": event_name,
        "field": date_field,
    }
    errors: dict[str, str] = {}
    if (wrong := _name_problem(name)) is not None:
        errors["name"] = wrong
    params: dict[str, Any] = {}
    if entry == "IN_LIST" and list_id:
        params["listId"] = whole_number(list_id)
        if params["listId"] is None:
            errors["listId"] = "choose one of the contact lists, or none"
    elif entry == "IN_SEGMENT":
        segment = whole_number(segment_id)
        if segment is None:
            errors["segmentId"] = "choose the segment whose customers enter"
        params["cond"] = {"segmentIds": [] if segment is None else [segment]}
    elif entry == "IN_FILTER":
        params["cond"] = {}
    elif entry == "IN_CUSTOM_EVENT":
        if not event_name:
            errors["eventName"] = "choose the event that makes a customer enter"
        params["eventName"] = event_name
    elif entry == "IN_BIRTHDAY":
        if not date_field:
            errors["field"] = "choose the date field whose anniversary makes a customer enter"
        params.update({"field": date_field, "offset": "PT0S", "at": "10:00"})
    elif entry not in dict(ENTRY_TYPES):
        errors["entry"] = "choose one of the entry types"
    if errors:
        return _new_page(request, viewer, values=values, errors=errors, status=400)
    document = {
        "name": name.strip(),
        "states": [{"id": 1, "type": entry, "params": {**params, "forward": None}}],
        "settings": {},
    }
    try:
        with viewer.database.write() as conn:
            journey_id = create_journey(conn, viewer.application_id, document, utcnow())
    except (Conflict, InvalidInput) as error:
        errors = {"name": error.message}
        if isinstance(error, InvalidInput) and error.problems:
            errors = {p.where or "name": p.message for p in error.problems}
        return _new_page(request, viewer, values=values, errors=errors, status=400)
    return see_other(
        f"/journeys/{journey_id}", f"Created {document['name']}: add its next states here."
    )


# ---------------------------------------------------------------------------------------------
# Validate, activate, deactivate, clone, remove


@router.post("/journeys/{journey_id}/check")
def check(
    journey_id: int, viewer: Viewer, _csrf: Changing, back: Annotated[str, Form()] = ""
) -> Response:
    """Validate the journey as ``GET /v1/journey/{id}/check`` does; problems go to the builder."""
    with viewer.database.read() as conn:
        name = get_journey(conn, viewer.application_id, journey_id).name
        report = check_journey(conn, viewer.application_id, journey_id)
    if report.valid:
        return see_other(_back(back), f"{name} is valid.")
    return see_other(f"/journeys/{journey_id}?check=1", f"{name}: {summary(report.problems)}")


@dataclass(frozen=True, slots=True)
class Options:
    """The activation options as the form holds them (text, as typed)."""

    reentry: bool
    max_entries: str
    every: str
    unit: str

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> Options:
        """The options a journey's settings already hold (10 minutes when it has none)."""
        max_entries = settings.get("maxEntries")
        every, unit = "10", "minutes"
        found = _INTERVAL.match(str(settings.get("recheckEvery") or ""))
        if found:
            unit = next(
                u for key, u in (("m", "minutes"), ("h", "hours"), ("d", "days")) if found[key]
            )
            every = found["m"] or found["h"] or found["d"]
        return cls(
            bool(settings.get("reentry")),
            "" if max_entries is None else str(max_entries),
            every,
            unit,
        )

    def parsed(self) -> tuple[int | None, str]:
        """``maxEntries`` and ``recheckEvery`` as the engine takes them.

        ``InvalidInput`` names the field that is not a positive whole number.
        """
        problems = []
        max_entries = None
        if self.max_entries.strip():
            max_entries = whole_number(self.max_entries)
            if not max_entries:
                problems.append(Problem("maxEntries", "a whole number, at least 1 (or empty)"))
        every = whole_number(self.every)
        if not every:
            problems.append(Problem("recheckEvery", "a whole number, at least 1"))
        if self.unit not in UNITS:
            problems.append(Problem("recheckUnit", "minutes, hours or days"))
        if problems:
            raise InvalidInput(problems=problems)
        prefix, suffix = UNITS[self.unit]
        return max_entries, f"{prefix}{every}{suffix}"


def _activate_page(
    request: Request,
    journey: StoredJourney,
    options: Options,
    problems: Sequence[Problem] = (),
    status: int = 200,
) -> Response:
    fields = {"settings.maxEntries": "maxEntries", "settings.recheckEvery": "recheckEvery"}
    errors = {fields.get(p.where, p.where): p.message for p in problems}
    context = {
        "journey": journey,
        "options": options,
        "units": [(u, u) for u in UNITS],
        "errors": errors,
        "problems": [
            p for p in problems if p.where not in (*fields, *fields.values(), "recheckUnit")
        ],
    }
    return page(
        request, "journeys_activate.html", context, status=status, title=f"Activate {journey.name}"
    )


@router.get("/journeys/{journey_id}/activate")
def activate_form(request: Request, journey_id: int, viewer: Viewer) -> Response:
    """The activation options, and what stops the journey from starting, if anything."""
    with viewer.database.read() as conn:
        journey = get_journey(conn, viewer.application_id, journey_id)
        problems: list[Problem] = []
        if journey.status is JourneyStatus.DRAFT:
            problems = check_journey(conn, viewer.application_id, journey_id).problems
    if journey.status is not JourneyStatus.DRAFT:
        problems = [Problem("", _not_a_draft(journey))]
    return _activate_page(request, journey, Options.of(journey.settings), problems)


def _not_a_draft(journey: StoredJourney) -> str:
    if journey.status is JourneyStatus.ACTIVE:
        return f"{journey.name} is already active."
    return (
        f"{journey.name} is deactivated, and deactivation is final: clone it to make a new "
        "draft and activate that."
    )


@router.post("/journeys/{journey_id}/activate")
def activate(
    request: Request,
    journey_id: int,
    viewer: Viewer,
    _csrf: Changing,
    reentry: Annotated[str, Form()] = "",
    max_entries: Annotated[str, Form(alias="maxEntries")] = "",
    every: Annotated[str, Form(alias="recheckEvery")] = "10",
    unit: Annotated[str, Form(alias="recheckUnit")] = "minutes",
) -> Response:
    """Start the draft with the options, as ``PUT /v1/journey/{id}/start`` does."""
    options = Options(bool(reentry), max_entries, every, unit)
    with viewer.database.read() as conn:
        journey = get_journey(conn, viewer.application_id, journey_id)
    try:
        limit, interval = options.parsed()
        with viewer.database.write() as conn:
            entered = start_journey(
                conn,
                viewer.application_id,
                journey_id,
                utcnow(),
                reentry=options.reentry,
                max_entries=limit,
                recheck_every=interval,
            )
    except InvalidInput as error:
        return _activate_page(
            request, journey, options, error.problems or [Problem("", error.message)], 400
        )
    except (InvalidTransition, Conflict) as error:
        return _activate_page(request, journey, options, [Problem("", error.message)], 409)
    notice = f"{journey.name} is active."
    if entered:
        notice += f" {entered:,} customer(s) entered at once."
    return see_other("/journeys", notice)


@router.post("/journeys/{journey_id}/deactivate")
def deactivate(journey_id: int, viewer: Viewer, _csrf: Changing) -> Response:
    """Deactivate for good, as ``PUT /v1/journey/{id}/stop`` does: waiting enrollments end."""
    with viewer.database.write() as conn:
        name = get_journey(conn, viewer.application_id, journey_id).name
        ended = stop_journey(conn, viewer.application_id, journey_id, utcnow())
    return see_other("/journeys", f"{name} is deactivated: {ended:,} customer(s) left it.")


@router.post("/journeys/{journey_id}/clone")
def clone(
    journey_id: int, viewer: Viewer, _csrf: Changing, name: Annotated[str, Form()] = ""
) -> Response:
    """Copy the journey into a new draft (``<name> (copy)`` unless named) and open it."""
    with viewer.database.write() as conn:
        source = get_journey(conn, viewer.application_id, journey_id)
        new_id = clone_journey(
            conn, viewer.application_id, journey_id, utcnow(), name=name.strip() or None
        )
        new_name = get_journey(conn, viewer.application_id, new_id).name
    return see_other(
        f"/journeys/{new_id}", f"Cloned {source.name} into {new_name}, a draft you can edit."
    )


@router.post("/journeys/{journey_id}/remove")
def remove(journey_id: int, viewer: Viewer, _csrf: Changing) -> Response:
    """Delete a draft or a deactivated journey, as ``DELETE /v1/journey/{id}`` does."""
    with viewer.database.write() as conn:
        name = get_journey(conn, viewer.application_id, journey_id).name
        delete_journey(conn, viewer.application_id, journey_id)
    return see_other("/journeys", f"Removed {name}.")


# ---------------------------------------------------------------------------------------------
# Customers put in from a CSV


def _customers_page(
    request: Request,
    journey: StoredJourney,
    *,
    test: bool,
    report: PutReport | None = None,
    problems: Sequence[Problem] = (),
    status: int = 200,
) -> Response:
    context = {
        "journey": journey,
        "test": test,
        "report": report,
        "problems": problems,
        "takes_csv": takes_csv(journey),
    }
    return page(
        request,
        "journeys_customers.html",
        context,
        status=status,
        title=f"Upload customers into {journey.name}",
    )


@router.get("/journeys/{journey_id}/customers")
def customers_form(request: Request, journey_id: int, viewer: Viewer) -> Response:
    """The CSV upload form of a list-entry journey."""
    with viewer.database.read() as conn:
        journey = get_journey(conn, viewer.application_id, journey_id)
    return _customers_page(request, journey, test=journey.status is JourneyStatus.DRAFT)


@router.post("/journeys/{journey_id}/customers")
async def customers_upload(
    request: Request,
    journey_id: int,
    viewer: Viewer,
    _csrf: Changing,
    test_run: Annotated[str, Form(alias="test")] = "",
) -> Response:
    """Put the CSV's customers in, as ``PUT /v1/journey/{id}/customers/csv`` does.

    A form field makes FastAPI parse the multipart body before the CSRF check (which cannot
    read the body a second time, so ``spool_upload`` cannot stream it here) and close its files
    after the response: the file part is spooled to a temporary file (on disk past 1 MB), never
    held in memory whole. The body is read on the event loop; the rest (the database, the CSV)
    is done in the thread pool.
    """
    upload = (await request.form()).get("file")
    return await run_in_threadpool(_put_upload, request, journey_id, viewer, bool(test_run), upload)


def _put_upload(
    request: Request, journey_id: int, viewer: Viewer, test: bool, upload: object
) -> Response:
    with viewer.database.read() as conn:
        journey = get_journey(conn, viewer.application_id, journey_id)
    if not isinstance(upload, UploadFile) or not upload.filename:
        problem = Problem("file", "choose a CSV file with a customerId column")
        return _customers_page(request, journey, test=test, problems=[problem], status=400)
    upload.file.seek(0)
    try:
        report = put_csv(
            viewer.database, viewer.application_id, journey_id, upload.file, utcnow(), test
        )
    except (InvalidInput, InvalidTransition, Conflict) as error:
        problems = list(error.problems) if isinstance(error, InvalidInput) else []
        problems = problems or [Problem("", error.message)]
        status = 400 if isinstance(error, InvalidInput) else 409
        return _customers_page(request, journey, test=test, problems=problems, status=status)
    return _customers_page(request, journey, test=test, report=report)
