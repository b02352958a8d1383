"""Any stored draft renders: the journeys list, the builder, its forms and the statistics page.

A draft may be half done or oddly shaped (the store checks its shape loosely: ``states`` a list),
so every console page that reads one must take numbers where lists are expected, lists where
objects are, ``None`` and text anywhere, and still answer 200. A table replaces each value of a
valid state of every type, one at a time, by odd values; hypothesis feeds random JSON as params.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wayfare.console.graph import draw, layout
from wayfare.console.journey_words import condition_words, detail_words, type_words
from wayfare.console.pages.journeys import entry_words
from wayfare.console.stateforms import FORMS, count_rows, params_of, values_of
from wayfare.store.database import Database
from wayfare.store.journeys import create_journey

from .conftest import NOW
from .console_support import ConsoleClient

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

ODD = (5, -1.5, True, None, "text", "", [1, "x"], [], {"a": 1}, {}, [[{}]], {"at": [3]})
"""Values put where the params have something else."""


def _valid_states() -> dict[str, dict[str, Any]]:
    """A valid ``params`` of every state type the builder knows."""
    document = json.loads((EXAMPLES / "every-state.json").read_text())
    found = {s["type"]: s["params"] for s in document["states"]}
    found |= {
        "IN_ALL": {"forward": 2},
        "IN_LIST": {"listId": 1, "forward": 2},
        "IN_SEGMENT": {"cond": {"segmentIds": [1, 2]}, "forward": 2},
        "IN_FILTER": {
            "cond": {"age": {"gt": 30}, "$not": {"city": {"eq": "Madrid"}}},
            "forward": 2,
        },
        "IN_BIRTHDAY": {"field": "birthday", "offset": "-P3D", "at": "10:00", "forward": 2},
    }
    assert set(found) == set(FORMS)
    return found


VALID = _valid_states()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value inside ``value`` (keys and indices), outermost first."""
    children = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _replaced(params: Any, path: tuple[Any, ...], odd: Any) -> Any:
    changed = copy.deepcopy(params)
    inner = changed
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = copy.deepcopy(odd)
    return changed


def odd_params(state_type: str) -> list[Any]:
    """The params of ``state_type`` with each of their values replaced by each odd value in turn,
    and odd values as the whole params."""
    params = VALID[state_type]
    found: list[Any] = [copy.deepcopy(odd) for odd in ODD]
    for path in _paths(params):
        found.extend(_replaced(params, path, odd) for odd in ODD)
    return found


def some_odd_params(state_type: str) -> list[Any]:
    """Fewer: odd values as the whole params, and one odd value (each in turn) at each place."""
    params = VALID[state_type]
    found: list[Any] = [copy.deepcopy(odd) for odd in ODD]
    for n, path in enumerate(_paths(params)):
        found.append(_replaced(params, path, ODD[n % len(ODD)]))
    return found


def _form_values_are_text(values: dict[str, Any]) -> bool:
    """Whether form values are what the form's template takes: text, row counts, lists of text."""
    return all(
        isinstance(v, str)
        or (isinstance(v, int) and k.endswith("#n"))
        or (isinstance(v, list) and all(isinstance(i, str) for i in v))
        for k, v in values.items()
    )


ODD_STATES = [
    {"id": 100, "type": 7, "params": {"forward": 1}},
    {"id": True, "type": "IN_ALL", "params": {"forward": 1}},
    {"id": "3", "type": "FLOW_DELAY"},
    {"type": None},
    {"id": 101, "type": ["IN_ALL"], "params": []},
    {"id": 102, "type": "NOT_A_TYPE", "params": {"forward": 102}},
    {"id": 103, "params": {"forward": 999}},
    5,
    "IN_ALL",
    None,
    [{"id": 104}],
]
"""States that are not shaped like states at all."""


def _draft(database: Database, name: str, states: list[Any], **extra: Any) -> int:
    with database.write() as conn:
        return create_journey(conn, 1, {"name": name, "states": states, **extra}, NOW)


def _check_pages(console: ConsoleClient, journey_id: int, state_ids: list[int]) -> None:
    for url in (
        f"/journeys/{journey_id}",
        f"/journeys/{journey_id}?check=1",
        f"/journeys/{journey_id}/stats",
        f"/journeys/{journey_id}/activate",
        *(f"/journeys/{journey_id}?state={i}" for i in state_ids),
    ):
        answer = console.get(url)
        assert answer.status_code == 200, (url, answer.text[-2000:])


