"""The journey builder's state forms: which fields each state type has, and form ↔ ``params``.

A form's field names are the paths of ``params`` (``timeout.forward``, ``filter[0].cond``), so
that the problems validation names (``state 3: params.timeout.time``) land on the field they
concern. ``values_of`` turns stored params into flat form values; ``params_of`` reads them back,
reporting what cannot be read (a duration amount that is not a whole number) by the same path.
Everything else (types, references, the graph) is checked by ``wayfare.model.validation``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wayfare.console.forms import parse_json_field
from wayfare.console.web import whole_number
from wayfare.errors import InvalidInput, Problem
from wayfare.model.durations import parse_duration

UNITS = (
    ("minutes", "minutes"),
    ("hours", "hours"),
    ("days", "days"),
    ("weeks", "weeks"),
    ("months", "months"),
    ("years", "years"),
    ("iso", "ISO 8601"),
)
"""The units of a duration field, with the ISO 8601 text as a way out for mixed durations."""
_ISO_OF = {
    "minutes": "PT{}M",
    "hours": "PT{}H",
    "days": "P{}D",
    "weeks": "P{}W",
    "months": "P{}M",
    "years": "P{}Y",
}
OPERATORS = (
    ("eq", "="),
    ("neq", "≠"),
    ("lt", "<"),
    ("lte", "≤"),
    ("gt", ">"),
    ("gte", "≥"),
    ("in", "one of (a, b, …)"),
    ("contains", "contains"),
    ("isnull", "is empty"),
    ("isnotnull", "is set"),
)
"""The operators of a condition row, as the condition editor offers them."""
_NO_VALUE = ("isnull", "isnotnull")
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
METHODS = ("POST", "GET", "PUT", "PATCH", "DELETE")
BODY_KINDS = (("text", "text (a Liquid template)"), ("json", "JSON"))
MATCH_MODES = (("CONTAINS", "contains"), ("EQUALS", "equals"), ("STARTS_WITH", "starts with"))
SEND_TIMES = (("", "at once"), ("best", "at each customer's best time"))
MAX_ROWS = 50
"""The most rows a list of a form may post: branches, paths, links, reminders, condition rows."""


@dataclass(frozen=True)
class Item:
    """A field of a state form; ``kind`` says which widget (and how its value is read)."""

    kind: str
    """``forward``, ``campaign``, ``duration``, ``cond``, ``event``, ``text``, ``select``,
    ``time``, ``weekdays``, ``list``, ``segments``, ``field``, ``number``, ``json``, ``lines``
    or ``group`` (a repeated set of ``items``: branches, paths, links, reminders)."""
    name: str
    label: str
    required: bool = True
    hint: str = ""
    items: tuple[Item, ...] = ()
    options: tuple[tuple[str, str], ...] = ()
    channel: str | None = None
    """For a campaign picker: the channel its campaign must have (None: any)."""
    signed: bool = False
    """For a duration: it can be before (negative) as well as after."""


def _forward(name: str = "forward", label: str = "Next state") -> Item:
    return Item("forward", name, label, hint="“End” finishes the journey for the customer.")


def _timeout() -> tuple[Item, ...]:
    return (
        Item("duration", "timeout.time", "Wait at most"),
        _forward("timeout.forward", "Then, when nothing happened"),
    )


def _send(channel: str) -> tuple[Item, ...]:
    return (
        Item("campaign", "action.campaignId", "Campaign", channel=channel),
        Item("select", "sendTime", "Send", required=False, options=SEND_TIMES),
        Item("time", "sendWindow.from", "Best time from", required=False, hint="Empty: 08:00."),
        Item("time", "sendWindow.to", "Best time until", required=False, hint="Empty: 21:00."),
        Item("duration", "sendHorizon", "Best time within", required=False, hint="Empty: 24 h."),
        _forward(),
    )


_CHANNEL_OF = {
    "ACTION_PUSH_SEND": "push",
    "ACTION_INAPP_SEND": "inapp",
    "ACTION_WALLET_SEND": "wallet",
    "ACTION_EMAIL_SEND": "email",
    "ACTION_SMS_SEND": "sms",
    "ACTION_WHATSAPP_SEND": "whatsapp",
    "ACTION_TELEGRAM_SEND": "telegram",
}

_EVENT_DATA = Item(
    "lines",
    "eventData",
    "Only events whose data has",
    required=False,
    hint="One “key = value” a line, e.g. place = Madrid store.",
)
"""The ``eventData`` of the custom-event entry and wait."""

FORMS: dict[str, tuple[Item, ...]] = {
    "IN_ALL": (_forward(),),
    "IN_LIST": (
        Item("list", "listId", "Contact list", required=False, hint="Or none: put in by API/CSV."),
        _forward(),
    ),
    "IN_SEGMENT": (Item("segments", "cond.segmentIds", "Segments"), _forward()),
    "IN_FILTER": (Item("cond", "cond", "Customers whose fields match"), _forward()),
    "IN_CUSTOM_EVENT": (
        Item("event", "eventName", "When this event happens"),
        _EVENT_DATA,
        Item("cond", "cond", "Only for customers matching", required=False),
        _forward(),
    ),
    "IN_BIRTHDAY": (
        Item("field", "field", "Date field"),
        Item("duration", "offset", "Offset", required=False, signed=True),
        Item("time", "at", "At local time", required=False),
        _forward(),
    ),
    **{state_type: _send(channel) for state_type, channel in _CHANNEL_OF.items()},
    "FLOW_FILTER": (
        Item(
            "group",
            "filter",
            "Branch",
            items=(Item("cond", "cond", "When customers match"), _forward("forward", "Go to")),
            hint="The first branch that matches wins.",
        ),
        _forward("else.forward", "Otherwise go to"),
    ),
    "FLOW_PUSH_CLICK": (
        Item("campaign", "click.campaignId", "Push campaign", channel="push"),
        _forward("click.forward", "When clicked, go to"),
        *_timeout(),
    ),
    "FLOW_SMS": (
        Item(
            "group",
            "click",
            "Link",
            items=(
                Item("text", "url", "URL"),
                Item("select", "urlMatchMode", "Match", options=MATCH_MODES),
                _forward("forward", "When clicked, go to"),
            ),
        ),
        *_timeout(),
    ),
    "FLOW_CUSTOM_EVENT": (
        Item("event", "eventName", "Wait for the event"),
        _EVENT_DATA,
        Item("cond", "cond", "Only when the customer matches", required=False),
        _forward("forward", "When it happens, go to"),
        *_timeout(),
    ),
    "FLOW_RANDOM": (
        Item(
            "group",
            "paths",
            "Path",
            items=(
                Item("number", "weight", "Weight", required=False, hint="Empty: equal weights."),
                _forward("forward", "Go to"),
            ),
        ),
    ),
    "FLOW_DELAY": (
        Item("duration", "time", "Wait", required=False),
        Item("time", "until.at", "Then until local time", required=False),
        Item("weekdays", "until.weekdays", "Only on", required=False, hint="None: any day."),
        _forward(),
    ),
    "FLOW_RETARGETING": (
        Item("event", "goalEvent", "Goal event"),
        Item("duration", "wait", "Unless it happens within"),
        Item(
            "group",
            "reminders",
            "Reminder",
            items=(Item("campaign", "campaignId", "Campaign"),),
        ),
        Item("duration", "every", "Reminders apart", required=False),
        _forward("converted.forward", "When converted, go to"),
        _forward("exhausted.forward", "After the last reminder, go to"),
    ),
    "FLOW_WEBHOOK": (
        Item(
            "text",
            "url",
            "URL",
            hint="A Liquid template, e.g. https://crm.example.com/{{ customer.customerId }}",
        ),
        Item("select", "method", "Method", options=tuple((m, m) for m in METHODS)),
        Item("lines", "headers", "Headers", required=False, hint="One “Name: value” a line."),
        Item("json", "body", "Body", required=False),
        Item("duration", "timeout", "Time out after", required=False),
        _forward("success.forward", "On success, go to"),
        _forward("failure.forward", "On failure, go to"),
        Item(
            "lines",
            "saveAs",
            "Save from the response",
            required=False,
            hint="One “field = data.path” a line.",
        ),
    ),
}
"""The fields of the form of each state type, in order."""

TYPE_CHOICES = tuple(FORMS)
"""The state types one can add, in the order the "Add a state" picker lists them."""


# --- small helpers ----------------------------------------------------------------------------


def _get(value: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        inner = target.get(part)
        if not isinstance(inner, dict):
            inner = target[part] = {}
        target = inner
    target[parts[-1]] = value


def duration_parts(text: object) -> tuple[str, str, bool]:
    """An ISO 8601 duration as (amount, unit, before); mixed ones as (text, ``iso``, False)."""
    if not isinstance(text, str) or not text:
        return "", "days", False
    try:
        duration = parse_duration(text)
    except ValueError:
        return text, "iso", False
    parts = [
        (duration.years, "years"),
        (duration.months, "months"),
        (duration.days, "days"),
        (duration.seconds, "seconds"),
    ]
    used = [(count, unit) for count, unit in parts if count]
    before = duration.negative
    if not used:
        return "0", "minutes", False
    if len(used) > 1:
        return text.lstrip("-") if before else text, "iso", before
    count, unit = used[0]
    if unit == "seconds":
        if count % 3600 == 0:
            return str(count // 3600), "hours", before
        if count % 60 == 0:
            return str(count // 60), "minutes", before
        return text.lstrip("-"), "iso", before
    return str(count), unit, before


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_scalar_text(v) for v in value)
    return "" if value is None else str(value)


def condition_rows(cond: object) -> list[tuple[str, str, str]] | None:
    """The rows (field, operator, value) of a plain AND of field comparisons; None otherwise."""
    if cond is None:
        return []
    if not isinstance(cond, Mapping):
        return None
    rows = []
    known = {op for op, _ in OPERATORS}
    for name, ops in cond.items():
        if str(name).startswith("$") or not isinstance(ops, Mapping) or not ops:
            return None
        for op, operand in ops.items():
            if op not in known or isinstance(operand, Mapping):
                return None
            if op in _NO_VALUE and operand is not True:
                return None
            rows.append((str(name), op, "" if op in _NO_VALUE else _scalar_text(operand)))
    return rows


# --- params → form values ---------------------------------------------------------------------

Values = dict[str, Any]
"""Flat form values by field name; a ``#n`` suffix counts the rows of a group or condition."""


