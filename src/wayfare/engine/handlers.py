"""One decision per state type: what an enrollment in that state does now.

``decide(visit)`` dispatches on the state's type and ends in ``assert_never``: a new state type
that nobody handles is a type error. Each handler is pure (see ``decisions``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never

from wayfare.engine import calendar
from wayfare.engine.decisions import (
    Call,
    Decision,
    Enrollment,
    Exit,
    Facts,
    Go,
    Ignore,
    Send,
    Stay,
    WebhookRequest,
)
from wayfare.model.besttime import BestTime, best_moment, engagement_profile
from wayfare.model.conditions import evaluate
from wayfare.model.durations import Duration
from wayfare.model.journey import HOLDOUT, Journey
from wayfare.model.states import (
    DelayParams,
    EventWaitParams,
    FilterParams,
    LinkClickParams,
    PushClickParams,
    RandomParams,
    RetargetingParams,
    SendParams,
    State,
    StateType,
    WebhookParams,
)

PUSH_CLICK = "push.click"
LINK_CLICK = "link.click"


@dataclass(frozen=True, slots=True)
class Visit:
    """One decision's inputs: the enrollment in ``state`` of ``journey``, at logical time ``at``.

    ``arriving`` is True on the first decision after the enrollment arrived in the state.
    ``sent`` counts the messages this run has already produced (for the frequency cap).
    """

    journey_id: int
    journey: Journey
    state: State
    enrollment: Enrollment
    facts: Facts
    at: datetime
    arriving: bool
    sent: int = 0

    def key(self, suffix: str = "") -> str:
        """The idempotency key of what this decision sends (same inputs, same key)."""
        e = self.enrollment
        return (
            f"{self.journey_id}:{e.customer_id}:{e.entry_number}:{self.state.id}:{e.step}{suffix}"
        )

    def send(
        self, channel: str, campaign_id: int, suffix: str = "", best: BestTime | None = None
    ) -> Send:
        """A message from this state on ``channel``, held back by quiet hours, or skipped.

        ``best``: at the customer's best hour within its horizon (``model.besttime``).
        """
        settings = self.journey.settings
        facts = self.facts
        reason = facts.unreachable.get(channel)
        cap = settings.frequency_cap
        if reason is None and cap is not None and facts.sent_recently + self.sent >= cap.max:
            reason = "frequency_cap"
        not_before = self.at
        quiet = settings.quiet_hours
        if best is not None and reason is None:
            own = engagement_profile(
                ((code, at) for code, times in facts.customer.events.items() for at in times),
                facts.zone,
            )
            hours = None if quiet is None else (quiet.start, quiet.end)
            not_before = best_moment(self.at, facts.zone, best, own, facts.population, hours)
        if quiet is not None and reason is None:
            not_before = (
                calendar.quiet_until(not_before, quiet.start, quiet.end, facts.zone) or not_before
            )
        return Send(
            key=self.key(suffix),
            state_id=self.state.id,
            channel=channel,
            campaign_id=campaign_id,
            at=self.at,
            not_before=not_before,
            skipped=reason,
        )


def decide(visit: Visit) -> Decision:
    """What the enrollment does now in ``visit.state``."""
    event = visit.facts.event
    if event is not None and event.code in visit.journey.settings.exit_on:
        return Exit(f"exitOn {event.code}")
    params = visit.state.params
    match visit.state.type:
        case (
            StateType.IN_ALL
            | StateType.IN_LIST
            | StateType.IN_SEGMENT
            | StateType.IN_FILTER
            | StateType.IN_CUSTOM_EVENT
            | StateType.IN_BIRTHDAY
        ):
            if event is not None:
                return Ignore()
            if _held_out(visit):
                return Go(None, HOLDOUT, reason=HOLDOUT)
            return Go(params.edges()[0][1], "entered")
        case (
            StateType.ACTION_PUSH_SEND
            | StateType.ACTION_INAPP_SEND
            | StateType.ACTION_WALLET_SEND
            | StateType.ACTION_EMAIL_SEND
            | StateType.ACTION_SMS_SEND
            | StateType.ACTION_WHATSAPP_SEND
            | StateType.ACTION_TELEGRAM_SEND
        ):
            assert isinstance(params, SendParams)
            return _message(visit, params)
        case StateType.FLOW_FILTER:
            assert isinstance(params, FilterParams)
            return _filter(visit, params)
        case StateType.FLOW_RANDOM:
            assert isinstance(params, RandomParams)
            return _random(visit, params)
        case StateType.FLOW_DELAY:
            assert isinstance(params, DelayParams)
            return _delay(visit, params)
        case StateType.FLOW_PUSH_CLICK:
            assert isinstance(params, PushClickParams)
            return _push_click(visit, params)
        case StateType.FLOW_SMS:
            assert isinstance(params, LinkClickParams)
            return _link_click(visit, params)
        case StateType.FLOW_CUSTOM_EVENT:
            assert isinstance(params, EventWaitParams)
            return _custom_event(visit, params)
        case StateType.FLOW_RETARGETING:
            assert isinstance(params, RetargetingParams)
            return _retargeting(visit, params)
        case StateType.FLOW_WEBHOOK:
            assert isinstance(params, WebhookParams)
            return _webhook(visit, params)
        case unhandled:
            assert_never(unhandled)


# --- states that decide at once ----------------------------------------------------------------


def _message(visit: Visit, params: SendParams) -> Decision:
    if visit.facts.event is not None:
        return Ignore()
    channel = visit.state.type.channel
    assert channel is not None
    send = visit.send(channel.value, params.campaign_id, best=params.best_time)
    return Go(params.forward, "skipped" if send.skipped else "sent", sends=(send,))


def _filter(visit: Visit, params: FilterParams) -> Decision:
    if visit.facts.event is not None:
        return Ignore()
    facts = visit.facts
    for index, branch in enumerate(params.branches):
        if evaluate(branch.cond, facts.customer, visit.at, segments=facts.segments):
            return Go(branch.forward, f"filter[{index}]")
    return Go(params.otherwise, "else")


def _held_out(visit: Visit) -> bool:
    """Whether this entrant is in the journey's holdout (test runs never are).

    A stable draw of the journey and the customer: a customer held out stays out on every entry.
    """
    share = visit.journey.settings.holdout
    e = visit.enrollment
    if share <= 0 or e.test:
        return False
    return _unit(f"holdout:{visit.journey_id}:{e.customer_id}") < share


def draw(journey_id: int, state_id: int, customer_id: str, entry_number: int) -> float:
    """A stable number in [0, 1) for this customer's pass through this state."""
    return _unit(f"{journey_id}:{state_id}:{customer_id}:{entry_number}")


