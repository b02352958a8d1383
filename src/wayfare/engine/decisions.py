"""What the engine decides, as values: the inputs of a decision and its possible outcomes.

A decision is a pure function of an enrollment, the state it is in, the facts about its customer
and the time. It never reads the clock, ``random`` or the network, so the live engine and the
simulator make the same decisions from the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from wayfare.engine.calendar import UTC_ZONE
from wayfare.model.conditions import Condition, CustomerFacts


class Status(StrEnum):
    """Where an enrollment stands after a run of the engine."""

    READY = "ready"
    """To be run as soon as possible (just entered, or an outside call is pending)."""
    WAITING = "waiting"
    """Waits for a time (``wake_at``), an event (``wait_events``), or both."""
    COMPLETED = "completed"
    """Went through a ``forward: null``."""
    EXITED = "exited"
    """Taken out: an ``exitOn`` event, or the journey was deactivated."""
    FAILED = "failed"
    """Could not go on (a loop with no wait, a state that is gone); ``reason`` says why."""


@dataclass(frozen=True, slots=True)
class Event:
    """An event as the engine sees it: its code, its ``customData`` and when it happened."""

    code: str
    data: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class WebhookResponse:
    """The outcome of a ``FLOW_WEBHOOK`` call: ``status`` None when no answer came (timeout)."""

    status: int | None
    body: Any = None

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True, slots=True)
class Enrollment:
    """One customer's pass through one journey, as far as a decision needs it.

    ``step`` counts the transitions applied so far; it makes outbox keys unique and lets the
    first of two racing writers (a timer and an event) win. ``memo`` is the current state's own
    memory (a retargeting's reminders sent so far), reset whenever the enrollment moves on.
    """

    journey_id: int
    customer_id: str
    entry_number: int
    state_id: int
    since: datetime
    """When the enrollment arrived in ``state_id``."""
    step: int = 0
    wake_at: datetime | None = None
    memo: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    test: bool = False


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known of the customer when deciding.

    ``unreachable`` maps a channel to the reason it cannot be used (no address, no consent);
    a channel absent from it is reachable. ``sent_recently`` counts the messages sent to the
    customer within the journey's ``frequencyCap`` window before this run.
    """

    customer: CustomerFacts
    zone: ZoneInfo = UTC_ZONE
    unreachable: Mapping[str, str] = field(default_factory=dict)
    segments: Mapping[int, Condition] = field(default_factory=dict)
    event: Event | None = None
    response: WebhookResponse | None = None
    sent_recently: int = 0
    winners: Mapping[int, int] = field(default_factory=dict)
    """The journey's decided experiments: ``FLOW_RANDOM`` state id → the winning path's index."""
    population: Mapping[int, int] = field(default_factory=dict)
    """The application's opens and clicks per local hour of the week (best-time sending)."""


@dataclass(frozen=True, slots=True)
class Send:
    """A message to hand to the outbox: sent, or recorded as skipped with ``skipped`` saying why.

    ``key`` is the outbox idempotency key: the same decision always gives the same key.
    ``not_before`` is later than the decision's time when quiet hours hold the message back.
    """

    key: str
    state_id: int
    channel: str
    campaign_id: int
    at: datetime
    not_before: datetime
    skipped: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A ``FLOW_WEBHOOK`` call to make before deciding where the enrollment goes."""

    state_id: int
    key: str


# --- what one state decides ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Go:
    """Leave the state through ``branch`` to state ``to`` (None: the enrollment completes)."""

    to: int | None
    branch: str
    sends: tuple[Send, ...] = ()
    saves: Mapping[str, Any] = field(default_factory=dict)
    draw: bool = False
    """The branch was drawn for an experiment (its sample: ``Outcome.draws``)."""
    reason: str | None = None
    """Why the enrollment ends here, when ``to`` is None and it says more than completing."""


@dataclass(frozen=True, slots=True)
class Stay:
    """Wait in the state until ``until`` (None: no timer) or one of ``events`` happens."""

    until: datetime | None
    events: frozenset[str] = frozenset()
    memo: Mapping[str, Any] = field(default_factory=dict)
    sends: tuple[Send, ...] = ()


@dataclass(frozen=True, slots=True)
class Exit:
    """Take the enrollment out of the journey (an ``exitOn`` event)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Call:
    """Make an outside call first, then decide again with its ``WebhookResponse``."""

    request: WebhookRequest


@dataclass(frozen=True, slots=True)
class Ignore:
    """The event does not concern this state: nothing changes."""


Decision = Go | Stay | Exit | Call | Ignore


# --- what a run of the engine produces -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Arrival:
    """The enrollment arrived in ``state_id`` at ``at``."""

    state_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Departure:
    """The enrollment left ``state_id`` through ``branch`` at ``at``."""

    state_id: int
    branch: str
    at: datetime

    @property
    def path(self) -> int:
        """The index of a ``FLOW_RANDOM`` path left through (branch ``paths[i]``)."""
        return int(self.branch.removeprefix("paths[").removesuffix("]"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of running one enrollment as far as it can go now.

    ``enrollment`` is its new position; ``wake_at`` / ``wait_events`` what it waits for when
    ``status`` is waiting; ``arrivals`` and ``departures`` the trail (for paths and statistics);
    ``sends`` the outbox rows to write, ``saves`` customer fields to store, ``call`` an outside
    call to make before running it again; ``draws`` the experiments' samples it joined.
    """

    enrollment: Enrollment
    status: Status
    wake_at: datetime | None = None
    wait_events: frozenset[str] = frozenset()
    arrivals: tuple[Arrival, ...] = ()
    departures: tuple[Departure, ...] = ()
    sends: tuple[Send, ...] = ()
    saves: Mapping[str, Any] = field(default_factory=dict)
    call: WebhookRequest | None = None
    reason: str | None = None
    draws: tuple[Departure, ...] = ()
    """The departures that were an experiment's random draws (``paths[i]``)."""
