"""``/v1/journey``: drafts, templates, states, check, start, stop, clone, delete, customers put in.

Customers go in by ids, with context values or by CSV, live or as test runs; statistics and
inspection close the file.

The journey document is checked by the store (shape) and by ``wayfare.model.validation`` (on
check and start), whose problems name the state id and field path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field

from wayfare.api.auth import Auth, Db, utcnow
from wayfare.api.envelope import Body, Json, Page, created, ok
from wayfare.api.uploads import UPLOAD_BODY, spool_upload
from wayfare.engine.experiments import ExperimentReport, experiment_reports
from wayfare.engine.runner import put_customers, start_journey, stop_journey
from wayfare.errors import InvalidInput, Problem
from wayfare.importing.entries import PutReport, put_csv
from wayfare.model.customers import check_customer_id
from wayfare.model.durations import Duration, parse_duration
from wayfare.model.lifecycle import JourneyStatus
from wayfare.model.templates import TEMPLATES, find_template
from wayfare.store import journey_templates
from wayfare.store.inspection import EnrollmentHistory, enrollment_history, history_csv
from wayfare.store.journeys import (
    StoredJourney,
    add_state,
    check_journey,
    clone_journey,
    create_journey,
    delete_journey,
    get_journey,
    list_journeys,
    remove_state,
    replace_state,
    update_journey,
)
from wayfare.store.stats import (
    PAST_CALENDAR,
    HoldoutStats,
    JourneyStats,
    PathStats,
    SeriesPoint,
    StateStats,
    difference_interval,
    journey_series,
    journey_stats,
    rate,
    series_step,
    wilson,
)

router = APIRouter(prefix="/v1/journey", tags=["journeys"])


class JourneyBody(BaseModel):
    """A journey document (DESIGN.md §2); other keys of an exported journey are ignored."""

    model_config = ConfigDict(extra="ignore")

    name: str
    states: list[Any]
    settings: dict[str, Any] | None = None


class JourneyChanges(Body):
    """What to replace in a draft (the keys given); ``version`` guards against lost updates."""

    name: str | None = None
    states: list[Any] | None = None
    settings: dict[str, Any] | None = None
    version: int | None = Field(None, description="The version edited; 409 if it moved on.")


class StateBody(BaseModel):
    """A state ``{id?, type, params}``; ``params`` are replaced whole."""

    model_config = ConfigDict(extra="allow")

    id: int | None = None
    type: str | None = None
    params: dict[str, Any] | None = None


class CloneBody(Body):
    """The clone's name (by default ``<name> (copy)``)."""

    name: str | None = None


class StartBody(Body):
    """The activation options."""

    reentry: bool = False
    maxEntries: int | None = Field(None, ge=1)
    recheckEvery: str | None = Field(None, description="ISO 8601 duration; PT10M by default.")


class TemplateBody(Body):
    """The new journey's name, and existing campaigns for some of the template's slots."""

    name: str = Field(min_length=1, max_length=200)
    campaigns: dict[str, Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=dict,
        description="Campaign id per slot (``welcomePush``, ...); slots left out get a new "
        "placeholder campaign named after the journey.",
    )


CustomerId = Annotated[
    str,
    AfterValidator(check_customer_id),
    Field(description="A customer id: letters, digits and _ . : @ + -, at most 200 long."),
]

MAX_CUSTOMERS = 100_000
"""Customers in one ``PUT /v1/journey/{id}/customers`` body (larger sets: the CSV upload)."""


class CustomerEntry(Body):
    """A customer and the context values its journey sees (``{{ context.x }}``)."""

    customer_id: CustomerId = Field(alias="customerId")
    context: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("context", "contextValues")
    )


class PutCustomersBody(Body):
    """Whom to put in: customer ids, or customers with context values (exactly one)."""

    customers: list[CustomerId] | None = Field(None, max_length=MAX_CUSTOMERS)
    customers_with_context: list[CustomerEntry] | None = Field(
        None, alias="customersWithContext", max_length=MAX_CUSTOMERS
    )


