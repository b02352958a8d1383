"""What the store modules share: pages of listings, names, and plain JSON documents."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from wayfare.errors import InvalidInput, Problem

T = TypeVar("T")

NAME_MAX = 200
"""The longest name of anything named (journeys, campaigns, lists, ...): the columns' size."""

PAGE_MAX = 1000
"""The most items one page of a listing holds."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a listing and how many items there are in all."""

    items: list[T]
    count: int


def checked_name(name: Any, where: str = "name") -> str:
    """``name`` without surrounding spaces; ``InvalidInput`` unless it is 1 to 200 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(problems=[Problem(where, "a name is required", "required")])
    text: str = name.strip()
    if len(text) > NAME_MAX:
        raise InvalidInput(
            problems=[Problem(where, f"must be at most {NAME_MAX} characters", "too_long")]
        )
    if "\x00" in text:
        raise InvalidInput(problems=[Problem(where, "cannot contain NUL characters", "type")])
    return text


def checked_page(limit: int, offset: int) -> None:
    """``InvalidInput`` unless ``limit`` is 1 to ``PAGE_MAX`` and ``offset`` is not negative."""
    problems = []
    if not 1 <= limit <= PAGE_MAX:
        problems.append(Problem("limit", f"must be 1 to {PAGE_MAX}", "out_of_range"))
    if offset < 0:
        problems.append(Problem("page", "cannot be negative", "out_of_range"))
    if problems:
        raise InvalidInput(problems=problems)


def plain_json(value: Any, where: str) -> Any:
    """``value`` as plain JSON (objects, lists, strings, finite numbers, booleans, null).

    Strings and keys cannot hold the NUL character (PostgreSQL's JSONB refuses it).
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(problems=[Problem(where, "cannot contain NUL characters", "type")])
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(problems=[Problem(where, "must be a finite number", "type")])
        return value
    if isinstance(value, Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise InvalidInput(
                    problems=[Problem(where, "object keys must be strings without NUL", "type")]
                )
            plain[key] = plain_json(item, f"{where}.{key}")
        return plain
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [plain_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise InvalidInput(
        problems=[Problem(where, f"{type(value).__name__} is not a JSON value", "type")]
    )
