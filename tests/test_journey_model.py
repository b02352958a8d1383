from __future__ import annotations

import json
from datetime import time
from pathlib import Path
from typing import Any

import pytest

from wayfare.errors import JourneyInvalid
from wayfare.model.conditions import Compare
from wayfare.model.durations import Duration, parse_duration
from wayfare.model.journey import (
    DEFAULT_RECHECK_EVERY,
    QuietHours,
    Settings,
    load_journey_document,
    parse_journey,
    parse_settings,
    read_journey_document,
)
from wayfare.model.params import parse_state
from wayfare.model.states import (
    BirthdayEntryParams,
    Channel,
    DelayParams,
    EventEntryParams,
    EventWaitParams,
    FilterParams,
    ForwardParams,
    LinkClick,
    LinkClickParams,
    ListEntryParams,
    PushClickParams,
    RandomParams,
    RetargetingParams,
    SegmentEntryParams,
    SendParams,
    StateType,
    Timeout,
    Until,
    UrlMatchMode,
    WebhookParams,
    event_data_matches,
    link_text,
    raw_links,
)

EXAMPLES = Path(__file__).parent.parent / "examples"


def state(raw_params: dict[str, Any], state_type: str, state_id: int = 3) -> Any:
    parsed, problems = parse_state({"id": state_id, "type": state_type, "params": raw_params}, 0)
    assert problems == []
    assert parsed is not None
    assert parsed.id == state_id
    assert parsed.type == StateType(state_type)
    return parsed.params


def problems_of(raw_params: object, state_type: str, state_id: int = 3) -> list[tuple[str, str]]:
    parsed, problems = parse_state({"id": state_id, "type": state_type, "params": raw_params}, 0)
    assert parsed is None
    return [(p.where, p.code) for p in problems]


# --- state types ------------------------------------------------------------------------------


def test_state_type_helpers() -> None:
    assert [t for t in StateType if t.is_entry] == [
        StateType.IN_ALL,
        StateType.IN_LIST,
        StateType.IN_SEGMENT,
        StateType.IN_FILTER,
        StateType.IN_CUSTOM_EVENT,
        StateType.IN_BIRTHDAY,
    ]
    channels = {t: t.channel for t in StateType if t.is_message}
    assert channels == {
        StateType.ACTION_PUSH_SEND: Channel.PUSH,
        StateType.ACTION_INAPP_SEND: Channel.INAPP,
        StateType.ACTION_WALLET_SEND: Channel.WALLET,
        StateType.ACTION_EMAIL_SEND: Channel.EMAIL,
        StateType.ACTION_SMS_SEND: Channel.SMS,
        StateType.ACTION_WHATSAPP_SEND: Channel.WHATSAPP,
        StateType.ACTION_TELEGRAM_SEND: Channel.TELEGRAM,
    }
    assert StateType.FLOW_FILTER.channel is None
    assert {t for t in StateType if t.is_wait} == {
        StateType.FLOW_DELAY,
        StateType.FLOW_PUSH_CLICK,
        StateType.FLOW_SMS,
        StateType.FLOW_CUSTOM_EVENT,
        StateType.FLOW_RETARGETING,
    }
    assert len(StateType) == 21


# --- params of the indigitall shapes ------------------------------------------------------------


def test_indigitall_entry_shapes() -> None:
    assert state({"forward": 2}, "IN_ALL") == ForwardParams(2)
    assert state({"forward": 2}, "IN_LIST") == ListEntryParams(None, 2)
    assert state({"listId": 4, "forward": 2}, "IN_LIST") == ListEntryParams(4, 2)
    assert state({"cond": {"segmentIds": [1]}, "forward": 2}, "IN_SEGMENT") == (
        SegmentEntryParams((1,), 2)
    )
    entry = state({"eventName": "test_event", "forward": 2}, "IN_CUSTOM_EVENT")
    assert entry == EventEntryParams("test_event", None, 2)


def test_indigitall_filter_entry_with_every_documented_operator() -> None:
    params = state(
        {
            "cond": {
                "age": {"gt": 30},
                "last_login": {"isnotnull": True},
                "unsubscribe_date": {"isnull": True},
                "birthday": {
                    "useActualDate": {"active": True, "offset": "PT0S", "operator": "eq"},
                    "datePart": ["day", "month"],
                },
            },
            "forward": 2,
        },
        "IN_FILTER",
    )
    assert params.forward == 2
    assert Compare("age", "gt", 30) in params.cond.items