def journey_json(journey: StoredJourney) -> dict[str, Any]:
    """A stored journey as the API shows it."""
    return {
        "id": journey.id,
        "name": journey.name,
        "status": journey.status.value,
        "version": journey.version,
        "states": journey.states,
        "settings": journey.settings,
        "clonedFrom": journey.cloned_from,
        "createdAt": journey.created_at,
        "updatedAt": journey.updated_at,
        "activatedAt": journey.activated_at,
        "deactivatedAt": journey.deactivated_at,
    }


def _state_body(body: StateBody) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


@router.post("", status_code=201)
def create(body: JourneyBody, caller: Auth, database: Db) -> Json:
    """Store a new draft (it may be half done: check it with ``GET …/check``)."""
    with database.write() as conn:
        journey_id = create_journey(
            conn, caller.application_id, body.model_dump(exclude_none=True), utcnow()
        )
        journey = get_journey(conn, caller.application_id, journey_id)
    return created(journey_json(journey))


@router.get("")
def index(
    caller: Auth,
    database: Db,
    page: Page,
    status: Literal["DRAFT", "ACTIVE", "DEACTIVATED"] | None = Query(None),
) -> Json:
    """The journeys, newest first."""
    with database.read() as conn:
        found = list_journeys(
            conn,
            caller.application_id,
            limit=page.limit,
            page=page.page,
            status=None if status is None else JourneyStatus(status),
        )
    return ok([journey_json(j) for j in found.items], count=found.count)


@router.get("/template")
def templates(_caller: Auth) -> Json:
    """The template gallery: what each template does, its channels, campaigns, fields, events."""
    return ok([t.to_json() for t in TEMPLATES], count=len(TEMPLATES))


@router.post("/template/{template_id}", status_code=201)
def create_from_template(template_id: str, body: TemplateBody, caller: Auth, database: Db) -> Json:
    """Create a draft from a template, ready to start (``GET …/check`` finds nothing).

    Campaigns not given in ``campaigns`` are created as placeholders of the right channel,
    named ``<journey name> · <slot name>``; missing event types and customer fields are defined.
    """
    template = find_template(template_id)
    with database.write() as conn:
        draft = journey_templates.create_from_template(
            conn, caller.application_id, template, body.name, body.campaigns, utcnow()
        )
        journey = get_journey(conn, caller.application_id, draft.journey_id)
    return created({**journey_json(journey), "template": template.id, **draft.to_json()})


@router.get("/{journey_id}")
def show(journey_id: int, caller: Auth, database: Db) -> Json:
    """One journey."""
    with database.read() as conn:
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok(journey_json(journey))


@router.put("/{journey_id}")
def update(journey_id: int, body: JourneyChanges, caller: Auth, database: Db) -> Json:
    """Replace a draft's name, states and/or settings (only drafts can be edited)."""
    document = body.model_dump(exclude_unset=True, exclude={"version"})
    with database.write() as conn:
        update_journey(
            conn,
            caller.application_id,
            journey_id,
            document,
            utcnow(),
            expected_version=body.version,
        )
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok(journey_json(journey))


@router.delete("/{journey_id}")
def delete(journey_id: int, caller: Auth, database: Db) -> Json:
    """Delete a draft or a deactivated journey (an active one must be stopped first)."""
    with database.write() as conn:
        delete_journey(conn, caller.application_id, journey_id)
    return ok({"id": journey_id})


@router.post("/{journey_id}/clone", status_code=201)
def clone(journey_id: int, caller: Auth, database: Db, body: CloneBody | None = None) -> Json:
    """Copy a journey (in any status) into a new draft."""
    with database.write() as conn:
        new_id = clone_journey(
            conn, caller.application_id, journey_id, utcnow(), name=body.name if body else None
        )
        journey = get_journey(conn, caller.application_id, new_id)
    return created(journey_json(journey))


@router.get("/{journey_id}/check")
def check(journey_id: int, caller: Auth, database: Db) -> Json:
    """The validation report: every problem with its state id and field path."""
    with database.read() as conn:
        report = check_journey(conn, caller.application_id, journey_id)
    return ok(report.to_json())


