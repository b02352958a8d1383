"""The ``params`` of each state type, read at the edge with pydantic and built into dataclasses.

The dataclasses are those of ``wayfare.model.states``; every problem is named by state id and
field path (``state 3: params.timeout.time``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from wayfare.errors import Problem
from wayfare.model.besttime import BestTime
from wayfare.model.conditions import All, Condition, parse_condition
from wayfare.model.customers import is_timezone
from wayfare.model.durations import Duration, parse_duration
from wayfare.model.experiments import Rule
from wayfare.model.fields import FieldType
from wayfare.model.states import (
    BirthdayEntryParams,
    Channel,
    DelayParams,
    EventEntryParams,
    EventWaitParams,
    Experiment,
    FilterBranch,
    FilterEntryParams,
    FilterParams,
    ForwardParams,
    LinkClick,
    LinkClickParams,
    ListEntryParams,
    Params,
    PushClickParams,
    RandomParams,
    RandomPath,
    Reminder,
    RetargetingParams,
    SegmentEntryParams,
    SendParams,
    State,
    StateType,
    Timeout,
    Until,
    UrlMatchMode,
    WebhookParams,
)

# --- field types at the edge ------------------------------------------------------------------


def _error(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code, "{message}", {"message": message})


def _duration(value: Any, *, positive: bool, zero: bool = False) -> Duration:
    if not isinstance(value, str):
        raise _error("bad_duration", f"expected an ISO 8601 duration such as PT10M, got {value!r}")
    try:
        duration = parse_duration(value)
    except ValueError as exc:
        raise _error("bad_duration", str(exc)) from None
    if positive and (duration.negative or (duration.is_zero and not zero)):
        message = "cannot be negative" if zero else "must be longer than zero"
        raise _error("bad_duration", f"{value!r} {message}")
    return duration


def _time_of_day(value: Any) -> time:
    if isinstance(value, str):
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    raise _error("bad_time", f"expected a local time of day HH:MM, got {value!r}")


def _timezone(value: Any) -> str:
    if isinstance(value, str) and is_timezone(value):
        return value
    raise _error("bad_timezone", f"{value!r} is not an IANA time zone such as Europe/Madrid")


AnyDuration = Annotated[Duration, PlainValidator(lambda v: _duration(v, positive=False))]


def _whole_days(value: Any) -> Duration:
    duration = _duration(value, positive=False)
    if duration.seconds:
        raise _error(
            "bad_duration", f"{value!r}: a birthday offset is whole days, weeks, months or years"
        )
    return duration


DayOffset = Annotated[Duration, PlainValidator(_whole_days)]
WaitDuration = Annotated[Duration, PlainValidator(lambda v: _duration(v, positive=True))]
DelayDuration = Annotated[
    Duration, PlainValidator(lambda v: _duration(v, positive=True, zero=True))
]
"""A ``FLOW_DELAY`` time: zero (``PT0S``, go on at once) or more, never negative."""
TimeOfDay = Annotated[time, PlainValidator(_time_of_day)]
Timezone = Annotated[str, PlainValidator(_timezone)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
CondDoc = dict[str, Any]


class Doc(BaseModel):
    """A part of a journey document: strict types, unknown fields dropped."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _Forward(Doc):
    forward: int | None


class _InList(Doc):
    listId: int | None = None
    forward: int | None


class _SegmentCond(Doc):
    segmentIds: Annotated[list[int], Field(min_length=1)]


class _InSegment(Doc):
    cond: _SegmentCond
    forward: int | None


class _InFilter(Doc):
    cond: CondDoc
    forward: int | None


def _event_value(value: Any) -> str | int | float | bool:
    if isinstance(value, str | int | bool) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise _error("wrong_type", f"expected a string, a number or true/false, got {value!r}")


EventDataDoc = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=100)],
        Annotated[str | int | float | bool, PlainValidator(_event_value)],
    ],
    Field(max_length=20),
]
"""``eventData``: at most 20 values an event's ``customData`` must hold."""


class _InEvent(Doc):
    eventName: Name
    eventData: EventDataDoc | None = None
    cond: CondDoc | None = None
    forward: int | None


class _InBirthday(Doc):
    field: Name
    offset: DayOffset = Duration()
    at: TimeOfDay = time(9, 0)
    forward: int | None


class _Action(Doc):
    campaignId: int


class _Window(Doc):
    from_: TimeOfDay = Field(time(8, 0), alias="from")
    to: TimeOfDay = time(21, 0)


def _horizon(value: Any) -> Duration:
    duration = _duration(value, positive=True)
    if duration.years or duration.months or duration.approximate_seconds() > 7 * 86400:
        raise _error("bad_duration", f"{value!r}: a send horizon is at most seven days (P7D)")
    return duration


