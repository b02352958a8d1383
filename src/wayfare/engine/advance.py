"""Running one enrollment as far as it can go now: the loop around ``handlers.decide``.

An enrollment moves through every state that needs no waiting in one run (a filter, a random
draw, a message, a delay already due), and stops where it must wait for a time or an event, at
an outside call, or at the end. The live runner and the simulator both call ``run``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from wayfare.engine.decisions import (
    Arrival,
    Call,
    Departure,
    Enrollment,
    Exit,
    Facts,
    Go,
    Ignore,
    Outcome,
    Send,
    Status,
    Stay,
)
from wayfare.engine.handlers import Visit, decide
from wayfare.model.journey import Journey

MAX_STEPS = 1000
"""Transitions one run may make before the enrollment is failed (a loop with no wait)."""


def enter(
    journey_id: int,
    journey: Journey,
    customer_id: str,
    entry_number: int,
    at: datetime,
    *,
    context: dict[str, Any] | None = None,
    test: bool = False,
) -> Enrollment:
    """A new enrollment in the journey's entry state, arriving at ``at``."""
    return Enrollment(
        journey_id=journey_id,
        customer_id=customer_id,
        entry_number=entry_number,
        state_id=journey.entry.id,
        since=at,
        context=context or {},
        test=test,
    )


def run(
    journey_id: int,
    journey: Journey,
    enrollment: Enrollment,
    facts: Facts,
    now: datetime,
    *,
    arriving: bool,
) -> Outcome | None:
    """Run ``enrollment`` as far as it goes at ``now``; None when nothing changes.

    ``arriving``: the enrollment has just arrived in its state (a new enrollment, or ready) and
    has not decided there yet. Otherwise it was waiting and is woken by ``facts.event``, by
    ``facts.response`` (an outside call's answer) or, with neither, by its timer: the logical
    time of a timer wake is ``wake_at``, so delays never drift by how late a worker polls.
    """
    at = now
    if not arriving and facts.event is None and facts.response is None:
        if enrollment.wake_at is None or enrollment.wake_at > now:
            return None
        at = enrollment.wake_at
    arrivals: list[Arrival] = []
    departures: list[Departure] = []
    sends: list[Send] = []
    saves: dict[str, Any] = {}
    draws: list[Departure] = []
    current = enrollment
    exit_on = frozenset(journey.settings.exit_on)

    def outcome(status: Status, **more: Any) -> Outcome:
        return Outcome(
            enrollment=current,
            status=status,
            arrivals=tuple(arrivals),
            departures=tuple(departures),
            sends=tuple(sends),
            saves=saves,
            draws=tuple(draws),
            **more,
        )

    for _ in range(MAX_STEPS):
        if not journey.has_state(current.state_id):
            return outcome(Status.FAILED, reason=f"state {current.state_id} is not in the journey")
        state = journey.state(current.state_id)
        sent = sum(1 for send in sends if send.skipped is None)
        decision = decide(Visit(journey_id, journey, state, current, facts, at, arriving, sent))
        match decision:
            case Ignore():
                if arrivals or departures or sends:  # cannot happen: events are only seen once
                    raise AssertionError("an event was ignored after the enrollment moved")
                return None
            case Exit(reason=reason):
                departures.append(Departure(state.id, "exit", at))
                current = _moved(current, current.state_id, current.since, None, current.memo)
                return outcome(Status.EXITED, reason=reason)
            case Call(request=request):
                current = replace(current, memo={"calling": request.key})
                return outcome(Status.READY, call=request)
            case Stay(until=until, events=events, memo=memo, sends=stay_sends):
                sends.extend(stay_sends)
                current = _moved(current, current.state_id, current.since, until, memo)
                if until is not None and until <= at:
                    at, arriving, facts = until, False, _quiet(facts)
                    continue
                return outcome(Status.WAITING, wake_at=until, wait_events=events | exit_on)
            case Go(to=to, branch=branch, sends=go_sends, saves=go_saves, draw=draw):
                departures.append(Departure(state.id, branch, at))
                if draw:
                    draws.append(departures[-1])
                sends.extend(go_sends)
                saves.update(go_saves)
                if to is None:
                    current = _moved(current, current.state_id, current.since, None, {})
                    return outcome(Status.COMPLETED, reason=decision.reason)
                current = _moved(current, to, at, None, {})
                arrivals.append(Arrival(to, at))
                arriving, facts = True, _quiet(facts)
    return outcome(Status.FAILED, reason=f"more than {MAX_STEPS} steps without a wait")


def _moved(
    e: Enrollment, state_id: int, since: datetime, wake_at: datetime | None, memo: Any
) -> Enrollment:
    """``e`` one transition later (a direct constructor call: ``replace`` is slow on hot paths)."""
    return Enrollment(
        e.journey_id,
        e.customer_id,
        e.entry_number,
        state_id,
        since,
        e.step + 1,
        wake_at,
        memo,
        e.context,
        e.test,
    )


def _quiet(facts: Facts) -> Facts:
    """``facts`` without the event or answer that has now been used."""
    if facts.event is None and facts.response is None:
        return facts
    return replace(facts, event=None, response=None)