@router.put("/{journey_id}/start")
def start(journey_id: int, caller: Auth, database: Db, body: StartBody | None = None) -> Json:
    """Validate the draft with the activation options and make it ACTIVE."""
    options = body or StartBody()
    with database.write() as conn:
        entered = start_journey(
            conn,
            caller.application_id,
            journey_id,
            utcnow(),
            reentry=options.reentry,
            max_entries=options.maxEntries,
            recheck_every=options.recheckEvery,
        )
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok({**journey_json(journey), "entered": entered})


@router.put("/{journey_id}/stop")
def stop(journey_id: int, caller: Auth, database: Db) -> Json:
    """Deactivate the journey for good: no new entries, waiting enrollments end."""
    with database.write() as conn:
        ended = stop_journey(conn, caller.application_id, journey_id, utcnow())
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok({**journey_json(journey), "enrollmentsEnded": ended})


@router.post("/{journey_id}/state", status_code=201)
def create_state(journey_id: int, body: StateBody, caller: Auth, database: Db) -> Json:
    """Add a state to the draft (its id: the one given, else one more than the largest)."""
    with database.write() as conn:
        state_id = add_state(conn, caller.application_id, journey_id, _state_body(body), utcnow())
        journey = get_journey(conn, caller.application_id, journey_id)
    return created({"stateId": state_id, "journey": journey_json(journey)})


@router.put("/{journey_id}/state/{state_id}")
def put_state(journey_id: int, state_id: int, body: StateBody, caller: Auth, database: Db) -> Json:
    """Replace a state of the draft (``params`` whole; ``type`` kept when absent)."""
    with database.write() as conn:
        replace_state(
            conn, caller.application_id, journey_id, state_id, _state_body(body), utcnow()
        )
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok(journey_json(journey))


@router.delete("/{journey_id}/state/{state_id}")
def delete_state(journey_id: int, state_id: int, caller: Auth, database: Db) -> Json:
    """Remove a state from the draft (``forward``s to it are left for the check to report)."""
    with database.write() as conn:
        remove_state(conn, caller.application_id, journey_id, state_id, utcnow())
        journey = get_journey(conn, caller.application_id, journey_id)
    return ok(journey_json(journey))


def _path_json(path: PathStats) -> dict[str, Any]:
    interval = None if path.conversions is None else wilson(path.conversions, path.entered)
    return {
        "path": path.index,
        "forward": path.forward,
        "weight": path.weight,
        "entered": path.entered,
        "attributed": path.attributed,
        "conversions": path.conversions,
        "conversionRate": None
        if path.conversions is None
        else rate(path.conversions, path.entered),
        "confidence95": None if interval is None else [interval.low, interval.high],
    }


def _state_json(state: StateStats) -> dict[str, Any]:
    body: dict[str, Any] = {
        "stateId": state.state_id,
        "type": state.type,
        "entered": state.entered,
        "completed": state.completed,
        "exited": state.exited,
        "failed": state.failed,
        "waiting": state.waiting,
        "branches": dict(sorted(state.branches.items())),
    }
    if (m := state.messages) is not None:
        body["messages"] = {
            "campaignId": m.campaign_id,
            "sent": m.sent,
            "skipped": dict(sorted(m.skipped.items())),
            "delivered": m.delivered,
            "failed": m.failed,
            "opened": m.opened,
            "clicked": m.clicked,
            "clickRate": rate(m.clicked, m.sent),
            "conversions": m.conversions,
            "sendTime": m.send_time,
        }
    if state.paths is not None:
        body["paths"] = [_path_json(p) for p in state.paths]
    return body


def stats_json(stats: JourneyStats) -> dict[str, Any]:
    """A journey's statistics as the API shows them."""
    goal = None
    if stats.goal is not None:
        within = None if stats.goal.within is None else str(stats.goal.within)
        goal = {"eventName": stats.goal.event_name, "within": within}
    conversion_rate = None
    if stats.conversions is not None:
        conversion_rate = rate(stats.conversions, stats.entered)
    return {
        "journeyId": stats.journey_id,
        "dateFrom": stats.date_from,
        "dateTo": stats.date_to,
        "test": stats.test,
        "entered": stats.entered,
        "waiting": stats.waiting,
        "goal": goal,
        "conversions": stats.conversions,
        "conversionRate": conversion_rate,
        "states": [_state_json(s) for s in stats.states],
        "holdout": None if stats.holdout is None else holdout_json(stats.holdout),
        "sendTimes": send_times_json(stats),
    }


