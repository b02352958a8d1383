"""What console forms share in reading what was typed: a JSON field, read or refused on its field.

``parse_json_field`` is the one way a page reads a textarea of JSON (a condition, a webhook's
body, a campaign's content, a channel's options): text that is not JSON, or JSON nested deeper
than anyone writes by hand (which would otherwise exhaust Python's recursion in the parser or
in what reads the value later), is an ``InvalidInput`` whose problem names the field.
"""

from __future__ import annotations

import json
from typing import Any

from wayfare.errors import InvalidInput, Problem

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects a JSON field may have."""


def parse_json_field(text: str, where: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value ``text`` spells.

    ``InvalidInput`` with one problem at ``where`` when ``text`` is not JSON or nests arrays and
    objects more than ``max_depth`` levels deep.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise _too_deep(where, max_depth) from None
    except ValueError as exc:
        raise InvalidInput(problems=[Problem(where, f"not valid JSON: {exc}", "invalid")]) from exc
    if json_depth(value) > max_depth:
        raise _too_deep(where, max_depth)
    return value


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (0 for a scalar), without recursing."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        pending.extend((child, depth + 1) for child in children)
    return deepest


def _too_deep(where: str, max_depth: int) -> InvalidInput:
    message = f"nested too deeply: at most {max_depth} levels of arrays and objects"
    return InvalidInput(problems=[Problem(where, message, "invalid")])
