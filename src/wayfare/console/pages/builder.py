"""The journey builder: a journey drawn as a graph, with a form per state to edit a draft.

``GET /journeys/{id}`` shows the graph (``wayfare.console.graph``), the selected state's form
(``?state=N``; ``?add=TYPE`` for a new one), the list of states and, with ``?check=1``, every
problem by state. Forms post to the same store functions as ``/v1/journey/{id}/state``
(``add_state``, ``replace_state``, ``remove_state``, ``update_journey``); a state is stored only
when validation (``wayfare.model.validation``, as the API's check runs it) finds nothing wrong
with its own params; its graph may stay half done. A new state can be put after a link of
another ("Put it after", ``wayfare.console.insertion``): the link and the new state are then saved
in one ``update_journey``. A journey that is not a draft is read-only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from wayfare.console.graph import draw
from wayfare.console.insertion import NOWHERE, insert_after, link_choices
from wayfare.console.journey_words import (
    condition_words,
    detail_words,
    duration_words,
    type_words,
)
from wayfare.console.stateforms import (
    BODY_KINDS,
    FORMS,
    MATCH_MODES,
    MAX_ROWS,
    OPERATORS,
    TYPE_CHOICES,
    UNITS,
    WEEKDAYS,
    Values,
    count_rows,
    params_of,
    values_of,
)
from wayfare.console.web import (
    Changing,
    ConsoleRoute,
    Viewer,
    page,
    see_other,
    utcnow,
    whole_number,
)
from wayfare.errors import Conflict, InvalidInput, NotFound, Problem
from wayfare.model.events import BUILTIN_EVENTS
from wayfare.model.lifecycle import Action, JourneyStatus, transition
from wayfare.store.campaigns import list_campaigns
from wayfare.store.customers import list_fields
from wayfare.store.events import list_event_types
from wayfare.store.journeys import (
    StoredJourney,
    add_state,
    get_journey,
    remove_state,
    replace_state,
    update_journey,
    validate_document,
)
from wayfare.store.lists import list_lists
from wayfare.store.segments import list_segments

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

_STATE_WHERE = re.compile(r"^state (\d+)(?::\s*(.*))?$")


@dataclass(frozen=True)
class Catalogue:
    """What the pickers offer: the application's campaigns, events, fields, lists, segments."""

    campaigns: list[tuple[int, str, str]]
    """(id, name, channel)."""
    events: list[str]
    fields: list[tuple[str, str]]
    """(name, type)."""
    lists: list[tuple[int, str]]
    segments: list[tuple[int, str]]

    def names(self) -> dict[str, dict[int, str]]:
        """Names for the graph's labels."""
        return {
            "campaigns": {i: f"{name} ({channel})" for i, name, channel in self.campaigns},
            "lists": dict(self.lists),
            "segments": dict(self.segments),
        }


def _catalogue(conn: Connection, application_id: int) -> Catalogue:
    campaigns = list_campaigns(conn, application_id, limit=1000).items
    own_events = [e.code for e in list_event_types(conn, application_id)]
    return Catalogue(
        campaigns=sorted((c.id, c.name, c.channel) for c in campaigns),
        events=sorted(own_events) + sorted(BUILTIN_EVENTS - set(own_events)),
        fields=[(f.name, f.type.value) for f in list_fields(conn, application_id)],
        lists=[(c.id, c.name) for c in list_lists(conn, application_id)],
        segments=[(s.id, s.name) for s in list_segments(conn, application_id, limit=1000).items],
    )


def by_state(problems: list[Problem]) -> tuple[dict[int, list[Problem]], list[Problem]]:
    """Problems grouped by the state they name (``state 3: params.x``), and the others."""
    found: dict[int, list[Problem]] = {}
    other: list[Problem] = []
    for problem in problems:
        match = _STATE_WHERE.match(problem.where)
        if match:
            where = match.group(2) or ""
            found.setdefault(int(match.group(1)), []).append(
                Problem(where, problem.message, problem.code)
            )
        else:
            other.append(problem)
    return found, other


