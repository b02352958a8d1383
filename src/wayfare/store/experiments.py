"""Experiments as stored: the customers drawn into each path, the figures, the decisions.

The engine writes a row per draw (``experiment_entries``) with the transition that made it. The
figures of a path are its customers whose goal window has closed and, of them, those who did the
goal event within the window after their draw: one grouped query. A decision is written once
(``experiment_decisions``); a second attempt (another worker) leaves the first in place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, exists, func, select

from wayfare.model.experiments import Sample, Verdict
from wayfare.model.states import Experiment
from wayfare.store.database import dialect_of
from wayfare.store.schema import events, experiment_decisions, experiment_entries


@dataclass(frozen=True, slots=True)
class Draw:
    """A customer drawn into path ``path`` of experiment state ``state_id`` at ``at``."""

    application_id: int
    journey_id: int
    state_id: int
    path: int
    customer_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """What an experiment decided: the winner (None: no winner), how, and on what figures."""

    journey_id: int
    state_id: int
    winner: int | None
    rule: str
    confidence: float
    figures: list[dict[str, Any]]
    """Per path: ``customers``, ``conversions``, ``score`` (p-value or chance to be best)."""
    decided_at: datetime


def write_draws(conn: Connection, draws: Sequence[Draw]) -> None:
    """Store draws (one ``executemany``)."""
    if draws:
        conn.execute(
            experiment_entries.insert(),
            [
                {
                    "application_id": d.application_id,
                    "journey_id": d.journey_id,
                    "state_id": d.state_id,
                    "path": d.path,
                    "customer_id": d.customer_id,
                    "entered_at": d.at,
                }
                for d in draws
            ],
        )


def samples(
    conn: Connection,
    application_id: int,
    journey_id: int,
    state_id: int,
    experiment: Experiment,
    paths: int,
    now: datetime,
) -> list[Sample]:
    """Each path's figures at ``now``: customers drawn at least ``within`` ago, conversions.

    Only closed windows count, so that every customer counted had the whole window to convert.
    """
    x = experiment_entries
    closed = experiment.within.subtract(now)
    converted = exists().where(
        events.c.application_id == application_id,
        events.c.customer_id == x.c.customer_id,
        events.c.event_code == experiment.goal_event,
        events.c.occurred_at >= x.c.entered_at,
        dialect_of(conn).within(x.c.entered_at, experiment.within, events.c.occurred_at),
    )
    rows = conn.execute(
        select(x.c.path, func.count(), func.sum(case((converted, 1), else_=0)))
        .where(and_(x.c.journey_id == journey_id, x.c.state_id == state_id))
        .where(x.c.entered_at <= closed)
        .group_by(x.c.path)
    )
    found = {int(path): Sample(int(count), int(hits or 0)) for path, count, hits in rows}
    return [found.get(index, Sample(0, 0)) for index in range(paths)]


def drawn_counts(conn: Connection, journey_id: int, state_id: int) -> dict[int, int]:
    """Customers drawn into each path so far, windows closed or not."""
    x = experiment_entries
    rows = conn.execute(
        select(x.c.path, func.count())
        .where(x.c.journey_id == journey_id, x.c.state_id == state_id)
        .group_by(x.c.path)
    )
    return {int(path): int(count) for path, count in rows}


def save_decision(
    conn: Connection,
    journey_id: int,
    state_id: int,
    experiment: Experiment,
    figures: Sequence[Sample],
    verdict: Verdict,
    now: datetime,
) -> bool:
    """Record a decision unless one is there already; whether this one was recorded."""
    statement = (
        dialect_of(conn)
        .insert(experiment_decisions)
        .values(
            journey_id=journey_id,
            state_id=state_id,
            winner=verdict.winner,
            rule=experiment.rule.value,
            confidence=experiment.confidence,
            figures=[
                {"customers": s.customers, "conversions": s.conversions, "score": score}
                for s, score in zip(figures, verdict.scores, strict=True)
            ],
            decided_at=now,
        )
        .on_conflict_do_nothing(index_elements=["journey_id", "state_id"])
    )
    return bool(conn.execute(statement).rowcount)


def decisions(conn: Connection, journey_ids: Iterable[int]) -> list[Decision]:
    """The decisions of these journeys' experiments."""
    wanted = sorted(set(journey_ids))
    if not wanted:
        return []
    d = experiment_decisions
    rows = conn.execute(select(d).where(d.c.journey_id.in_(wanted)).order_by(d.c.state_id))
    return [
        Decision(
            int(r.journey_id),
            int(r.state_id),
            None if r.winner is None else int(r.winner),
            str(r.rule),
            float(r.confidence),
            list(r.figures),
            r.decided_at,
        )
        for r in rows
    ]


def winners(conn: Connection, journey_ids: Iterable[int]) -> Mapping[int, dict[int, int]]:
    """Per journey: experiment state id → winning path, for the experiments that have one."""
    found: dict[int, dict[int, int]] = {}
    for decision in decisions(conn, journey_ids):
        if decision.winner is not None:
            found.setdefault(decision.journey_id, {})[decision.state_id] = decision.winner
    return found
