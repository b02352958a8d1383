"""The journey builder: each state type edited through its form, problems on the field, read-only.

Forms are read from the page as a browser would submit them (``form_data``), changed, and posted.
"""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.console_support import ConsoleClient, shot
from wayfare.console.insertion import insert_after
from wayfare.console.stateforms import condition_rows, duration_parts
from wayfare.console.web import utcnow
from wayfare.store.campaigns import create_campaign
from wayfare.store.journeys import (
    check_journey,
    create_journey,
    get_journey,
    update_journey,
    validate_document,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class _Forms(HTMLParser):
    """The fields of the form posting to ``action``, as a browser submits them (no buttons)."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self.select: str | None = None
        self.multiple = False
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text = ""
        self.found = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("action") == self.action and a.get("method") == "post":
            self.inside = self.found = True
        if not self.inside:
            return
        if tag == "input" and "name" in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self.select, self.multiple, self.options = a.get("name"), "multiple" in a, []
        elif tag == "option" and self.select is not None:
            self.options.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea":
            self.textarea, self.text = a.get("name"), ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.inside:
            self.inside = False
        elif tag == "select" and self.select is not None:
            chosen = [v for v, on in self.options if on]
            if not chosen and not self.multiple and self.options:
                chosen = [self.options[0][0]]
            self.fields.extend((self.select, v) for v in chosen)
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append((self.textarea, self.text.removeprefix("\n")))
            self.textarea = None


def form_data(html: str, action: str) -> dict[str, Any]:
    """The data the form posting to ``action`` would send (lists for repeated names)."""
    parser = _Forms(action)
    parser.feed(html)
    assert parser.found, f"no form posting to {action}"
    data: dict[str, Any] = {}
    for name, value in parser.fields:
        if name in data:
            data[name] = [*(data[name] if isinstance(data[name], list) else [data[name]]), value]
        else:
            data[name] = value
    data.pop("csrf", None)
    return data


def post(console: ConsoleClient, url: str, data: dict[str, Any] | None = None) -> Any:
    """Post a form with the CSRF token, without following the redirect."""
    return console.form(url, data, follow_redirects=False)


def _every_state(console: ConsoleClient) -> tuple[int, dict[str, Any]]:
    """The every-state example as a valid draft of the demo application."""
    document = json.loads((EXAMPLES / "every-state.json").read_text())
    states = {s["id"]: s for s in document["states"]}
    states[1]["params"]["eventName"] = "app.open"
    states[1]["params"]["cond"] = {"city": {"eq": "Madrid"}}
    states[1]["params"]["eventData"] = {"source": "ads", "screen": "home"}
    states[14]["params"]["eventData"] = {"place": "Madrid store"}
    states[8]["params"]["filter"][0]["cond"] = {
        "age": {"gte": 18},
        "last_purchase": {"isnotnull": True},
    }
    states[16]["params"]["saveAs"] = {"lifetime_value": "data.score"}
    database = console.app.state.database
    with database.write() as conn:
        telegram = create_campaign(conn, 1, "Telegram hello", "telegram", {"text": "Hi"}, utcnow())
        states[11]["params"]["action"]["campaignId"] = telegram
        journey_id = create_journey(
            conn, 1, {**document, "name": "Every state (builder)"}, utcnow()
        )
        assert check_journey(conn, 1, journey_id).valid, check_journey(conn, 1, journey_id).problems
    return journey_id, document


def _stored(console: ConsoleClient, journey_id: int) -> dict[int, dict[str, Any]]:
    with console.app.state.database.read() as conn:
        journey = get_journey(conn, 1, journey_id)
    return {s["id"]: s for s in journey.states}


def test_every_state_type_round_trips_through_its_form(console: ConsoleClient) -> None:
    journey_id, document = _every_state(console)
    for state in document["states"]:
        url = f"/journeys/{journey_id}/states/{state['id']}"
        page = console.get(f"/journeys/{journey_id}?state={state['id']}")
        assert page.status_code == 200
        answer = post(console, url, form_data(page.text, url))
        assert answer.status_code == 303, (state["id"], answer.text[-3000:])
        stored = _stored(console, journey_id)[state["id"]]
        assert stored["type"] == state["type"]
        assert stored["params"] == state["params"], state["id"]


def test_editing_fields_of_each_kind_changes_the_stored_params(console: ConsoleClient) -> None:
    journey_id, _ = _every_state(console)

    def edit(state_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        url = f"/journeys/{journey_id}/states/{state_id}"
        data = form_data(console.get(f"/journeys/{journey_id}?state={state_id}").text, url)
        answer = post(console, url, {**data, **changes})
        assert answer.status_code == 303, answer.text[-3000:]
        assert answer.headers["location"] == f"/journeys/{journey_id}?state={state_id}"
        params: dict[str, Any] = _stored(console, journey_id)[state_id]["params"]
        return params

    # A campaign picker and a next state (message).
    assert edit(5, {"action.campaignId": "9", "forward": ""}) == {
        "action": {"campaignId": 9},
        "forward": None,
    }
    # A duration as number + unit, and a timeout's next state (push click).
    params = edit(3, {"timeout.time.amount": "3", "timeout.time.unit": "hours"})
    assert params["timeout"] == {"time": "PT3H", "forward": 5}
    # Weights of random paths.
    assert edit(12, {"paths[0].weight": "1", "paths[1].weight": "3"})["paths"] == [
        {"weight": 1, "forward": 13},
        {"weight": 3, "forward": 14},
    ]
    # A delay: months, a time of day, weekdays.
    params = edit(
        13,
        {"time.amount": "2", "time.unit": "weeks", "until.at": "18:00", "until.weekdays": ["SAT"]},
    )
    assert params == {"time": "P2W", "until": {"at": "18:00", "weekdays": ["SAT"]}, "forward": 15}
    # A condition row over a typed field; an event picker.
    params = edit(
        14,
        {
            "eventName": "cart.add",
            "cond[0].field": "age",
            "cond[0].op": "lt",
            "cond[0].value": "30",
        },
    )
    assert params["eventName"] == "cart.add" and params["cond"] == {"age": {"lt": 30}}
    # Webhook: URL, method, headers, JSON body.
    params = edit(
        16,
        {
            "url": "https://hooks.example.com/x",
            "method": "PUT",
            "headers": "X-Token: abc\nAccept: application/json",
            "body.kind": "json",
            "body": '{"id": "{{ customer.customerId }}"}',
        },
    )
    assert params["url"] == "https://hooks.example.com/x" and params["method"] == "PUT"
    assert params["headers"] == {"X-Token": "abc", "Accept": "application/json"}
    assert params["body"] == {"id": "{{ customer.customerId }}"}
    # Retargeting: a reminder's channel follows its campaign.
    params = edit(15, {"reminders[1].campaignId": "8"})
    assert params["reminders"][1] == {"campaignId": 8, "channel": "email"}
    # Removing a link branch of a link-click wait.
    params = edit(7, {"click[1].remove": "1"})
    assert [c["url"] for c in params["click"]] == ["example.com/offer"]


def test_more_conditions_adds_a_row_without_saving(console: ConsoleClient) -> None:
    journey_id, document = _every_state(console)
    url = f"/journeys/{journey_id}/states/14"
    data = form_data(console.get(f"/journeys/{journey_id}?state=14").text, url)
    assert "cond[1].field" not in data
    answer = post(console, url, {**data, "more": "cond"})
    assert answer.status_code == 200
    data = form_data(answer.text, url)
    assert data["cond[1].field"] == "" and data["cond[0].field"] == "vip"
    assert _stored(console, journey_id)[14] == next(s for s in document["states"] if s["id"] == 14)
    data.update({"cond[1].field": "city", "cond[1].op": "in", "cond[1].value": "Madrid, Paris"})
    assert post(console, url, data).status_code == 303
    cond = _stored(console, journey_id)[14]["params"]["cond"]
    assert cond == {"vip": {"eq": True}, "city": {"in": ["Madrid", "Paris"]}}


def test_a_bad_value_re_renders_with_the_problem_on_the_field(console: ConsoleClient) -> None:
    journey_id, _ = _every_state(console)
    before = _stored(console, journey_id)
    url = f"/journeys/{journey_id}/states/3"
    data = form_data(console.get(f"/journeys/{journey_id}?state=3").text, url)

    answer = post(console, url, {**data, "timeout.time.amount": "soon"})
    assert answer.status_code == 400
    assert "expected a whole number of days" in answer.text
    assert 'class="duration invalid"' in answer.text
    assert 'value="soon"' in answer.text  # what was typed stays

    answer = post(console, url, {**data, "timeout.time.amount": "0"})
    assert answer.status_code == 400
    assert "<code>params.timeout.time</code>" in answer.text
    assert "must be longer than zero" in answer.text

    answer = post(console, url, {**data, "click.campaignId": "3"})  # an email campaign
    assert answer.status_code == 400
    assert "params.click.campaignId" in answer.text and "email" in answer.text

    answer = post(console, url, {**data, "click.forward": "99"})
    assert answer.status_code == 400 and "state 99 does not exist" in answer.text

    url = f"/journeys/{journey_id}/states/14"
    data = form_data(console.get(f"/journeys/{journey_id}?state=14").text, url)
    answer = post(console, url, {**data, "cond[0].value": "maybe"})
    assert answer.status_code == 400
    assert "vip is a boolean field: expected true or false" in answer.text
    assert _stored(console, journey_id) == before  # nothing stored


def test_add_and_remove_a_state(console: ConsoleClient) -> None:
    page = console.get("/journeys/3?add=ACTION_EMAIL_SEND")
    assert page.status_code == 200 and "New state 5" in page.text
    data = form_data(page.text, "/journeys/3/states")
    assert data["type"] == "ACTION_EMAIL_SEND"
    answer = post(console, "/journeys/3/states", {**data, "action.campaignId": "9", "forward": ""})
    assert answer.status_code == 303 and answer.headers["location"] == "/journeys/3?state=5"
    added = _stored(console, 3)[5]
    assert added == {
        "id": 5,
        "type": "ACTION_EMAIL_SEND",
        "params": {"action": {"campaignId": 9}, "forward": None},
    }
    # Unreachable for now: shown, but not a reason to refuse the state.
    page = console.get("/journeys/3?state=5")
    assert "unreachable" in page.text

    # Incomplete: no campaign chosen → refused, named.
    answer = post(console, "/journeys/3/states", {**data, "action.campaignId": ""})
    assert answer.status_code == 400 and "params.action.campaignId" in answer.text
    assert set(_stored(console, 3)) == {1, 2, 3, 4, 5}

    answer = post(console, "/journeys/3/states/4/remove")
    assert answer.status_code == 303
    assert set(_stored(console, 3)) == {1, 2, 3, 5}
    notice = console.get(answer.headers["location"]).text
    assert "State 4 removed" in notice and "States 2 still go to it" in notice


def test_check_lists_every_problem_by_state_with_links(console: ConsoleClient) -> None:
    journey_id, _ = _every_state(console)
    assert post(console, f"/journeys/{journey_id}/states/9/remove").status_code == 303
    page = console.get(f"/journeys/{journey_id}?check=1")
    assert page.status_code == 200
    assert f'<a href="/journeys/{journey_id}?state=7">State 7</a>' in page.text
    assert "<code>params.timeout.forward</code>: state 9 does not exist" in page.text
    # The graph outlines the state in red; its form names the problem at the top.
    assert 'class="flow problem" data-state="7"' in page.text
    form_page = console.get(f"/journeys/{journey_id}?state=7")
    assert "Problems of this state" in form_page.text


def test_an_active_journey_is_read_only(console: ConsoleClient) -> None:
    page = console.get("/journeys/1?state=2")  # the demo's Welcome series, active
    assert page.status_code == 200
    assert 'class="state-form"' not in page.text and "/states/2/remove" not in page.text
    assert 'action="/journeys/1/clone"' in page.text and "Clone to edit" in page.text
    assert "Welcome email (email)" in page.text  # the campaign, as text
    before = _stored(console, 1)
    answer = post(console, "/journeys/1/states/2", {"action.campaignId": "1", "forward": ""})
    assert answer.status_code == 409
    assert "journey 1 is ACTIVE" in answer.text
    assert post(console, "/journeys/1/states/2/remove").status_code == 409
    assert post(console, "/journeys/1/rename", {"name": "Hacked"}).status_code == 409
    assert _stored(console, 1) == before


def test_posts_without_the_csrf_token_are_refused(console: ConsoleClient) -> None:
    before = _stored(console, 3)
    answer = console.post("/journeys/3/states/4/remove")
    assert answer.status_code == 403
    answer = console.post("/journeys/3/rename", data={"name": "x", "csrf": "wrong"})
    assert answer.status_code == 403
    assert _stored(console, 3) == before


def test_rename_and_names_stay_text(console: ConsoleClient) -> None:
    answer = post(console, "/journeys/3/rename", {"name": "<script>alert(1)</script>"})
    assert answer.status_code == 303
    page = console.get("/journeys/3")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    answer = post(console, "/journeys/3/rename", {"name": "Welcome series"})
    assert answer.status_code == 400 and "already exists" in answer.text


def test_a_form_of_an_older_version_is_refused(console: ConsoleClient) -> None:
    url = "/journeys/3/states/3"
    data = form_data(console.get("/journeys/3?state=3").text, url)
    assert post(console, "/journeys/3/rename", {"name": "Renamed meanwhile"}).status_code == 303
    assert data["version"] == "1"
    answer = post(console, url, {**data, "forward": "4"})
    assert answer.status_code == 400 and "was changed meanwhile" in answer.text
    assert _stored(console, 3)[3]["params"]["forward"] is None
    answer = post(console, "/journeys/3/states", {"type": "NOPE"})
    assert answer.status_code == 400 and "choose a state type" in answer.text


def test_unknown_journey_and_state(console: ConsoleClient) -> None:
    assert console.get("/journeys/999").status_code == 404
    assert console.get("/journeys/3?state=77").status_code == 404
    assert console.get("/journeys/3?add=NOPE").status_code == 400


@pytest.mark.usefixtures("live_console")
def test_builder_in_a_browser(browser_page: Any, live_console: Any) -> None:
    """Keyboard: Tab to a state's link in the graph, Enter, edit a field, save; 1280 and 375 px."""
    page = browser_page
    document = copy.deepcopy(json.loads((EXAMPLES / "welcome-series.json").read_text()))
    with live_console.database.write() as conn:
        journey_id = create_journey(
            conn, 1, {**document, "name": f"Builder browser {utcnow().timestamp()}"}, utcnow()
        )
    page.goto(f"/journeys/{journey_id}")
    focused = ""
    for _ in range(40):  # Tab through the page to the graph's box of state 3
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.getAttribute('aria-label') || ''")
        if focused.startswith("State 3:"):
            break
    assert focused.startswith("State 3: Wait 2 days"), focused
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/journeys/{journey_id}?state=3")
    page.get_by_label("Amount").first.fill("3")
    page.get_by_role("button", name="Save state 3").click()
    page.wait_for_url(f"**/journeys/{journey_id}?state=3")
    assert "State 3 saved" in page.locator(".notice").inner_text()
    with live_console.database.read() as conn:
        stored = {s["id"]: s for s in get_journey(conn, 1, journey_id).states}
    assert stored[3]["params"]["time"] == "P3D"
    shot(page, "builder")
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"/journeys/{journey_id}?state=3")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "builder-375")
    page.goto(f"/journeys/{journey_id}?state=4")  # a filter: condition rows, branches
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_entry_types_round_trip_and_edit(console: ConsoleClient) -> None:
    states: list[dict[str, Any]] = [
        {"id": 1, "type": "IN_ALL", "params": {"forward": 7}},
        {"id": 2, "type": "IN_LIST", "params": {"listId": 1, "forward": 7}},
        {"id": 3, "type": "IN_SEGMENT", "params": {"cond": {"segmentIds": [1]}, "forward": 7}},
        {
            "id": 4,
            "type": "IN_FILTER",
            "params": {"cond": {"vip": {"eq": True}, "age": {"gte": 30, "lt": 60}}, "forward": 7},
        },
        {"id": 5, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "purchase", "forward": 7}},
        {
            "id": 6,
            "type": "IN_BIRTHDAY",
            "params": {"field": "birthday", "offset": "-P3D", "at": "10:00", "forward": 7},
        },
        {
            "id": 7,
            "type": "ACTION_EMAIL_SEND",
            "params": {"action": {"campaignId": 3}, "forward": None},
        },
    ]
    with console.app.state.database.write() as conn:
        journey_id = create_journey(conn, 1, {"name": "Entries", "states": states}, utcnow())
    for state in states:
        url = f"/journeys/{journey_id}/states/{state['id']}"
        data = form_data(console.get(f"/journeys/{journey_id}?state={state['id']}").text, url)
        assert post(console, url, data).status_code == 303, state["id"]
        assert _stored(console, journey_id)[state["id"]] == state

    def edit(state_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        url = f"/journeys/{journey_id}/states/{state_id}"
        data = form_data(console.get(f"/journeys/{journey_id}?state={state_id}").text, url)
        answer = post(console, url, {**data, **changes})
        assert answer.status_code == 303, answer.text[-2000:]
        params: dict[str, Any] = _stored(console, journey_id)[state_id]["params"]
        return params

    assert edit(2, {"listId": ""}) == {"listId": None, "forward": 7}
    params = edit(6, {"offset.amount": "2", "offset.unit": "weeks", "offset.before": "after"})
    assert params["offset"] == "P2W" and params["at"] == "10:00"
    params = edit(4, {"cond[1].field": "", "cond[2].field": ""})  # rows removed
    assert params["cond"] == {"vip": {"eq": True}}
    params = edit(5, {"cond[0].field": "city", "cond[0].op": "isnull"})
    assert params == {"eventName": "purchase", "cond": {"city": {"isnull": True}}, "forward": 7}


def test_an_empty_draft_shows_its_way_in(console: ConsoleClient) -> None:
    with console.app.state.database.write() as conn:
        journey_id = create_journey(conn, 1, {"name": "Empty", "states": []}, utcnow())
    page = console.get(f"/journeys/{journey_id}")
    assert page.status_code == 200
    assert "No states yet" in page.text and "Add a state" in page.text
    assert 'role="img"' in page.text


def test_durations_and_conditions_in_form_terms() -> None:
    assert duration_parts("P2D") == ("2", "days", False)
    assert duration_parts("PT90M") == ("90", "minutes", False)
    assert duration_parts("PT2H") == ("2", "hours", False)
    assert duration_parts("-P1Y") == ("1", "years", True)
    assert duration_parts("P1DT2H") == ("P1DT2H", "iso", False)
    assert duration_parts("nonsense") == ("nonsense", "iso", False)
    assert condition_rows({"age": {"gt": 3, "lt": 9}}) == [("age", "gt", "3"), ("age", "lt", "9")]
    assert condition_rows({"$or": []}) is None
    assert condition_rows({"d": {"useActualDate": {"active": True}}}) is None


def _version(console: ConsoleClient, journey_id: int) -> int:
    with console.app.state.database.read() as conn:
        return get_journey(conn, 1, journey_id).version


def _add_form(
    console: ConsoleClient, journey_id: int, state_type: str
) -> tuple[str, dict[str, Any]]:
    page = console.get(f"/journeys/{journey_id}?add={state_type}")
    assert page.status_code == 200
    return page.text, form_data(page.text, f"/journeys/{journey_id}/states")


def test_put_it_after_a_single_forward_state(console: ConsoleClient) -> None:
    journey_id, _ = _every_state(console)
    before, version = _stored(console, journey_id), _version(console, journey_id)
    html, data = _add_form(console, journey_id, "ACTION_EMAIL_SEND")
    assert data["after"] == ""  # "nowhere yet" unless chosen
    assert '<label for="f-after">Put it after</label>' in html
    assert '<option value="" selected>nowhere yet (I&#39;ll link it myself)</option>' in html
    for value, words in [
        ("2:forward", "after 2 · Send push"),
        ("3:click.forward", "after 3 · Wait for push click, clicked"),
        ("3:timeout.forward", "after 3 · Wait for push click, timeout"),
        ("8:filter[1].forward", "after 8 · Filter, if 2"),
        ("8:else.forward", "after 8 · Filter, else"),
        ("12:paths[0].forward", "after 12 · Random 70/30, 70%"),
        ("16:failure.forward", "after 16 · Webhook, failure"),
    ]:
        assert f'<option value="{value}" >{words}</option>' in html, value

    url = f"/journeys/{journey_id}/states"
    answer = post(console, url, {**data, "action.campaignId": "3", "after": "2:forward"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?state=17")
    assert "State 17 added after state 2" in console.get(answer.headers["location"]).text
    stored = _stored(console, journey_id)
    assert stored[2]["params"]["forward"] == 17  # 2 → new → what 2 went to
    assert stored[17] == {
        "id": 17,
        "type": "ACTION_EMAIL_SEND",
        "params": {"action": {"campaignId": 3}, "forward": 3},
    }
    assert {k: v for k, v in stored.items() if k not in (2, 17)} == {
        k: v for k, v in before.items() if k != 2
    }
    assert _version(console, journey_id) == version + 1  # one change of the draft
    with console.app.state.database.read() as conn:
        assert check_journey(conn, 1, journey_id).valid


def test_put_it_after_a_branch_changes_only_that_branch(console: ConsoleClient) -> None:
    journey_id, _ = _every_state(console)
    before = _stored(console, journey_id)
    url = f"/journeys/{journey_id}/states"

    # After the filter's "else": a wait, whose next state is where "else" led.
    _, data = _add_form(console, journey_id, "FLOW_DELAY")
    data.update({"time.amount": "1", "time.unit": "days", "after": "8:else.forward"})
    assert post(console, url, data).status_code == 303
    stored = _stored(console, journey_id)
    assert stored[8]["params"]["filter"] == before[8]["params"]["filter"]
    assert stored[8]["params"]["else"] == {"forward": 17}
    assert stored[17]["params"] == {"time": "P1D", "forward": 12}

    # After the click-wait's "clicked": a one-branch filter; its first branch takes the click's
    # old target, its "no" keeps what was chosen in the form.
    _, data = _add_form(console, journey_id, "FLOW_FILTER")
    data.update(
        {
            "filter[0].cond[0].field": "vip",
            "filter[0].cond[0].op": "eq",
            "filter[0].cond[0].value": "true",
            "else.forward": "",
            "after": "3:click.forward",
        }
    )
    answer = post(console, url, data)
    assert answer.status_code == 303, answer.text[-2000:]
    stored = _stored(console, journey_id)
    assert stored[3]["params"]["click"] == {"campaignId": 1, "forward": 18}
    assert stored[3]["params"]["timeout"] == before[3]["params"]["timeout"]
    assert stored[18]["params"] == {
        "filter": [{"cond": {"vip": {"eq": True}}, "forward": 4}],
        "else": {"forward": None},
    }
    html, _ = _add_form(console, journey_id, "ACTION_EMAIL_SEND")
    assert ">after 18 · Filter, no</option>" in html and ">after 18 · Filter, yes</option>" in html
    assert ">after 17 · Wait 1 day</option>" in html
    html, _ = _add_form(console, 3, "ACTION_EMAIL_SEND")  # repeated labels say which path
    assert (
        '<option value="2:paths[1].forward" >after 2 · Random 50/50, path 2 (50%)</option>' in html
    )


def test_put_it_after_keeps_the_problems_and_refuses_stale_or_active(
    console: ConsoleClient,
) -> None:
    journey_id, _ = _every_state(console)
    before = _stored(console, journey_id)
    url = f"/journeys/{journey_id}/states"
    _, data = _add_form(console, journey_id, "ACTION_EMAIL_SEND")

    answer = post(console, url, {**data, "action.campaignId": "", "after": "2:forward"})
    assert answer.status_code == 400 and "params.action.campaignId" in answer.text
    assert '<option value="2:forward" selected>' in answer.text  # the choice stays
    _, filter_data = _add_form(console, journey_id, "FLOW_FILTER")
    answer = post(console, url, {**filter_data, "after": "8:else.forward", "more": "filter"})
    assert answer.status_code == 200 and "filter[1].forward" in answer.text  # a row more
    assert '<option value="8:else.forward" selected>' in answer.text
    answer = post(console, url, {**data, "action.campaignId": "1", "after": "2:forward"})
    assert answer.status_code == 400 and "params.action.campaignId" in answer.text
    assert "push" in answer.text  # a push campaign in an email state, named
    answer = post(console, url, {**data, "action.campaignId": "3", "after": "99:forward"})
    assert answer.status_code == 400 and "there is no link" in answer.text
    assert 'id="f-after" name="after" aria-invalid="true"' in answer.text
    assert _stored(console, journey_id) == before

    # A form of an older version (renamed meanwhile) is refused, nothing half-written.
    assert post(console, f"/journeys/{journey_id}/rename", {"name": "Moved on"}).status_code == 303
    answer = post(console, url, {**data, "action.campaignId": "3", "after": "2:forward"})
    assert answer.status_code == 400 and "was changed meanwhile" in answer.text
    assert _stored(console, journey_id) == before

    # An active journey refuses.
    active = _stored(console, 1)
    answer = post(
        console,
        "/journeys/1/states",
        {"type": "ACTION_EMAIL_SEND", "action.campaignId": "1", "after": "1:forward"},
    )
    assert answer.status_code == 409 and "journey 1 is ACTIVE" in answer.text
    assert _stored(console, 1) == active


def _with_data_keyed_forward(console: ConsoleClient) -> int:
    """The every-state draft with ``forward`` keys in data: a webhook body, headers, a filter's
    condition (a customer field named ``forward``), and a body key with a dot."""
    journey_id, _ = _every_state(console)
    states = {s["id"]: s for s in _stored(console, journey_id).values()}
    states[16]["params"]["body"] = {"forward": "keep me", "n": 1, "a.b": {"forward": 1}}
    states[16]["params"]["headers"] = {"forward": "2"}
    states[8]["params"]["filter"][0]["cond"] = {"forward": {"eq": 3}}
    with console.app.state.database.write() as conn:
        update_journey(conn, 1, journey_id, {"states": list(states.values())}, utcnow())
    return journey_id


def test_put_it_after_offers_only_real_links_never_data(console: ConsoleClient) -> None:
    journey_id = _with_data_keyed_forward(console)
    before = _stored(console, journey_id)
    html, data = _add_form(console, journey_id, "ACTION_EMAIL_SEND")
    offered = re.findall(r'<option value="(\d+:[^"]*)"', html)
    assert [v for v in offered if v.startswith(("8:", "16:"))] == [
        "8:filter[0].forward",
        "8:filter[1].forward",
        "8:else.forward",
        "16:success.forward",
        "16:failure.forward",
    ]
    assert "Webhook, body" not in html and "Webhook, headers" not in html
    url = f"/journeys/{journey_id}/states"
    for bogus in ["16:body.forward", "16:body.a.b.forward", "16:headers.forward"]:
        answer = post(console, url, {**data, "action.campaignId": "3", "after": bogus})
        assert answer.status_code == 400 and "there is no link" in answer.text, bogus
        assert 'id="f-after" name="after" aria-invalid="true"' in answer.text
    answer = post(console, url, {**data, "action.campaignId": "3", "after": "8:filter[0].cond"})
    assert answer.status_code == 400 and "there is no link" in answer.text
    assert _stored(console, journey_id) == before

    answer = post(console, url, {**data, "action.campaignId": "3", "after": "16:success.forward"})
    assert answer.status_code == 303, answer.text[-2000:]
    stored = _stored(console, journey_id)
    assert stored[16]["params"]["success"] == {"forward": 17}
    assert stored[16]["params"]["body"] == {"forward": "keep me", "n": 1, "a.b": {"forward": 1}}
    assert stored[16]["params"]["headers"] == {"forward": "2"}
    assert stored[17]["params"]["forward"] is None  # where success led: the end

    _, filter_data = _add_form(console, journey_id, "FLOW_DELAY")
    filter_data.update({"time.amount": "2", "time.unit": "days", "after": "8:filter[0].forward"})
    assert post(console, url, filter_data).status_code == 303
    stored = _stored(console, journey_id)
    assert stored[8]["params"]["filter"][0] == {"cond": {"forward": {"eq": 3}}, "forward": 18}
    assert stored[18]["params"] == {"time": "P2D", "forward": 10}


def test_an_entry_state_cannot_go_after_a_link(console: ConsoleClient) -> None:
    journey_id, _ = _every_state(console)
    before = _stored(console, journey_id)
    html, data = _add_form(console, journey_id, "IN_ALL")
    assert "Put it after" not in html and "after" not in data  # no select for an entry state
    assert "Put it after" in _add_form(console, journey_id, "ACTION_EMAIL_SEND")[0]
    answer = post(console, f"/journeys/{journey_id}/states", {**data, "after": "2:forward"})
    assert answer.status_code == 400, answer.text[-2000:]
    assert "an entry state starts the journey" in answer.text
    assert _stored(console, journey_id) == before


def test_put_it_after_every_link_of_every_state_changes_only_its_source(
    console: ConsoleClient,
) -> None:
    journey_id, _ = _every_state(console)
    before = _stored(console, journey_id)
    html, data = _add_form(console, journey_id, "FLOW_DELAY")
    links = re.findall(r'<option value="(\d+:[^"]*)"', html)
    assert len(links) == 25  # every link of every-state.json: forward, branches, timeouts
    with console.app.state.database.read() as conn:
        journey = get_journey(conn, 1, journey_id)
    for link in links:
        source = int(link.split(":")[0])
        new = {"id": 17, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": None}}
        states, problems = insert_after(journey.states, new, link)
        assert not problems, link
        changed = {s["id"]: s for s in states}
        assert {k: v for k, v in changed.items() if k not in (source, 17)} == {
            k: v for k, v in before.items() if k != source
        }, link
        document = {**journey.document(), "states": states}
        with console.app.state.database.read() as conn:
            report = validate_document(conn, 1, document)
        assert report.valid, (link, report.problems)
    # And one through the page, saved: still valid.
    data.update({"time.amount": "1", "time.unit": "days", "after": "15:exhausted.forward"})
    assert post(console, f"/journeys/{journey_id}/states", data).status_code == 303
    stored = _stored(console, journey_id)
    assert stored[15]["params"]["exhausted"] == {"forward": 17}
    assert stored[15]["params"]["converted"] == before[15]["params"]["converted"]
    with console.app.state.database.read() as conn:
        assert check_journey(conn, 1, journey_id).valid


def test_a_message_state_is_set_to_best_time_sending(console: ConsoleClient) -> None:
    journey_id, _ = _every_state(console)
    url = f"/journeys/{journey_id}/states/5"
    data = form_data(console.get(f"/journeys/{journey_id}?state=5").text, url)
    best = {
        "sendTime": "best",
        "sendWindow.from": "09:00",
        "sendWindow.to": "20:00",
        "sendHorizon.amount": "12",
        "sendHorizon.unit": "hours",
    }
    answer = post(console, url, {**data, **best})
    assert answer.status_code == 303, answer.text[-3000:]
    params = _stored(console, journey_id)[5]["params"]
    assert params["sendTime"] == "best" and params["sendHorizon"] == "PT12H"
    assert params["sendWindow"] == {"from": "09:00", "to": "20:00"}
    data = form_data(console.get(f"/journeys/{journey_id}?state=5").text, url)  # its version
    half = post(console, url, {**data, "sendWindow.to": ""})  # one end: the other defaults
    assert half.status_code == 303
    window = _stored(console, journey_id)[5]["params"]["sendWindow"]
    assert window == {"from": "09:00"}  # stored as given; "to" is 21:00 when read
    data = form_data(console.get(f"/journeys/{journey_id}?state=5").text, url)
    back = post(console, url, {**data, "sendTime": ""})  # at once: the window is dropped
    assert back.status_code == 303
    params = _stored(console, journey_id)[5]["params"]
    assert not {"sendTime", "sendWindow", "sendHorizon"} & set(params)