def field_errors(problems: list[Problem]) -> dict[str, list[str]]:
    """Messages by form field (the path inside ``params``: ``timeout.time``)."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        path = problem.where.removeprefix("params").lstrip(".")
        errors.setdefault(path, []).append(problem.message)
    return errors


def _state_ids(journey: StoredJourney) -> list[tuple[int, str, Any]]:
    found = []
    for state in journey.states:
        if isinstance(state, dict) and isinstance(state.get("id"), int):
            found.append((state["id"], str(state.get("type")), state.get("params")))
    return found


def _render(
    request: Request,
    viewer: Viewer,
    journey_id: int,
    *,
    selected: int | None = None,
    adding: str | None = None,
    values: Values | None = None,
    form_problems: list[Problem] | None = None,
    name_problems: list[Problem] | None = None,
    typed_name: str | None = None,
    page_problems: list[Problem] | None = None,
    check: bool = False,
    status: int = 200,
) -> Response:
    with viewer.database.read() as conn:
        journey = get_journey(conn, viewer.application_id, journey_id)
        catalogue = _catalogue(conn, viewer.application_id)
        report = validate_document(conn, viewer.application_id, journey.document())
    states = _state_ids(journey)
    known = {ident for ident, _, _ in states}
    if selected is not None and selected not in known:
        raise NotFound(f"journey {journey_id} has no state {selected}")
    if adding is not None and adding not in FORMS:
        raise InvalidInput(problems=[Problem("add", f"unknown state type {adding!r}", "invalid")])
    per_state, general = by_state(report.problems)
    editable = journey.status is JourneyStatus.DRAFT
    current = next((s for s in states if s[0] == selected), None)
    form_type = adding or (current[1] if current else None)
    if form_type is not None and values is None:
        values = values_of(form_type, current[2] if current and not adding else {})
    shown = form_problems if form_problems is not None else per_state.get(selected or -1, [])
    names = catalogue.names()
    graph = draw(
        journey.document(),
        problems={
            ident: [f"{p.where}: {p.message}" if p.where else p.message for p in found]
            for ident, found in per_state.items()
        },
        href=lambda ident: f"/journeys/{journey_id}?state={ident}",
        selected=selected,
        names=names,
    )
    rows = [
        {
            "id": ident,
            "type": state_type,
            "words": type_words(state_type, params),
            "detail": detail_words(state_type, params, names),
            "problems": len(per_state.get(ident, [])),
        }
        for ident, state_type, params in states
    ]
    context = {
        "journey": journey,
        "editable": editable,
        "graph": graph,
        "rows": rows,
        "selected": selected,
        "current": current,
        "adding": adding,
        "form_type": form_type,
        "items": FORMS.get(form_type or "", ()),
        "values": values or {},
        "errors": field_errors(shown),
        "shown_problems": shown,
        "report": report,
        "per_state": per_state,
        "general": general,
        "name_problems": name_problems or [],
        "typed_name": typed_name,
        "page_problems": page_problems or [],
        "check": check,
        "catalogue": catalogue,
        "state_choices": [(str(i), f"{i} · {type_words(t, p)}") for i, t, p in states],
        "link_choices": link_choices(journey.states),
        "type_choices": [(t, f"{type_words(t, {})} ({t})") for t in TYPE_CHOICES],
        "event_choices": [(e, e) for e in catalogue.events],
        "date_fields": [
            (n, f"{n} ({t})") for n, t in catalogue.fields if t in ("date", "datetime")
        ],
        "units": UNITS,
        "body_kinds": BODY_KINDS,
        "operators": OPERATORS,
        "weekdays": WEEKDAYS,
        "match_modes": MATCH_MODES,
        "max_rows": MAX_ROWS,
        "next_id": max(known, default=0) + 1,
        "words": {
            "type": type_words,
            "condition": condition_words,
            "duration": duration_words,
        },
    }
    return page(request, "builder_page.html", context, title=journey.name, status=status)


@router.get("/journeys/{journey_id:int}")
def builder(
    request: Request,
    viewer: Viewer,
    journey_id: int,
    state: int | None = None,
    add: str | None = None,
    check: bool = False,
) -> Response:
    """The journey drawn as a graph, a state's form (or its details), the list of states."""
    return _render(request, viewer, journey_id, selected=state, adding=add, check=check)