class _Send(Doc):
    action: _Action
    sendTime: Literal["now", "best"] = "now"
    sendWindow: _Window | None = None
    sendHorizon: Annotated[Duration, PlainValidator(_horizon)] | None = None
    forward: int | None


class _Branch(Doc):
    cond: CondDoc
    forward: int | None


class _FlowFilter(Doc):
    filter: Annotated[list[_Branch], Field(min_length=1)]
    else_: _Forward | None = Field(default=None, alias="else")


class _Timeout(Doc):
    time: WaitDuration
    forward: int | None


class _PushClick(Doc):
    campaignId: int
    forward: int | None


class _FlowPushClick(Doc):
    click: _PushClick
    timeout: _Timeout


class _Link(Doc):
    url: Annotated[str, Field(min_length=1)]
    urlMatchMode: Literal["CONTAINS", "EQUALS", "STARTS_WITH"] = "CONTAINS"
    forward: int | None


class _FlowSms(Doc):
    click: Annotated[list[_Link], Field(min_length=1)]
    timeout: _Timeout


class _FlowEvent(Doc):
    eventName: Name
    eventData: EventDataDoc | None = None
    cond: CondDoc | None = None
    forward: int | None
    timeout: _Timeout


class _Path(Doc):
    weight: Annotated[float, Field(allow_inf_nan=False)] | None = None
    forward: int | None


def _fixed_window(value: Any) -> Duration:
    duration = _duration(value, positive=True)
    if duration.years or duration.months:
        raise _error("bad_duration", f"{value!r}: give the window in weeks, days or hours (P30D)")
    return duration


class _ExperimentGoal(Doc):
    eventName: Name
    within: Annotated[Duration, PlainValidator(_fixed_window)]


class _Experiment(Doc):
    goal: _ExperimentGoal
    minSample: Annotated[int, Field(ge=10, le=10_000_000)]
    rule: Literal["ztest", "bayes"] = "ztest"
    confidence: Annotated[float, Field(gt=0.5, le=0.9999)] = 0.95


class _FlowRandom(Doc):
    paths: Annotated[list[_Path], Field(min_length=1)]
    experiment: _Experiment | None = None


class _FlowDelay(Doc):
    time: DelayDuration | None = None
    until: Any = None
    forward: int | None


class _Reminder(Doc):
    campaignId: int
    channel: Literal["push", "inapp", "wallet", "email", "sms", "whatsapp", "telegram"]


class _FlowRetargeting(Doc):
    goalEvent: Name
    wait: WaitDuration
    reminders: Annotated[list[_Reminder], Field(min_length=1)]
    every: WaitDuration | None = None
    converted: _Forward
    exhausted: _Forward


class _FlowWebhook(Doc):
    url: Annotated[str, Field(pattern=r"^https?://\S")]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, str] = {}
    body: Any = None
    timeout: WaitDuration | None = None
    success: _Forward
    failure: _Forward
    saveAs: dict[str, str] = {}


class _StateHead(Doc):
    id: Annotated[int, Field(ge=1)]
    type: str
    params: dict[str, Any] = {}


# --- from the edge models to the dataclasses --------------------------------------------------


class _Context:
    """Where a state's params are (``state 3``), the field types if known, the problems so far."""

    def __init__(
        self, label: str, field_types: Mapping[str, FieldType] | None, problems: list[Problem]
    ) -> None:
        self.label = label
        self.field_types = field_types
        self.problems = problems

    def add(self, path: str, message: str, code: str) -> None:
        self.problems.append(Problem(f"{self.label}: params.{path}", message, code))

    def cond(self, raw: Mapping[str, Any], path: str) -> Condition:
        """The parsed condition at ``path``; its problems are collected."""
        condition, found = parse_condition(raw, f"{self.label}: params.{path}", self.field_types)
        self.problems.extend(found)
        return condition if condition is not None else All(())


def _timeout(doc: _Timeout) -> Timeout:
    return Timeout(doc.time, doc.forward)


_WEEKDAYS = {
    name: number
    for number, names in enumerate(
        [
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ],
        start=1,
    )
    for name in names
}


def _until(raw: Any, ctx: _Context) -> Until | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"at": raw}
    if not isinstance(raw, dict):
        ctx.add("until", 'expected "HH:MM" or {"at": "HH:MM", "weekdays": [..]}', "wrong_type")
        return None
    try:
        at = _time_of_day(raw.get("at"))
    except PydanticCustomError as exc:
        ctx.add("until.at", exc.message(), "bad_time")
        return None
    weekdays = raw.get("weekdays", [])
    if not isinstance(weekdays, list):
        ctx.add("until.weekdays", "expected a list of weekdays such as MON, TUE", "wrong_type")
        return None
    numbers: set[int] = set()
    for i, day in enumerate(weekdays):
        number = _WEEKDAYS.get(day.lower()) if isinstance(day, str) else None
        if number is None:
            ctx.add(f"until.weekdays[{i}]", f"{day!r} is not a weekday (MON … SUN)", "bad_weekday")
        else:
            numbers.add(number)
    return Until(at, frozenset(numbers))


