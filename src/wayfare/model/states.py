"""The state types of a journey and the typed, frozen ``params`` of each: what the engine reads.

A state's outgoing edges are the ``forward`` ids in its params; ``edges()`` lists them with their
field path so that validation can name the exact place of a dangling one. ``raw_links`` finds
the same links in raw params (a draft, a state that does not parse) at the places the state's
type keeps them, never inside data such as a webhook's body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum

from wayfare.model.besttime import BestTime
from wayfare.model.conditions import Condition
from wayfare.model.durations import Duration
from wayfare.model.experiments import Rule, Sample, Verdict, decide

Forward = int | None
"""The id of the next state; ``None`` ends the enrollment."""

Edge = tuple[str, Forward]
"""A ``forward`` of a state with its path inside ``params`` (``timeout.forward``)."""

Cond = Condition
"""A parsed ``cond`` (``wayfare.model.conditions``)."""


class Channel(StrEnum):
    """A channel name, as written in output, statistics, settings and campaigns."""

    PUSH = "push"
    INAPP = "inapp"
    WALLET = "wallet"
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"


MESSAGE_CHANNELS: tuple[Channel, ...] = tuple(c for c in Channel if c is not Channel.WEBHOOK)
"""The channels a campaign (and so a message state or a reminder) can use."""


class StateType(StrEnum):
    """The type of a state: entry (``IN_*``), message (``ACTION_*``) or flow (``FLOW_*``)."""

    IN_ALL = "IN_ALL"
    IN_LIST = "IN_LIST"
    IN_SEGMENT = "IN_SEGMENT"
    IN_FILTER = "IN_FILTER"
    IN_CUSTOM_EVENT = "IN_CUSTOM_EVENT"
    IN_BIRTHDAY = "IN_BIRTHDAY"
    ACTION_PUSH_SEND = "ACTION_PUSH_SEND"
    ACTION_INAPP_SEND = "ACTION_INAPP_SEND"
    ACTION_WALLET_SEND = "ACTION_WALLET_SEND"
    ACTION_EMAIL_SEND = "ACTION_EMAIL_SEND"
    ACTION_SMS_SEND = "ACTION_SMS_SEND"
    ACTION_WHATSAPP_SEND = "ACTION_WHATSAPP_SEND"
    ACTION_TELEGRAM_SEND = "ACTION_TELEGRAM_SEND"
    FLOW_FILTER = "FLOW_FILTER"
    FLOW_PUSH_CLICK = "FLOW_PUSH_CLICK"
    FLOW_SMS = "FLOW_SMS"
    FLOW_CUSTOM_EVENT = "FLOW_CUSTOM_EVENT"
    FLOW_RANDOM = "FLOW_RANDOM"
    FLOW_DELAY = "FLOW_DELAY"
    FLOW_RETARGETING = "FLOW_RETARGETING"
    FLOW_WEBHOOK = "FLOW_WEBHOOK"

    @property
    def is_entry(self) -> bool:
        """True for the entry types (``IN_*``)."""
        return self.value.startswith("IN_")

    @property
    def is_message(self) -> bool:
        """True for the message types (``ACTION_*_SEND``)."""
        return self.value.startswith("ACTION_")

    @property
    def is_wait(self) -> bool:
        """True for the types that make an enrollment wait for time or an event."""
        return self in _WAITS

    @property
    def channel(self) -> Channel | None:
        """The channel of a message type (``ACTION_SMS_SEND`` → ``sms``); None for the others."""
        return _CHANNELS.get(self)


_CHANNELS = {
    StateType.ACTION_PUSH_SEND: Channel.PUSH,
    StateType.ACTION_INAPP_SEND: Channel.INAPP,
    StateType.ACTION_WALLET_SEND: Channel.WALLET,
    StateType.ACTION_EMAIL_SEND: Channel.EMAIL,
    StateType.ACTION_SMS_SEND: Channel.SMS,
    StateType.ACTION_WHATSAPP_SEND: Channel.WHATSAPP,
    StateType.ACTION_TELEGRAM_SEND: Channel.TELEGRAM,
}

_WAITS = frozenset(
    {
        StateType.FLOW_DELAY,
        StateType.FLOW_PUSH_CLICK,
        StateType.FLOW_SMS,
        StateType.FLOW_CUSTOM_EVENT,
        StateType.FLOW_RETARGETING,
    }
)


class UrlMatchMode(StrEnum):
    """How a tracked link's URL is compared with a ``FLOW_SMS`` click branch."""

    CONTAINS = "CONTAINS"
    EQUALS = "EQUALS"
    STARTS_WITH = "STARTS_WITH"