def test_indigitall_message_and_flow_shapes() -> None:
    send = state({"action": {"campaignId": 1}, "forward": 3}, "ACTION_SMS_SEND")
    assert send == SendParams(1, 3)
    click = state(
        {"click": {"campaignId": 1, "forward": 5}, "timeout": {"time": "P5D", "forward": 4}},
        "FLOW_PUSH_CLICK",
    )
    assert click == PushClickParams(1, 5, Timeout(parse_duration("P5D"), 4))
    sms = state(
        {
            "click": [{"url": "example.com", "urlMatchMode": "CONTAINS", "forward": 5}],
            "timeout": {"time": "P5D", "forward": 4},
        },
        "FLOW_SMS",
    )
    assert sms == LinkClickParams(
        (LinkClick("example.com", UrlMatchMode.CONTAINS, 5),), Timeout(Duration(days=5), 4)
    )
    flow = state(
        {"filter": [{"cond": {"age": {"gt": 1}}, "forward": 5}, {"cond": {}, "forward": 8}]},
        "FLOW_FILTER",
    )
    assert isinstance(flow, FilterParams)
    assert [b.forward for b in flow.branches] == [5, 8]
    assert flow.otherwise is None
    assert flow.edges() == (
        ("filter[0].forward", 5),
        ("filter[1].forward", 8),
        ("else.forward", None),
    )


def test_unknown_fields_of_params_and_state_are_dropped() -> None:
    parsed, problems = parse_state(
        {
            "id": 2,
            "type": "ACTION_EMAIL_SEND",
            "name": "Welcome mail",
            "position": {"x": 10, "y": 20},
            "params": {"action": {"campaignId": 9, "template": "x"}, "forward": None, "color": 1},
        },
        0,
    )
    assert problems == []
    assert parsed is not None
    assert parsed.params == SendParams(9, None)


def test_extension_shapes() -> None:
    birthday = state({"field": "birthday", "offset": "-P3D", "forward": 2}, "IN_BIRTHDAY")
    assert birthday == BirthdayEntryParams("birthday", Duration(days=3, negative=True), time(9), 2)
    wait = state(
        {"eventName": "purchase", "forward": 4, "timeout": {"time": "P7D", "forward": None}},
        "FLOW_CUSTOM_EVENT",
    )
    assert wait == EventWaitParams("purchase", None, 4, Timeout(Duration(days=7), None))
    random = state({"paths": [{"forward": 4}, {"weight": 2.5, "forward": 5}]}, "FLOW_RANDOM")
    assert isinstance(random, RandomParams)
    assert [(p.weight, p.forward) for p in random.paths] == [(1.0, 4), (2.5, 5)]
    delay = state(
        {"until": {"at": "9:05", "weekdays": ["mon", "Friday"]}, "forward": 1}, "FLOW_DELAY"
    )
    assert delay == DelayParams(None, Until(time(9, 5), frozenset({1, 5})), 1)
    short = state({"time": "PT30M", "until": "18:00", "forward": None}, "FLOW_DELAY")
    assert short == DelayParams(Duration(seconds=1800), Until(time(18)), None)
    retarget = state(
        {
            "goalEvent": "purchase",
            "wait": "PT1H",
            "reminders": [{"campaignId": 7, "channel": "push"}],
            "converted": {"forward": 3},
            "exhausted": {"forward": None},
        },
        "FLOW_RETARGETING",
    )
    assert isinstance(retarget, RetargetingParams)
    assert retarget.reminders[0].channel is Channel.PUSH
    assert retarget.every is None
    assert retarget.edges() == (("converted.forward", 3), ("exhausted.forward", None))
    hook = state(
        {
            "url": "https://example.com/{{ customer.customerId }}",
            "success": {"forward": 2},
            "failure": {"forward": None},
        },
        "FLOW_WEBHOOK",
    )
    assert hook == WebhookParams(
        "https://example.com/{{ customer.customerId }}", "POST", {}, None, None, 2, None, {}
    )


def test_link_click_match_modes() -> None:
    assert LinkClick("offer", UrlMatchMode.CONTAINS, 1).matches("https://x.com/offer?a=1")
    assert not LinkClick("https://x.com", UrlMatchMode.EQUALS, 1).matches("https://x.com/")
    assert LinkClick("https://x.com", UrlMatchMode.STARTS_WITH, 1).matches("https://x.com/a")
    assert not LinkClick("https://y.com", UrlMatchMode.STARTS_WITH, 1).matches("https://x.com/a")


# --- problems in params, each located ----------------------------------------------------------


