"""Journey validation: structure, graph and references, every problem at once with its place.

``validate_journey`` reads a raw document (``wayfare.model.journey``), then checks the graph (one
entry state, no duplicate or dangling ids, every state reachable, no cycle without a wait) and,
given a ``Catalog`` of the application, every campaign, field, list, segment and event it names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time
from typing import Any

from wayfare.errors import JourneyInvalid, Problem
from wayfare.model.besttime import in_window
from wayfare.model.conditions import Condition, referenced_events, referenced_segments
from wayfare.model.events import BUILTIN_EVENTS
from wayfare.model.fields import FIELD_NAME, FieldType
from wayfare.model.journey import Journey, ParsedJourney, parse_journey
from wayfare.model.states import (
    BirthdayEntryParams,
    Channel,
    DelayParams,
    EventEntryParams,
    EventWaitParams,
    FilterEntryParams,
    FilterParams,
    ListEntryParams,
    PushClickParams,
    RandomParams,
    RetargetingParams,
    SegmentEntryParams,
    SendParams,
    State,
    StateType,
    WebhookParams,
)


@dataclass(frozen=True)
class Catalog:
    """What an application has, for checking a journey's references."""

    campaigns: Mapping[int, str] = field(default_factory=dict)
    """Campaign id → its channel name (``push``, ``email``, …)."""
    fields: Mapping[str, FieldType] = field(default_factory=dict)
    """Customer field name → its type."""
    lists: frozenset[int] = frozenset()
    segments: frozenset[int] = frozenset()
    events: frozenset[str] = frozenset()
    """Codes of the application's event types (``BUILTIN_EVENTS`` are always known too)."""

    def knows_event(self, code: str) -> bool:
        """True when ``code`` is one of the application's event types or a built-in event."""
        return code in self.events or code in BUILTIN_EVENTS


@dataclass(frozen=True)
class ValidationReport:
    """Every problem of a journey, and the journey itself when there are none."""

    problems: list[Problem]
    journey: Journey | None

    @property
    def valid(self) -> bool:
        """True when there is no problem."""
        return not self.problems

    def checked(self) -> Journey:
        """The journey; ``JourneyInvalid`` carrying every problem when it is not valid."""
        if self.journey is None or self.problems:
            raise JourneyInvalid(problems=self.problems)
        return self.journey

    def to_json(self) -> dict[str, Any]:
        """``{"valid": bool, "problems": [{"where", "message", "code"}]}``."""
        return {
            "valid": self.valid,
            "problems": [
                {"where": p.where, "message": p.message, "code": p.code} for p in self.problems
            ],
        }


def validate_journey(raw: Mapping[str, object], catalog: Catalog | None = None) -> ValidationReport:
    """Check a raw journey document; with ``catalog``, its references too. Every problem at once."""
    if not isinstance(raw, Mapping):
        problem = Problem("", "a journey must be an object with name, states and settings")
        return ValidationReport([problem], None)
    parsed = parse_journey(raw, dict(catalog.fields) if catalog is not None else None)
    problems = list(parsed.problems)
    problems.extend(_graph_problems(parsed, raw.get("states")))
    problems.extend(_name_problems(parsed))
    problems.extend(_send_window_problems(parsed))
    if catalog is not None:
        problems.extend(_catalog_problems(parsed, catalog))
    unique = list(dict.fromkeys(problems))
    return ValidationReport(unique, None if unique else parsed.journey())


# --- the graph --------------------------------------------------------------------------------


def _raw_types(raw_states: object) -> dict[int, StateType | None]:
    """The type of every state with a usable id (None when its type is unknown)."""
    types: dict[int, StateType | None] = {}
    if not isinstance(raw_states, list):
        return types
    for raw in raw_states:
        if not isinstance(raw, Mapping):
            continue
        state_id = raw.get("id")
        if isinstance(state_id, bool) or not isinstance(state_id, int) or state_id in types:
            continue
        try:
            types[state_id] = StateType(str(raw.get("type")))
        except ValueError:
            types[state_id] = None
    return types


