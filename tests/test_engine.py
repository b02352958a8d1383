"""The engine's pure decisions, one run at a time, on a fake clock (no database, no sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from wayfare.engine.advance import enter, run
from wayfare.engine.decisions import Enrollment, Event, Facts, Outcome, Status, WebhookResponse
from wayfare.engine.handlers import draw
from wayfare.model.conditions import CustomerFacts
from wayfare.model.journey import Journey
from wayfare.model.validation import validate_journey

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
JOURNEY_ID = 7


def journey(*states: dict[str, Any], **settings: Any) -> Journey:
    entry = {"id": 1, "type": "IN_ALL", "params": {"forward": states[0]["id"]}}
    report = validate_journey({"name": "j", "states": [entry, *states], "settings": settings})
    return report.checked()


def facts(event: Event | None = None, **fields: Any) -> Facts:
    return Facts(
        customer=CustomerFacts.of("c1", fields), zone=ZoneInfo("Europe/Madrid"), event=event
    )


def start(j: Journey, at: datetime = T0, **kwargs: Any) -> Outcome:
    outcome = run(
        JOURNEY_ID,
        j,
        enter(JOURNEY_ID, j, "c1", 1, at),
        kwargs.pop("facts", facts()),
        at,
        arriving=True,
    )
    assert outcome is not None
    return outcome


def wake(outcome: Outcome, now: datetime, f: Facts | None = None) -> Outcome | None:
    return run(
        JOURNEY_ID, journey_of[id(outcome)], outcome.enrollment, f or facts(), now, arriving=False
    )


journey_of: dict[int, Journey] = {}


def started(j: Journey, **kwargs: Any) -> Outcome:
    outcome = start(j, **kwargs)
    journey_of[id(outcome)] = j
    return outcome


def then(outcome: Outcome | None, j: Journey) -> Outcome:
    assert outcome is not None
    journey_of[id(outcome)] = j
    return outcome


def push(state_id: int, campaign: int, forward: int | None) -> dict[str, Any]:
    return {
        "id": state_id,
        "type": "ACTION_PUSH_SEND",
        "params": {"action": {"campaignId": campaign}, "forward": forward},
    }


def test_a_message_state_sends_once_and_moves_on() -> None:
    outcome = started(journey(push(2, 11, None)))
    assert outcome.status is Status.COMPLETED
    [send] = outcome.sends
    assert (send.channel, send.campaign_id, send.state_id, send.skipped) == ("push", 11, 2, None)
    assert send.key == "7:c1:1:2:1"
    assert [d.branch for d in outcome.departures] == ["entered", "sent"]
    assert [a.state_id for a in outcome.arrivals] == [2]


def test_an_unreachable_customer_is_skipped_with_the_reason_and_goes_on() -> None:
    unreachable = Facts(CustomerFacts.of("c1"), unreachable={"push": "no_address"})
    outcome = started(journey(push(2, 11, 3), push(3, 12, None)), facts=unreachable)
    assert [(s.campaign_id, s.skipped) for s in outcome.sends] == [
        (11, "no_address"),
        (12, "no_address"),
    ]
    assert outcome.status is Status.COMPLETED


def test_the_frequency_cap_counts_what_this_run_already_sent() -> None:
    j = journey(
        push(2, 11, 3), push(3, 12, 4), push(4, 13, None), frequencyCap={"max": 2, "per": "P1D"}
    )
    outcome = started(j)
    assert [s.skipped for s in outcome.sends] == [None, None, "frequency_cap"]


def test_quiet_hours_hold_a_message_back_until_they_end_locally() -> None:
    j = journey(push(2, 11, None), quietHours={"from": "22:00", "to": "08:00"})
    late = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 23:30 in Madrid
    [send] = started(j, at=late).sends
    assert send.not_before == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 in Madrid


def test_a_filter_takes_the_first_matching_branch_else_the_else() -> None:
    j = journey(
        {
            "id": 2,
            "type": "FLOW_FILTER",
            "params": {
                "filter": [
                    {"cond": {"age": {"gt": 30}}, "forward": 3},
                    {"cond": {"age": {"gt": 20}}, "forward": 4},
                ],
                "else": {"forward": None},
            },
        },
        push(3, 1, None),
        push(4, 2, None),
    )
    assert [s.campaign_id for s in started(j, facts=facts(age=40)).sends] == [1]
    assert [s.campaign_id for s in started(j, facts=facts(age=25)).sends] == [2]
    assert started(j, facts=facts(age=5)).departures[-1].branch == "else"
    assert started(j, facts=facts()).departures[-1].branch == "else"


def test_random_paths_are_a_stable_weighted_draw() -> None:
    j = journey(
        {
            "id": 2,
            "type": "FLOW_RANDOM",
            "params": {"paths": [{"weight": 1, "forward": None}, {"weight": 3, "forward": None}]},
        }
    )
    picks = []
    for number in range(4000):
        e = enter(JOURNEY_ID, j, f"c{number}", 1, T0)
        outcome = run(JOURNEY_ID, j, e, facts(), T0, arriving=True)
        assert outcome is not None
        picks.append(outcome.departures[-1].branch)
    assert 0.70 < picks.count("paths[1]") / len(picks) < 0.80
    again = run(JOURNEY_ID, j, enter(JOURNEY_ID, j, "c3", 1, T0), facts(), T0, arriving=True)
    assert again is not None and again.departures[-1].branch == picks[3]
    assert draw(1, 2, "c1", 1) != draw(1, 2, "c1", 2)


def test_a_zero_delay_passes_in_the_same_run() -> None:
    j = journey(
        push(2, 1, 3),
        {"id": 3, "type": "FLOW_DELAY", "params": {"time": "PT0S", "forward": 4}},
        push(4, 2, None),
    )
    outcome = started(j)
    assert outcome.status is Status.COMPLETED
    assert [s.campaign_id for s in outcome.sends] == [1, 2]
    assert len({s.key for s in outcome.sends}) == 2


def test_a_delay_wakes_at_its_time_and_goes_on_from_it_not_from_the_late_poll() -> None:
    j = journey(
        {"id": 2, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": 3}},
        {"id": 3, "type": "FLOW_DELAY", "params": {"time": "PT1H", "forward": None}},
    )
    waiting = started(j)
    assert (waiting.status, waiting.wake_at) == (Status.WAITING, T0 + timedelta(days=1))
    assert wake(waiting, T0 + timedelta(hours=23)) is None  # not due yet
    later = then(wake(waiting, T0 + timedelta(days=1, minutes=5)), j)
    assert later.wake_at == T0 + timedelta(days=1, hours=1)
    assert later.arrivals[0].at == T0 + timedelta(days=1)


def test_a_delay_until_a_local_time_of_day() -> None:
    j = journey({"id": 2, "type": "FLOW_DELAY", "params": {"until": "09:00", "forward": None}})
    assert started(j).wake_at == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # 09:00 Madrid


def click_journey() -> Journey:
    return journey(
        push(2, 11, 3),
        {
            "id": 3,
            "type": "FLOW_PUSH_CLICK",
            "params": {
                "click": {"campaignId": 11, "forward": 4},
                "timeout": {"time": "P2D", "forward": 5},
            },
        },
        push(4, 20, None),
        push(5, 30, None),
    )


def test_a_push_click_takes_the_click_branch() -> None:
    j = click_journey()
    waiting = started(j)
    assert waiting.wait_events == {"push.click"}
    assert waiting.wake_at == T0 + timedelta(days=2)
    click = Event("push.click", {"campaignId": "11"}, T0 + timedelta(hours=1))
    clicked = wake(waiting, click.at, facts(click))
    assert clicked is not None and [s.campaign_id for s in clicked.sends] == [20]
    other = Event("push.click", {"campaignId": 99}, T0)
    assert wake(waiting, T0, facts(other)) is None


def test_a_push_click_times_out() -> None:
    j = click_journey()
    timed_out = wake(started(j), T0 + timedelta(days=3))
    assert timed_out is not None
    assert [d.branch for d in timed_out.departures] == ["timeout", "sent"]
    assert timed_out.departures[0].at == T0 + timedelta(days=2)


def test_a_link_click_branch_by_url() -> None:
    j = journey(
        {
            "id": 2,
            "type": "FLOW_SMS",
            "params": {
                "click": [
                    {"url": "/cart", "urlMatchMode": "CONTAINS", "forward": None},
                    {"url": "https://x.test/", "urlMatchMode": "STARTS_WITH", "forward": None},
                ],
                "timeout": {"time": "P1D", "forward": None},
            },
        }
    )
    waiting = started(j)
    hit = Event("link.click", {"url": "https://x.test/home"}, T0)
    outcome = wake(waiting, T0, facts(hit))
    assert outcome is not None and outcome.departures[-1].branch == "click[1]"


def retargeting() -> Journey:
    return journey(
        {
            "id": 2,
            "type": "FLOW_RETARGETING",
            "params": {
                "goalEvent": "purchase",
                "wait": "PT1H",
                "every": "P1D",
                "reminders": [
                    {"campaignId": 1, "channel": "push"},
                    {"campaignId": 2, "channel": "email"},
                ],
                "converted": {"forward": None},
                "exhausted": {"forward": None},
            },
        }
    )


def test_retargeting_reminds_every_period_then_is_exhausted() -> None:
    j = retargeting()
    step = started(j)
    assert step.wake_at == T0 + timedelta(hours=1)
    times = []
    for _ in range(3):
        assert step.wake_at is not None
        step = then(wake(step, step.wake_at), j)
        times.append((step.wake_at, [s.campaign_id for s in step.sends]))
    assert times == [
        (T0 + timedelta(hours=1, days=1), [1]),
        (T0 + timedelta(hours=1, days=2), [2]),
        (None, []),
    ]
    assert step.status is Status.COMPLETED and step.departures[-1].branch == "exhausted"


def test_retargeting_converts_on_the_goal() -> None:
    j = retargeting()
    first = then(wake(started(j), T0 + timedelta(hours=1)), j)
    bought = wake(first, T0 + timedelta(hours=2), facts(Event("purchase", {}, T0)))
    assert bought is not None and bought.departures[-1].branch == "converted"


def test_an_exit_event_takes_a_waiting_customer_out() -> None:
    j = journey(
        {"id": 2, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": None}},
        exitOn=["unsubscribe"],
    )
    waiting = started(j)
    assert "unsubscribe" in waiting.wait_events
    out = wake(waiting, T0, facts(Event("unsubscribe", {}, T0)))
    assert out is not None and (out.status, out.reason) == (Status.EXITED, "exitOn unsubscribe")


def test_a_webhook_asks_for_a_call_then_branches_on_the_answer() -> None:
    j = journey(
        {
            "id": 2,
            "type": "FLOW_WEBHOOK",
            "params": {
                "url": "https://crm.test/score",
                "method": "POST",
                "success": {"forward": None},
                "failure": {"forward": None},
                "saveAs": {"score": "data.score"},
            },
        }
    )
    calling = started(j)
    assert calling.status is Status.READY and calling.call is not None
    answered = Facts(CustomerFacts.of("c1"), response=WebhookResponse(200, {"data": {"score": 9}}))
    done = run(JOURNEY_ID, j, calling.enrollment, answered, T0, arriving=False)
    assert done is not None and done.saves == {"score": 9}
    assert done.departures[-1].branch == "success"
    failed = Facts(CustomerFacts.of("c1"), response=WebhookResponse(None))
    undone = run(JOURNEY_ID, j, calling.enrollment, failed, T0, arriving=False)
    assert undone is not None and undone.departures[-1].branch == "failure"


def test_a_state_that_is_gone_fails_the_enrollment_with_the_reason() -> None:
    j = journey(push(2, 1, None))
    lost = Enrollment(JOURNEY_ID, "c1", 1, state_id=42, since=T0)
    outcome = run(JOURNEY_ID, j, lost, facts(), T0, arriving=True)
    assert outcome is not None
    assert (outcome.status, outcome.reason) == (Status.FAILED, "state 42 is not in the journey")


@pytest.mark.parametrize("make", [click_journey, retargeting], ids=["push-click", "retargeting"])
def test_an_event_a_waiting_state_does_not_wait_for_changes_nothing(make) -> None:
    j = make()
    waiting = started(j)
    assert waiting.status is Status.WAITING
    other = facts(Event("x", {}, T0))
    assert run(JOURNEY_ID, j, waiting.enrollment, other, T0, arriving=False) is None


def test_a_delay_ignores_events() -> None:
    j = journey({"id": 2, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": None}})
    waiting = started(j)
    assert (
        run(JOURNEY_ID, j, waiting.enrollment, facts(Event("x", {}, T0)), T0, arriving=False)
        is None
    )