def test_missing_forward_is_reported_with_its_path() -> None:
    assert problems_of({}, "IN_ALL") == [("state 3: params.forward", "missing_forward")]
    found = problems_of({"click": {"campaignId": 1}, "timeout": {"time": "P1D"}}, "FLOW_PUSH_CLICK")
    assert found == [
        ("state 3: params.click.forward", "missing_forward"),
        ("state 3: params.timeout.forward", "missing_forward"),
    ]


def test_wrong_types_and_bad_durations_are_all_reported() -> None:
    found = problems_of(
        {"click": {"campaignId": "1", "forward": 2}, "timeout": {"time": "5 days", "forward": 1}},
        "FLOW_PUSH_CLICK",
    )
    assert found == [
        ("state 3: params.click.campaignId", "wrong_type"),
        ("state 3: params.timeout.time", "bad_duration"),
    ]
    assert problems_of({"forward": True}, "IN_ALL") == [("state 3: params.forward", "wrong_type")]
    assert problems_of({"time": "-PT5M", "forward": 1}, "FLOW_DELAY") == [
        ("state 3: params.time", "bad_duration")
    ]
    assert problems_of({"forward": 1}, "FLOW_DELAY") == [("state 3: params.time", "missing")]
    assert problems_of({"until": {"at": "25:00"}, "forward": 1}, "FLOW_DELAY") == [
        ("state 3: params.until.at", "bad_time")
    ]
    assert problems_of(
        {"url": "ftp://x", "method": "FETCH", "success": {"forward": 1}, "failure": {"forward": 1}},
        "FLOW_WEBHOOK",
    ) == [("state 3: params.url", "invalid"), ("state 3: params.method", "invalid")]


def test_random_weights() -> None:
    assert problems_of(
        {"paths": [{"weight": -1, "forward": 1}, {"forward": 2}]}, "FLOW_RANDOM"
    ) == [("state 3: params.paths[0].weight", "bad_weight")]
    assert problems_of({"paths": [{"weight": 0, "forward": 1}]}, "FLOW_RANDOM") == [
        ("state 3: params.paths", "bad_weight")
    ]
    assert problems_of({"paths": []}, "FLOW_RANDOM") == [("state 3: params.paths", "invalid")]


def test_conditions_problems_are_located_inside_params() -> None:
    found = problems_of({"filter": [{"cond": {"age": {"gtx": 1}}, "forward": 1}]}, "FLOW_FILTER")
    assert found == [("state 3: params.filter[0].cond.age.gtx", "unknown_operator")]


def test_state_head_problems() -> None:
    parsed, problems = parse_state({"type": "IN_ALL", "params": {"forward": 1}}, 4)
    assert parsed is None
    assert [(p.where, p.code) for p in problems] == [("states[4]: id", "missing")]
    parsed, problems = parse_state({"id": 7, "type": "IN_EVERYONE"}, 0)
    assert [(p.where, p.code) for p in problems] == [("state 7: type", "unknown_type")]
    parsed, problems = parse_state("IN_ALL", 2)
    assert [(p.where, p.code) for p in problems] == [("states[2]", "wrong_type")]


# --- settings ---------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings, problems = parse_settings(None)
    assert problems == []
    assert settings == Settings()
    assert settings.recheck_every == DEFAULT_RECHECK_EVERY == parse_duration("PT10M")
    assert settings.max_entries is None and settings.reentry is False


def test_settings_every_option() -> None:
    settings, problems = parse_settings(
        {
            "reentry": True,
            "maxEntries": 2,
            "recheckEvery": "PT1H",
            "exitOn": ["unsubscribe"],
            "goal": {"eventName": "purchase", "within": "P7D"},
            "quietHours": {"from": "22:00", "to": "08:00"},
            "frequencyCap": {"max": 3, "per": "P1D"},
            "timezone": "Europe/Madrid",
            "somethingElse": 1,
        }
    )
    assert problems == []
    assert settings is not None
    assert settings.max_entries == 2
    assert settings.recheck_every == Duration(seconds=3600)
    assert settings.exit_on == ("unsubscribe",)
    assert settings.goal is not None and settings.goal.within == Duration(days=7)
    assert settings.quiet_hours == QuietHours(time(22), time(8))
    assert settings.frequency_cap is not None and settings.frequency_cap.max == 3
    assert settings.timezone == "Europe/Madrid"


