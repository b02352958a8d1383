"""The simulator on small hand-made journeys: every state type, the settings, entries, re-entry."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wayfare.engine.decisions import WebhookResponse
from wayfare.engine.simulation import SimEvent, SimulationResult, simulate
from wayfare.errors import InvalidInput, JourneyInvalid
from wayfare.model.conditions import parse_condition
from wayfare.model.customers import Customer, PushToken

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Madrid


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def customer(
    customer_id: str,
    *,
    timezone: str | None = "UTC",
    push: bool = True,
    email: bool = True,
    **fields: Any,
) -> Customer:
    return Customer(
        customer_id=customer_id,
        email=f"{customer_id}@example.com" if email else None,
        phone="+34600100001",
        whatsapp=None,
        telegram_chat_id=None,
        push_tokens=(PushToken("token-" + customer_id, "android"),) if push else (),
        consent={},
        timezone=timezone,
        language=None,
        fields=fields,
        created_at=T0,
        updated_at=T0,
    )


def event(customer_id: str, code: str, when: str, **data: Any) -> SimEvent:
    return SimEvent(customer_id, code, at(when), data)


def journey(*states: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {"name": "Test", "states": list(states), "settings": settings}


def state(state_id: int, state_type: str, **params: Any) -> dict[str, Any]:
    return {"id": state_id, "type": state_type, "params": params}


def send(
    state_id: int, campaign_id: int, forward: int | None, kind: str = "PUSH"
) -> dict[str, Any]:
    return state(
        state_id, f"ACTION_{kind}_SEND", action={"campaignId": campaign_id}, forward=forward
    )


def messages(result: SimulationResult) -> list[tuple[str, int, str]]:
    """(customer, state, at) of every message, in output order."""
    return [(m["customerId"], m["stateId"], m["at"]) for m in result.to_json()["messages"]]


def path(result: SimulationResult, customer_id: str) -> list[tuple[int, str]]:
    return [(step["stateId"], step["at"]) for step in result.to_json()["paths"][customer_id]]


def stats(result: SimulationResult, state_id: int) -> dict[str, Any]:
    stat: dict[str, Any] = result.to_json()["stats"][str(state_id)]
    return stat


def test_delay_until_a_local_time_across_the_spring_dst_change_in_madrid() -> None:
    # 2026-03-29 is the last Sunday of March: Madrid goes from +01:00 to +02:00 at 02:00.
    doc = journey(
        state(1, "IN_ALL", forward=2),
        state(2, "FLOW_DELAY", time="PT1H", until={"at": "09:00"}, forward=3),
        send(3, 1, None),
    )
    people = [customer("madrid", timezone="Europe/Madrid"), customer("utc", timezone=None)]
    result = simulate(doc, people, start=at("2026-03-28T20:00:00Z"))
    # 09:00 local on the 29th is 07:00Z after the change (it would be 08:00Z before it).
    assert messages(result) == [
        ("madrid", 3, "2026-03-29T07:00:00Z"),
        ("utc", 3, "2026-03-29T09:00:00Z"),
    ]
    assert path(result, "madrid") == [
        (1, "2026-03-28T20:00:00Z"),
        (2, "2026-03-28T20:00:00Z"),
        (3, "2026-03-29T07:00:00Z"),
    ]
    assert stats(result, 2)["branches"] == {"done": 2}


PUSH_CLICK = journey(
    state(1, "IN_ALL", forward=2),
    send(2, 5, 3),
    state(
        3,
        "FLOW_PUSH_CLICK",
        click={"campaignId": 5, "forward": 4},
        timeout={"time": "PT1H", "forward": 5},
    ),
    send(4, 6, None, "EMAIL"),
    send(5, 7, None, "SMS"),
)


def test_push_click_before_the_timeout_goes_to_click_after_it_to_timeout() -> None:
    people = [customer("early"), customer("late"), customer("other")]
    events = [
        event("early", "push.click", "2026-03-02T10:30:00Z", campaignId=5),
        event("late", "push.click", "2026-03-02T11:30:00Z", campaignId=5),
        event("other", "push.click", "2026-03-02T10:10:00Z", campaignId=99),
    ]
    result = simulate(PUSH_CLICK, people, events, start=T0)
    assert messages(result) == [
        ("early", 2, "2026-03-02T10:00:00Z"),
        ("late", 2, "2026-03-02T10:00:00Z"),
        ("other", 2, "2026-03-02T10:00:00Z"),
        ("early", 4, "2026-03-02T10:30:00Z"),
        ("late", 5, "2026-03-02T11:00:00Z"),
        ("other", 5, "2026-03-02T11:00:00Z"),
    ]
    assert stats(result, 3)["branches"] == {"click": 1, "timeout": 2}
    assert stats(result, 2)["sent"] == 3


def test_a_click_exactly_at_the_timeout_wins_events_go_before_timers() -> None:
    events = [event("a", "push.click", "2026-03-02T11:00:00Z", campaignId=5)]
    result = simulate(PUSH_CLICK, [customer("a")], events, start=T0)
    assert stats(result, 3)["branches"] == {"click": 1}


def test_link_click_match_modes() -> None:
    doc = journey(
        state(1, "IN_ALL", forward=2),
        state(
            2,
            "FLOW_SMS",
            click=[
                {"url": "https://shop.example/exact", "urlMatchMode": "EQUALS", "forward": 3},
                {"url": "https://shop.example/sale", "urlMatchMode": "STARTS_WITH", "forward": 4},
                {"url": "coupon", "urlMatchMode": "CONTAINS", "forward": 5},
            ],
            timeout={"time": "P1D", "forward": None},
        ),
        send(3, 3, None),
        send(4, 4, None),
        send(5, 5, None),
    )
    clicks = {
        "exact": "https://shop.example/exact",
        "starts": "https://shop.example/sale/shoes",
        "contains": "https://x.example/?coupon=1",
        "nomatch": "https://shop.example/exact/more",  # not EQUALS, no branch: keeps waiting
    }
    events = [event(c, "link.click", "2026-03-02T12:00:00Z", url=u) for c, u in clicks.items()]
    result = simulate(doc, [customer(c) for c in clicks], events, start=T0)
    sent = {m["customerId"]: m["campaignId"] for m in result.to_json()["messages"]}
    assert sent == {"exact": 3, "starts": 4, "contains": 5}
    assert stats(result, 2)["branches"] == {
        "click[0]": 1,
        "click[1]": 1,
        "click[2]": 1,
        "timeout": 1,
    }
    assert path(result, "nomatch")[-1] == (2, "2026-03-02T10:00:00Z")


def test_custom_event_wait_with_a_condition_and_a_timeout() -> None:
    doc = journey(
        state(1, "IN_ALL", forward=2),
        state(
            2,
            "FLOW_CUSTOM_EVENT",
            eventName="visit",
            cond={"vip": {"eq": True}},
            forward=3,
            timeout={"time": "P2D", "forward": 4},
        ),
        send(3, 3, None),
        send(4, 4, None),
    )
    people = [customer("vip", vip=True), customer("plain", vip=False), customer("none", vip=True)]
    events = [
        event("vip", "visit", "2026-03-03T09:00:00Z"),
        event("plain", "visit", "2026-03-03T09:00:00Z"),  # the cond does not hold: ignored
    ]
    result = simulate(doc, people, events, start=T0)
    assert messages(result) == [
        ("vip", 3, "2026-03-03T09:00:00Z"),
        ("none", 4, "2026-03-04T10:00:00Z"),
        ("plain", 4, "2026-03-04T10:00:00Z"),
    ]
    assert stats(result, 2)["branches"] == {"event": 1, "timeout": 2}


RETARGETING = journey(
    state(1, "IN_CUSTOM_EVENT", eventName="cart.add", forward=2),
    state(
        2,
        "FLOW_RETARGETING",
        goalEvent="purchase",
        wait="PT1H",
        reminders=[{"campaignId": 7, "channel": "push"}, {"campaignId": 8, "channel": "email"}],
        every="P1D",
        converted={"forward": 3},
        exhausted={"forward": None},
    ),
    send(3, 9, None, "EMAIL"),
    reentry=True,
)


def test_retargeting_converted_after_one_reminder_and_exhausted_after_both() -> None:
    events = [
        event("buyer", "cart.add", "2026-03-02T10:00:00Z"),
        event("idle", "cart.add", "2026-03-02T10:00:00Z"),
        event("buyer", "purchase", "2026-03-02T15:00:00Z"),
    ]
    result = simulate(RETARGETING, [customer("buyer"), customer("idle")], events)
    assert result.start == at("2026-03-02T10:00:00Z")
    assert [(m["customerId"], m["campaignId"], m["at"]) for m in result.to_json()["messages"]] == [
        ("buyer", 7, "2026-03-02T11:00:00Z"),
        ("idle", 7, "2026-03-02T11:00:00Z"),
        ("buyer", 9, "2026-03-02T15:00:00Z"),
        ("idle", 8, "2026-03-03T11:00:00Z"),
    ]
    assert path(result, "idle") == [(1, "2026-03-02T10:00:00Z"), (2, "2026-03-02T10:00:00Z")]
    retargeting = stats(result, 2)
    assert retargeting["branches"] == {"converted": 1, "exhausted": 1}
    assert retargeting["sent"] == 3
    assert stats(result, 1)["entered"] == 2


def test_random_paths_are_stable_and_change_with_the_seed() -> None:
    doc = journey(
        state(1, "IN_ALL", forward=2),
        state(2, "FLOW_RANDOM", paths=[{"forward": 3}, {"forward": 4}]),
        send(3, 3, None),
        send(4, 4, None),
    )
    people = [customer(f"c{i}") for i in range(200)]

    def chosen(seed: int) -> dict[str, int]:
        result = simulate(doc, people, start=T0, journey_id=seed)
        return {m["customerId"]: m["stateId"] for m in result.to_json()["messages"]}

    first = chosen(0)
    assert chosen(0) == first
    assert 70 < sum(1 for s in first.values() if s == 3) < 130
    other = chosen(1)
    assert other != first
    assert len(other) == 200


def test_filter_branches_first_match_wins_else_otherwise() -> None:
    doc = journey(
        state(1, "IN_ALL", forward=2),
        state(
            2,
            "FLOW_FILTER",
            filter=[
                {"cond": {"age": {"gte": 65}}, "forward": 3},
                {"cond": {"age": {"gte": 18}}, "forward": 4},
            ],
            **{"else": {"forward": 5}},
        ),
        send(3, 3, None),
        send(4, 4, None),
        send(5, 5, None),
    )
    people = [customer("old", age=70), customer("adult", age=30), customer("kid", age=9)]
    result = simulate(doc, people, start=T0)
    sent = {m["customerId"]: m["stateId"] for m in result.to_json()["messages"]}
    assert sent == {"old": 3, "adult": 4, "kid": 5}
    assert stats(result, 2)["branches"] == {"filter[0]": 1, "filter[1]": 1, "else": 1}


WEBHOOK = journey(
    state(1, "IN_ALL", forward=2),
    state(
        2,
        "FLOW_WEBHOOK",
        url="https://crm.example/hook",
        success={"forward": 3},
        failure={"forward": 4},
    ),
    send(3, 3, None),
    send(4, 4, None),
)


@pytest.mark.parametrize(
    ("response", "branch", "campaign"),
    [
        (WebhookResponse(200, {}), "success", 3),
        (WebhookResponse(503, {}), "failure", 4),
        (WebhookResponse(None), "failure", 4),
    ],
)
def test_webhook_success_and_failure(response: WebhookResponse, branch: str, campaign: int) -> None:
    result = simulate(WEBHOOK, [customer("a")], start=T0, webhook=response)
    assert [m["campaignId"] for m in result.to_json()["messages"]] == [campaign]
    assert stats(result, 2)["branches"] == {branch: 1}


def test_exit_on_takes_a_waiting_customer_out_and_counts_it_as_exited() -> None:
    doc = journey(
        state(1, "IN_ALL", forward=2),
        state(2, "FLOW_DELAY", time="P1D", forward=3),
        send(3, 3, None),
        exitOn=["unsubscribe"],
    )
    events = [event("gone", "unsubscribe", "2026-03-02T12:00:00Z")]
    result = simulate(doc, [customer("gone"), customer("stays")], events, start=T0)
    assert messages(result) == [("stays", 3, "2026-03-03T10:00:00Z")]
    delay = stats(result, 2)
    assert (delay["entered"], delay["completed"], delay["exited"]) == (2, 1, 1)


def test_quiet_hours_hold_a_message_until_they_end_and_at_is_when_it_goes_out() -> None:
    doc = journey(
        state(1, "IN_ALL", forward=2),
        send(2, 2, None),
        quietHours={"from": "22:00", "to": "08:00"},
    )
    people = [
        customer("madrid", timezone="Europe/Madrid"),
        customer("ny", timezone="America/New_York"),
    ]
    result = simulate(doc, people, start=at("2026-03-02T22:30:00Z"))
    # 23:30 in Madrid: held to 08:00 local (07:00Z); 17:30 in New York: goes at once.
    assert messages(result) == [
        ("ny", 2, "2026-03-02T22:30:00Z"),
        ("madrid", 2, "2026-03-03T07:00:00Z"),
    ]
    assert path(result, "madrid")[-1] == (2, "2026-03-02T22:30:00Z")


def test_frequency_cap_skips_the_message_over_the_cap_with_its_reason() -> None:
    doc = journey(
        state(1, "IN_ALL", forward=2),
        send(2, 2, 3),
        state(3, "FLOW_DELAY", time="PT1H", forward=4),
        send(4, 4, 5, "EMAIL"),
        state(5, "FLOW_DELAY", time="P1D", forward=6),
        send(6, 6, None),
        frequencyCap={"max": 1, "per": "P1D"},
    )
    result = simulate(doc, [customer("a"), customer("nopush", push=False)], start=T0)
    out = result.to_json()["messages"]
    assert [(m["customerId"], m["stateId"], m.get("skipped")) for m in out] == [
        ("a", 2, None),
        ("nopush", 2, "no_address"),
        ("a", 4, "frequency_cap"),
        ("nopush", 4, None),
        ("a", 6, None),
        ("nopush", 6, "no_address"),
    ]
    assert stats(result, 4)["skipped"] == {"frequency_cap": 1}
    assert stats(result, 4)["branches"] == {"sent": 1, "skipped": 1}
    assert stats(result, 2)["skipped"] == {"no_address": 1}


def test_reentry_rechecks_an_in_filter_every_recheck_up_to_max_entries() -> None:
    doc = journey(
        state(1, "IN_FILTER", cond={"$event": {"eventName": "visit", "within": "P1D"}}, forward=2),
        send(2, 2, None),
        reentry=True,
        maxEntries=2,
        recheckEvery="PT1H",
    )
    events = [event("a", "visit", "2026-03-02T10:30:00Z")]
    result = simulate(
        doc, [customer("a"), customer("b")], events, start=T0, until=at("2026-03-02T14:00:00Z")
    )
    # a matches from 10:30: enters at the 11:00 check, again at 12:00, then the limit holds.
    assert messages(result) == [("a", 2, "2026-03-02T11:00:00Z"), ("a", 2, "2026-03-02T12:00:00Z")]
    assert stats(result, 1)["entered"] == 2


def test_without_reentry_the_entry_condition_is_checked_once() -> None:
    doc = journey(state(1, "IN_FILTER", cond={"age": {"gt": 18}}, forward=2), send(2, 2, None))
    result = simulate(doc, [customer("a", age=30), customer("b", age=3)], start=T0)
    assert messages(result) == [("a", 2, "2026-03-02T10:00:00Z")]


def test_custom_event_entry_waits_for_the_running_enrollment_to_end() -> None:
    events = [
        event("a", "cart.add", "2026-03-02T10:00:00Z"),
        event("a", "cart.add", "2026-03-02T10:30:00Z"),  # still in the journey: no new entry
        event("a", "purchase", "2026-03-02T10:45:00Z"),
        event("a", "cart.add", "2026-03-02T12:00:00Z"),  # out again: enters a second time
    ]
    result = simulate(RETARGETING, [customer("a")], events, until=at("2026-03-02T12:30:00Z"))
    assert stats(result, 1)["entered"] == 2
    assert stats(result, 2)["waiting"] == 1
    assert [s for s, _ in path(result, "a")] == [1, 2, 3, 1, 2]


def test_birthday_entries_at_local_time_once_a_year() -> None:
    doc = journey(
        state(1, "IN_BIRTHDAY", field="birthday", offset="-P1D", at="10:00", forward=2),
        send(2, 2, None),
        reentry=True,
    )
    people = [
        customer("leap", timezone="Europe/Madrid", birthday="1992-02-29"),
        customer("none", timezone="Europe/Madrid"),
    ]
    result = simulate(doc, people, start=T0, until=at("2028-12-31T00:00:00Z"))
    # 2027: 29 Feb is read as 28 Feb, minus a day; 2028 is a leap year. 10:00 CET = 09:00Z.
    assert messages(result) == [
        ("leap", 2, "2027-02-27T09:00:00Z"),
        ("leap", 2, "2028-02-28T09:00:00Z"),
    ]


def test_in_list_takes_the_customers_given_and_not_those_known_only_from_events() -> None:
    doc = journey(state(1, "IN_LIST", forward=2), send(2, 2, None, "INAPP"))
    events = [event("stranger", "app.open", "2026-03-02T09:00:00Z")]
    result = simulate(doc, [customer("a")], events, start=T0)
    assert messages(result) == [("a", 2, "2026-03-02T10:00:00Z")]


def test_in_segment_uses_the_segments_given_and_refuses_without_them() -> None:
    doc = journey(state(1, "IN_SEGMENT", cond={"segmentIds": [4]}, forward=2), send(2, 2, None))
    people = [customer("vip", vip=True), customer("plain", vip=False)]
    with pytest.raises(InvalidInput, match="needs segment"):
        simulate(doc, people, start=T0)
    cond, _ = parse_condition({"vip": {"eq": True}})
    assert cond is not None
    result = simulate(doc, people, start=T0, segments={4: cond})
    assert messages(result) == [("vip", 2, "2026-03-02T10:00:00Z")]


def test_every_enrollment_is_counted_once_completed_waiting_exited_or_failed() -> None:
    doc = journey(
        state(1, "IN_ALL", forward=2),
        state(2, "FLOW_DELAY", time="P1D", forward=3),
        send(3, 3, None),
        exitOn=["stop"],
    )
    people = [customer(f"c{i}") for i in range(5)]
    events = [event("c0", "stop", "2026-03-02T11:00:00Z")]
    result = simulate(doc, people, events, start=T0, until=at("2026-03-02T12:00:00Z"))
    delay = stats(result, 2)
    assert delay["waiting"] == 4 and delay["exited"] == 1
    assert (
        delay["entered"]
        == delay["completed"] + delay["waiting"] + delay["exited"] + delay["failed"]
    )
    assert result.to_json()["messages"] == []


def test_events_before_the_start_are_history_only() -> None:
    doc = journey(
        state(
            1, "IN_FILTER", cond={"$event": {"eventName": "visit", "count": {"gte": 1}}}, forward=2
        ),
        send(2, 2, None),
    )
    events = [event("a", "visit", "2026-03-01T10:00:00Z")]
    result = simulate(doc, [customer("a"), customer("b")], events, start=T0)
    assert messages(result) == [("a", 2, "2026-03-02T10:00:00Z")]


def test_an_invalid_journey_is_refused_with_its_problems() -> None:
    doc = journey(state(1, "IN_ALL", forward=9))
    with pytest.raises(JourneyInvalid, match="state 1"):
        simulate(doc, [customer("a")], start=T0)


def test_until_before_start_is_refused() -> None:
    doc = journey(state(1, "IN_ALL", forward=None))
    with pytest.raises(InvalidInput, match="before it starts"):
        simulate(doc, [customer("a")], start=T0, until=at("2026-03-01T00:00:00Z"))


# --- properties over random journeys and event streams -------------------------------------------

WAITS = ["PT30M", "PT1H", "P1D"]
CODES = ["cart.add", "purchase", "push.click", "link.click", "visit", "unsubscribe"]


@st.composite
def random_journeys(draw: st.DrawFn) -> dict[str, Any]:
    """A valid journey: states 2..n only point to higher ids (no cycle), every one reachable."""
    count = draw(st.integers(2, 7))

    def forward(state_id: int) -> int | None:
        return draw(st.sampled_from([None, *range(state_id + 1, count + 1)]))

    entry = draw(st.sampled_from(["IN_ALL", "IN_CUSTOM_EVENT", "IN_FILTER"]))
    entry_params: dict[str, Any] = {"forward": 2}
    if entry == "IN_CUSTOM_EVENT":
        entry_params["eventName"] = "cart.add"
    elif entry == "IN_FILTER":
        entry_params["cond"] = {"age": {"gte": draw(st.integers(0, 60))}}
    states = [state(1, entry, **entry_params)]
    for i in range(2, count + 1):
        kind = draw(
            st.sampled_from(
                ["send", "filter", "random", "delay", "push", "sms", "event", "retarget", "hook"]
            )
        )
        wait = {"time": draw(st.sampled_from(WAITS)), "forward": forward(i)}
        if kind == "send":
            channel = draw(st.sampled_from(["PUSH", "EMAIL", "SMS", "INAPP"]))
            states.append(send(i, i, forward(i), channel))
        elif kind == "filter":
            branch = {"cond": {"age": {"lt": draw(st.integers(0, 60))}}, "forward": forward(i)}
            states.append(
                state(i, "FLOW_FILTER", filter=[branch], **{"else": {"forward": forward(i)}})
            )
        elif kind == "random":
            states.append(
                state(i, "FLOW_RANDOM", paths=[{"forward": forward(i)} for _ in range(2)])
            )
        elif kind == "delay":
            states.append(
                state(i, "FLOW_DELAY", time=draw(st.sampled_from(WAITS)), forward=forward(i))
            )
        elif kind == "push":
            click = {"campaignId": 1, "forward": forward(i)}
            states.append(state(i, "FLOW_PUSH_CLICK", click=click, timeout=wait))
        elif kind == "sms":
            click = [{"url": "sale", "urlMatchMode": "CONTAINS", "forward": forward(i)}]
            states.append(state(i, "FLOW_SMS", click=click, timeout=wait))
        elif kind == "event":
            states.append(
                state(i, "FLOW_CUSTOM_EVENT", eventName="visit", forward=forward(i), timeout=wait)
            )
        elif kind == "retarget":
            states.append(
                state(
                    i,
                    "FLOW_RETARGETING",
                    goalEvent="purchase",
                    wait=draw(st.sampled_from(WAITS)),
                    reminders=[{"campaignId": i, "channel": "push"}],
                    converted={"forward": forward(i)},
                    exhausted={"forward": forward(i)},
                )
            )
        else:
            states.append(
                state(
                    i,
                    "FLOW_WEBHOOK",
                    url="https://crm.example/hook",
                    success={"forward": forward(i)},
                    failure={"forward": forward(i)},
                )
            )
    # Keep every state reachable: each one is the first forward of the one before it.
    for previous, following in itertools.pairwise(states[1:]):
        _point_first_forward(previous["params"], following["id"])
    options: dict[str, Any] = {
        "reentry": draw(st.booleans()),
        "maxEntries": draw(st.sampled_from([None, 1, 2])),
        "recheckEvery": "PT6H",
        "exitOn": draw(st.sampled_from([[], ["unsubscribe"]])),
    }
    if draw(st.booleans()):
        options["quietHours"] = {"from": "22:00", "to": "08:00"}
    if draw(st.booleans()):
        options["frequencyCap"] = {"max": draw(st.integers(1, 3)), "per": "P1D"}
    return {"name": "Random", "states": states, "settings": options}


def _point_first_forward(params: dict[str, Any], target: int) -> None:
    for key in ("forward", "click", "filter", "paths", "converted", "success"):
        value = params.get(key)
        if key == "forward" and key in params:
            params[key] = target
            return
        if isinstance(value, list):
            value[0]["forward"] = target
            return
        if isinstance(value, dict):
            value["forward"] = target
            return


@st.composite
def random_events(draw: st.DrawFn) -> list[SimEvent]:
    found = []
    for _ in range(draw(st.integers(0, 25))):
        code = draw(st.sampled_from(CODES))
        data: dict[str, Any] = {}
        if code == "push.click":
            data["campaignId"] = 1
        elif code == "link.click":
            data["url"] = draw(st.sampled_from(["https://x/sale", "https://x/other"]))
        moment = T0 + timedelta(minutes=draw(st.integers(0, 4 * 24 * 60)))
        found.append(SimEvent(draw(st.sampled_from(["a", "b", "c"])), code, moment, data))
    return found


PEOPLE = [
    customer("a", timezone="Europe/Madrid", age=20),
    customer("b", timezone="America/New_York", push=False, age=45),
    customer("c", email=False, age=70),
]


@settings(max_examples=150, deadline=None)
@given(random_journeys(), random_events())
def test_random_journeys_keep_the_simulator_invariants(
    doc: dict[str, Any], events: list[SimEvent]
) -> None:
    until = T0 + timedelta(days=5)
    result = simulate(doc, PEOPLE, events, start=T0, until=until)
    out = result.to_json()
    # Deterministic: the same inputs give the same output.
    assert simulate(doc, PEOPLE, events, start=T0, until=until).to_json() == out
    # No message twice: every outbox key is distinct.
    keys = [m.key for m in result.messages]
    assert len(keys) == len(set(keys))
    # Messages in time order, paths in time order starting at the entry state.
    assert [m.at for m in result.messages] == sorted(m.at for m in result.messages)
    for steps in result.paths.values():
        assert steps[0][0] == 1
        assert [when for _, when in steps] == sorted(when for _, when in steps)
        assert all(T0 <= when <= until for _, when in steps)
    # Every arrival is accounted for exactly once, and no customer waits twice.
    per_state = Counter(m["stateId"] for m in out["messages"])
    for state_id, stat in out["stats"].items():
        total = stat["completed"] + stat["waiting"] + stat["exited"] + stat["failed"]
        assert stat["entered"] == total
        assert stat["completed"] == sum(stat["branches"].values())
        if "sent" in stat:
            assert stat["sent"] + sum(stat["skipped"].values()) == per_state[int(state_id)]
    assert sum(s["waiting"] for s in out["stats"].values()) <= len(PEOPLE)
    assert sum(s["failed"] for s in out["stats"].values()) == 0
    # Entries respect the limit.
    entries = out["stats"]["1"]["entered"]
    limit = doc["settings"]["maxEntries"] if doc["settings"]["reentry"] else 1
    if limit is not None:
        assert entries <= limit * len(PEOPLE)


def test_a_filter_on_a_segment_that_was_not_given_is_refused() -> None:
    doc = journey(
        state(1, "IN_ALL", forward=2),
        state(2, "FLOW_FILTER", filter=[{"cond": {"segmentIds": [8]}, "forward": None}]),
    )
    with pytest.raises(InvalidInput, match=r"state 2 \(FLOW_FILTER\) needs segment\(s\) 8"):
        simulate(doc, [customer("a")], start=T0)
