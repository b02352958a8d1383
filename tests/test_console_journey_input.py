"""What people type into the journeys pages and the builder: numbers, JSON, rows, names.

Whatever a form posts (a digit that is not ASCII, JSON nested past the recursion limit, a row
index of 200,000), the answer is the form again with the problem on its field, never a 500. And
the pages that read the request body do their database work off the event loop.
"""

from __future__ import annotations

from typing import Any

from wayfare.console.stateforms import MAX_ROWS
from wayfare.model.lifecycle import JourneyStatus
from wayfare.store.database import Database
from wayfare.store.journeys import create_journey, get_journey

from .conftest import NOW
from .console_loop import queries_on_the_loop
from .console_support import ConsoleClient
from .test_console_builder import _every_state, _stored, form_data, post

SUPERSCRIPT_TWO = "²"  # str.isdigit() says yes, int() refuses it
DEEP_JSON = "[" * 100_000 + "]" * 100_000


def _database(console: ConsoleClient) -> Database:
    database: Database = console.app.state.database  # type: ignore[attr-defined]
    return database


def _form(console: ConsoleClient, journey_id: int, state_id: int) -> tuple[str, dict[str, Any]]:
    url = f"/journeys/{journey_id}/states/{state_id}"
    return url, form_data(console.get(f"/journeys/{journey_id}?state={state_id}").text, url)


# --- numbers (finding 6) ---------------------------------------------------------------------


def test_a_page_number_that_is_not_ascii_digits_shows_the_first_page(
    console: ConsoleClient,
) -> None:
    first = console.get("/journeys")
    for page in (SUPERSCRIPT_TWO, "\u0661", "99999999999999999999999", "-1", "x"):
        answer = console.get(f"/journeys?page={page}")
        assert answer.status_code == 200, page
        assert "Welcome series" in answer.text and "Welcome series" in first.text


def test_activation_options_that_are_not_ascii_digits_are_problems_on_their_fields(
    console: ConsoleClient,
) -> None:
    journey_id = _every_state(console)[0]
    for changes, field in (
        ({"recheckEvery": SUPERSCRIPT_TWO}, "recheckEvery"),
        ({"maxEntries": SUPERSCRIPT_TWO}, "maxEntries"),
        ({"recheckEvery": "9" * 30}, "recheckEvery"),
    ):
        data = {"recheckEvery": "10", "recheckUnit": "minutes", **changes}
        answer = console.form(f"/journeys/{journey_id}/activate", data)
        assert answer.status_code == 400, answer.text[-2000:]
        assert f'id="e-{field}"' in answer.text, (field, answer.text[-3000:])
    with _database(console).read() as conn:
        assert get_journey(conn, 1, journey_id).status is JourneyStatus.DRAFT


def test_a_new_journey_with_a_list_or_segment_that_is_not_a_number_names_the_field(
    console: ConsoleClient,
) -> None:
    for data, field in (
        ({"entry": "IN_LIST", "listId": SUPERSCRIPT_TWO}, "listId"),
        ({"entry": "IN_SEGMENT", "segmentId": SUPERSCRIPT_TWO}, "segmentId"),
    ):
        answer = console.form("/journeys/new", {"name": f"New {field}", **data})
        assert answer.status_code == 400, answer.text[-2000:]
        assert f'id="e-{field}"' in answer.text, (field, answer.text[-3000:])
    assert "New listId" not in console.get("/journeys").text


def test_builder_numbers_that_are_not_ascii_digits_are_problems_on_their_fields(
    console: ConsoleClient,
) -> None:
    journey_id, _ = _every_state(console)
    before = _stored(console, journey_id)
    for state_id, changes, where in (
        (2, {"forward": SUPERSCRIPT_TWO}, "forward"),
        (2, {"action.campaignId": SUPERSCRIPT_TWO}, "action.campaignId"),
        (3, {"timeout.time.amount": SUPERSCRIPT_TWO}, "timeout.time"),
        (12, {"paths[0].forward": SUPERSCRIPT_TWO}, "paths[0].forward"),
    ):
        url, data = _form(console, journey_id, state_id)
        answer = post(console, url, {**data, **changes})
        assert answer.status_code == 400, (where, answer.text[-2000:])
        assert f"<code>params.{where}</code>" in answer.text, (where, answer.text[-2000:])
    assert _stored(console, journey_id) == before
    # A version that is not ASCII digits is no version: the save is not checked against one.
    url, data = _form(console, journey_id, 2)
    answer = post(console, url, {**data, "version": SUPERSCRIPT_TWO, "forward": "4"})
    assert answer.status_code == 303, answer.text[-2000:]
    assert _stored(console, journey_id)[2]["params"]["forward"] == 4


def test_an_entry_segment_that_is_not_ascii_digits_is_refused(console: ConsoleClient) -> None:
    with _database(console).write() as conn:
        journey_id = create_journey(
            conn,
            1,
            {"name": "Segment entry", "states": [{"id": 1, "type": "IN_SEGMENT", "params": {}}]},
            NOW,
        )
    url, data = _form(console, journey_id, 1)
    before = _stored(console, journey_id)
    answer = post(console, url, {**data, "cond.segmentIds": ["1", SUPERSCRIPT_TWO]})
    assert answer.status_code == 400, answer.text[-2000:]
    assert "choose segments from the list" in answer.text
    assert _stored(console, journey_id) == before


# --- JSON (finding 7) ------------------------------------------------------------------------