def test_settings_problems_are_all_reported() -> None:
    _, problems = parse_settings(
        {
            "reentry": "yes",
            "maxEntries": 0,
            "recheckEvery": "PT0S",
            "quietHours": {"from": "22:00"},
            "frequencyCap": {"max": 3, "per": "daily"},
            "timezone": "Mars/Olympus",
        }
    )
    assert [(p.where, p.code) for p in problems] == [
        ("settings.reentry", "wrong_type"),
        ("settings.maxEntries", "invalid"),
        ("settings.recheckEvery", "bad_duration"),
        ("settings.quietHours.to", "missing"),
        ("settings.frequencyCap.per", "bad_duration"),
        ("settings.timezone", "bad_timezone"),
    ]
    assert "at least 1" in problems[1].message


def test_quiet_hours_wrap_past_midnight() -> None:
    night = QuietHours(time(22), time(8))
    assert night.contains(time(23, 30)) and night.contains(time(7, 59))
    assert not night.contains(time(8)) and not night.contains(time(12))
    lunch = QuietHours(time(13), time(15))
    assert lunch.contains(time(14)) and not lunch.contains(time(15))


# --- documents --------------------------------------------------------------------------------


def test_json_and_yaml_load_to_the_same_journey() -> None:
    from_yaml = read_journey_document(EXAMPLES / "abandoned-cart.yaml")
    from_json = load_journey_document(json.dumps(from_yaml), source="cart.json")
    assert from_json == from_yaml
    journey = parse_journey(from_yaml).journey()
    assert journey is not None
    assert journey.name == "Abandoned cart"
    assert journey.entry.id == 1
    assert journey.state(2).type is StateType.FLOW_RETARGETING
    assert journey.has_state(3) and not journey.has_state(4)
    assert journey.settings.quiet_hours == QuietHours(time(22), time(8))


def test_yaml_keeps_times_dates_and_leading_zeros_as_text() -> None:
    document = load_journey_document(
        "name: x\nat: 22:00\nday: 2027-01-01\ncode: 010\nn: 12\nf: 1.5\nb: true\n",
        source="x.yaml",
    )
    assert document == {
        "name": "x",
        "at": "22:00",
        "day": "2027-01-01",
        "code": "010",
        "n": 12,
        "f": 1.5,
        "b": True,
    }


def test_json_syntax_error_names_file_line_and_column() -> None:
    with pytest.raises(JourneyInvalid) as caught:
        load_journey_document('{"name": "x",\n  "states": [1,,]}', source="j.json")
    assert str(caught.value).startswith("j.json: line 2, column 16: not valid JSON")
    assert caught.value.problems[0].code == "syntax"


def test_yaml_syntax_error_names_file_and_line() -> None:
    with pytest.raises(JourneyInvalid, match=r"^j.yaml: line 3, column 10: not valid YAML"):
        load_journey_document("name: x\nstates: [\n  {id: 1}}\n", source="j.yaml")


def test_a_document_must_be_an_object() -> None:
    with pytest.raises(JourneyInvalid, match=r"j\.json: a journey must be an object"):
        load_journey_document("[1, 2]", source="j.json")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(JourneyInvalid, match="no such file"):
        read_journey_document(tmp_path / "missing.json")
    binary = tmp_path / "bad.json"
    binary.write_bytes(b"\xff\xfe{")
    with pytest.raises(JourneyInvalid, match="not UTF-8"):
        read_journey_document(binary)


