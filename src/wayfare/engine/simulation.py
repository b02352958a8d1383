"""The simulator: a journey run on a virtual clock over given customers and events, in memory.

It makes no decision of its own: every state's behaviour is ``advance.run`` and the handlers the
live engine uses; this module only keeps the clock, the enrollments, the event histories and the
record of what happened. See docs/simulation.md for the exact rules.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from wayfare.engine import calendar
from wayfare.engine.advance import enter, run
from wayfare.engine.decisions import Event, Facts, Outcome, Status, WebhookResponse
from wayfare.engine.facts import facts_for
from wayfare.errors import InvalidInput, JourneyInvalid, Problem
from wayfare.model.besttime import ENGAGEMENT, hour_of_week
from wayfare.model.conditions import Condition, evaluate, referenced_segments
from wayfare.model.customers import Customer
from wayfare.model.durations import Duration
from wayfare.model.experiments import Sample
from wayfare.model.fields import FieldType, infer_type
from wayfare.model.journey import HOLDOUT, Journey, parse_journey
from wayfare.model.states import (
    BirthdayEntryParams,
    EventEntryParams,
    EventWaitParams,
    FilterEntryParams,
    FilterParams,
    Params,
    RetargetingParams,
    SegmentEntryParams,
    StateType,
)
from wayfare.model.validation import validate_journey

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
"""The start of the virtual clock when neither ``start`` nor any event gives one."""

DEFAULT_LENGTH = Duration(days=30)
"""How long a simulation runs when no ``until`` is given: ``P30D`` from the start."""

DEFAULT_WEBHOOK = WebhookResponse(200, {})
"""The simulator's answer to every ``FLOW_WEBHOOK`` call unless told otherwise."""

_EPSILON = timedelta(microseconds=1)

# What the queue holds, in this order at equal times: events first, then enrollment timers,
# then birthday entries, then the re-entry check, then the answers of the webhook calls made at
# that instant (live, a call is made after the transaction that decided it, re-check included),
# then the experiments' check (at each whole hour while one is undecided).
_EVENT, _TIMER, _BIRTHDAY, _RECHECK, _ANSWER, _EXPERIMENTS = range(6)

EXPERIMENT_CHECK = timedelta(hours=1)
"""How often the simulator lets experiments decide (the worker: every minute)."""


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One event of the input stream; ``line`` is where it came from (for messages)."""

    customer_id: str
    code: str
    at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """A message the journey produced: ``at`` is when it goes out (after quiet hours).

    ``key`` is the engine's outbox idempotency key (the same decision live gives the same key);
    it is not part of the JSON output.
    """

    customer_id: str
    state_id: int
    channel: str
    campaign_id: int
    at: datetime
    skipped: str | None = None
    key: str = ""

    def to_json(self) -> dict[str, Any]:
        """``{customerId, stateId, channel, campaignId, at, skipped?}``."""
        out: dict[str, Any] = {
            "customerId": self.customer_id,
            "stateId": self.state_id,
            "channel": self.channel,
            "campaignId": self.campaign_id,
            "at": iso(self.at),
        }
        if self.skipped is not None:
            out["skipped"] = self.skipped
        return out


@dataclass
class StateStats:
    """What happened in one state (see docs/simulation.md for each count)."""

    entered: int = 0
    completed: int = 0
    waiting: int = 0
    exited: int = 0
    failed: int = 0
    branches: Counter[str] = field(default_factory=Counter)
    sent: int | None = None
    skipped: Counter[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The counts; ``sent`` and ``skipped`` only for states that send messages."""
        out: dict[str, Any] = {
            "entered": self.entered,
            "completed": self.completed,
            "waiting": self.waiting,
            "exited": self.exited,
            "failed": self.failed,
            "branches": dict(sorted(self.branches.items())),
        }
        if self.sent is not None and self.skipped is not None:
            out["sent"] = self.sent
            out["skipped"] = dict(sorted(self.skipped.items()))
        return out