def values_of(state_type: str, params: object) -> Values:
    """The form values of a state's stored ``params``."""
    values: Values = {}
    _values(FORMS.get(state_type, ()), params if isinstance(params, Mapping) else {}, "", values)
    return values


def _values(items: tuple[Item, ...], params: Mapping[str, Any], prefix: str, out: Values) -> None:
    for item in items:
        name = prefix + item.name
        raw = _get(params, item.name)
        if item.kind == "group":
            entries = raw if isinstance(raw, list) else []
            out[name + "#n"] = max(len(entries), 1)
            for i, entry in enumerate(entries):
                _values(
                    item.items, entry if isinstance(entry, Mapping) else {}, f"{name}[{i}].", out
                )
        elif item.kind == "duration":
            amount, unit, before = duration_parts(raw)
            out[name + ".amount"], out[name + ".unit"] = amount, unit
            out[name + ".before"] = "before" if before else "after"
        elif item.kind == "cond":
            rows = condition_rows(raw)
            if rows is None:
                out[name + ".json"] = json.dumps(raw, indent=2, ensure_ascii=False)
                out[name + "#n"] = 0
            else:
                out[name + "#n"] = max(len(rows), 1)
                for j, (field_name, op, value) in enumerate(rows):
                    out[f"{name}[{j}].field"] = field_name
                    out[f"{name}[{j}].op"] = op
                    out[f"{name}[{j}].value"] = value
        elif item.kind in ("segments", "weekdays"):
            out[name] = [str(v) for v in raw] if isinstance(raw, list) else []
        elif item.kind == "time" and item.name == "until.at":
            until = params.get("until")
            out[name] = until if isinstance(until, str) else _scalar_text(_get(until, "at"))
            days = _get(until, "weekdays")
            days = days if isinstance(days, list) else []
            out[prefix + "until.weekdays"] = [str(d).upper()[:3] for d in days]
        elif item.kind == "weekdays":
            continue
        elif item.kind == "lines":
            pairs = raw.items() if isinstance(raw, Mapping) else []
            sep = ": " if item.name == "headers" else " = "
            out[name] = "\n".join(f"{k}{sep}{_scalar_text(v)}" for k, v in pairs)
        elif item.kind == "json":
            is_text = raw is None or isinstance(raw, str)
            out[name + ".kind"] = "text" if is_text else "json"
            out[name] = raw or "" if is_text else json.dumps(raw, indent=2, ensure_ascii=False)
        else:
            out[name] = _scalar_text(raw)