# --- params, one class per shape -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ForwardParams:
    """``IN_ALL {forward}``."""

    forward: Forward

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("forward", self.forward),)


@dataclass(frozen=True, slots=True)
class ListEntryParams:
    """``IN_LIST {listId?, forward}``: a saved list, or customers put in through the API / CSV."""

    list_id: int | None
    forward: Forward

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("forward", self.forward),)


@dataclass(frozen=True, slots=True)
class SegmentEntryParams:
    """``IN_SEGMENT {cond: {segmentIds}, forward}``: customers of any of the saved segments."""

    segment_ids: tuple[int, ...]
    forward: Forward

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("forward", self.forward),)


@dataclass(frozen=True, slots=True)
class FilterEntryParams:
    """``IN_FILTER {cond, forward}``: customers whose fields match ``cond``."""

    cond: Cond
    forward: Forward

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("forward", self.forward),)


EventData = Mapping[str, str | int | float | bool]
"""``eventData``: values the event's ``customData`` must hold (``{"place": "Madrid store"}``)."""


def event_data_matches(wanted: EventData, data: Mapping[str, object]) -> bool:
    """Whether ``data`` holds every value of ``wanted``.

    Numbers are equal by value; a wanted string also matches a number of that value (``"3"``
    and ``"3.0"`` match ``3``) and a boolean written ``true`` or ``false``, as the console's
    forms write text. A wanted number or boolean never matches a string.
    """
    return all(_same(expected, data.get(key)) for key, expected in wanted.items())


def _same(expected: object, found: object) -> bool:
    if isinstance(found, bool) or isinstance(expected, bool):
        if isinstance(expected, str) and isinstance(found, bool):
            return expected.strip().lower() == ("true" if found else "false")
        return found is expected
    if isinstance(found, int | float):
        if isinstance(expected, str):
            try:
                return float(expected) == found
            except ValueError:
                return False
        return isinstance(expected, int | float) and expected == found
    return isinstance(found, str) and found == expected


@dataclass(frozen=True, slots=True)
class EventEntryParams:
    """``IN_CUSTOM_EVENT {eventName, eventData?, cond?, forward}``: enter when the event happens."""

    event_name: str
    cond: Cond | None
    forward: Forward
    data: EventData = field(default_factory=dict)
    """Values the event's ``customData`` must hold (none: any event of the code)."""

    def takes(self, code: str, data: Mapping[str, object]) -> bool:
        """Whether an event of ``code`` with ``customData`` ``data`` is the one this waits for."""
        return code == self.event_name and event_data_matches(self.data, data)

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("forward", self.forward),)


@dataclass(frozen=True, slots=True)
class BirthdayEntryParams:
    """``IN_BIRTHDAY {field, offset, at, forward}``: the yearly anniversary of a date field.

    Moved by ``offset`` (``-P3D`` = three days before), at local time ``at``.
    """

    field: str
    offset: Duration
    at: time
    forward: Forward

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("forward", self.forward),)


@dataclass(frozen=True, slots=True)
class SendParams:
    """``ACTION_*_SEND {action: {campaignId}, sendTime?, forward}``: send one campaign.

    ``best_time``: with ``sendTime: best``, at the customer's best hour (``model.besttime``).
    """

    campaign_id: int
    forward: Forward
    best_time: BestTime | None = None

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("forward", self.forward),)