def _delay(doc: _FlowDelay, ctx: _Context) -> DelayParams:
    until = _until(doc.until, ctx)
    if doc.time is None and doc.until is None:
        ctx.add("time", "give time (a duration), until (a time of day) or both", "missing")
    return DelayParams(doc.time, until, doc.forward)


def _random(doc: _FlowRandom, ctx: _Context) -> RandomParams:
    paths = tuple(RandomPath(1.0 if p.weight is None else p.weight, p.forward) for p in doc.paths)
    for i, path in enumerate(paths):
        if path.weight < 0:
            ctx.add(
                f"paths[{i}].weight", f"a weight cannot be negative ({path.weight:g})", "bad_weight"
            )
    if all(path.weight <= 0 for path in paths):
        ctx.add("paths", "no weight is above zero: no path could ever be taken", "bad_weight")
    found = doc.experiment
    if found is None:
        return RandomParams(paths)
    if sum(1 for path in paths if path.weight > 0) < 2:
        ctx.add("experiment", "an experiment needs two paths or more with a weight", "bad_weight")
    experiment = Experiment(
        found.goal.eventName,
        found.goal.within,
        found.minSample,
        Rule(found.rule),
        found.confidence,
    )
    return RandomParams(paths, experiment)


def _retargeting(doc: _FlowRetargeting, ctx: _Context) -> RetargetingParams:
    if doc.every is None and len(doc.reminders) > 1:
        ctx.add("every", "is required with more than one reminder (time between them)", "missing")
    reminders = tuple(Reminder(r.campaignId, Channel(r.channel)) for r in doc.reminders)
    return RetargetingParams(
        doc.goalEvent, doc.wait, reminders, doc.every, doc.converted.forward, doc.exhausted.forward
    )


def _filter(doc: _FlowFilter, ctx: _Context) -> FilterParams:
    branches = tuple(
        FilterBranch(ctx.cond(b.cond, f"filter[{i}].cond"), b.forward)
        for i, b in enumerate(doc.filter)
    )
    return FilterParams(branches, doc.else_.forward if doc.else_ else None)


_Builder = Callable[[Any, _Context], Params]


def _send(doc: _Send, ctx: _Context) -> SendParams:
    if doc.sendTime == "now":
        for key in ("sendWindow", "sendHorizon"):
            if getattr(doc, key) is not None:
                ctx.add(key, 'applies only with "sendTime": "best"', "invalid")
        return SendParams(doc.action.campaignId, doc.forward)
    best = BestTime()
    if doc.sendWindow is not None:
        if doc.sendWindow.from_ == doc.sendWindow.to:
            ctx.add("sendWindow", "is empty: from and to are the same time", "invalid")
        best = replace(best, window_start=doc.sendWindow.from_, window_end=doc.sendWindow.to)
    if doc.sendHorizon is not None:
        best = replace(best, horizon=doc.sendHorizon)
    return SendParams(doc.action.campaignId, doc.forward, best)


_SEND: tuple[type[Doc], _Builder] = (_Send, _send)

_SHAPES: dict[StateType, tuple[type[Doc], _Builder]] = {
    StateType.IN_ALL: (_Forward, lambda d, c: ForwardParams(d.forward)),
    StateType.IN_LIST: (_InList, lambda d, c: ListEntryParams(d.listId, d.forward)),
    StateType.IN_SEGMENT: (
        _InSegment,
        lambda d, c: SegmentEntryParams(tuple(d.cond.segmentIds), d.forward),
    ),
    StateType.IN_FILTER: (
        _InFilter,
        lambda d, c: FilterEntryParams(c.cond(d.cond, "cond"), d.forward),
    ),
    StateType.IN_CUSTOM_EVENT: (
        _InEvent,
        lambda d, c: EventEntryParams(
            d.eventName,
            None if d.cond is None else c.cond(d.cond, "cond"),
            d.forward,
            dict(d.eventData or {}),
        ),
    ),
    StateType.IN_BIRTHDAY: (
        _InBirthday,
        lambda d, c: BirthdayEntryParams(d.field, d.offset, d.at, d.forward),
    ),
    StateType.ACTION_PUSH_SEND: _SEND,
    StateType.ACTION_INAPP_SEND: _SEND,
    StateType.ACTION_WALLET_SEND: _SEND,
    StateType.ACTION_EMAIL_SEND: _SEND,
    StateType.ACTION_SMS_SEND: _SEND,
    StateType.ACTION_WHATSAPP_SEND: _SEND,
    StateType.ACTION_TELEGRAM_SEND: _SEND,
    StateType.FLOW_FILTER: (_FlowFilter, _filter),
    StateType.FLOW_PUSH_CLICK: (
        _FlowPushClick,
        lambda d, c: PushClickParams(d.click.campaignId, d.click.forward, _timeout(d.timeout)),
    ),
    StateType.FLOW_SMS: (
        _FlowSms,
        lambda d, c: LinkClickParams(
            tuple(LinkClick(k.url, UrlMatchMode(k.urlMatchMode), k.forward) for k in d.click),
            _timeout(d.timeout),
        ),
    ),
    StateType.FLOW_CUSTOM_EVENT: (
        _FlowEvent,
        lambda d, c: EventWaitParams(
            d.eventName,
            None if d.cond is None else c.cond(d.cond, "cond"),
            d.forward,
            _timeout(d.timeout),
            dict(d.eventData or {}),
        ),
    ),
    StateType.FLOW_RANDOM: (_FlowRandom, _random),
    StateType.FLOW_DELAY: (_FlowDelay, _delay),
    StateType.FLOW_RETARGETING: (_FlowRetargeting, _retargeting),
    StateType.FLOW_WEBHOOK: (
        _FlowWebhook,
        lambda d, c: WebhookParams(
            d.url,
            d.method,
            dict(d.headers),
            d.body,
            d.timeout,
            d.success.forward,
            d.failure.forward,
            dict(d.saveAs),
        ),
    ),
}