def test_parse_journey_collects_problems_of_every_part() -> None:
    parsed = parse_journey(
        {
            "states": [
                {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
                {"id": 2, "type": "ACTION_PUSH_SEND", "params": {"action": {}, "forward": None}},
            ],
            "settings": {"maxEntries": -1},
        }
    )
    assert [(p.where, p.code) for p in parsed.problems] == [
        ("name", "missing"),
        ("state 2: params.action.campaignId", "missing"),
        ("settings.maxEntries", "invalid"),
    ]
    assert parsed.journey() is None
    assert parsed.state_ids == (1, 2)
    assert parsed.raw_edges == {2: ()}


def test_raw_links_are_where_each_type_keeps_them_as_edges_says() -> None:
    document = json.loads((EXAMPLES / "every-state.json").read_text())
    for raw_state in document["states"]:
        parsed = state(raw_state["params"], raw_state["type"], raw_state["id"])
        links = raw_links(raw_state["type"], raw_state["params"])
        assert [(link_text(p), t) for p, t in links] == list(parsed.edges()), raw_state["id"]
        for path, target in links:  # the path of steps leads to the target
            found: Any = raw_state["params"]
            for step in path:
                found = found[step]
            assert found == target
    types = {s["type"] for s in document["states"]} | {t.value for t in StateType if t.is_entry}
    assert types == {t.value for t in StateType}  # the example has every type but the entries
    for entry in StateType:
        if entry.is_entry:
            assert raw_links(entry, {"listId": 3, "forward": 2}) == [(("forward",), 2)]


def test_raw_links_never_walk_into_data() -> None:
    webhook = {
        "url": "https://x.example",
        "method": "POST",
        "headers": {"forward": "2"},
        "body": {"forward": "keep me", "n": 1, "a.b": {"forward": 1}, "list": [{"forward": 4}]},
        "success": {"forward": 5},
        "failure": {"forward": None},
        "saveAs": {"forward": "data.forward"},
    }
    assert raw_links("FLOW_WEBHOOK", webhook) == [
        (("success", "forward"), 5),
        (("failure", "forward"), None),
    ]
    branches = {
        "filter": [{"cond": {"forward": {"eq": 3}, "$or": [{"forward": {"eq": 9}}]}, "forward": 4}],
        "else": {"forward": 6},
    }
    assert raw_links("FLOW_FILTER", branches) == [
        (("filter", 0, "forward"), 4),
        (("else", "forward"), 6),
    ]
    event = {"eventName": "e", "cond": {"forward": {"eq": 1}}, "forward": 2}
    assert raw_links("IN_CUSTOM_EVENT", event) == [(("forward",), 2)]
    assert raw_links("FLOW_CUSTOM_EVENT", {**event, "timeout": {"time": "P1D", "forward": 3}}) == [
        (("forward",), 2),
        (("timeout", "forward"), 3),
    ]


@pytest.mark.parametrize(
    ("state_type", "params", "expected"),
    [
        ("FLOW_FILTER", {"filter": {"forward": 1}, "else": 3}, []),  # not a list, not a map
        ("FLOW_FILTER", {"filter": [7, None, {"forward": 2}]}, [(("filter", 2, "forward"), 2)]),
        ("FLOW_SMS", {"click": {"forward": 1}, "timeout": []}, []),
        ("FLOW_PUSH_CLICK", {"click": [{"forward": 1}]}, []),
        ("FLOW_RANDOM", {"paths": [{"weight": 1}]}, []),  # no forward key: no link yet
        ("ACTION_PUSH_SEND", None, []),
        ("ACTION_PUSH_SEND", [{"forward": 1}], []),
        ("ACTION_PUSH_SEND", {"forward": "x"}, [(("forward",), "x")]),  # as written
        ("NOT_A_TYPE", {"forward": 1, "body": {"forward": 2}}, [(("forward",), 1)]),
        (None, {"click": [{"forward": 1}], "else": {"forward": 2}}, None),
    ],
)
def test_raw_links_skip_odd_shapes(state_type: Any, params: Any, expected: Any) -> None:
    found = raw_links(state_type, params)
    if expected is None:  # an unknown type: every place where a type keeps a link
        assert sorted(link_text(p) for p, _ in found) == ["click[0].forward", "else.forward"]
    else:
        assert found == expected


@pytest.mark.parametrize(
    ("wanted", "data", "matches"),
    [
        ({"place": "Madrid"}, {"place": "Madrid", "placeId": 3}, True),
        ({"place": "Madrid"}, {"place": "madrid"}, False),
        ({"place": "Madrid"}, {}, False),
        ({"placeId": 3}, {"placeId": 3.0}, True),
        ({"placeId": "3"}, {"placeId": 3}, True),  # text from a form matches the number
        ({"placeId": 3}, {"placeId": "3"}, False),  # a number wants a number
        ({"vip": True}, {"vip": 1}, False),  # true is not 1
        ({"vip": "true"}, {"vip": True}, True),
        ({"vip": "True"}, {"vip": True}, True),  # as a form may write it
        ({"n": "3.0"}, {"n": 3}, True),
        ({"n": "1e+20"}, {"n": 1e20}, True),
        ({"n": "three"}, {"n": 3}, False),
        ({"n": 1}, {"n": True}, False),
        ({}, {"anything": 1}, True),
    ],
)
def test_event_data_matching(wanted: dict[str, Any], data: dict[str, Any], matches: bool) -> None:
    assert event_data_matches(wanted, data) is matches


def test_event_data_values_must_be_plain() -> None:
    doc = {
        "name": "x",
        "states": [
            {
                "id": 1,
                "type": "IN_CUSTOM_EVENT",
                "params": {"eventName": "place.enter", "eventData": {"p": [1]}, "forward": None},
            }
        ],
    }
    problems = parse_journey(doc).problems
    assert [(p.where, p.code) for p in problems] == [("state 1: params.eventData.p", "wrong_type")]
    assert "expected a string, a number or true/false" in problems[0].message