@dataclass(frozen=True, slots=True)
class FilterBranch:
    """One branch of ``FLOW_FILTER``: taken when ``cond`` matches."""

    cond: Cond
    forward: Forward


@dataclass(frozen=True, slots=True)
class FilterParams:
    """``FLOW_FILTER {filter: [{cond, forward}], else?: {forward}}``: the first match wins.

    With no match, ``else`` (the end when there is no ``else``).
    """

    branches: tuple[FilterBranch, ...]
    otherwise: Forward

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        found = [(f"filter[{i}].forward", b.forward) for i, b in enumerate(self.branches)]
        return (*found, ("else.forward", self.otherwise))


@dataclass(frozen=True, slots=True)
class Timeout:
    """How long a waiting state waits, and where it goes when nothing happened."""

    time: Duration
    forward: Forward


@dataclass(frozen=True, slots=True)
class PushClickParams:
    """``FLOW_PUSH_CLICK {click: {campaignId, forward}, timeout: {time, forward}}``."""

    campaign_id: int
    click_forward: Forward
    timeout: Timeout

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("click.forward", self.click_forward), ("timeout.forward", self.timeout.forward))


@dataclass(frozen=True, slots=True)
class LinkClick:
    """One branch of ``FLOW_SMS``: a click on a tracked link whose URL matches."""

    url: str
    match_mode: UrlMatchMode
    forward: Forward

    def matches(self, clicked: str) -> bool:
        """True when the clicked URL matches this branch."""
        if self.match_mode is UrlMatchMode.EQUALS:
            return clicked == self.url
        if self.match_mode is UrlMatchMode.STARTS_WITH:
            return clicked.startswith(self.url)
        return self.url in clicked


@dataclass(frozen=True, slots=True)
class LinkClickParams:
    """``FLOW_SMS {click: [{url, urlMatchMode, forward}], timeout: {time, forward}}``."""

    clicks: tuple[LinkClick, ...]
    timeout: Timeout

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        found = [(f"click[{i}].forward", c.forward) for i, c in enumerate(self.clicks)]
        return (*found, ("timeout.forward", self.timeout.forward))


@dataclass(frozen=True, slots=True)
class EventWaitParams:
    """``FLOW_CUSTOM_EVENT {eventName, eventData?, cond?, forward, timeout: {time, forward}}``."""

    event_name: str
    cond: Cond | None
    forward: Forward
    timeout: Timeout
    data: EventData = field(default_factory=dict)
    """Values the event's ``customData`` must hold (none: any event of the code)."""

    def takes(self, code: str, data: Mapping[str, object]) -> bool:
        """Whether an event of ``code`` with ``customData`` ``data`` is the one this waits for."""
        return code == self.event_name and event_data_matches(self.data, data)

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("forward", self.forward), ("timeout.forward", self.timeout.forward))


@dataclass(frozen=True, slots=True)
class RandomPath:
    """One path of ``FLOW_RANDOM``; ``weight`` is 1 when omitted."""

    weight: float
    forward: Forward


@dataclass(frozen=True, slots=True)
class Experiment:
    """A ``FLOW_RANDOM`` run as an experiment: which path converts best to ``goal_event``.

    A customer converts when the goal event happens within ``within`` of their draw. Once every
    path has ``min_sample`` customers whose window has closed, ``rule`` decides once at
    ``confidence`` (``wayfare.model.experiments``): a winner, which every later entrant takes,
    or none, and the paths stay drawn.
    """

    goal_event: str
    within: Duration
    min_sample: int
    rule: Rule = Rule.ZTEST
    confidence: float = 0.95


