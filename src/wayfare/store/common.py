"""What the store modules share: pages of listings, names, and plain JSON documents."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from wayfare.errors import InvalidInput, Problem

T = TypeVar("T")

NAME_MAX = 200
"""The longest name of anything named (journeys, campaigns, lists, ...): the columns' size."""

PAGE_MAX = 1000
"""The most items one page of a listing holds."""

SURROGATE = re.compile("[\ud800-\udfff]")
"""An unpaired UTF-16 surrogate: JSON can escape one (``"\\ud800"``), no database stores it."""


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
    if "\x00" in text or (not text.isascii() and SURROGATE.search(text)):
        message = "cannot contain NUL characters or unpaired surrogates"
        raise InvalidInput(problems=[Problem(where, message, "type")])
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

    Strings and keys cannot hold the NUL character (PostgreSQL's JSONB refuses it), integers
    must fit 64 bits (what the JSON columns are read back with). A problem is reported at its
    path under ``where`` (``events[3].customData.items[2]``).
    """
    try:
        return _plain(value)
    except _NotPlain as exc:
        raise InvalidInput(problems=[Problem(where + exc.path, exc.message, "type")]) from None


def check_plain_json(value: Any, where: str) -> None:
    """``InvalidInput`` unless ``value`` is plain JSON (as ``plain_json`` checks), copying nothing.

    The hot path of event ingestion: one orjson encoding says a clean value is clean (orjson
    refuses non-text keys, surrogates and integers past 64 bits); a value whose encoding shows a
    NUL or a ``null`` (what a NaN becomes) is checked in full.
    """
    try:
        text = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        text = None
    if text is None or b"\\u0000" in text or b"null" in text:
        plain_json(value, where)


class _NotPlain(Exception):
    """What is wrong, and where below the value (the path is built only when something is)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = ""


_SCALARS = (bool, int)
_BYTES = (bytes, bytearray)


_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _plain(value: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, _SCALARS):
        if _INT_MIN <= value <= _INT_MAX:
            return value
        raise _NotPlain("must be a whole number of at most 64 bits")
    if isinstance(value, str):
        if "\x00" in value:
            raise _NotPlain("cannot contain NUL characters")
        if not value.isascii() and SURROGATE.search(value):
            raise _NotPlain("cannot contain an unpaired surrogate (\\ud800 to \\udfff)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotPlain("must be a finite number")
        return value
    if isinstance(value, dict | Mapping):
        plain = {}
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise _NotPlain("object keys must be strings without NUL")
            try:
                plain[key] = _plain(item)
            except _NotPlain as exc:
                exc.path = f".{key}{exc.path}"
                raise
        return plain
    if isinstance(value, list | Sequence) and not isinstance(value, _BYTES):
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_plain(item))
            except _NotPlain as exc:
                exc.path = f"[{index}]{exc.path}"
                raise
        return items
    raise _NotPlain(f"{type(value).__name__} is not a JSON value")
