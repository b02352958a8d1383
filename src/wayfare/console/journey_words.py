"""A journey's states in words, for the graph and the builder: types, durations, conditions.

``type_words`` says what a state does ("Send push", "Wait 2 days", "Random 50/50"),
``detail_words`` sums its params up in a line, ``branch_labels`` name its outgoing edges. They read
raw params, so a state with problems still has words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from wayfare.model.durations import parse_duration
from wayfare.model.states import link_text, raw_links

_SEND_WORDS = {
    "PUSH": "Send push",
    "INAPP": "Send in-app",
    "WALLET": "Send wallet pass",
    "EMAIL": "Send email",
    "SMS": "Send SMS",
    "WHATSAPP": "Send WhatsApp",
    "TELEGRAM": "Send Telegram",
}
_TYPE_WORDS = {
    "IN_ALL": "All customers",
    "IN_LIST": "Customers of a list",
    "IN_SEGMENT": "Customers of a segment",
    "IN_FILTER": "Customers matching",
    "IN_CUSTOM_EVENT": "On event",
    "IN_BIRTHDAY": "Birthday",
    "FLOW_FILTER": "Filter",
    "FLOW_PUSH_CLICK": "Wait for push click",
    "FLOW_SMS": "Wait for link click",
    "FLOW_CUSTOM_EVENT": "Wait for event",
    "FLOW_RANDOM": "Random",
    "FLOW_DELAY": "Wait",
    "FLOW_RETARGETING": "Retargeting",
    "FLOW_WEBHOOK": "Webhook",
    **{f"ACTION_{channel}_SEND": words for channel, words in _SEND_WORDS.items()},
}
"""Each state type in words (the generic ones; ``type_words`` adds the specifics)."""

_UNITS = (("years", "year"), ("months", "month"), ("days", "day"))
_OPERATORS = {
    "eq": "=",
    "neq": "≠",
    "lt": "<",
    "lte": "≤",
    "gt": ">",
    "gte": "≥",
}


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration_words(text: object) -> str:
    """An ISO 8601 duration in words (``P2D`` → ``2 days``); other values as they are written."""
    if not isinstance(text, str):
        return "?" if text is None else str(text)
    try:
        duration = parse_duration(text)
    except ValueError:
        return text
    parts = []
    if duration.years:
        parts.append(_plural(duration.years, "year"))
    if duration.months:
        parts.append(_plural(duration.months, "month"))
    if duration.days:
        weeks, days = divmod(duration.days, 7)
        if weeks and not days:
            parts.append(_plural(weeks, "week"))
        else:
            parts.append(_plural(duration.days, "day"))
    hours, rest = divmod(duration.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    for count, unit in ((hours, "hour"), (minutes, "minute"), (seconds, "second")):
        if count:
            parts.append(_plural(count, unit))
    words = " ".join(parts) or "no time"
    return f"{words} before" if duration.negative else words


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def _field_words(name: str, ops: object) -> list[str]:
    if not isinstance(ops, Mapping):
        return [f"{name} = {_value(ops)}"]
    found = []
    for op, operand in ops.items():
        if op in _OPERATORS:
            found.append(f"{name} {_OPERATORS[op]} {_value(operand)}")
        elif op == "isnull":
            found.append(f"{name} is {'empty' if operand else 'set'}")
        elif op == "isnotnull":
            found.append(f"{name} is {'set' if operand else 'empty'}")
        elif op == "in":
            found.append(f"{name} in {_value(operand)}")
        elif op == "contains":
            found.append(f"{name} contains {_value(operand)}")
        elif op == "useActualDate":
            found.append(f"{name} is today")
        elif op == "datePart":
            continue
        else:
            found.append(f"{name} {op} {_value(operand)}")
    return found


def condition_words(cond: object) -> str:
    """A ``cond`` in words (``age > 30 and city = "Madrid"``), for labels and summaries."""
    if not isinstance(cond, Mapping):
        return "?" if cond is None else str(cond)
    if not cond:
        return "everyone"
    parts: list[str] = []
    for key, value in cond.items():
        if key == "$or" and isinstance(value, list):
            parts.append("(" + " or ".join(condition_words(c) for c in value) + ")")
        elif key == "$not":
            parts.append(f"not ({condition_words(value)})")
        elif key == "$event" and isinstance(value, Mapping):
            text = f"did {value.get('eventName', '?')}"
            if value.get("within"):
                text += f" within {duration_words(value['within'])}"
            parts.append(text)
        elif key == "segmentIds":
            parts.append(f"in segments {_value(value)}")
        else:
            parts.extend(_field_words(str(key), value))
    return " and ".join(parts)


def _get(mapping: object, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _named(names: Mapping[str, Mapping[int, str]], kind: str, ident: object, word: str) -> str:
    if isinstance(ident, int) and ident in names.get(kind, {}):
        return names[kind][ident]
    return f"{word} {ident}" if ident is not None else f"no {word}"


def _weights(params: object) -> list[float]:
    paths = _get(params, "paths")
    if not isinstance(paths, list):
        return []
    weights = []
    for path in paths:
        weight = _get(path, "weight")
        ok = isinstance(weight, int | float) and not isinstance(weight, bool)
        weights.append(float(weight) if ok else 1.0)
    return weights


def _percents(params: object) -> list[str]:
    weights = _weights(params)
    total = sum(w for w in weights if w > 0)
    return [f"{100 * max(w, 0) / total:.3g}%" if total else "?" for w in weights]


def type_words(state_type: object, params: object) -> str:
    """A state's type in words: ``Send push``, ``Wait 2 days``, ``Random 50/50``, ``Filter``."""
    words = _TYPE_WORDS.get(str(state_type), str(state_type))
    if state_type == "FLOW_DELAY":
        time = _get(params, "time")
        return f"Wait {duration_words(time)}" if time else "Wait"
    if state_type == "FLOW_RANDOM":
        percents = [p.removesuffix("%") for p in _percents(params)]
        return f"Random {'/'.join(percents)}" if percents else words
    return words