def _graph_problems(parsed: ParsedJourney, raw_states: object) -> list[Problem]:
    problems: list[Problem] = []
    counts: dict[int, int] = {}
    for state_id in parsed.state_ids:
        counts[state_id] = counts.get(state_id, 0) + 1
    for state_id, count in counts.items():
        if count > 1:
            problems.append(
                Problem(
                    f"state {state_id}", f"{count} states have the id {state_id}", "duplicate_id"
                )
            )

    types = _raw_types(raw_states)
    states: dict[int, State] = {}
    for state in parsed.states:
        states.setdefault(state.id, state)
    edges: dict[int, tuple[int, ...]] = {sid: s.next_ids() for sid, s in states.items()}
    for state_id, targets in parsed.raw_edges.items():
        edges.setdefault(state_id, targets)

    for state in states.values():
        for path, target in state.edges():
            if target is not None and target not in types:
                problems.append(
                    Problem(
                        f"state {state.id}: params.{path}",
                        f"state {target} does not exist",
                        "dangling_forward",
                    )
                )

    entries = [sid for sid, state_type in types.items() if state_type and state_type.is_entry]
    if parsed.state_ids and not entries:
        problems.append(
            Problem("states", "no entry state: a journey starts with one IN_* state", "no_entry")
        )
    for extra in entries[1:]:
        problems.append(
            Problem(
                f"state {extra}: type",
                f"a second entry state: a journey has exactly one (state {entries[0]})",
                "extra_entry",
            )
        )
    for state in states.values():
        for path, target in state.edges():
            if target in entries:
                problems.append(
                    Problem(
                        f"state {state.id}: params.{path}",
                        f"state {target} is an entry state: no state can lead into it",
                        "forward_to_entry",
                    )
                )

    if entries:
        reached = _reachable(entries[:1], edges)
        for state_id in types:
            if state_id not in reached and state_id not in entries:
                problems.append(
                    Problem(
                        f"state {state_id}",
                        f"unreachable: no path leads here from the entry state {entries[0]}",
                        "unreachable",
                    )
                )

    instant = {
        sid
        for sid, state_type in types.items()
        if state_type is not None and (not state_type.is_wait or _no_wait(states.get(sid)))
    }
    for cycle in _cycles(instant, edges):
        shown = " → ".join(str(sid) for sid in (*cycle, cycle[0]))
        problems.append(
            Problem(
                f"state {cycle[0]}",
                f"a cycle with no wait in it ({shown}): put a FLOW_DELAY or another waiting "
                "state on it",
                "cycle_without_wait",
            )
        )
    return problems


def _reachable(starts: Iterable[int], edges: Mapping[int, tuple[int, ...]]) -> set[int]:
    reached = set(starts)
    todo = list(reached)
    while todo:
        for target in edges.get(todo.pop(), ()):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    return reached


