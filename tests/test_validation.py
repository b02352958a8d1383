from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wayfare.errors import JourneyInvalid
from wayfare.model.events import BUILTIN_EVENTS
from wayfare.model.fields import FieldType
from wayfare.model.journey import read_journey_document
from wayfare.model.states import StateType
from wayfare.model.validation import Catalog, validate_journey

EXAMPLES = Path(__file__).parent.parent / "examples"

CATALOG = Catalog(
    campaigns={
        1: "push",
        2: "inapp",
        3: "email",
        4: "wallet",
        5: "sms",
        6: "whatsapp",
        7: "telegram",
    },
    fields={
        "country": FieldType.STRING,
        "age": FieldType.NUMBER,
        "city": FieldType.STRING,
        "vip": FieldType.BOOLEAN,
        "score": FieldType.NUMBER,
        "birthday": FieldType.DATE,
        "last_login": FieldType.DATETIME,
    },
    lists=frozenset({1}),
    segments=frozenset({1, 2}),
    events=frozenset({"signup", "purchase"}),
)


def every_state() -> dict[str, Any]:
    return read_journey_document(EXAMPLES / "every-state.json")


def codes(raw: dict[str, Any], catalog: Catalog | None = None) -> list[tuple[str, str]]:
    report = validate_journey(raw, catalog)
    assert report.journey is None
    assert not report.valid
    return [(p.where, p.code) for p in report.problems]