_MESSAGES = {
    "missing": ("is required", "missing"),
    "int_type": ("expected an integer", "wrong_type"),
    "float_type": ("expected a number", "wrong_type"),
    "string_type": ("expected a string", "wrong_type"),
    "bool_type": ("expected true or false", "wrong_type"),
    "dict_type": ("expected an object", "wrong_type"),
    "model_type": ("expected an object", "wrong_type"),
    "list_type": ("expected a list", "wrong_type"),
}


def pydantic_problems(exc: ValidationError, prefix: str) -> list[Problem]:
    """The ``Problem`` of each error of ``exc``, its path under ``prefix`` (``params``)."""
    problems = []
    for error in exc.errors(include_url=False):
        path = prefix
        for part in error["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            else:
                path += ("." if path else "") + part
        kind = error["type"]
        message, code = _MESSAGES.get(kind, (error["msg"], kind))
        if kind == "missing" and path.endswith("forward"):
            message = "is required (a state id, or null to end the journey here)"
            code = "missing_forward"
        elif kind == "greater_than_equal":
            message, code = f"must be at least {error.get('ctx', {}).get('ge')}", "invalid"
        elif kind == "greater_than":
            message, code = f"must be more than {error.get('ctx', {}).get('gt')}", "invalid"
        elif kind == "less_than_equal":
            message, code = f"must be at most {error.get('ctx', {}).get('le')}", "invalid"
        elif kind == "too_short":
            message, code = "must not be empty", "invalid"
        elif kind == "string_pattern_mismatch":
            message, code = "expected an http:// or https:// URL", "invalid"
        elif kind == "literal_error":
            message, code = "expected " + error["msg"].removeprefix("Input should be "), "invalid"
        problems.append(Problem(path, message, code))
    return problems


def state_label(raw: object, index: int) -> str:
    """How problems name a state: ``state 3`` by its id, ``states[2]`` when it has no usable id."""
    if isinstance(raw, Mapping):
        state_id = raw.get("id")
        if isinstance(state_id, int) and not isinstance(state_id, bool) and state_id >= 0:
            return f"state {state_id}"
    return f"states[{index}]"


def parse_state(
    raw: object, index: int, field_types: Mapping[str, FieldType] | None = None
) -> tuple[State | None, list[Problem]]:
    """The ``State`` of one raw state (the ``index``-th), or None and its problems.

    Unknown fields of ``params`` are dropped (indigitall's rule). With ``field_types`` the
    conditions are checked against them too (unknown fields, operands of the wrong type).
    """
    label = state_label(raw, index)
    if not isinstance(raw, Mapping):
        return None, [Problem(label, "expected an object {id, type, params}", "wrong_type")]
    try:
        head = _StateHead.model_validate(dict(raw))
    except ValidationError as exc:
        return None, [
            Problem(f"{label}: {p.where}", p.message, p.code) for p in pydantic_problems(exc, "")
        ]
    try:
        state_type = StateType(head.type)
    except ValueError:
        return None, [
            Problem(f"{label}: type", f"unknown state type {head.type!r}", "unknown_type")
        ]
    model, build = _SHAPES[state_type]
    try:
        doc = model.model_validate(head.params)
    except ValidationError as exc:
        found = pydantic_problems(exc, "params")
        return None, [Problem(f"{label}: {p.where}", p.message, p.code) for p in found]
    problems: list[Problem] = []
    params = build(doc, _Context(label, field_types, problems))
    if problems:
        return None, problems
    return State(head.id, state_type, params), []