@dataclass(frozen=True, slots=True)
class RandomParams:
    """``FLOW_RANDOM {paths: [{weight?, forward}], experiment?}``: a stable, weighted draw."""

    paths: tuple[RandomPath, ...]
    experiment: Experiment | None = None

    def verdict(self, figures: Sequence[Sample]) -> Verdict | None:
        """The experiment's verdict on each path's figures, in path indices.

        None while a path with a weight is short of its minimum sample (paths of weight 0 take
        no part).
        """
        experiment = self.experiment
        assert experiment is not None
        drawn = [i for i, path in enumerate(self.paths) if path.weight > 0]
        if any(figures[i].customers < experiment.min_sample for i in drawn):
            return None
        found = decide(experiment.rule, experiment.confidence, [figures[i] for i in drawn])
        scores: list[float | None] = [None] * len(self.paths)
        for position, index in enumerate(drawn):
            scores[index] = found.scores[position]
        winner = None if found.winner is None else drawn[found.winner]
        return Verdict(winner, tuple(scores))

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return tuple((f"paths[{i}].forward", p.forward) for i, p in enumerate(self.paths))


@dataclass(frozen=True, slots=True)
class Until:
    """A local time of day (in the customer's time zone), optionally only on some weekdays.

    ``weekdays`` are ISO numbers, Monday = 1 … Sunday = 7; empty means any day.
    """

    at: time
    weekdays: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class DelayParams:
    """``FLOW_DELAY {time?, until?, forward}``: wait ``time``, then (if given) until ``until``."""

    time: Duration | None
    until: Until | None
    forward: Forward

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("forward", self.forward),)


@dataclass(frozen=True, slots=True)
class Reminder:
    """One reminder of ``FLOW_RETARGETING``: a campaign and the channel it goes out on."""

    campaign_id: int
    channel: Channel


@dataclass(frozen=True, slots=True)
class RetargetingParams:
    """``FLOW_RETARGETING {goalEvent, wait, reminders, every?, converted, exhausted}``.

    Unless ``goal_event`` happens within ``wait``, the reminders go out ``every`` apart; the
    enrollment leaves through ``converted`` when the goal happens, through ``exhausted`` a
    ``every`` after the last reminder (``wait`` when ``every`` is omitted).
    """

    goal_event: str
    wait: Duration
    reminders: tuple[Reminder, ...]
    every: Duration | None
    converted: Forward
    exhausted: Forward

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("converted.forward", self.converted), ("exhausted.forward", self.exhausted))