def journey(*states: dict[str, Any], settings: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": "t", "states": list(states), "settings": settings or {}}


def s(state_id: int, state_type: str, **params: Any) -> dict[str, Any]:
    return {"id": state_id, "type": state_type, "params": params}


# --- valid journeys ---------------------------------------------------------------------------


def test_the_example_of_every_state_type_is_valid_with_and_without_a_catalog() -> None:
    raw = every_state()
    types = {state["type"] for state in raw["states"]}
    assert types == {t.value for t in StateType if not t.is_entry} | {"IN_CUSTOM_EVENT"}
    for catalog in (None, CATALOG):
        report = validate_journey(raw, catalog)
        assert report.problems == []
        assert report.valid
        assert report.journey is not None
        assert len(report.journey.states) == 16
        assert report.checked() is report.journey
        assert report.to_json() == {"valid": True, "problems": []}


@pytest.mark.parametrize(
    "entry",
    [
        {"type": "IN_ALL", "params": {"forward": 2}},
        {"type": "IN_LIST", "params": {"listId": 1, "forward": 2}},
        {"type": "IN_LIST", "params": {"forward": 2}},
        {"type": "IN_SEGMENT", "params": {"cond": {"segmentIds": [1, 2]}, "forward": 2}},
        {"type": "IN_FILTER", "params": {"cond": {"age": {"gt": 30}}, "forward": 2}},
        {"type": "IN_CUSTOM_EVENT", "params": {"eventName": "push.click", "forward": 2}},
        {"type": "IN_BIRTHDAY", "params": {"field": "birthday", "at": "10:00", "forward": 2}},
    ],
)
def test_every_entry_type_is_valid_as_the_entry(entry: dict[str, Any]) -> None:
    raw = every_state()
    raw["states"][0] = {"id": 1, **entry}
    report = validate_journey(raw, CATALOG)
    assert report.problems == []
    assert report.journey is not None
    assert report.journey.entry.type == StateType(entry["type"])


@pytest.mark.parametrize("name", ["abandoned-cart.yaml", "birthday.yaml", "welcome-series.json"])
def test_the_other_examples_are_valid(name: str) -> None:
    report = validate_journey(read_journey_document(EXAMPLES / name))
    assert report.problems == []


def test_a_cycle_through_a_wait_is_fine() -> None:
    raw = journey(
        s(1, "IN_ALL", forward=2),
        s(2, "ACTION_PUSH_SEND", action={"campaignId": 1}, forward=3),
        s(3, "FLOW_DELAY", time="P7D", forward=2),
    )
    assert validate_journey(raw).problems == []


# --- one test per kind of problem -------------------------------------------------------------


def test_unknown_type() -> None:
    raw = journey(s(1, "IN_ALL", forward=2), s(2, "ACTION_FAX_SEND", forward=None))
    assert codes(raw) == [("state 2: type", "unknown_type")]


def test_wrong_and_missing_params() -> None:
    raw = journey(
        s(1, "IN_ALL", forward=2),
        s(2, "ACTION_EMAIL_SEND", action={"campaignId": "nine"}),
    )
    assert codes(raw) == [
        ("state 2: params.action.campaignId", "wrong_type"),
        ("state 2: params.forward", "missing_forward"),
    ]


def test_no_entry_state() -> None:
    raw = journey(s(1, "ACTION_PUSH_SEND", action={"campaignId": 1}, forward=None))
    assert codes(raw) == [("states", "no_entry")]
    assert codes({"name": "t", "states": []}) == [("states", "no_entry")]


def test_two_entry_states() -> None:
    raw = journey(
        s(1, "IN_ALL", forward=3),
        s(2, "IN_LIST", forward=3),
        s(3, "FLOW_DELAY", time="P1D", forward=None),
    )
    assert codes(raw) == [("state 2: type", "extra_entry")]


def test_an_entry_state_cannot_be_a_forward_target() -> None:
    raw = journey(s(1, "IN_ALL", forward=2), s(2, "FLOW_DELAY", time="P1D", forward=1))
    assert codes(raw) == [("state 2: params.forward", "forward_to_entry")]


def test_duplicate_state_ids() -> None:
    raw = journey(
        s(1, "IN_ALL", forward=2),
        s(2, "FLOW_DELAY", time="P1D", forward=None),
        s(2, "FLOW_DELAY", time="P2D", forward=None),
    )
    assert codes(raw) == [("state 2", "duplicate_id")]


def test_dangling_forward() -> None:
    raw = every_state()
    raw["states"][2]["params"]["timeout"]["forward"] = 99
    report = validate_journey(raw)
    assert [(p.where, p.code) for p in report.problems] == [
        ("state 3: params.timeout.forward", "dangling_forward"),
        ("state 5", "unreachable"),  # and what only state 5 led to
        ("state 7", "unreachable"),
        ("state 9", "unreachable"),
    ]
    assert report.problems[0].message == "state 99 does not exist"


def test_unreachable_states() -> None:
    raw = journey(
        s(1, "IN_ALL", forward=None),
        s(2, "FLOW_DELAY", time="P1D", forward=3),
        s(3, "ACTION_PUSH_SEND", action={"campaignId": 1}, forward=None),
    )
    assert codes(raw) == [("state 2", "unreachable"), ("state 3", "unreachable")]


def test_reachability_goes_through_a_state_with_bad_params() -> None:
    raw = journey(
        s(1, "IN_ALL", forward=2),
        s(2, "ACTION_PUSH_SEND", action={}, forward=3),
        s(3, "FLOW_DELAY", time="P1D", forward=None),
    )
    assert codes(raw) == [("state 2: params.action.campaignId", "missing")]


def test_cycle_without_a_wait() -> None:
    raw = journey(
        s(1, "IN_ALL", forward=2),
        s(2, "ACTION_PUSH_SEND", action={"campaignId": 1}, forward=3),
        s(
            3,
            "FLOW_FILTER",
            filter=[{"cond": {"age": {"gt": 3}}, "forward": 4}],
            **{"else": {"forward": None}},
        ),
        s(4, "FLOW_RANDOM", paths=[{"forward": 2}, {"forward": 5}]),
        s(5, "FLOW_DELAY", time="P1D", forward=5),
        s(6, "IN_LIST", forward=None),
    )
    report = validate_journey(raw)
    found = [(p.where, p.code) for p in report.problems]
    assert ("state 2", "cycle_without_wait") in found
    cycle = next(p for p in report.problems if p.code == "cycle_without_wait")
    assert "2 → 3 → 4 → 2" in cycle.message
    assert ("state 5", "cycle_without_wait") not in found  # a delay waiting on itself is a wait


def test_a_state_forwarding_to_itself_without_waiting() -> None:
    raw = journey(
        s(1, "IN_ALL", forward=2), s(2, "FLOW_RANDOM", paths=[{"forward": 2}, {"forward": None}])
    )
    assert codes(raw) == [("state 2", "cycle_without_wait")]


def test_bad_durations() -> None:
    raw = every_state()
    raw["states"][12]["params"]["time"] = "one month"
    raw["states"][14]["params"]["every"] = "P0D"
    raw["settings"]["recheckEvery"] = "10 minutes"
    assert codes(raw) == [
        ("state 13: params.time", "bad_duration"),
        ("state 15: params.every", "bad_duration"),
        ("settings.recheckEvery", "bad_duration"),
    ]


def test_a_delay_may_be_zero_but_not_negative() -> None:
    raw = every_state()
    delay = next(s for s in raw["states"] if s["type"] == "FLOW_DELAY")
    delay["params"]["time"] = "PT0S"
    assert validate_journey(raw).valid
    delay["params"]["time"] = "-P1D"
    assert [p.message for p in validate_journey(raw).problems] == ["'-P1D' cannot be negative"]


def test_a_birthday_offset_is_whole_days() -> None:
    entry = {"id": 1, "type": "IN_BIRTHDAY", "params": {"field": "birthday", "forward": None}}
    entry["params"]["offset"] = "-PT12H"
    problems = validate_journey({"name": "b", "states": [entry]}).problems
    assert [(p.where, p.code) for p in problems] == [("state 1: params.offset", "bad_duration")]
    entry["params"]["offset"] = "-P1W"
    assert validate_journey({"name": "b", "states": [entry]}).valid


def test_a_loop_through_a_delay_of_zero_has_no_wait() -> None:
    states = [
        {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
        {
            "id": 2,
            "type": "ACTION_PUSH_SEND",
            "params": {"action": {"campaignId": 1}, "forward": 3},
        },
        {"id": 3, "type": "FLOW_DELAY", "params": {"time": "PT0S", "forward": 2}},
    ]
    problems = validate_journey({"name": "loop", "states": states}).problems
    assert [p.code for p in problems] == ["cycle_without_wait"]
    states[2]["params"]["time"] = "PT1M"
    assert validate_journey({"name": "loop", "states": states}).valid


def test_weights_must_be_finite_numbers() -> None:
    raw = every_state()
    raw["states"][11]["params"]["paths"][0]["weight"] = float("nan")
    assert [p.where for p in validate_journey(raw).problems] == ["state 12: params.paths[0].weight"]


def test_negative_or_all_zero_weights() -> None:
    raw = every_state()
    raw["states"][11]["params"]["paths"][0]["weight"] = -5
    assert codes(raw) == [("state 12: params.paths[0].weight", "bad_weight")]
    raw["states"][11]["params"]["paths"] = [
        {"weight": 0, "forward": 13},
        {"weight": 0, "forward": 14},
    ]
    assert codes(raw) == [("state 12: params.paths", "bad_weight")]


def test_every_problem_is_reported_at_once() -> None:
    raw = every_state()
    raw["states"][15]["params"]["success"]["forward"] = 42
    raw["states"][5]["type"] = "ACTION_PIGEON_SEND"
    raw["states"][12]["params"]["time"] = "P1"
    raw["settings"]["maxEntries"] = 0
    raw["name"] = ""
    found = codes(raw)
    assert found == [
        ("name", "missing"),
        ("state 6: type", "unknown_type"),
        ("state 13: params.time", "bad_duration"),
        ("settings.maxEntries", "invalid"),
        ("state 16: params.success.forward", "dangling_forward"),
    ]


def test_an_invalid_report_raises_with_every_problem() -> None:
    report = validate_journey(journey(s(1, "IN_ALL", forward=9)))
    with pytest.raises(JourneyInvalid) as caught:
        report.checked()
    assert caught.value.problems == tuple(report.problems)
    assert report.to_json() == {
        "valid": False,
        "problems": [
            {
                "where": "state 1: params.forward",
                "message": "state 9 does not exist",
                "code": "dangling_forward",
            }
        ],
    }


# --- references, with a catalog ---------------------------------------------------------------


def test_unknown_campaigns() -> None:
    raw = every_state()
    raw["states"][1]["params"]["action"]["campaignId"] = 70
    raw["states"][14]["params"]["reminders"][1]["campaignId"] = 80
    assert codes(raw, CATALOG) == [
        ("state 2: params.action.campaignId", "unknown_campaign"),
        ("state 15: params.reminders[1].campaignId", "unknown_campaign"),
    ]


def test_campaign_channel_must_match_the_state() -> None:
    raw = every_state()
    raw["states"][8]["params"]["action"]["campaignId"] = 3  # an email campaign in ACTION_SMS_SEND
    raw["states"][2]["params"]["click"]["campaignId"] = 5  # FLOW_PUSH_CLICK on an sms campaign
    raw["states"][14]["params"]["reminders"][0]["channel"] = "email"  # campaign 1 is push
    report = validate_journey(raw, CATALOG)
    assert [(p.where, p.code) for p in report.problems] == [
        ("state 3: params.click.campaignId", "channel_mismatch"),
        ("state 9: params.action.campaignId", "channel_mismatch"),
        ("state 15: params.reminders[0].campaignId", "channel_mismatch"),
    ]
    assert report.problems[1].message == "campaign 3 is for email, not sms (ACTION_SMS_SEND)"


def test_unknown_customer_fields() -> None:
    raw = every_state()
    raw["states"][7]["params"]["filter"][0]["cond"]["shoe_size"] = {"gt": 40}
    raw["states"][15]["params"]["saveAs"]["risk"] = "data.risk"
    assert codes(raw, CATALOG) == [
        ("state 8: params.filter[0].cond.shoe_size", "unknown_field"),
        ("state 16: params.saveAs.risk", "unknown_field"),
    ]
    # Without a catalog the same journey is fine: fields are only known with one.
    assert validate_journey(raw).problems == []


def test_birthday_field_must_exist_and_be_a_date() -> None:
    raw = every_state()
    raw["states"][0] = s(1, "IN_BIRTHDAY", field="age", forward=2)
    assert codes(raw, CATALOG) == [("state 1: params.field", "wrong_field_type")]
    raw["states"][0] = s(1, "IN_BIRTHDAY", field="anniversary", forward=2)
    assert codes(raw, CATALOG) == [("state 1: params.field", "unknown_field")]


def test_unknown_contact_lists_and_segments() -> None:
    raw = every_state()
    raw["states"][0] = s(1, "IN_LIST", listId=5, forward=2)
    assert codes(raw, CATALOG) == [("state 1: params.listId", "unknown_list")]
    raw["states"][0] = s(1, "IN_SEGMENT", cond={"segmentIds": [2, 3]}, forward=2)
    assert codes(raw, CATALOG) == [("state 1: params.cond.segmentIds[1]", "unknown_segment")]
    raw["states"][0] = s(1, "IN_FILTER", cond={"segmentIds": [9]}, forward=2)
    assert codes(raw, CATALOG) == [("state 1: params.cond", "unknown_segment")]


def test_unknown_event_types() -> None:
    raw = every_state()
    raw["states"][0]["params"]["eventName"] = "sign_up"
    raw["states"][13]["params"]["eventName"] = "bought"
    raw["states"][14]["params"]["goalEvent"] = "paid"
    raw["states"][7]["params"]["filter"][1]["cond"]["$event"]["eventName"] = "ordered"
    raw["settings"]["exitOn"] = ["unsubscribe", "churned"]
    raw["settings"]["goal"]["eventName"] = "won"
    assert codes(raw, CATALOG) == [
        ("state 1: params.eventName", "unknown_event"),
        ("state 8: params.filter[1].cond", "unknown_event"),
        ("state 14: params.eventName", "unknown_event"),
        ("state 15: params.goalEvent", "unknown_event"),
        ("settings.exitOn[1]", "unknown_event"),
        ("settings.goal.eventName", "unknown_event"),
    ]


def test_builtin_message_events_are_always_known() -> None:
    assert {
        "push.click",
        "push.received",
        "email.open",
        "link.click",
        "sms.delivered",
        "unsubscribe",
    } <= BUILTIN_EVENTS
    raw = every_state()
    raw["states"][0]["params"]["eventName"] = "email.open"
    raw["states"][13]["params"]["eventName"] = "link.click"
    raw["settings"]["exitOn"] = ["unsubscribe", "sms.delivered"]
    assert (
        validate_journey(
            raw, Catalog(**{**CATALOG.__dict__, "events": frozenset({"purchase"})})
        ).problems
        == []
    )


def test_validation_does_not_change_the_document() -> None:
    raw = every_state()
    before = copy.deepcopy(raw)
    validate_journey(raw, CATALOG)
    assert raw == before


# --- the graph checks against a brute force, on random graphs --------------------------------

_KINDS = ("FLOW_RANDOM", "FLOW_DELAY")  # an instant state with many edges, and a wait


@given(
    st.lists(
        st.tuples(st.sampled_from(_KINDS), st.lists(st.integers(1, 8), min_size=1, max_size=3)),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=200, deadline=None)
def test_unreachable_and_cycles_match_a_brute_force(nodes: list[tuple[str, list[int]]]) -> None:
    count = len(nodes)
    edges = {i + 2: [t for t in targets if t <= count + 1] for i, (_, targets) in enumerate(nodes)}
    kinds = {i + 2: kind for i, (kind, _) in enumerate(nodes)}
    states = [s(1, "IN_ALL", forward=2)]
    for sid, kind in kinds.items():
        targets = [t for t in edges[sid] if t != 1] or [None]
        edges[sid] = [t for t in targets if t is not None]
        if kind == "FLOW_DELAY":
            states.append(s(sid, kind, time="P1D", forward=targets[0]))
            edges[sid] = edges[sid][:1]
        else:
            states.append(s(sid, kind, paths=[{"forward": t} for t in targets]))
    report = validate_journey(journey(*states))

    reached, todo = {1, 2}, [2]
    while todo:
        for target in edges[todo.pop()]:
            if target not in reached:
                reached.add(target)
                todo.append(target)
    unreachable = {f"state {sid}" for sid in kinds if sid not in reached}
    assert {p.where for p in report.problems if p.code == "unreachable"} == unreachable

    def loops(start: int) -> bool:
        seen, todo = set(), [start]
        while todo:
            for target in edges[todo.pop()]:
                if kinds[target] == "FLOW_DELAY":
                    continue
                if target == start:
                    return True
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return False

    looping = {sid for sid in kinds if kinds[sid] != "FLOW_DELAY" and loops(sid)}
    cycles = [p for p in report.problems if p.code == "cycle_without_wait"]
    covered = set()
    for problem in cycles:
        path = problem.message.split("(")[1].split(")")[0].split(" → ")
        covered |= {int(x) for x in path}
    assert covered <= looping
    assert bool(cycles) == bool(looping)
    assert set(report.problems) == {
        p for p in report.problems if p.code in ("unreachable", "cycle_without_wait")
    }


def test_a_forward_key_in_data_of_a_broken_state_is_no_link() -> None:
    # Validation follows the raw links of a state that does not parse (here: no url); the
    # webhook body's "forward" is data, so state 3 stays unreachable.
    raw = journey(
        s(1, "IN_ALL", forward=2),
        s(
            2,
            "FLOW_WEBHOOK",
            method="POST",
            headers={"forward": "3"},
            body={"forward": 3, "a.b": {"forward": 3}},
            success={"forward": None},
            failure={"forward": None},
        ),
        s(3, "ACTION_PUSH_SEND", action={"campaignId": 1}, forward=None),
    )
    assert codes(raw) == [("state 2: params.url", "missing"), ("state 3", "unreachable")]
    raw["states"][1]["params"]["success"] = {"forward": 3}  # a real link does reach it
    assert codes(raw) == [("state 2: params.url", "missing")]