def send_times_json(stats: JourneyStats) -> dict[str, Any] | None:
    """Best-time sends against immediate ones: sent, clicked, click rate (None: no best-time)."""
    found: dict[str, list[int]] = {}
    for state in stats.states:
        if state.messages is not None:
            figures = found.setdefault(state.messages.send_time, [0, 0])
            figures[0] += state.messages.sent
            figures[1] += state.messages.clicked
    if "best" not in found:
        return None
    return {
        mode: {"sent": sent, "clicked": clicked, "clickRate": rate(clicked, sent)}
        for mode, (sent, clicked) in sorted(found.items())
    }


def holdout_json(holdout: HoldoutStats) -> dict[str, Any]:
    """The holdout against the other entrants, and the journey's lift over doing nothing."""
    h = holdout
    body: dict[str, Any] = {
        "share": h.share,
        "heldOut": h.held_out,
        "heldOutConversions": h.held_out_conversions,
        "treated": h.treated,
        "treatedConversions": h.treated_conversions,
    }
    if h.held_out_conversions is not None and h.treated_conversions is not None:
        treated_rate = rate(h.treated_conversions, h.treated)
        held_rate = rate(h.held_out_conversions, h.held_out)
        interval = difference_interval(
            h.treated_conversions, h.treated, h.held_out_conversions, h.held_out
        )
        body["heldOutRate"], body["treatedRate"] = held_rate, treated_rate
        body["lift"] = (
            None if treated_rate is None or held_rate is None else treated_rate - held_rate
        )
        body["lift95"] = None if interval is None else [interval.low, interval.high]
    return body


def enrollment_json(enrollment: EnrollmentHistory) -> dict[str, Any]:
    """One enrollment of a customer, its messages and the known part of its path."""
    return {
        "id": enrollment.id,
        "customerId": enrollment.customer_id,
        "entryNumber": enrollment.entry_number,
        "test": enrollment.test,
        "stateId": enrollment.state_id,
        "status": enrollment.status,
        "enteredAt": enrollment.entered_at,
        "stateSince": enrollment.state_since,
        "wakeAt": enrollment.wake_at,
        "endedAt": enrollment.ended_at,
        "endReason": enrollment.end_reason,
        "messages": [
            {
                "stateId": m.state_id,
                "channel": m.channel,
                "campaignId": m.campaign_id,
                "status": m.status,
                "reason": m.reason,
                "createdAt": m.created_at,
                "sentAt": m.sent_at,
            }
            for m in enrollment.messages
        ],
        "path": [{"stateId": s, "at": at} for s, at in enrollment.path],
    }


def _moment(name: str, value: str | None) -> datetime | None:
    """A ``dateFrom`` / ``dateTo`` value: an ISO date (midnight UTC) or datetime (UTC if naive)."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            problems=[Problem(name, f"{value!r} is not an ISO 8601 date or datetime", "format")]
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@router.get("/{journey_id}/experiments")
def experiments(journey_id: int, caller: Auth, database: Db) -> Json:
    """The journey's experiments: settings, the figures so far, and the decision once made."""
    with database.read() as conn:
        found = experiment_reports(conn, caller.application_id, journey_id, utcnow())
    return ok([experiment_json(report) for report in found])


def experiment_json(report: ExperimentReport) -> dict[str, Any]:
    """An experiment as the API shows it."""
    e, decision = report.experiment, report.decision
    return {
        "stateId": report.state_id,
        "goal": {"eventName": e.goal_event, "within": str(e.within)},
        "minSample": e.min_sample,
        "rule": e.rule.value,
        "confidence": e.confidence,
        "paths": [
            {
                "path": index,
                "weight": weight,
                "drawn": drawn,
                "customers": figures.customers,
                "conversions": figures.conversions,
                "conversionRate": rate(figures.conversions, figures.customers),
            }
            for index, (weight, drawn, figures) in enumerate(
                zip(report.weights, report.drawn, report.figures, strict=True)
            )
        ],
        "decision": None
        if decision is None
        else {
            "winner": decision.winner,
            "decidedAt": decision.decided_at,
            "rule": decision.rule,
            "confidence": decision.confidence,
            "paths": decision.figures,
        },
    }