def test_json_nested_past_the_recursion_limit_is_a_problem_on_its_field(
    console: ConsoleClient,
) -> None:
    journey_id, _ = _every_state(console)
    before = _stored(console, journey_id)
    url, data = _form(console, journey_id, 8)  # a filter: a condition as JSON
    answer = post(console, url, {**data, "filter[0].cond.json": DEEP_JSON})
    assert answer.status_code == 400, answer.text[-2000:]
    assert "nested too deeply" in answer.text
    url, data = _form(console, journey_id, 16)  # a webhook: a JSON body
    answer = post(console, url, {**data, "body.kind": "json", "body": DEEP_JSON})
    assert answer.status_code == 400, answer.text[-2000:]
    assert "nested too deeply" in answer.text
    answer = post(console, url, {**data, "body.kind": "json", "body": "{nope"})
    assert answer.status_code == 400 and "not valid JSON" in answer.text
    assert _stored(console, journey_id) == before


# --- rows (finding 10) -----------------------------------------------------------------------


def test_a_form_with_too_many_rows_is_refused_on_the_field(console: ConsoleClient) -> None:
    journey_id, _ = _every_state(console)
    before = _stored(console, journey_id)
    url, data = _form(console, journey_id, 12)  # random paths
    answer = post(console, url, {**data, "paths[199999].weight": "1"})
    assert answer.status_code == 400, answer.text[-2000:]
    assert f"at most {MAX_ROWS}" in answer.text
    url, data = _form(console, journey_id, 14)  # condition rows
    answer = post(console, url, {**data, "cond[99999999999999999999].field": "age"})
    assert answer.status_code == 400 and f"at most {MAX_ROWS}" in answer.text
    assert _stored(console, journey_id) == before
    # Exactly the most rows is fine.
    url, data = _form(console, journey_id, 12)
    paths = {f"paths[{i}].forward": "13" for i in range(MAX_ROWS)}
    answer = post(console, url, {**data, **paths})
    assert answer.status_code == 303, answer.text[-2000:]
    assert len(_stored(console, journey_id)[12]["params"]["paths"]) == MAX_ROWS
    # And "Add a path" at the most adds none (and is not offered).
    url, data = _form(console, journey_id, 12)
    assert f"paths[{MAX_ROWS - 1}].forward" in data
    assert 'name="more" value="paths"' not in console.get(f"/journeys/{journey_id}?state=12").text
    answer = post(console, url, {**data, "more": "paths"})
    assert answer.status_code == 200
    assert f"paths[{MAX_ROWS}].forward" not in form_data(answer.text, url)


def test_a_stored_split_of_thousands_of_paths_shows_in_the_builder(console: ConsoleClient) -> None:
    split = [{"weight": 1, "forward": 3} for _ in range(2000)]
    states = [
        {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
        {"id": 2, "type": "FLOW_RANDOM", "params": {"paths": split}},
        {"id": 3, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": None}},
    ]
    with _database(console).write() as conn:
        journey_id = create_journey(conn, 1, {"name": "Split 2000", "states": states}, NOW)
    answer = console.get(f"/journeys/{journey_id}")
    assert answer.status_code == 200
    assert answer.text.count('class="edge"') == 2000 + 2


# --- the name typed (finding 12) -------------------------------------------------------------


def test_a_failed_rename_shows_the_name_that_was_typed(console: ConsoleClient) -> None:
    with _database(console).read() as conn:
        name = get_journey(conn, 1, 3).name
    answer = post(console, "/journeys/3/rename", {"name": "Welcome series"})
    assert answer.status_code == 400 and "already exists" in answer.text
    field = answer.text.split('id="f-name"', 1)[1].split(">", 1)[0]
    assert 'value="Welcome series"' in field
    assert f"<h1>{name}</h1>" in answer.text  # the heading keeps the journey's stored name
    answer = post(console, "/journeys/3/rename", {"name": "x" * 300})
    assert answer.status_code == 400
    assert 'value="' + "x" * 300 + '"' in answer.text


# --- off the event loop (finding 13) ---------------------------------------------------------


def test_pages_that_read_the_body_query_the_database_off_the_event_loop(
    console: ConsoleClient,
) -> None:
    """SQL run on a thread whose event loop is running would hold up every other request."""
    journey_id, _ = _every_state(console)
    database = _database(console)
    url, data = _form(console, journey_id, 2)
    with queries_on_the_loop(database) as on_the_loop:
        assert post(console, url, {**data, "forward": "4"}).status_code == 303
        assert post(console, url, {**data, "forward": "x"}).status_code == 400
        assert post(console, url, {**data, "more": "x"}).status_code == 200
        added = {"type": "FLOW_DELAY", "time.amount": "1", "time.unit": "days"}
        assert post(console, f"/journeys/{journey_id}/states", added).status_code == 303
        with database.write() as conn:
            entry = [{"id": 1, "type": "IN_LIST", "params": {"forward": None}}]
            listed = create_journey(conn, 1, {"name": "Put in", "states": entry}, NOW)
        files = {"file": ("people.csv", b"customerId\nc001\n", "text/csv")}
        answer = console.form(f"/journeys/{listed}/customers", {"test": "1"}, files=files)
        assert answer.status_code == 200, answer.text[-2000:]
        answer = console.form(f"/journeys/{listed}/customers", {"test": "1"})
        assert answer.status_code == 400
    assert on_the_loop == []
