"""The console's shared form reading: a JSON field read, or refused with a problem on the field."""

from __future__ import annotations

import pytest

from wayfare.console.forms import MAX_DEPTH, json_depth, parse_json_field
from wayfare.errors import InvalidInput


def test_a_json_field_is_read() -> None:
    assert parse_json_field('{"age": {"gt": 30}}', "cond") == {"age": {"gt": 30}}
    assert parse_json_field("[1, [2]]", "body") == [1, [2]]


def test_text_that_is_not_json_is_a_problem_on_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json_field("{nope", "filter[0].cond")
    (problem,) = caught.value.problems
    assert problem.where == "filter[0].cond"
    assert problem.message.startswith("not valid JSON")


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000],
    ids=["arrays past the recursion limit", "objects past the recursion limit"],
)
def test_json_nested_past_the_recursion_limit_is_a_problem_not_a_crash(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_json_field(text, "content")
    (problem,) = caught.value.problems
    assert problem.where == "content"
    assert "nested too deeply" in problem.message


def test_json_deeper_than_the_limit_is_refused_and_at_the_limit_read() -> None:
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert json_depth(parse_json_field(at_limit, "body")) == MAX_DEPTH
    with pytest.raises(InvalidInput, match="nested too deeply"):
        parse_json_field("[" + at_limit + "]", "body")


def test_json_depth() -> None:
    assert json_depth(3) == 0
    assert json_depth({}) == 1
    assert json_depth({"a": [1, {"b": []}], "c": 2}) == 4