@router.get("/{journey_id}/stats")
def stats(
    journey_id: int,
    caller: Auth,
    database: Db,
    date_from_text: str | None = Query(
        None, alias="dateFrom", description="ISO date or datetime, inclusive."
    ),
    date_to_text: str | None = Query(
        None, alias="dateTo", description="ISO date or datetime, exclusive."
    ),
    test: bool = Query(False, description="Test runs instead of live ones."),
) -> Json:
    """Per-state statistics over an interval (hour buckets), with goal conversions."""
    date_from = _moment("dateFrom", date_from_text)
    date_to = _moment("dateTo", date_to_text)
    if date_from is not None and date_to is not None and date_from >= date_to:
        raise InvalidInput(problems=[Problem("dateTo", "must be after dateFrom", "range")])
    with database.read() as conn:
        found = journey_stats(
            conn,
            caller.application_id,
            journey_id,
            date_from=date_from,
            date_to=date_to,
            test=test,
        )
    return ok(stats_json(found))


def _step(text: str | None) -> timedelta | None:
    """A ``step`` value: an ISO 8601 duration of days, hours, minutes or seconds (None if none)."""
    if text is None or text == "":
        return None
    try:
        duration = parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(problems=[Problem("step", str(exc), "format")]) from None
    if duration.years or duration.months:
        message = f"{text!r}: months and years have no fixed length; give days (P30D)"
        raise InvalidInput(problems=[Problem("step", message, "format")])
    if duration.negative or duration.is_zero:
        raise InvalidInput(problems=[Problem("step", f"{text!r} must be positive", "range")])
    return timedelta(days=duration.days, seconds=duration.seconds)


def _iso(step: timedelta) -> str:
    """A step as an ISO 8601 duration (``PT2H``, ``P7D``)."""
    return str(Duration(days=step.days, seconds=step.seconds))


def _point_json(point: SeriesPoint) -> dict[str, Any]:
    return {
        "start": point.start,
        "end": point.end,
        "entered": point.entered,
        "sent": point.sent,
        "skipped": point.skipped,
        "delivered": point.delivered,
        "opened": point.opened,
        "clicked": point.clicked,
    }


@router.get("/{journey_id}/stats/series")
def stats_series(
    journey_id: int,
    caller: Auth,
    database: Db,
    date_from_text: str | None = Query(
        None,
        alias="dateFrom",
        description="ISO date or datetime, inclusive: the first bucket's start (by default the "
        "journey's activation, or creation for test runs, on the hour).",
    ),
    date_to_text: str | None = Query(
        None, alias="dateTo", description="ISO date or datetime, exclusive (by default now)."
    ),
    step_text: str | None = Query(
        None,
        alias="step",
        description="ISO 8601 duration of each bucket (PT1H, P1D); by default the smallest "
        "of PT1H, PT2H, PT3H, PT6H, PT12H, P1D, P2D, P3D, P7D, P14D, P28D giving at most 31 "
        "buckets, else whole weeks.",
    ),
    test: bool = Query(False, description="Test runs instead of live ones."),
) -> Json:
    """The journey's entered and message figures per bucket of an interval (the console's chart).

    Each point counts what ``GET …/stats`` counts over its bucket ``[start, end)``, summed over
    the message states.
    """
    date_from = _moment("dateFrom", date_from_text)
    date_to = _moment("dateTo", date_to_text)
    step = _step(step_text)
    if date_from is not None and date_to is not None and date_from >= date_to:
        raise InvalidInput(problems=[Problem("dateTo", "must be after dateFrom", "range")])
    with database.read() as conn:
        journey = get_journey(conn, caller.application_id, journey_id)
        if date_from is None:
            born = journey.created_at if test else journey.activated_at or journey.created_at
            date_from = born.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        if date_to is None:
            date_to = max(utcnow(), date_from)
        given = step is not None
        if step is None:
            step = series_step(date_from, date_to)[1]
        try:
            points = journey_series(
                conn,
                caller.application_id,
                journey_id,
                start=date_from,
                end=date_to,
                step=step,
                test=test,
            )
        except InvalidInput as exc:
            if given or exc.problems[0].code != PAST_CALENDAR:
                raise
            message = f"the last bucket of {_iso(step)} (the default step) would end past 9999"
            problem = Problem("dateTo", message + ": give an earlier dateTo or a step", "range")
            raise InvalidInput(problems=[problem]) from None
    return ok(
        {
            "journeyId": journey_id,
            "dateFrom": date_from,
            "dateTo": date_to,
            "test": test,
            "step": _iso(step),
            "points": [_point_json(p) for p in points],
        }
    )