def detail_words(
    state_type: object, params: object, names: Mapping[str, Mapping[int, str]] = {}
) -> str:
    """A one-line summary of a state's params: the campaign's name, the condition, the event."""
    kind = str(state_type)
    if kind.startswith("ACTION_"):
        return _named(names, "campaigns", _get(params, "action", "campaignId"), "campaign")
    if kind == "IN_ALL":
        return "every customer"
    if kind == "IN_LIST":
        list_id = _get(params, "listId")
        return (
            "put in by API or CSV" if list_id is None else _named(names, "lists", list_id, "list")
        )
    if kind == "IN_SEGMENT":
        ids = _get(params, "cond", "segmentIds")
        ids = ids if isinstance(ids, list) else []
        return ", ".join(_named(names, "segments", i, "segment") for i in ids) or "no segment"
    if kind == "IN_FILTER":
        return condition_words(_get(params, "cond"))
    if kind in ("IN_CUSTOM_EVENT", "FLOW_CUSTOM_EVENT"):
        text = str(_get(params, "eventName") or "no event")
        data = _get(params, "eventData")
        if isinstance(data, Mapping) and data:
            text += " with " + ", ".join(f"{k} = {_value(v)}" for k, v in data.items())
        if _get(params, "cond"):
            text += f" if {condition_words(_get(params, 'cond'))}"
        if kind == "FLOW_CUSTOM_EVENT":
            text += f", up to {duration_words(_get(params, 'timeout', 'time'))}"
        return text
    if kind == "IN_BIRTHDAY":
        offset = _get(params, "offset")
        when = f"{duration_words(offset)} " if offset and offset != "PT0S" else ""
        if when and not when.startswith("-") and "before" not in when:
            when = when.strip() + " after "
        return f"{when}{_get(params, 'field')} at {_get(params, 'at') or '09:00'}"
    if kind == "FLOW_FILTER":
        branches = _get(params, "filter")
        if isinstance(branches, list) and branches:
            first = condition_words(_get(branches[0], "cond"))
            return first if len(branches) == 1 else f"{first} (+{len(branches) - 1})"
        return "no branch"
    if kind == "FLOW_PUSH_CLICK":
        campaign = _named(names, "campaigns", _get(params, "click", "campaignId"), "campaign")
        return f"{campaign}, up to {duration_words(_get(params, 'timeout', 'time'))}"
    if kind == "FLOW_SMS":
        clicks = _get(params, "click")
        urls = [str(_get(c, "url")) for c in clicks] if isinstance(clicks, list) else []
        return f"{', '.join(urls)}, up to {duration_words(_get(params, 'timeout', 'time'))}"
    if kind == "FLOW_DELAY":
        until = _get(params, "until")
        if isinstance(until, Mapping):
            days = until.get("weekdays")
            days = days if isinstance(days, list) else []
            at = f"{until.get('at')}" + (f" {', '.join(map(str, days))}" if days else "")
            return f"until {at}"
        return f"until {until}" if until else "then go on"
    if kind == "FLOW_RANDOM":
        return f"{len(_weights(params))} paths"
    if kind == "FLOW_RETARGETING":
        reminders = _get(params, "reminders")
        count = len(reminders) if isinstance(reminders, list) else 0
        return (
            f"{_get(params, 'goalEvent')} within {duration_words(_get(params, 'wait'))}, "
            f"{_plural(count, 'reminder')}"
        )
    if kind == "FLOW_WEBHOOK":
        url = str(_get(params, "url") or "no URL")
        return f"{_get(params, 'method') or 'POST'} {re.sub(r'^https?://', '', url)}"
    return ""


def branch_labels(state_type: str, params: object, paths: Sequence[str]) -> list[str]:
    """The labels of the edges at ``paths`` of one state (its random weights added up once)."""
    percents = _percents(params) if state_type == "FLOW_RANDOM" else []
    return [_label(state_type, params, path, percents) for path in paths]


def _label(state_type: str, params: object, path: str, percents: list[str]) -> str:
    index = re.search(r"\[(\d+)\]", path)
    i = int(index.group(1)) if index else 0
    if state_type == "FLOW_FILTER":
        branches = _get(params, "filter")
        single = isinstance(branches, list) and len(branches) == 1
        if path.startswith("else"):
            return "no" if single else "else"
        if single or not isinstance(branches, list) or i >= len(branches):
            return "yes"
        return f"if {i + 1}"
    if state_type == "FLOW_RANDOM":
        return percents[i] if i < len(percents) else ""
    if path.startswith("timeout"):
        return "timeout"
    if path.startswith("click"):
        clicks = _get(params, "click")
        many = isinstance(clicks, list) and len(clicks) > 1
        return f"link {i + 1}" if many else "clicked"
    if state_type == "FLOW_CUSTOM_EVENT" and path == "forward":
        return "happened"
    head = path.split(".")[0].split("[")[0]
    return "" if head == "forward" else head


def forwards(state_type: object, params: object) -> list[tuple[str, object]]:
    """The links of a state's raw params with their paths (``timeout.forward``), in order.

    Only where the type keeps its links (``wayfare.model.states.raw_links``): a ``forward``
    key in a webhook's body or a condition is data, not a link.
    """
    return [(link_text(path), target) for path, target in raw_links(state_type, params)]
