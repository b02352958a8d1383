"""Customer field types and the one canonical form each value is stored and compared in.

Canonical forms (what a customer's ``fields`` document holds, and what conditions compare):

============  ==========================================================
``string``    ``str`` (no NUL character)
``number``    ``int`` or ``float`` (finite; booleans are not numbers)
``boolean``   ``bool``
``date``      ``"YYYY-MM-DD"``
``datetime``  ``"YYYY-MM-DDTHH:MM:SSZ"``: UTC, whole seconds, so text order is time order
============  ==========================================================
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

FieldValue = str | int | float | bool


class FieldType(StrEnum):
    """The type of a customer field."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"


FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
"""Field names: letters, digits and underscores, not starting with a digit, at most 100 long
(use with ``fullmatch``)."""

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class ValueError_(ValueError):
    """A value that does not fit its field type."""


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError_(f"expected a string, got {kind_of(value)}")
    if "\x00" in value:
        raise ValueError_("a string cannot contain the NUL character")
    if not value.isascii() and _SURROGATE.search(value):
        raise ValueError_("a string cannot contain an unpaired surrogate (not valid Unicode text)")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


MAX_EXACT = 2**53
"""Numbers are compared as doubles (in SQL too): integers beyond ±2**53 would not stay exact."""


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str):
            return _number_text(value)
        raise ValueError_(f"expected a number, got {kind_of(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError_(f"expected a finite number, got {value}")
    if isinstance(value, int) and abs(value) > MAX_EXACT:
        raise ValueError_(f"{value} is too large: numbers are exact up to ±2**53")
    return value


def _number_text(text: str) -> int | float:
    text = text.strip()
    try:
        integer = int(text)
    except ValueError:
        pass
    else:
        return _number(integer)
    try:
        number = float(text)
    except ValueError:
        raise ValueError_(f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise ValueError_(f"expected a finite number, got {text!r}")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError_(f"expected true or false, got {value!r}")
    raise ValueError_(f"expected a boolean, got {kind_of(value)}")


def _date(value: Any) -> str:
    if isinstance(value, datetime):
        raise ValueError_("expected a date, got a datetime")
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError_(f"expected a date (YYYY-MM-DD), got {kind_of(value)}")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValueError_(f"expected a date (YYYY-MM-DD), got {value!r}") from None


def _datetime(value: Any) -> str:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError_(f"expected an ISO 8601 datetime, got {value!r}") from None
    else:
        raise ValueError_(f"expected an ISO 8601 datetime, got {kind_of(value)}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return format_datetime(moment)
    except OverflowError:
        raise ValueError_(f"{value!r} is outside the years 1 to 9999 in UTC") from None


def format_datetime(moment: datetime) -> str:
    """The canonical text of an aware datetime: UTC, whole seconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


def parse_datetime(text: str) -> datetime:
    """The aware datetime of a canonical datetime text."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def kind_of(value: Any) -> str:
    """How a value reads in an error message: ``a number``, ``a string``, ``null``, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


CONVERTERS: dict[FieldType, Callable[[Any], FieldValue]] = {
    FieldType.STRING: _string,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
}
"""Per type: a function from a JSON value or CSV text to the canonical value, raising
``ValueError_`` with a message for the user. (CSV text is accepted by every type; an empty
cell is an absent value and never reaches a converter.)"""


def canonical(field_type: FieldType, value: Any) -> FieldValue:
    """``value`` in the canonical form of ``field_type``; ``ValueError_`` if it does not fit."""
    return CONVERTERS[field_type](value)


def infer_type(text: str) -> FieldType:
    """The narrowest field type a CSV cell's text fits (for columns with no field definition)."""
    stripped = text.strip()
    for field_type in (FieldType.NUMBER, FieldType.BOOLEAN, FieldType.DATE, FieldType.DATETIME):
        if field_type is FieldType.BOOLEAN and stripped.lower() not in {"true", "false"}:
            continue
        try:
            CONVERTERS[field_type](stripped)
        except ValueError_:
            continue
        return field_type
    return FieldType.STRING


def unify_types(kinds: set[FieldType]) -> FieldType:
    """The type of a column whose cells were inferred as ``kinds``.

    The one kind there is; a datetime for dates mixed with datetimes; else (or no kind) string.
    """
    if len(kinds) == 1:
        return next(iter(kinds))
    if kinds == {FieldType.DATE, FieldType.DATETIME}:
        return FieldType.DATETIME
    return FieldType.STRING