async def _posted(request: Request) -> tuple[Values, str]:
    """The posted form as flat values (lists for the multi-valued fields), and its ``more``.

    A dependency: the body is read on the event loop, the page's database work is done by a
    plain ``def`` route, in the thread pool.
    """
    form = await request.form()
    values: Values = {}
    for key in form:
        items = [v for v in form.getlist(key) if isinstance(v, str)]
        if key.endswith(("segmentIds", "weekdays")):
            values[key] = items
        elif items:
            values[key] = items[-1]
    return values, str(values.pop("more", ""))


def _editable_journey(conn: Connection, viewer: Viewer, journey_id: int) -> StoredJourney:
    journey = get_journey(conn, viewer.application_id, journey_id)
    transition(journey.status, Action.EDIT, journey_id=journey_id)
    return journey


def _save_problems(
    conn: Connection,
    viewer: Viewer,
    journey: StoredJourney,
    states: list[Any],
    state_id: int,
) -> list[Problem]:
    """The problems of state ``state_id``'s own params in ``states`` (graph aside)."""
    document = {**journey.document(), "states": states}
    report = validate_document(conn, viewer.application_id, document)
    found, _ = by_state(report.problems)
    return [p for p in found.get(state_id, []) if p.where.startswith("params")]


Posted = Annotated[tuple[Values, str], Depends(_posted)]
"""A route parameter: the posted state form (``_posted``)."""


def _save(
    request: Request, viewer: Viewer, journey_id: int, state_id: int | None, posted: Posted
) -> Response:
    values, more = posted
    with viewer.database.read() as conn:
        journey = _editable_journey(conn, viewer, journey_id)
        catalogue = _catalogue(conn, viewer.application_id)
    if state_id is None:
        state_type = str(values.get("type", ""))
        if state_type not in FORMS:
            problem = Problem("type", f"choose a state type (not {state_type!r})", "invalid")
            return _render(request, viewer, journey_id, page_problems=[problem], status=400)
    else:
        found = next((s for s in _state_ids(journey) if s[0] == state_id), None)
        if found is None:
            raise NotFound(f"journey {journey_id} has no state {state_id}")
        state_type = found[1] if found[1] in FORMS else str(values.get("type", ""))
    adding = state_type if state_id is None else None
    if more:
        return _render(
            request,
            viewer,
            journey_id,
            selected=state_id,
            adding=adding,
            values=count_rows(state_type, values, more),
        )
    reading = params_of(
        state_type,
        values,
        field_types=dict(catalogue.fields),
        channels={i: channel for i, _, channel in catalogue.campaigns},
    )
    new_id = state_id if state_id is not None else _next_id(journey)
    state = {"id": new_id, "type": state_type, "params": reading.params}
    expected = whole_number(str(values.get("version", "")))
    after = str(values.get("after", NOWHERE)) if state_id is None else NOWHERE
    if state_id is None:
        states, after_problems = insert_after(journey.states, state, after)
    else:
        states = [
            state if isinstance(s, dict) and s.get("id") == new_id else s for s in journey.states
        ]
        after_problems = []
    try:
        with viewer.database.write() as conn:
            problems = reading.problems + after_problems
            if not problems:
                problems = _save_problems(conn, viewer, journey, states, new_id)
            if not problems:
                if after != NOWHERE:
                    # The link and the new state, in one change of the draft.
                    update_journey(
                        conn,
                        viewer.application_id,
                        journey_id,
                        {"states": states},
                        utcnow(),
                        expected_version=expected if expected is not None else journey.version,
                    )
                elif state_id is None:
                    add_state(
                        conn,
                        viewer.application_id,
                        journey_id,
                        state,
                        utcnow(),
                        expected_version=expected,
                    )
                else:
                    replace_state(
                        conn,
                        viewer.application_id,
                        journey_id,
                        state_id,
                        state,
                        utcnow(),
                        expected_version=expected,
                    )
    except (InvalidInput, Conflict) as error:
        problems = (
            list(error.problems)
            if isinstance(error, InvalidInput) and error.problems
            else [Problem("", error.message, error.error_code)]
        )
    if problems:
        return _render(
            request,
            viewer,
            journey_id,
            selected=state_id,
            adding=adding,
            values=count_rows(state_type, values),
            form_problems=problems,
            status=400,
        )
    verb = "added" if state_id is None else "saved"
    notice = f"State {new_id} {verb}."
    if after != NOWHERE:
        source = after.partition(":")[0]
        notice = f"State {new_id} added after state {source}."
    return see_other(f"/journeys/{journey_id}?state={new_id}", notice)