# --- form values → params ---------------------------------------------------------------------


@dataclass
class Reading:
    """What ``params_of`` read: the params, and the problems of values it could not read."""

    params: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _rows(values: Mapping[str, Any], name: str) -> int:
    """How many rows the posted form has under ``name`` (``name[3].…`` → 4).

    More than ``MAX_ROWS`` is ``MAX_ROWS + 1``, however many were posted: too many.
    """
    pattern = re.compile(re.escape(name) + r"\[([0-9]+)\]\.")
    found = [whole_number(m.group(1), most=MAX_ROWS) for key in values if (m := pattern.match(key))]
    return max((MAX_ROWS if i is None else i) + 1 for i in found) if found else 0


def _rows_read(values: Mapping[str, Any], name: str, reading: Reading, what: str) -> int:
    """The rows to read under ``name``: at most ``MAX_ROWS`` (more is a problem on ``name``)."""
    rows = _rows(values, name)
    if rows > MAX_ROWS:
        _problem(reading, name, f"at most {MAX_ROWS} {what}")
    return min(rows, MAX_ROWS)


def count_rows(state_type: str, values: Values, more: str = "") -> Values:
    """``values`` with the ``#n`` row counts of a posted form, one more under ``more``."""
    counted = dict(values)

    def walk(items: tuple[Item, ...], prefix: str) -> None:
        for item in items:
            name = prefix + item.name
            if item.kind == "group":
                n = min(max(_rows(values, name), 1) + (1 if more == name else 0), MAX_ROWS)
                counted[name + "#n"] = n
                for i in range(n):
                    walk(item.items, f"{name}[{i}].")
            elif item.kind == "cond":
                json_mode = str(values.get(name + ".json", "")).strip()
                n = 0 if json_mode else max(_rows(values, name), 1)
                n += 1 if more == name and not json_mode else 0
                counted[name + "#n"] = min(n, MAX_ROWS)

    walk(FORMS.get(state_type, ()), "")
    return counted