@dataclass(frozen=True, slots=True)
class WebhookParams:
    """``FLOW_WEBHOOK {url, method, headers?, body?, timeout?, success, failure, saveAs?}``.

    ``url``, header values and ``body`` are Liquid templates. ``save_as`` maps a customer field
    to a dotted path in the JSON response (``data.score``).
    """

    url: str
    method: str
    headers: Mapping[str, str]
    body: object
    timeout: Duration | None
    success: Forward
    failure: Forward
    save_as: Mapping[str, str] = field(default_factory=dict)

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids with their paths."""
        return (("success.forward", self.success), ("failure.forward", self.failure))


Params = (
    ForwardParams
    | ListEntryParams
    | SegmentEntryParams
    | FilterEntryParams
    | EventEntryParams
    | BirthdayEntryParams
    | SendParams
    | FilterParams
    | PushClickParams
    | LinkClickParams
    | EventWaitParams
    | RandomParams
    | DelayParams
    | RetargetingParams
    | WebhookParams
)
"""The params of any state; ``State.type`` says which class."""

PARAMS_CLASS: dict[StateType, type[Params]] = {
    StateType.IN_ALL: ForwardParams,
    StateType.IN_LIST: ListEntryParams,
    StateType.IN_SEGMENT: SegmentEntryParams,
    StateType.IN_FILTER: FilterEntryParams,
    StateType.IN_CUSTOM_EVENT: EventEntryParams,
    StateType.IN_BIRTHDAY: BirthdayEntryParams,
    **{state_type: SendParams for state_type in _CHANNELS},
    StateType.FLOW_FILTER: FilterParams,
    StateType.FLOW_PUSH_CLICK: PushClickParams,
    StateType.FLOW_SMS: LinkClickParams,
    StateType.FLOW_CUSTOM_EVENT: EventWaitParams,
    StateType.FLOW_RANDOM: RandomParams,
    StateType.FLOW_DELAY: DelayParams,
    StateType.FLOW_RETARGETING: RetargetingParams,
    StateType.FLOW_WEBHOOK: WebhookParams,
}
"""The params class of each state type."""


@dataclass(frozen=True, slots=True)
class State:
    """A node of the journey graph."""

    id: int
    type: StateType
    params: Params

    def edges(self) -> tuple[Edge, ...]:
        """The ``forward`` ids of this state with their paths inside ``params``."""
        return self.params.edges()

    def next_ids(self) -> tuple[int, ...]:
        """The distinct state ids this state can go on to, in order of appearance."""
        seen: dict[int, None] = {}
        for _, target in self.edges():
            if target is not None:
                seen.setdefault(target, None)
        return tuple(seen)


# --- links of raw params ----------------------------------------------------------------------

LinkStep = str | int
"""One step into raw params: a key of a mapping or the index of a list item."""

LinkPath = tuple[LinkStep, ...]
"""Where a ``forward`` sits in raw params: ``("filter", 1, "forward")``."""

RawLink = tuple[LinkPath, object]
"""A link of raw params: where it is and the target written there (any value, as written)."""

_EACH = "[]"
"""In a link layout: every item of the list found there."""

_FORWARD = ("forward",)
_LINK_LAYOUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    **{t.value: (_FORWARD,) for t in StateType if t.is_entry or t.is_message},
    StateType.FLOW_DELAY: (_FORWARD,),
    StateType.FLOW_FILTER: (("filter", _EACH, "forward"), ("else", "forward")),
    StateType.FLOW_PUSH_CLICK: (("click", "forward"), ("timeout", "forward")),
    StateType.FLOW_SMS: (("click", _EACH, "forward"), ("timeout", "forward")),
    StateType.FLOW_CUSTOM_EVENT: (_FORWARD, ("timeout", "forward")),
    StateType.FLOW_RANDOM: (("paths", _EACH, "forward"),),
    StateType.FLOW_RETARGETING: (("converted", "forward"), ("exhausted", "forward")),
    StateType.FLOW_WEBHOOK: (("success", "forward"), ("failure", "forward")),
}
"""Where each state type keeps its links, in the order ``edges()`` of its params lists them."""

_ANY_LAYOUT = tuple(dict.fromkeys(layout for kind in _LINK_LAYOUTS.values() for layout in kind))
"""Every place a link can be, for a state whose type is unknown (a half-done draft)."""


def _links_along(value: object, layout: tuple[str, ...], path: LinkPath) -> list[RawLink]:
    if not layout:
        return [(path, value)]
    step, rest = layout[0], layout[1:]
    if step == _EACH:
        if not isinstance(value, list):
            return []
        found: list[RawLink] = []
        for index, item in enumerate(value):
            found.extend(_links_along(item, rest, (*path, index)))
        return found
    if not isinstance(value, Mapping) or step not in value:
        return []
    return _links_along(value[step], rest, (*path, step))


def raw_state_id(state: object) -> int | None:
    """The ``id`` of a state as stored (an integer, not a boolean), or None."""
    if isinstance(state, dict):
        ident = state.get("id")
        if isinstance(ident, int) and not isinstance(ident, bool):
            return ident
    return None


def raw_links(state_type: object, params: object) -> list[RawLink]:
    """The links of a state's raw params, in ``edges()`` order: (path of steps, target).

    Only the places where the state's type keeps a link are looked at: a webhook's ``body``, its
    headers or a condition's field named ``forward`` are data, not links. A link is there when
    its ``forward`` key is. Odd shapes (a half-done draft) are skipped, never raised on; a state
    of an unknown type is looked at in every place where any type keeps a link.
    """
    layouts = _LINK_LAYOUTS.get(state_type, _ANY_LAYOUT) if isinstance(state_type, str) else None
    found: list[RawLink] = []
    for layout in layouts or _ANY_LAYOUT:
        found.extend(_links_along(params, layout, ()))
    return found


def link_text(path: LinkPath) -> str:
    """A link's path in words, as ``edges()`` writes it (``filter[1].forward``)."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text