def _next_id(journey: StoredJourney) -> int:
    return max((i for i, _, _ in _state_ids(journey)), default=0) + 1


@router.post("/journeys/{journey_id:int}/states")
def create_state(
    request: Request, viewer: Viewer, journey_id: int, _csrf: Changing, posted: Posted
) -> Response:
    """Add a state of the posted ``type`` with the form's params."""
    return _save(request, viewer, journey_id, None, posted)


@router.post("/journeys/{journey_id:int}/states/{state_id:int}")
def save_state(
    request: Request,
    viewer: Viewer,
    journey_id: int,
    state_id: int,
    _csrf: Changing,
    posted: Posted,
) -> Response:
    """Replace a state's params (whole) with the form's."""
    return _save(request, viewer, journey_id, state_id, posted)


@router.post("/journeys/{journey_id:int}/states/{state_id:int}/remove")
def delete_state(viewer: Viewer, journey_id: int, state_id: int, _csrf: Changing) -> Response:
    """Remove a state; states that went to it are left for the check to point out."""
    with viewer.database.write() as conn:
        journey = _editable_journey(conn, viewer, journey_id)
        remove_state(conn, viewer.application_id, journey_id, state_id, utcnow())
        pointing = [
            ident
            for ident, _, params in _state_ids(journey)
            if ident != state_id and _points_at(params, state_id)
        ]
    notice = f"State {state_id} removed."
    if pointing:
        shown = ", ".join(str(i) for i in pointing)
        notice += f" States {shown} still go to it: choose their next state again."
    return see_other(f"/journeys/{journey_id}", notice)


def _points_at(value: object, state_id: int) -> bool:
    if isinstance(value, Mapping):
        return any(
            (key == "forward" and item == state_id) or _points_at(item, state_id)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_points_at(item, state_id) for item in value)
    return False


@router.post("/journeys/{journey_id:int}/rename")
def rename(
    request: Request,
    viewer: Viewer,
    journey_id: int,
    name: Annotated[str, Form()],
    _csrf: Changing,
) -> Response:
    """Rename the draft."""
    try:
        with viewer.database.write() as conn:
            _editable_journey(conn, viewer, journey_id)
            update_journey(conn, viewer.application_id, journey_id, {"name": name}, utcnow())
    except (InvalidInput, Conflict) as error:
        problems = (
            list(error.problems)
            if isinstance(error, InvalidInput) and error.problems
            else [Problem("name", error.message, error.error_code)]
        )
        return _render(
            request, viewer, journey_id, name_problems=problems, typed_name=name, status=400
        )
    return see_other(f"/journeys/{journey_id}", "Journey renamed.")