@pytest.mark.parametrize("state_type", sorted(FORMS))
def test_every_state_type_with_odd_params_renders_everywhere(
    console: ConsoleClient, state_type: str
) -> None:
    database: Database = console.app.state.database  # type: ignore[attr-defined]
    entry = [] if state_type.startswith("IN_") else [{"id": 1, "type": "IN_ALL", "params": {}}]

    def states(variants: list[Any]) -> list[Any]:
        return entry + [
            {"id": i, "type": state_type, "params": params} for i, params in enumerate(variants, 2)
        ]

    every = odd_params(state_type)
    for params in every:  # every variant through the form's reading, both ways
        values = values_of(state_type, params)
        assert _form_values_are_text(values), (params, values)
        assert _form_values_are_text(count_rows(state_type, values, "more"))
        params_of(state_type, values)
    # All of them in one draft: the graph, the list of states, the check, the statistics.
    journey_id = _draft(database, f"Odd {state_type}", states(every))
    _check_pages(console, journey_id, [])
    listed = console.get("/journeys")
    assert listed.status_code == 200
    assert f"Odd {state_type}" in listed.text
    # The form of each of fewer of them (a smaller draft: each page draws the whole graph).
    fewer = states(some_odd_params(state_type))
    journey_id = _draft(database, f"Odd {state_type} forms", fewer)
    for state in fewer:
        answer = console.get(f"/journeys/{journey_id}?state={state['id']}")
        assert answer.status_code == 200, (state, answer.text[-2000:])


@pytest.mark.parametrize("odd", ODD, ids=repr)
def test_an_odd_entry_state_renders_in_the_list(console: ConsoleClient, odd: Any) -> None:
    """Each entry type, alone in a draft with an odd value in each place, in the list."""
    database: Database = console.app.state.database  # type: ignore[attr-defined]
    names = []
    for state_type in sorted(t for t in FORMS if t.startswith("IN_")):
        params = VALID[state_type]
        for n, path in enumerate([(), *_paths(params)]):
            changed = _replaced(params, path, odd) if path else copy.deepcopy(odd)
            name = f"Entry {state_type} {n} {odd!r}"
            _draft(database, name, [{"id": 1, "type": state_type, "params": changed}])
            names.append(name)
    for page in range(1, len(names) // 20 + 2):
        answer = console.get(f"/journeys?page={page}")
        assert answer.status_code == 200, answer.text[-2000:]


def test_states_and_settings_not_shaped_like_them_render(console: ConsoleClient) -> None:
    database: Database = console.app.state.database  # type: ignore[attr-defined]
    states = [{"id": 1, "type": "IN_ALL", "params": {"forward": 100}}, *ODD_STATES]
    settings_ = {"reentry": "yes", "maxEntries": [2], "recheckEvery": {"a": 1}, "exitOn": 5}
    journey_id = _draft(database, "Odd states", states, settings=settings_)
    _check_pages(console, journey_id, [1, 100, 101, 102, 103])
    assert console.get("/journeys").status_code == 200
    only_odd = _draft(database, "Only odd states", list(ODD_STATES))
    _check_pages(console, only_odd, [100])


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 20)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "forward",
                    "time",
                    "until",
                    "at",
                    "weekdays",
                    "cond",
                    "segmentIds",
                    "paths",
                    "weight",
                    "filter",
                    "else",
                    "click",
                    "timeout",
                    "action",
                    "campaignId",
                    "url",
                    "headers",
                    "body",
                    "saveAs",
                    "reminders",
                    "listId",
                    "offset",
                    "field",
                    "$or",
                    "$not",
                    "$event",
                    "eventName",
                    "age",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(state_type=st.sampled_from(sorted(FORMS)), params=json_values)
def test_random_params_go_through_words_graph_and_forms(state_type: str, params: Any) -> None:
    document = {
        "name": "Random",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {"id": 2, "type": state_type, "params": params},
        ],
    }
    placed = layout(document)
    assert {1, 2} <= set(placed.nodes)
    assert draw(document, href=lambda i: f"/x/{i}", selected=2).startswith("<svg")
    type_words(state_type, params)
    detail_words(state_type, params, {"campaigns": {1: "Hi"}})
    condition_words(params)
    entry_words([{"type": state_type, "params": params}], {1: "List"}, {1: "Segment"})
    values = values_of(state_type, params)
    assert _form_values_are_text(values), values
    assert _form_values_are_text(count_rows(state_type, values, "more"))
    params_of(state_type, values)