@router.get("/{journey_id}/history.csv", response_class=StreamingResponse)
def history(
    journey_id: int,
    caller: Auth,
    database: Db,
    test: bool = Query(False, description="Test runs instead of live ones."),
) -> StreamingResponse:
    """Every enrollment as CSV, streamed.

    Columns: ``customerId, entryNumber, status, stateId, enteredAt, endedAt, endReason,
    messagesSent``.
    """
    application_id = caller.application_id
    with database.read() as conn:
        get_journey(conn, application_id, journey_id)  # 404 before the stream starts

    def lines() -> Iterator[str]:
        with database.read() as conn:
            yield from history_csv(conn, application_id, journey_id, test=test)

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="journey-{journey_id}.csv"'},
    )


@router.get("/{journey_id}/enrollments")
def customer_enrollments(
    journey_id: int,
    caller: Auth,
    database: Db,
    customer_id: str = Query(..., alias="customerId", min_length=1, description="The customer."),
) -> Json:
    """Where the customer is in the journey: each enrollment, its messages and known path."""
    with database.read() as conn:
        found = enrollment_history(conn, caller.application_id, journey_id, customer_id)
    return ok([enrollment_json(e) for e in found], count=len(found))


@router.put("/{journey_id}/customers")
def put_in(
    journey_id: int,
    body: PutCustomersBody,
    caller: Auth,
    database: Db,
    test: bool = Query(False, description="A test run: a draft may take it; not live statistics."),
) -> Json:
    """Put customers into the journey: ``customers`` (ids) or ``customersWithContext``.

    Live entries need an ``ACTIVE`` journey starting with ``IN_LIST`` (409 when it is not
    active); test entries may also go into a valid draft. Customers already in the journey are
    discarded, ids that are no customer are ``unknown``; neither enters. The customers who enter
    run at once (the worker is woken).
    """
    given = [
        name
        for name, value in (
            ("customers", body.customers),
            ("customersWithContext", body.customers_with_context),
        )
        if value is not None
    ]
    if len(given) != 1:
        message = "give exactly one of customers, customersWithContext"
        raise InvalidInput(problems=[Problem("/".join(given) or "body", message, "one_of")])
    entries: list[str | Mapping[str, Any]]
    if body.customers is not None:
        entries = list(body.customers)
    else:
        assert body.customers_with_context is not None
        entries = [
            {"customerId": c.customer_id, "contextValues": c.context}
            for c in body.customers_with_context
        ]
    with database.write() as conn:
        result = put_customers(
            conn, caller.application_id, journey_id, entries, utcnow(), test=test
        )
    return ok(PutReport.of(result).to_json(test))


@router.put("/{journey_id}/customers/csv", openapi_extra=UPLOAD_BODY)
async def put_in_csv(
    journey_id: int,
    request: Request,
    caller: Auth,
    database: Db,
    test: bool = Query(False, description="A test run: a draft may take it; not live statistics."),
) -> Json:
    """Put the customers of a CSV into the journey: ``customerId``, the other columns context.

    As ``PUT …/customers``; an empty cell leaves that context value out. A file with bad rows is
    refused whole (nobody enters), each problem naming its line and column.
    """
    with database.read() as conn:  # 404 before reading a large upload
        get_journey(conn, caller.application_id, journey_id)
    stream = await spool_upload(request)
    try:
        report = await run_in_threadpool(
            put_csv, database, caller.application_id, journey_id, stream, utcnow(), test
        )
    finally:
        stream.close()
    return ok(report.to_json(test))