@dataclass(frozen=True)
class SimulationResult:
    """Everything a simulation produced: messages, each customer's path and per-state stats."""

    start: datetime
    until: datetime
    messages: tuple[Message, ...]
    paths: Mapping[str, tuple[tuple[int, datetime], ...]]
    stats: Mapping[int, StateStats]
    failures: tuple[str, ...] = ()
    experiments: Mapping[int, ExperimentResult] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON of DESIGN.md §3: ``{"messages", "paths", "stats"}`` (keys as strings).

        With ``"experiments"`` too when the journey runs any (by ``FLOW_RANDOM`` state id).
        """
        out: dict[str, Any] = {
            "messages": [message.to_json() for message in self.messages],
            "paths": {
                customer_id: [{"stateId": state_id, "at": iso(at)} for state_id, at in path]
                for customer_id, path in sorted(self.paths.items())
            },
            "stats": {str(state_id): s.to_json() for state_id, s in sorted(self.stats.items())},
        }
        if self.experiments:
            out["experiments"] = {
                str(state_id): e.to_json() for state_id, e in sorted(self.experiments.items())
            }
        return out


@dataclass
class ExperimentResult:
    """An experiment in the simulation: customers drawn per path, and its decision if made."""

    drawn: list[int]
    winner: int | None = None
    decided_at: datetime | None = None
    figures: tuple[Sample, ...] = ()
    scores: tuple[float | None, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """``{drawn, decision: {winner, at, paths: [{customers, conversions, score}]} | null}``."""
        decision = None
        if self.decided_at is not None:
            decision = {
                "winner": self.winner,
                "at": iso(self.decided_at),
                "paths": [
                    {"customers": f.customers, "conversions": f.conversions, "score": score}
                    for f, score in zip(self.figures, self.scores, strict=True)
                ],
            }
        return {"drawn": self.drawn, "decision": decision}


def iso(moment: datetime) -> str:
    """An instant as ISO 8601 in UTC with ``Z`` (microseconds only when there are some)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def value_type(value: object) -> FieldType:
    """The field type of a canonical value (``FieldType.STRING`` for anything unknown)."""
    if isinstance(value, bool):
        return FieldType.BOOLEAN
    if isinstance(value, int | float):
        return FieldType.NUMBER
    if isinstance(value, str) and len(value) in (10, 20):
        inferred = infer_type(value)
        if inferred in (FieldType.DATE, FieldType.DATETIME):
            return inferred
    return FieldType.STRING


def checked_journey(
    document: Mapping[str, object], field_types: Mapping[str, FieldType], *, source: str
) -> Journey:
    """The journey of a raw document, validated alone, its conditions against ``field_types``.

    ``JourneyInvalid`` names ``source`` and carries every problem.
    """
    report = validate_journey(document)
    problems = list(report.problems)
    if not problems:
        parsed = parse_journey(document, field_types)
        problems = list(parsed.problems)
        journey = parsed.journey()
        if journey is not None and not problems:
            return journey
    located = [
        Problem(f"{source}: {p.where}" if p.where else source, p.message, p.code) for p in problems
    ]
    raise JourneyInvalid(problems=located)


def simulate(
    journey: Journey | Mapping[str, object],
    customers: Iterable[Customer],
    events: Iterable[SimEvent] = (),
    *,
    start: datetime | None = None,
    until: datetime | None = None,
    journey_id: int = 0,
    field_types: Mapping[str, FieldType] | None = None,
    segments: Mapping[int, Condition] | None = None,
    webhook: WebhookResponse = DEFAULT_WEBHOOK,
) -> SimulationResult:
    """Run ``journey`` over ``customers`` and ``events`` from ``start`` to ``until``.

    ``start`` defaults to the earliest event (else ``DEFAULT_START``), ``until`` to ``start``
    plus ``P30D``. ``journey_id`` goes into the stable random draw (the CLI's ``--seed``).
    ``field_types`` are the customers' field definitions (conditions see those fields only; by
    default every field a customer has). ``segments`` resolve ``IN_SEGMENT`` and ``segmentIds``.
    """
    customer_list = list(customers)
    if field_types is None:
        field_types = {}
        for customer in customer_list:
            for name, value in customer.fields.items():
                field_types.setdefault(name, value_type(value))
    if not isinstance(journey, Journey):
        journey = checked_journey(journey, field_types, source="journey")
    given = [
        e if e.at.tzinfo is not None else replace(e, at=e.at.replace(tzinfo=UTC)) for e in events
    ]
    ordered = sorted(enumerate(given), key=lambda pair: (pair[1].at, pair[0]))
    start, until = _aware(start), _aware(until)
    if start is None:
        start = ordered[0][1].at if ordered else DEFAULT_START
    if until is None:
        until = DEFAULT_LENGTH.add(start)
    if until < start:
        raise InvalidInput(f"the simulation ends ({iso(until)}) before it starts ({iso(start)})")
    simulator = _Simulator(
        journey, journey_id, customer_list, field_types, segments or {}, webhook, start, until
    )
    simulator.play([event for _, event in ordered])
    return simulator.finish()