def params_of(
    state_type: str,
    values: Mapping[str, Any],
    *,
    field_types: Mapping[str, str] = {},
    channels: Mapping[int, str] = {},
) -> Reading:
    """The ``params`` of a posted state form.

    ``field_types`` (customer field → type) types the values of condition rows; ``channels``
    (campaign id → channel) gives a retargeting reminder the channel of its campaign.
    """
    reading = Reading()
    _read(FORMS.get(state_type, ()), values, "", reading.params, reading, field_types, channels)
    if state_type in _CHANNEL_OF and reading.params.get("sendTime") != "best":
        reading.params.pop("sendWindow", None)  # kept in the form, meaningless at once
        reading.params.pop("sendHorizon", None)
    return reading


def _problem(reading: Reading, path: str, message: str) -> None:
    reading.problems.append(Problem(f"params.{path}", message, "invalid"))


def _read(
    items: tuple[Item, ...],
    values: Mapping[str, Any],
    prefix: str,
    out: dict[str, Any],
    reading: Reading,
    field_types: Mapping[str, str],
    channels: Mapping[int, str],
) -> None:
    for item in items:
        name = prefix + item.name
        text = values.get(name)
        text = text.strip() if isinstance(text, str) else text
        if item.kind == "group":
            entries = []
            for i in range(_rows_read(values, name, reading, f"{item.label.lower()} rows")):
                if values.get(f"{name}[{i}].remove"):
                    continue
                entry: dict[str, Any] = {}
                _read(item.items, values, f"{name}[{i}].", entry, reading, field_types, channels)
                entries.append(entry)
            _put(out, item.name, entries)
        elif item.kind in ("forward", "list"):
            ident = whole_number(text)
            if not text:
                _put(out, item.name, None)
            elif ident is not None:
                _put(out, item.name, ident)
            else:
                what = "a state" if item.kind == "forward" else "a contact list"
                _problem(reading, name, f"expected the id of {what}, got {text!r}")
        elif item.kind == "campaign":
            campaign = whole_number(text)
            if campaign is not None:
                _put(out, item.name, campaign)
                if prefix.startswith("reminders[") and campaign in channels:
                    out["channel"] = channels[campaign]
            elif text:
                _problem(reading, name, f"expected a campaign id, got {text!r}")
            elif item.required:
                _problem(reading, name, "is required: choose a campaign")
        elif item.kind == "duration":
            _read_duration(item, values, name, out, reading)
        elif item.kind == "cond":
            _read_cond(item, values, name, out, reading, field_types)
        elif item.kind == "number":
            if text:
                try:
                    number = float(text)
                except ValueError:
                    _problem(reading, name, f"expected a number, got {text!r}")
                else:
                    _put(out, item.name, int(number) if number.is_integer() else number)
        elif item.kind == "segments":
            chosen = values.get(name) or []
            ids = [whole_number(str(v)) for v in chosen]
            if None in ids:
                _problem(reading, name, "choose segments from the list")
            _put(out, item.name, [i for i in ids if i is not None])
        elif item.kind == "time" and item.name == "until.at":
            days = [d for d in values.get(prefix + "until.weekdays") or [] if d in WEEKDAYS]
            if text and days:
                out["until"] = {"at": text, "weekdays": days}
            elif text:
                out["until"] = text
            elif days:
                _problem(reading, name, "give a time of day for the weekdays")
        elif item.kind == "weekdays":
            continue
        elif item.kind == "lines":
            _read_lines(item, text or "", name, out, reading)
        elif item.kind == "json":
            if text and values.get(name + ".kind") == "json":
                try:
                    out[item.name] = parse_json_field(text, f"params.{name}")
                except InvalidInput as error:
                    reading.problems.extend(error.problems)
            elif text:
                out[item.name] = text
        elif text:
            _put(out, item.name, text)


