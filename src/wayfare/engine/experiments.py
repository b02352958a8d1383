"""Deciding experiments: each active journey's undecided ``FLOW_RANDOM`` experiments, checked.

An experiment decides once, when every path has ``minSample`` customers whose goal window has
closed (``store.experiments.samples``): its rule's verdict is recorded with the figures behind
it, and from then on runs read the winner (``Facts.winners``) and send every new entrant down it.
The worker checks at most once a minute (``Runner.tick``); the simulator at each whole hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from wayfare.engine.inputs import load_journeys
from wayfare.model.experiments import Sample
from wayfare.model.states import Experiment
from wayfare.store import experiments as store
from wayfare.store.journeys import get_journey
from wayfare.store.schema import journeys

CHECK_EVERY = timedelta(minutes=1)
"""How often a worker looks for experiments that can decide."""


def decide_experiments(conn: Connection, now: datetime) -> int:
    """Decide every experiment of the active journeys that has its sample; how many decided."""
    active = conn.execute(select(journeys.c.id).where(journeys.c.status == "ACTIVE")).scalars()
    loaded = [j for j in load_journeys(conn, active).values() if j.experiments and j.journey]
    decided = {(d.journey_id, d.state_id) for d in store.decisions(conn, [j.id for j in loaded])}
    made = 0
    for item in loaded:
        assert item.journey is not None
        for state, params, experiment in item.journey.experiments():
            if (item.id, state.id) in decided:
                continue
            figures = store.samples(
                conn, item.application_id, item.id, state.id, experiment, len(params.paths), now
            )
            verdict = params.verdict(figures)
            if verdict is not None:
                made += store.save_decision(
                    conn, item.id, state.id, experiment, figures, verdict, now
                )
    return made


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    """Where an experiment stands: its settings, the figures so far, and its decision if any."""

    state_id: int
    experiment: Experiment
    weights: tuple[float, ...]
    drawn: tuple[int, ...]
    """Customers drawn into each path so far."""
    figures: tuple[Sample, ...]
    """Each path's customers whose window has closed, and their conversions, at ``now``."""
    decision: store.Decision | None


def experiment_reports(
    conn: Connection, application_id: int, journey_id: int, now: datetime
) -> list[ExperimentReport]:
    """The journey's experiments (``NotFound`` for a journey the application does not have)."""
    stored = get_journey(conn, application_id, journey_id)
    item = load_journeys(conn, [stored.id]).get(stored.id)
    if item is None or item.journey is None:
        return []
    decisions = {d.state_id: d for d in store.decisions(conn, [journey_id])}
    found = []
    for state, params, experiment in item.journey.experiments():
        drawn = store.drawn_counts(conn, journey_id, state.id)
        paths = len(params.paths)
        figures = store.samples(conn, application_id, journey_id, state.id, experiment, paths, now)
        found.append(
            ExperimentReport(
                state.id,
                experiment,
                tuple(p.weight for p in params.paths),
                tuple(drawn.get(i, 0) for i in range(paths)),
                tuple(figures),
                decisions.get(state.id),
            )
        )
    return found