def _cycles(nodes: set[int], edges: Mapping[int, tuple[int, ...]]) -> list[tuple[int, ...]]:
    """One cycle through each strongly connected part of the graph restricted to ``nodes``.

    Each cycle starts at its smallest id; iterative Tarjan, so deep graphs do not recurse.
    """
    inner = {n: tuple(t for t in edges.get(n, ()) if t in nodes) for n in nodes}
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    components: list[list[int]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[int, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = inner[node]
            if position < len(targets):
                work.append((node, position + 1))
                target = targets[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    cycles = []
    for component in components:
        members = set(component)
        if len(component) == 1 and component[0] not in inner[component[0]]:
            continue
        cycles.append(_cycle_path(min(members), members, inner))
    return sorted(cycles)


def _cycle_path(
    start: int, members: set[int], inner: Mapping[int, tuple[int, ...]]
) -> tuple[int, ...]:
    """A path from ``start`` back to itself inside one strongly connected part (breadth first)."""
    previous: dict[int, int] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in inner[node]:
                if target not in members:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return tuple(reversed(path))
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return (start,)


# --- names that must be well formed even without a catalog -----------------------------------


def _name_problems(parsed: ParsedJourney) -> list[Problem]:
    problems = []
    for state in parsed.states:
        params = state.params
        if isinstance(params, BirthdayEntryParams) and not FIELD_NAME.fullmatch(params.field):
            problems.append(
                Problem(f"state {state.id}: params.field", f"{params.field!r} is not a field name")
            )
        if isinstance(params, WebhookParams):
            for name in params.save_as:
                if not FIELD_NAME.fullmatch(name):
                    problems.append(
                        Problem(
                            f"state {state.id}: params.saveAs.{name}",
                            f"{name!r} is not a field name",
                        )
                    )
    return problems


def _send_window_problems(parsed: ParsedJourney) -> list[Problem]:
    """A best-time window that the quiet hours cover whole leaves no time to send in."""
    quiet = parsed.settings.quiet_hours if parsed.settings is not None else None
    if quiet is None:
        return []
    problems = []
    for state in parsed.states:
        best = state.params.best_time if isinstance(state.params, SendParams) else None
        if best is None:
            continue
        minutes = (time(m // 60, m % 60) for m in range(24 * 60))
        if not any(
            in_window(t, best.window_start, best.window_end) and not quiet.contains(t)
            for t in minutes
        ):
            problems.append(
                Problem(
                    f"state {state.id}: params.sendWindow",
                    "lies inside the journey's quietHours: no time is left to send in",
                    "invalid",
                )
            )
    return problems


# --- references, with a catalog ---------------------------------------------------------------


def _catalog_problems(parsed: ParsedJourney, catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []

    def campaign(where: str, campaign_id: int, channel: str, what: str) -> None:
        found = catalog.campaigns.get(campaign_id)
        if found is None:
            problems.append(
                Problem(where, f"campaign {campaign_id} does not exist", "unknown_campaign")
            )
        elif found != channel:
            problems.append(
                Problem(
                    where,
                    f"campaign {campaign_id} is for {found}, not {channel} ({what})",
                    "channel_mismatch",
                )
            )

    def event(where: str, code: str) -> None:
        if not catalog.knows_event(code):
            problems.append(Problem(where, f"event type {code!r} does not exist", "unknown_event"))

    def cond(where: str, condition: Condition | None) -> None:
        if condition is None:
            return
        for code in sorted(referenced_events(condition)):
            event(where, code)
        for segment_id in sorted(referenced_segments(condition)):
            if segment_id not in catalog.segments:
                problems.append(
                    Problem(where, f"segment {segment_id} does not exist", "unknown_segment")
                )

    for state in parsed.states:
        at = f"state {state.id}: params"
        params = state.params
        channel = state.type.channel
        if isinstance(params, SendParams) and channel is not None:
            campaign(f"{at}.action.campaignId", params.campaign_id, channel, state.type)
        elif isinstance(params, PushClickParams):
            campaign(f"{at}.click.campaignId", params.campaign_id, Channel.PUSH, state.type)
        elif isinstance(params, RetargetingParams):
            event(f"{at}.goalEvent", params.goal_event)
            for i, reminder in enumerate(params.reminders):
                campaign(
                    f"{at}.reminders[{i}].campaignId",
                    reminder.campaign_id,
                    reminder.channel,
                    f"the channel of reminder {i}",
                )
        elif isinstance(params, ListEntryParams):
            if params.list_id is not None and params.list_id not in catalog.lists:
                problems.append(
                    Problem(
                        f"{at}.listId",
                        f"contact list {params.list_id} does not exist",
                        "unknown_list",
                    )
                )
        elif isinstance(params, SegmentEntryParams):
            for i, segment_id in enumerate(params.segment_ids):
                if segment_id not in catalog.segments:
                    problems.append(
                        Problem(
                            f"{at}.cond.segmentIds[{i}]",
                            f"segment {segment_id} does not exist",
                            "unknown_segment",
                        )
                    )
        elif isinstance(params, FilterEntryParams):
            cond(f"{at}.cond", params.cond)
        elif isinstance(params, EventEntryParams | EventWaitParams):
            event(f"{at}.eventName", params.event_name)
            cond(f"{at}.cond", params.cond)
        elif isinstance(params, FilterParams):
            for i, branch in enumerate(params.branches):
                cond(f"{at}.filter[{i}].cond", branch.cond)
        elif isinstance(params, RandomParams) and params.experiment is not None:
            event(f"{at}.experiment.goal.eventName", params.experiment.goal_event)
        elif isinstance(params, BirthdayEntryParams):
            field_type = catalog.fields.get(params.field)
            if field_type is None:
                problems.append(
                    Problem(f"{at}.field", f"unknown field {params.field!r}", "unknown_field")
                )
            elif field_type not in (FieldType.DATE, FieldType.DATETIME):
                problems.append(
                    Problem(
                        f"{at}.field",
                        f"field {params.field!r} is a {field_type} field; a birthday needs a "
                        "date or datetime field",
                        "wrong_field_type",
                    )
                )
        elif isinstance(params, WebhookParams):
            for name in params.save_as:
                if FIELD_NAME.fullmatch(name) and name not in catalog.fields:
                    problems.append(
                        Problem(f"{at}.saveAs.{name}", f"unknown field {name!r}", "unknown_field")
                    )

    settings = parsed.settings
    if settings is not None:
        for i, code in enumerate(settings.exit_on):
            event(f"settings.exitOn[{i}]", code)
        if settings.goal is not None:
            event("settings.goal.eventName", settings.goal.event_name)
    return problems


def _no_wait(state: State | None) -> bool:
    """True for a ``FLOW_DELAY`` that does not wait at all (``PT0S`` or no time, no ``until``)."""
    if state is None or not isinstance(state.params, DelayParams):
        return False
    time = state.params.time
    return state.params.until is None and (time is None or time.is_zero)
