"""The statistics of a journey: counts per state, message outcomes, a chart, random paths, CSV.

``GET /journeys/{id}/stats?from=YYYY-MM-DD&to=YYYY-MM-DD`` shows the figures of
``store.stats.journey_stats`` (the API's ``/v1/journey/{id}/stats``) over the days chosen
(UTC, both included): a table of every state, a table per message state, a chart over time,
and the ``FLOW_RANDOM`` paths side by side with their 95 % intervals. ``stats.csv`` is the
per-state table as CSV; ``history.csv`` streams every enrollment (``store.inspection``, the
API's export).

What is shown is worked out in ``console/figures.py`` (the chart's points are
``store.stats.journey_series`` over the hours, days or weeks of the interval: what
``journey_stats`` counts over each, so they add up to the tables' figures).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from wayfare.console.figures import (
    Interval,
    MessageRow,
    campaign_names,
    chart_over_time,
    compare_paths,
    is_empty,
    message_rows,
    period_stats,
    read_interval,
    state_notes,
)
from wayfare.console.graph import draw
from wayfare.console.journey_words import duration_words
from wayfare.console.web import (
    ConsoleRoute,
    Viewer,
    audience_names,
    errors_by_field,
    page,
    utcnow,
)
from wayfare.engine.experiments import ExperimentReport, experiment_reports
from wayfare.errors import InvalidInput, NotFound
from wayfare.model.journey import parse_journey
from wayfare.model.lifecycle import JourneyStatus
from wayfare.store.inspection import history_csv
from wayfare.store.journeys import get_journey, json_references
from wayfare.store.stats import HoldoutStats, JourneyStats, difference_interval

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

STATE_COLUMNS = (
    "stateId",
    "type",
    "entered",
    "waiting",
    "movedOn",
    "completed",
    "exited",
    "failed",
    "campaignId",
    "campaign",
    "channel",
    "sent",
    "skipped",
    "delivered",
    "opened",
    "clicked",
    "clickRate",
    "conversions",
)
"""The header of ``stats.csv``: one row per state; message columns are empty elsewhere."""

DateText = Annotated[str | None, Query(alias="from")]
ToText = Annotated[str | None, Query(alias="to")]


# ---------------------------------------------------------------------------------------------
# Pages


@router.get("/journeys/{journey_id:int}/stats", response_class=HTMLResponse)
def stats_page(
    request: Request,
    journey_id: int,
    viewer: Viewer,
    from_text: DateText = None,
    to_text: ToText = None,
    state: int | None = None,
    test: bool = False,
) -> HTMLResponse:
    """The journey's statistics over the interval chosen."""
    app = viewer.application_id
    with viewer.database.read() as conn:
        journey = get_journey(conn, app, journey_id)
        try:
            interval = read_interval(from_text, to_text, test)
        except InvalidInput as error:
            return page(
                request,
                "stats_page.html",
                {
                    "journey": journey,
                    "interval": Interval(from_text or "", to_text or "", None, None, test),
                    "errors": errors_by_field(error.problems),
                    "problems": error.problems,
                },
                status=400,
                title=f"Statistics of {journey.name}",
            )
        stats = period_stats(conn, app, journey_id, interval)
        if state is not None and all(s.state_id != state for s in stats.states):
            raise NotFound(f"journey {journey_id} has no state {state}")
        states = {s.id: s for s in parse_journey(journey.document()).states}
        campaign_ids = {s.messages.campaign_id for s in stats.states if s.messages}
        names = campaign_names(conn, app, campaign_ids)
        empty = is_empty(stats)
        tests_too = (
            empty
            and not test
            and not is_empty(period_stats(conn, app, journey_id, replace(interval, test=True)))
        )
        chart = None if empty else chart_over_time(conn, app, journey, interval, utcnow())
        every_campaign = set(json_references(journey.states, "campaignId")) - set(names)
        names |= campaign_names(conn, app, every_campaign)
        list_names, segment_names = audience_names(conn, app) if not empty else ({}, {})
        experiments = {
            r.state_id: experiment_words(r)
            for r in experiment_reports(conn, app, journey_id, utcnow())
        }
    base = f"/journeys/{journey_id}/stats?" + (f"{interval.query}&" if interval.query else "")
    graph = None
    if not empty:
        graph = draw(
            journey.document(),
            notes=state_notes(stats),
            href=lambda ident: f"{base}state={ident}#state-{ident}",
            selected=state,
            names={"campaigns": names, "lists": list_names, "segments": segment_names},
        )
    context = {
        "journey": journey,
        "interval": interval,
        "errors": {},
        "problems": [],
        "stats": stats,
        "empty": empty,
        "tests_too": tests_too,
        "draft": journey.status == JourneyStatus.DRAFT,
        "selected": state,
        "messages": message_rows(stats, states, names),
        "paths": compare_paths(stats, states, names),
        "experiments": experiments,
        "holdout": None if stats.holdout is None else holdout_words(stats.holdout),
        "chart": chart,
        "graph": graph,
        "chosen": next((s for s in stats.states if s.state_id == state), None),
    }
    return page(request, "stats_page.html", context, title=f"Statistics of {journey.name}")


