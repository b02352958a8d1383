"""The journey flow graph: layers, no overlapping boxes, loops, labels, escaping, links."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from wayfare.console.graph import SWEPT_LINKS, _crossings, draw, layout
from wayfare.console.journey_words import condition_words, duration_words, type_words

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SVG = "{http://www.w3.org/2000/svg}"


def _send(ident: int, forward: int | None) -> dict[str, Any]:
    return {
        "id": ident,
        "type": "ACTION_EMAIL_SEND",
        "params": {"action": {"campaignId": 3}, "forward": forward},
    }


def thirty_states() -> dict[str, Any]:
    """30 states: filters, random splits, push clicks whose timeout loops back, delays."""
    n = 30

    def nxt(k: int) -> int | None:
        return k if k <= n else None

    states: list[dict[str, Any]] = [{"id": 1, "type": "IN_ALL", "params": {"forward": 2}}]
    for i in range(2, n + 1):
        if i % 7 == 2:
            params: dict[str, Any] = {
                "filter": [{"cond": {"age": {"gt": i}}, "forward": nxt(i + 1)}],
                "else": {"forward": nxt(i + 3)},
            }
            states.append({"id": i, "type": "FLOW_FILTER", "params": params})
        elif i % 7 == 4:
            paths = [{"weight": 50, "forward": nxt(i + 1)}, {"weight": 50, "forward": nxt(i + 2)}]
            states.append({"id": i, "type": "FLOW_RANDOM", "params": {"paths": paths}})
        elif i % 7 == 6:
            params = {
                "click": {"campaignId": 1, "forward": nxt(i + 1)},
                "timeout": {"time": "P1D", "forward": max(2, i - 3)},
            }
            states.append({"id": i, "type": "FLOW_PUSH_CLICK", "params": params})
        elif i % 5 == 0:
            states.append(
                {"id": i, "type": "FLOW_DELAY", "params": {"time": "P2D", "forward": nxt(i + 1)}}
            )
        else:
            states.append(_send(i, nxt(i + 1)))
    return {"name": "Thirty", "states": states}


def test_layers_follow_the_longest_path_from_the_entry() -> None:
    document = {
        "name": "Diamond",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "FLOW_FILTER",
                "params": {
                    "filter": [{"cond": {"vip": {"eq": True}}, "forward": 3}],
                    "else": {"forward": 5},
                },
            },
            _send(3, 4),
            _send(4, 5),
            _send(5, None),
        ],
    }
    placed = layout(document)
    layers = {node.key: node.layer for node in placed.states()}
    assert layers == {1: 0, 2: 1, 3: 2, 4: 3, 5: 4}
    # The long edge 2 → 5 passes through dummy points in layers 2 and 3.
    long_edge = next(r for r in placed.routes if r.source == 2 and r.target == 5)
    assert [placed.nodes[k].layer for k in long_edge.chain] == [1, 2, 3, 4]
    assert {r.label for r in placed.routes if r.source == 2} == {"yes", "no"}
    # Each layer is lower than the one before.
    ys = [placed.nodes[k].y for k in (1, 2, 3, 4, 5)]
    assert ys == sorted(ys) and len(set(ys)) == 5


def _overlap(a: Any, b: Any) -> bool:
    return (
        a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


def test_thirty_states_have_no_overlapping_boxes() -> None:
    placed = layout(thirty_states())
    boxes = [node for node in placed.nodes.values() if node.kind != "dummy"]
    assert len(placed.states()) == 30
    for a, b in itertools.combinations(boxes, 2):
        assert not _overlap(a, b), f"{a.key} and {b.key} overlap"
    for node in boxes:
        assert node.x >= 0 and node.x + node.width <= placed.width
        assert node.y >= 0 and node.y + node.height <= placed.height
    # Dummy points of long edges do not run through boxes of their layer either.
    dummies = [node for node in placed.nodes.values() if node.kind == "dummy"]
    for dummy, box in itertools.product(dummies, boxes):
        if dummy.layer == box.layer:
            assert not (box.x < dummy.center < box.x + box.width)


def test_loops_back_are_reversed_and_drawn_dashed() -> None:
    placed = layout(thirty_states())
    back = [r for r in placed.routes if r.back]
    assert {(r.source, r.target) for r in back} == {(6, 3), (13, 10), (20, 17), (27, 24)}
    for route in back:
        assert placed.nodes[route.source].layer > placed.nodes[route.target].layer
        assert route.label == "timeout"
    svg = str(draw(thirty_states()))
    assert svg.count('class="edge back"') == 4


def test_a_state_that_goes_to_itself_and_a_missing_state() -> None:
    document = {
        "name": "Odd",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {"id": 2, "type": "FLOW_DELAY", "params": {"time": "PT1H", "forward": 2}},
            {
                "id": 3,
                "type": "FLOW_RANDOM",
                "params": {"paths": [{"weight": 3, "forward": 9}, {"weight": 1, "forward": None}]},
            },
        ],
    }
    placed = layout(document)
    loop = next(r for r in placed.routes if r.source == 2)
    assert loop.target == 2 and len(loop.points) == 4
    missing = next(r for r in placed.routes if r.source == 3 and r.label == "75%")
    assert placed.nodes[missing.target].kind == "missing"
    assert placed.nodes[missing.target].title == "no state 9"
    ends = [r for r in placed.routes if r.source == 3 and r.label == "25%"]
    assert placed.nodes[ends[0].target].kind == "end"


def test_words_for_types_durations_and_conditions() -> None:
    assert type_words("ACTION_PUSH_SEND", {}) == "Send push"
    assert type_words("FLOW_DELAY", {"time": "P2D"}) == "Wait 2 days"
    assert type_words("FLOW_RANDOM", {"paths": [{"forward": 1}, {"forward": 2}]}) == "Random 50/50"
    assert type_words("FLOW_FILTER", {}) == "Filter"
    assert duration_words("PT90M") == "1 hour 30 minutes"
    assert duration_words("P2W") == "2 weeks"
    assert duration_words("-P3D") == "3 days before"
    assert duration_words("soon") == "soon"
    words = condition_words({"age": {"gt": 30}, "city": {"eq": "Madrid"}, "x": {"isnull": True}})
    assert words == 'age > 30 and city = "Madrid" and x is empty'
    assert condition_words({"$or": [{"a": {"eq": 1}}, {"b": {"neq": 2}}]}) == "(a = 1 or b ≠ 2)"


def test_every_state_example_draws_with_names_notes_problems_and_links() -> None:
    document = json.loads((EXAMPLES / "every-state.json").read_text())
    svg = str(
        draw(
            document,
            notes={2: ["entered 120 · sent 80 · CTR 4.1 %"]},
            problems={5: ["params.action.campaignId: no campaign 3"]},
            href=lambda i: f"/journeys/7?state={i}",
            selected=3,
            names={"campaigns": {1: "Welcome push"}},
        )
    )
    root = ElementTree.fromstring(svg)
    assert root.get("role") == "img" and root.get("viewBox", "").startswith("0 0 ")
    assert root.get("width") == "100%"
    assert "Every state type" in root.get("aria-label", "")
    links = root.findall(f".//{SVG}a")
    states = document["states"]
    assert len(links) == len(states)
    assert {a.get("href") for a in links} == {f"/journeys/7?state={s['id']}" for s in states}
    group = {g.get("data-state"): g for g in root.iter(f"{SVG}g") if g.get("data-state")}
    assert "selected" in (group["3"].get("class") or "")
    assert "problem" in (group["5"].get("class") or "")
    assert "no campaign 3" in "".join(group["5"].itertext())
    assert "problem" not in (group["4"].get("class") or "")
    assert "entered 120 · sent 80 · CTR 4.1 %" in "".join(group["2"].itertext())
    assert "Welcome push" in "".join(group["2"].itertext())
    labels = {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "label"}
    assert {"clicked", "timeout", "70%", "30%", "converted", "exhausted"} <= labels


def test_names_and_labels_are_escaped() -> None:
    document = {
        "name": "<script>alert(1)</script>",
        "states": [
            {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "<b>x</b>", "forward": 2}},
            {"id": 2, "type": "ACTION_PUSH_SEND", "params": {"action": {"campaignId": 1}}},
        ],
    }
    svg = str(
        draw(
            document,
            names={"campaigns": {1: '"><img src=x onerror=alert(1)>'}},
            problems={2: ["<i>missing</i>"]},
        )
    )
    assert "<script>" not in svg and "<b>" not in svg and "<img" not in svg and "<i>" not in svg
    assert "&lt;script&gt;" in svg
    root = ElementTree.fromstring(svg)  # still well-formed XML
    assert "<script>alert(1)</script>" in root.get("aria-label", "")


def test_a_broken_document_still_draws() -> None:
    for document in (
        {},
        {"name": "x", "states": "nope"},
        {"name": "x", "states": [{"id": 1}, {"type": "IN_ALL"}, 5, {"id": True}]},
        {"name": "x", "states": [{"id": 1, "type": "FLOW_RANDOM", "params": {"paths": "no"}}]},
    ):
        svg = str(draw(document))
        assert re.match(r"<svg [^>]*viewBox=", svg)
        ElementTree.fromstring(svg)


def _crossings_by_pairs(layers: list[list[Any]], down: dict[Any, list[Any]]) -> int:
    """Edge crossings between adjacent layers, pair by pair (what ``_crossings`` must count)."""
    total = 0
    for upper, lower in itertools.pairwise(layers):
        position = {key: i for i, key in enumerate(lower)}
        edges = [(i, position[b]) for i, a in enumerate(upper) for b in down.get(a, [])]
        for (a1, b1), (a2, b2) in itertools.combinations(edges, 2):
            total += (a1 - a2) * (b1 - b2) < 0
    return total


def test_crossings_are_counted_as_pairs_of_edges_that_cross() -> None:
    chance = random.Random(7)
    for _ in range(500):
        layers = [
            [f"{n}-{i}" for i in range(chance.randint(0, 6))] for n in range(chance.randint(1, 4))
        ]
        down: dict[Any, list[Any]] = {}
        for upper, lower in itertools.pairwise(layers):
            for key in upper:  # duplicate edges too: two paths of a random split to one state
                down[key] = (
                    [chance.choice(lower) for _ in range(chance.randint(0, 4))] if lower else []
                )
        assert _crossings(layers, down) == _crossings_by_pairs(layers, down), (layers, down)


def _random_split(paths: int, targets: int) -> dict[str, Any]:
    split = [{"weight": 1, "forward": 3 + i % targets} for i in range(paths)]
    return {
        "name": "Huge split",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {"id": 2, "type": "FLOW_RANDOM", "params": {"paths": split}},
            *(_send(3 + k, None) for k in range(targets)),
        ],
    }


def test_a_split_of_thousands_of_paths_draws_every_path() -> None:
    # 2,000 paths took 18 s to lay out (crossings counted pair by pair, and every label adding
    # all the weights up again); past SWEPT_LINKS the crossings are not reduced at all.
    for paths in (2000, SWEPT_LINKS + 1):
        placed = layout(_random_split(paths, 40))
        split = [r for r in placed.routes if r.source == 2]
        assert len(split) == paths
        assert {r.label for r in split} == {f"{100 / paths:.3g}%"}
        svg = str(draw(_random_split(paths, 40)))
        assert svg.count('class="edge"') == paths + 1 + 40


def test_forward_keys_in_data_draw_no_edges() -> None:
    document = {
        "name": "Data",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "FLOW_WEBHOOK",
                "params": {
                    "url": "https://x.example",
                    "method": "POST",
                    "headers": {"forward": "3"},
                    "body": {"forward": 3, "a.b": {"forward": 9}, "n": [{"forward": None}]},
                    "success": {"forward": 3},
                    "failure": {"forward": None},
                    "saveAs": {"forward": "data.forward"},
                },
            },
            {
                "id": 3,
                "type": "FLOW_FILTER",
                "params": {
                    "filter": [{"cond": {"forward": {"eq": 9}}, "forward": None}],
                    "else": {"forward": 2},
                },
            },
        ],
    }
    placed = layout(document)
    assert sorted((r.source, r.path) for r in placed.routes) == [
        (1, "forward"),
        (2, "failure.forward"),
        (2, "success.forward"),
        (3, "else.forward"),
        (3, "filter[0].forward"),
    ]
    assert not [n for n in placed.nodes.values() if n.kind == "missing"]  # no "state 9"
    svg = str(draw(document))
    assert "body" not in svg and "headers" not in svg