def _read_duration(
    item: Item, values: Mapping[str, Any], name: str, out: dict[str, Any], reading: Reading
) -> None:
    amount = str(values.get(name + ".amount") or "").strip()
    unit = str(values.get(name + ".unit") or "days")
    if not amount:
        return
    if unit == "iso":
        iso = amount
    elif unit in _ISO_OF and whole_number(amount) is not None:
        iso = _ISO_OF[unit].format(whole_number(amount))
    elif unit in _ISO_OF:
        _problem(reading, name, f"expected a whole number of {unit}, got {amount!r}")
        return
    else:
        _problem(reading, name, f"unknown unit {unit!r}")
        return
    if item.signed and values.get(name + ".before") == "before" and not iso.startswith("-"):
        iso = "-" + iso
    _put(out, item.name, iso)


def typed_value(text: str, field_type: str | None) -> Any:
    """A condition value typed by its field's type (``ValueError`` when it cannot be)."""
    if field_type == "number":
        number = float(text)
        return int(number) if number.is_integer() else number
    if field_type == "boolean":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ValueError("expected true or false")
    return text


def _read_cond(
    item: Item,
    values: Mapping[str, Any],
    name: str,
    out: dict[str, Any],
    reading: Reading,
    field_types: Mapping[str, str],
) -> None:
    raw_json = str(values.get(name + ".json") or "").strip()
    if raw_json:
        try:
            cond = parse_json_field(raw_json, f"params.{name}")
        except InvalidInput as error:
            reading.problems.extend(error.problems)
            return
        if not isinstance(cond, dict):
            _problem(reading, name, "a condition is a JSON object")
            return
        _put(out, item.name, cond)
        return
    built: dict[str, dict[str, Any]] = {}
    for j in range(_rows_read(values, name, reading, "condition rows")):
        field_name = str(values.get(f"{name}[{j}].field") or "").strip()
        if not field_name:
            continue
        op = str(values.get(f"{name}[{j}].op") or "eq")
        text = str(values.get(f"{name}[{j}].value") or "").strip()
        where = f"{name}[{j}].value"
        kind = field_types.get(field_name)
        try:
            if op in _NO_VALUE:
                operand: Any = True
            elif op == "in":
                operand = [typed_value(v.strip(), kind) for v in text.split(",") if v.strip()]
            elif op == "contains":
                operand = text
            else:
                operand = typed_value(text, kind)
        except ValueError:
            expected = "a number" if kind == "number" else "true or false"
            _problem(reading, where, f"{field_name} is a {kind} field: expected {expected}")
            continue
        built.setdefault(field_name, {})[op] = operand
    if built or item.required:
        _put(out, item.name, built)


def _read_lines(item: Item, text: str, name: str, out: dict[str, Any], reading: Reading) -> None:
    sep = ":" if item.name == "headers" else "="
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, found_sep, value = line.partition(sep)
        if not found_sep or not key.strip():
            _problem(reading, name, f"line {number}: expected “name {sep} value”")
            continue
        found[key.strip()] = value.strip()
    if found:
        out[item.name] = found