def experiment_words(report: ExperimentReport) -> list[str]:
    """An experiment in sentences: its terms, where its sample stands, and its decision."""
    e, decision = report.experiment, report.decision
    rule = "a z-test" if e.rule.value == "ztest" else "the chance to be best"
    lines = [
        f"Experiment: {e.goal_event} within {duration_words(str(e.within))} of the draw,"
        f" decided by {rule} at {e.confidence * 100:g} % once each path has"
        f" {e.min_sample:,} customers whose window has closed.",
    ]
    if decision is not None:
        when = decision.decided_at.strftime("%Y-%m-%d %H:%M UTC")
        if decision.winner is None:
            lines.append(f"Decided on {when}: no path was better; the paths stay drawn.")
        else:
            lines.append(
                f"Decided on {when}: path {decision.winner + 1} won; every new entrant takes it."
            )
        return lines
    sample = ", ".join(
        f"path {i + 1}: {f.customers:,} ({f.conversions:,} converted)"
        for i, (f, weight) in enumerate(zip(report.figures, report.weights, strict=True))
        if weight > 0
    )
    lines.append(f"Not decided yet. Customers with a closed window so far: {sample}.")
    return lines


def holdout_words(holdout: HoldoutStats) -> str:
    """The holdout against the rest, and the lift, in a sentence."""
    h = holdout
    text = (
        f"{h.held_out:,} of {h.held_out + h.treated:,} entrants were held out"
        f" ({h.share * 100:g} % are) and received nothing."
    )
    if h.held_out_conversions is None or h.treated_conversions is None:
        return text + " Set a goal to measure the journey's lift over doing nothing."
    if not h.held_out or not h.treated:
        return text + " The lift shows once both groups have entrants."
    held = h.held_out_conversions / h.held_out
    treated = h.treated_conversions / h.treated
    interval = difference_interval(
        h.treated_conversions, h.treated, h.held_out_conversions, h.held_out
    )
    assert interval is not None
    return (
        f"{text} They converted at {held * 100:.1f} %, the others at {treated * 100:.1f} %:"
        f" a lift of {(treated - held) * 100:+.1f} points (95 % interval"
        f" {interval.low * 100:+.1f} to {interval.high * 100:+.1f})."
    )


def _rate_text(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def state_table(stats: JourneyStats, rows: Sequence[MessageRow]) -> Iterator[list[Any]]:
    """The ``STATE_COLUMNS`` rows of every state (the message columns for message states)."""
    by_state = {row.state_id: row for row in rows}
    for state in stats.states:
        m = by_state.get(state.state_id)
        message: list[Any] = [""] * 10
        if m is not None:
            message = [
                m.campaign_id,
                m.campaign,
                m.channel,
                m.sent,
                m.skipped,
                m.delivered,
                m.opened,
                m.clicked,
                _rate_text(m.click_rate),
                "" if m.conversions is None else m.conversions,
            ]
        yield [
            state.state_id,
            state.type or "",
            state.entered,
            state.waiting,
            sum(state.branches.values()),
            state.completed,
            state.exited,
            state.failed,
            *message,
        ]


@router.get("/journeys/{journey_id:int}/stats.csv")
def stats_csv(
    journey_id: int,
    viewer: Viewer,
    from_text: DateText = None,
    to_text: ToText = None,
    test: bool = False,
) -> Response:
    """The per-state figures over the interval as CSV (``STATE_COLUMNS``)."""
    app = viewer.application_id
    interval = read_interval(from_text, to_text, test)
    with viewer.database.read() as conn:
        journey = get_journey(conn, app, journey_id)
        stats = period_stats(conn, app, journey_id, interval)
        states = {s.id: s for s in parse_journey(journey.document()).states}
        names = campaign_names(
            conn, app, {s.messages.campaign_id for s in stats.states if s.messages}
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATE_COLUMNS)
    writer.writerows(state_table(stats, message_rows(stats, states, names)))
    suffix = "".join(f"-{text}" for text in (interval.from_text, interval.to_text) if text)
    suffix += "-test" if test else ""
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="journey-{journey_id}-stats{suffix}.csv"'
        },
    )


@router.get("/journeys/{journey_id:int}/history.csv")
def history(journey_id: int, viewer: Viewer, test: bool = False) -> StreamingResponse:
    """Every enrollment of the journey as CSV, streamed (the API's ``history.csv``)."""
    app, database = viewer.application_id, viewer.database
    with database.read() as conn:
        get_journey(conn, app, journey_id)  # a 404 page before the stream starts

    def lines() -> Iterator[str]:
        with database.read() as conn:
            yield from history_csv(conn, app, journey_id, test=test)

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="journey-{journey_id}-history.csv"'},
    )