def _unit(text: str) -> float:
    """A stable number in [0, 1) for ``text`` (a hash, uniform)."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _random(visit: Visit, params: RandomParams) -> Decision:
    """A stable weighted draw; once an experiment has a winner, the winner for everyone."""
    if visit.facts.event is not None:
        return Ignore()
    experiment = params.experiment is not None and not visit.enrollment.test
    winner = visit.facts.winners.get(visit.state.id) if experiment else None
    if winner is not None and winner < len(params.paths):
        return Go(params.paths[winner].forward, f"paths[{winner}]")
    e = visit.enrollment
    point = draw(visit.journey_id, visit.state.id, e.customer_id, e.entry_number)
    point *= sum(path.weight for path in params.paths)
    for index, path in enumerate(params.paths):
        point -= path.weight
        if point < 0:
            return Go(path.forward, f"paths[{index}]", draw=experiment)
    last = max(i for i, path in enumerate(params.paths) if path.weight > 0)
    return Go(params.paths[last].forward, f"paths[{last}]", draw=experiment)


def _webhook(visit: Visit, params: WebhookParams) -> Decision:
    response = visit.facts.response
    if visit.facts.event is not None:
        return Ignore()
    if visit.arriving or response is None:
        return Call(WebhookRequest(visit.state.id, visit.key()))
    if not response.ok:
        return Go(params.failure, "failure")
    saves = {name: _dig(response.body, path) for name, path in params.save_as.items()}
    return Go(params.success, "success", saves={k: v for k, v in saves.items() if v is not None})


def _dig(body: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(body, Mapping):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


# --- states that wait --------------------------------------------------------------------------


def _delay(visit: Visit, params: DelayParams) -> Decision:
    if visit.arriving:
        until = calendar.after_delay(visit.at, params.time, params.until, visit.facts.zone)
        return Stay(until)
    if visit.facts.event is not None:
        return Ignore()
    return Go(params.forward, "done")


def _timed_wait(visit: Visit, timeout: Duration, events: frozenset[str]) -> Stay:
    return Stay(timeout.add(visit.at), events)


def _push_click(visit: Visit, params: PushClickParams) -> Decision:
    event = visit.facts.event
    if visit.arriving:
        return _timed_wait(visit, params.timeout.time, frozenset({PUSH_CLICK}))
    if event is None:
        return Go(params.timeout.forward, "timeout")
    if event.code == PUSH_CLICK and _same_id(event.data.get("campaignId"), params.campaign_id):
        return Go(params.click_forward, "click")
    return Ignore()


def _link_click(visit: Visit, params: LinkClickParams) -> Decision:
    event = visit.facts.event
    if visit.arriving:
        return _timed_wait(visit, params.timeout.time, frozenset({LINK_CLICK}))
    if event is None:
        return Go(params.timeout.forward, "timeout")
    url = event.data.get("url")
    if event.code == LINK_CLICK and isinstance(url, str):
        for index, click in enumerate(params.clicks):
            if click.matches(url):
                return Go(click.forward, f"click[{index}]")
    return Ignore()


def _custom_event(visit: Visit, params: EventWaitParams) -> Decision:
    event = visit.facts.event
    if visit.arriving:
        return _timed_wait(visit, params.timeout.time, frozenset({params.event_name}))
    if event is None:
        return Go(params.timeout.forward, "timeout")
    if not params.takes(event.code, event.data):
        return Ignore()
    facts = visit.facts
    if params.cond is not None and not evaluate(
        params.cond, facts.customer, visit.at, segments=facts.segments
    ):
        return Ignore()
    return Go(params.forward, "event")


def _retargeting(visit: Visit, params: RetargetingParams) -> Decision:
    """Wait ``wait`` for the goal; then a reminder every ``every``; out after the last one."""
    event = visit.facts.event
    goal = frozenset({params.goal_event})
    if visit.arriving:
        return Stay(params.wait.add(visit.at), goal, memo={"reminded": 0})
    if event is not None:
        return Go(params.converted, "converted") if event.code == params.goal_event else Ignore()
    reminded = int(visit.enrollment.memo.get("reminded", 0))
    if reminded >= len(params.reminders):
        return Go(params.exhausted, "exhausted")
    reminder = params.reminders[reminded]
    send = visit.send(reminder.channel.value, reminder.campaign_id)
    gap = params.every or params.wait
    return Stay(gap.add(visit.at), goal, memo={"reminded": reminded + 1}, sends=(send,))


def _same_id(value: Any, expected: int) -> bool:
    try:
        return int(value) == expected
    except (TypeError, ValueError):
        return False