# --- the simulator ------------------------------------------------------------------------------


class _Simulator:
    """The virtual clock and everything it moves; one instance per ``simulate`` call."""

    def __init__(
        self,
        journey: Journey,
        journey_id: int,
        customers: Sequence[Customer],
        field_types: Mapping[str, FieldType],
        segments: Mapping[int, Condition],
        webhook: WebhookResponse,
        start: datetime,
        until: datetime,
    ) -> None:
        self.journey = journey
        self.journey_id = journey_id
        self.settings = journey.settings
        self.field_names = tuple(field_types)
        self.segments = segments
        self.webhook = webhook
        self.start, self.until = start, until
        self.customers: dict[str, Customer] = {}
        self.listed: list[str] = []
        for customer in customers:
            if customer.customer_id not in self.customers:
                self.listed.append(customer.customer_id)
            self.customers[customer.customer_id] = customer
        self.listed_set = frozenset(self.listed)
        """The customers given (``IN_LIST``'s list); later ones come from events."""
        self.history: dict[str, list[tuple[str, datetime]]] = {}
        self.sent_at: dict[str, list[datetime]] = {}
        self.active: dict[str, Outcome] = {}
        """Each customer's enrollment still in the journey (waiting), as its last outcome."""
        self.entries: Counter[str] = Counter()
        self.queue: list[tuple[datetime, int, int, Any]] = []
        self.sequence = 0
        self.messages: list[Message] = []
        self.paths: dict[str, list[tuple[int, datetime]]] = {}
        self.failures: list[str] = []
        self.stats = {state.id: StateStats() for state in journey.states}
        for state in journey.states:
            if state.type.is_message or isinstance(state.params, RetargetingParams):
                self.stats[state.id].sent = 0
                self.stats[state.id].skipped = Counter()
        self.entry = journey.entry
        for state in journey.states:
            missing = sorted(_segments_named(state.params) - set(segments))
            if missing:
                ids = ", ".join(str(i) for i in missing)
                raise InvalidInput(
                    f"state {state.id} ({state.type.value}) needs segment(s) {ids}: give them "
                    'with --segments FILE, a JSON object {"<segmentId>": <cond>, ..}'
                )
        self.max_entries = self.settings.max_entries if self.settings.reentry else 1
        """Entries allowed per customer: ``maxEntries`` with re-entry (None: no limit), else 1."""
        self.experiments = {
            state.id: ExperimentResult([0] * len(params.paths))
            for state, params, _ in journey.experiments()
        }
        self.draws: dict[int, list[tuple[int, str, datetime]]] = {
            state_id: [] for state_id in self.experiments
        }
        """Per experiment: (path, customer, when) of each draw."""
        self.winners: dict[int, int] = {}
        self.held_out: set[str] = set()
        """Customers held out of the journey (``holdout``): they do not enter again."""
        self.population: Counter[int] = Counter()
        """The opens and clicks of every customer so far, per local hour of the week."""

    # -- the queue ---------------------------------------------------------------------------

    def push(self, at: datetime, kind: int, payload: Any) -> None:
        """Schedule ``payload`` of ``kind`` at ``at`` (ignored past the end)."""
        if at <= self.until:
            self.sequence += 1
            heapq.heappush(self.queue, (at, kind, self.sequence, payload))

    def play(self, events: Sequence[SimEvent]) -> None:
        """Queue the events, the first entry check and the birthdays, then run the clock."""
        for event in events:
            if event.at < self.start:
                self.remember(event)
            else:
                self.push(event.at, _EVENT, event)
        entry = self.entry
        if isinstance(entry.params, BirthdayEntryParams):
            for customer_id in self.listed:
                self.schedule_birthday(customer_id, self.start + _EPSILON)
        elif not isinstance(entry.params, EventEntryParams):
            self.push(self.start, _RECHECK, None)
        if self.experiments:
            whole = self.start.replace(minute=0, second=0, microsecond=0) + EXPERIMENT_CHECK
            self.push(whole, _EXPERIMENTS, None)
        while self.queue:
            at, kind, _, payload = heapq.heappop(self.queue)
            if kind == _EVENT:
                self.on_event(payload)
            elif kind == _TIMER:
                self.on_timer(at, *payload)
            elif kind == _BIRTHDAY:
                if self.may_enter(payload):
                    self.enroll(payload, at)
                self.schedule_birthday(payload, at + _EPSILON)
            elif kind == _RECHECK:
                self.recheck(at)
            elif kind == _ANSWER:
                self.on_answer(at, *payload)
            else:
                self.decide_experiments(at)

    # -- entries -----------------------------------------------------------------------------

    def may_enter(self, customer_id: str) -> bool:
        """Not in the journey now nor held out of it, and under the entry limit."""
        if customer_id in self.active or customer_id in self.held_out:
            return False
        return self.max_entries is None or self.entries[customer_id] < self.max_entries

    def recheck(self, at: datetime) -> None:
        """Enter every customer the entry state admits now; again after ``recheckEvery``."""
        entry = self.entry
        for customer_id in list(self.customers):
            if entry.type is StateType.IN_LIST and customer_id not in self.listed_set:
                continue
            if self.may_enter(customer_id) and self.admits(customer_id, at):
                self.enroll(customer_id, at)
        if self.settings.reentry:
            self.push(self.settings.recheck_every.add(at), _RECHECK, None)

    def admits(self, customer_id: str, at: datetime) -> bool:
        """Whether the entry condition (``IN_FILTER`` / ``IN_SEGMENT``) holds for the customer."""
        params = self.entry.params
        if isinstance(params, FilterEntryParams):
            facts = self.facts(customer_id, at)
            return evaluate(params.cond, facts.customer, at, segments=self.segments)
        if isinstance(params, SegmentEntryParams):
            facts = self.facts(customer_id, at)
            return any(
                evaluate(self.segments[i], facts.customer, at, segments=self.segments)
                for i in params.segment_ids
            )
        return True

    def schedule_birthday(self, customer_id: str, after: datetime) -> None:
        """Queue the customer's next birthday entry at or after ``after``, if it has one."""
        params = self.entry.params
        assert isinstance(params, BirthdayEntryParams)
        customer = self.customers[customer_id]
        value = customer.fields.get(params.field)
        if not isinstance(value, str):
            return
        try:
            birthday = date.fromisoformat(value[:10])
        except ValueError:
            return
        zone = calendar.customer_zone(customer.timezone, self.settings.timezone)
        moment = calendar.next_birthday_entry(birthday, params.offset, params.at, zone, after)
        self.push(moment, _BIRTHDAY, customer_id)

    def enroll(self, customer_id: str, at: datetime, event: SimEvent | None = None) -> None:
        """A new enrollment of the customer, run as far as it goes.

        An event entry carries its event in the context, as the live engine's does.
        """
        self.entries[customer_id] += 1
        entry = self.entry
        context = None
        if event is not None:
            context = {"event": {"code": event.code, "data": dict(event.data)}}
        enrollment = enter(
            self.journey_id,
            self.journey,
            customer_id,
            self.entries[customer_id],
            at,
            context=context,
        )
        self.stats[entry.id].entered += 1
        self.paths.setdefault(customer_id, []).append((entry.id, at))
        facts = self.facts(customer_id, at)
        outcome = run(self.journey_id, self.journey, enrollment, facts, at, arriving=True)
        assert outcome is not None  # an entry state always goes on
        self.apply(outcome, at, facts)

    # -- events and timers -------------------------------------------------------------------

    def on_event(self, event: SimEvent) -> None:
        """Record the event, offer it to the customer's enrollment, then maybe enter."""
        at = event.at
        if event.customer_id not in self.customers:
            self.customers[event.customer_id] = _bare_customer(event.customer_id, at)
        self.remember(event)
        active = self.active.get(event.customer_id)
        if active is not None and event.code in active.wait_events:
            facts = self.facts(event.customer_id, at)
            facts = replace(facts, event=Event(event.code, event.data, at))
            enrollment = active.enrollment
            outcome = run(self.journey_id, self.journey, enrollment, facts, at, arriving=False)
            if outcome is not None:
                self.apply(outcome, at, facts)
        params = self.entry.params
        if (
            isinstance(params, EventEntryParams)
            and params.takes(event.code, event.data)
            and self.may_enter(event.customer_id)
        ):
            if params.cond is not None:
                facts = self.facts(event.customer_id, at)
                if not evaluate(params.cond, facts.customer, at, segments=self.segments):
                    return
            self.enroll(event.customer_id, at, event)

    def remember(self, event: SimEvent) -> None:
        """The event joins its customer's history (and, an open or click, the population's)."""
        self.history.setdefault(event.customer_id, []).append((event.code, event.at))
        if event.code in ENGAGEMENT:
            customer = self.customers.get(event.customer_id)
            zone = calendar.customer_zone(customer.timezone if customer else None, None)
            self.population[hour_of_week(event.at, zone)] += 1

    def on_timer(self, at: datetime, customer_id: str, step: int) -> None:
        """Wake the customer's enrollment if it still waits on this timer."""
        active = self.active.get(customer_id)
        if active is None or active.enrollment.step != step:
            return  # moved on since (an event won)
        facts = self.facts(customer_id, at)
        outcome = run(self.journey_id, self.journey, active.enrollment, facts, at, arriving=False)
        if outcome is not None:
            self.apply(outcome, at, facts)

    # -- experiments -------------------------------------------------------------------------

    def decide_experiments(self, at: datetime) -> None:
        """Let each undecided experiment decide on its closed windows, as the worker does."""
        for state, params, experiment in self.journey.experiments():
            result = self.experiments[state.id]
            if result.decided_at is not None:
                continue
            closed = experiment.within.subtract(at)
            counts = [0] * len(params.paths)
            hits = [0] * len(params.paths)
            for path, customer_id, drawn_at in self.draws[state.id]:
                if drawn_at > closed:
                    continue
                counts[path] += 1
                end = experiment.within.add(drawn_at)
                hits[path] += any(
                    code == experiment.goal_event and drawn_at <= when <= end
                    for code, when in self.history.get(customer_id, ())
                )
            figures = tuple(Sample(n, x) for n, x in zip(counts, hits, strict=True))
            verdict = params.verdict(figures)
            if verdict is None:
                continue
            result.decided_at, result.figures, result.scores = at, figures, verdict.scores
            if verdict.winner is not None:
                result.winner = self.winners[state.id] = verdict.winner
        if any(r.decided_at is None for r in self.experiments.values()):
            self.push(at + EXPERIMENT_CHECK, _EXPERIMENTS, None)

    # -- applying outcomes -------------------------------------------------------------------

    def facts(self, customer_id: str, at: datetime) -> Facts:
        """What decisions know of the customer at ``at``."""
        customer = self.customers[customer_id]
        cap = self.settings.frequency_cap
        recent = 0
        if cap is not None:
            since = cap.per.subtract(at)
            recent = sum(1 for sent in self.sent_at.get(customer_id, ()) if since < sent <= at)
        return facts_for(
            customer,
            self.settings,
            self.field_names,
            events=self.history.get(customer_id, ()),
            segments=self.segments,
            sent_recently=recent,
            winners=self.winners,
            population=self.population,
        )

    def on_answer(self, at: datetime, customer_id: str, step: int) -> None:
        """Run the customer's enrollment on with its webhook call's answer."""
        active = self.active.get(customer_id)
        if active is None or active.enrollment.step != step:
            return
        # Facts again, as the live engine loads them: what the run before sent and saved counts.
        facts = replace(self.facts(customer_id, at), event=None, response=self.webhook)
        outcome = run(self.journey_id, self.journey, active.enrollment, facts, at, arriving=False)
        assert outcome is not None  # a call's answer always decides
        self.apply(outcome, at, facts)

    def apply(self, outcome: Outcome, at: datetime, facts: Facts) -> None:
        """Record what one run did and keep the enrollment if it waits (or calls)."""
        self.record(outcome)
        customer_id = outcome.enrollment.customer_id
        if outcome.call is not None:  # answered after everything else of this instant, as live
            self.active[customer_id] = outcome
            self.push(at, _ANSWER, (customer_id, outcome.enrollment.step))
            return
        if outcome.status is Status.WAITING:
            self.active[customer_id] = outcome
            if outcome.wake_at is not None:
                self.push(outcome.wake_at, _TIMER, (customer_id, outcome.enrollment.step))
            return
        self.active.pop(customer_id, None)
        if outcome.reason == HOLDOUT:
            self.held_out.add(customer_id)
        state_id = outcome.enrollment.state_id
        if outcome.status is Status.EXITED:
            self.stats[state_id].exited += 1
        elif outcome.status is Status.FAILED:
            if state_id in self.stats:
                self.stats[state_id].failed += 1
            self.failures.append(f"{customer_id}: {outcome.reason}")

    def record(self, outcome: Outcome) -> None:
        """Paths, stats and messages of one run."""
        customer_id = outcome.enrollment.customer_id
        path = self.paths.setdefault(customer_id, [])
        for arrival in outcome.arrivals:
            path.append((arrival.state_id, arrival.at))
            self.stats[arrival.state_id].entered += 1
        for drawn in outcome.draws:
            self.draws[drawn.state_id].append((drawn.path, customer_id, drawn.at))
            self.experiments[drawn.state_id].drawn[drawn.path] += 1
        for departure in outcome.departures:
            if departure.branch == "exit":
                continue  # counted as exited once the run is over
            stats = self.stats[departure.state_id]
            stats.completed += 1
            stats.branches[departure.branch] += 1
        for send in outcome.sends:
            stats = self.stats[send.state_id]
            if send.skipped is None:
                stats.sent = (stats.sent or 0) + 1
                self.sent_at.setdefault(customer_id, []).append(send.at)
            else:
                if stats.skipped is None:
                    stats.skipped = Counter()
                stats.skipped[send.skipped] += 1
            self.messages.append(
                Message(
                    customer_id,
                    send.state_id,
                    send.channel,
                    send.campaign_id,
                    send.not_before,
                    send.skipped,
                    send.key,
                )
            )
        if outcome.saves:
            customer = self.customers[customer_id]
            fields = {**customer.fields, **outcome.saves}
            self.customers[customer_id] = replace(customer, fields=fields)

    def finish(self) -> SimulationResult:
        """The result, with the enrollments still waiting counted where they wait."""
        for active in self.active.values():
            self.stats[active.enrollment.state_id].waiting += 1
        messages = sorted(self.messages, key=lambda m: (m.at, m.customer_id, m.state_id))
        return SimulationResult(
            start=self.start,
            until=self.until,
            messages=tuple(messages),
            paths={customer_id: tuple(path) for customer_id, path in self.paths.items()},
            stats=self.stats,
            failures=tuple(self.failures),
            experiments=self.experiments,
        )


def _segments_named(params: Params) -> frozenset[int]:
    """The segment ids a state's params use (its entry segments and its conditions')."""
    if isinstance(params, SegmentEntryParams):
        return frozenset(params.segment_ids)
    conds: list[Condition | None] = []
    if isinstance(params, FilterEntryParams | EventEntryParams | EventWaitParams):
        conds.append(params.cond)
    elif isinstance(params, FilterParams):
        conds.extend(branch.cond for branch in params.branches)
    return frozenset(i for cond in conds if cond is not None for i in referenced_segments(cond))


def _aware(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC; a naive one is read as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _bare_customer(customer_id: str, at: datetime) -> Customer:
    """A customer known only from an event (as event ingestion creates one)."""
    return Customer(
        customer_id=customer_id,
        email=None,
        phone=None,
        whatsapp=None,
        telegram_chat_id=None,
        push_tokens=(),
        consent={},
        timezone=None,
        language=None,
        fields={},
        created_at=at,
        updated_at=at,
    )
