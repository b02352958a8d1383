"""A journey document (JSON or YAML) read at the edge and turned into frozen dataclasses.

``load_journey_document`` reads the text; ``parse_journey`` checks the structure of every state
(through ``wayfare.model.params``) and the settings, collecting every problem. Graph and catalog
checks are in ``wayfare.model.validation``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, ValidationError

from wayfare.errors import JourneyInvalid, Problem
from wayfare.model.durations import Duration
from wayfare.model.fields import FieldType
from wayfare.model.params import (
    Doc,
    Name,
    TimeOfDay,
    Timezone,
    WaitDuration,
    parse_state,
    pydantic_problems,
    state_label,
)
from wayfare.model.states import Experiment, RandomParams, State, raw_links

HOLDOUT = "holdout"
"""The end reason (and entry branch) of an entrant held out of a journey (``holdout``)."""

DEFAULT_RECHECK_EVERY = Duration(seconds=600)
"""``PT10M``: how often entry conditions are re-checked when re-entry is on."""

# --- settings, inside -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Goal:
    """The conversion counted in statistics: ``eventName`` within ``within`` of entering."""

    event_name: str
    within: Duration | None = None


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours in which nothing is sent (``from`` 22:00 ``to`` 08:00 wraps past midnight)."""

    start: time
    end: time

    def contains(self, local: time) -> bool:
        """True when the local time of day falls inside the quiet hours."""
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``max`` messages per customer per ``per``, across all journeys."""

    max: int
    per: Duration


@dataclass(frozen=True, slots=True)
class Settings:
    """A journey's activation options and extensions (DESIGN.md §2)."""

    reentry: bool = False
    max_entries: int | None = None
    recheck_every: Duration = DEFAULT_RECHECK_EVERY
    exit_on: tuple[str, ...] = ()
    goal: Goal | None = None
    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap | None = None
    timezone: str | None = None
    holdout: float = 0.0
    """The share of entrants held out: they enter and end at once, receiving nothing."""


@dataclass(frozen=True)
class Journey:
    """A journey whose structure is valid: its states, in the document's order, and settings."""

    name: str
    states: tuple[State, ...]
    settings: Settings = Settings()
    _index: Mapping[int, State] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {state.id: state for state in self.states})

    @property
    def entry(self) -> State:
        """The entry state (``IN_*``)."""
        return next(state for state in self.states if state.type.is_entry)

    def state(self, state_id: int) -> State:
        """The state with id ``state_id``; ``KeyError`` if there is none."""
        return self._index[state_id]

    def has_state(self, state_id: int) -> bool:
        """True when a state has this id."""
        return state_id in self._index

    def experiments(self) -> list[tuple[State, RandomParams, Experiment]]:
        """The ``FLOW_RANDOM`` states that run an experiment, with their params."""
        return [
            (state, state.params, state.params.experiment)
            for state in self.states
            if isinstance(state.params, RandomParams) and state.params.experiment is not None
        ]


# --- reading the text -------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """A safe YAML loader with YAML 1.2-style scalars.

    ``22:00`` and ``2027-01-01`` stay text (YAML 1.1 made them a number of minutes and a date);
    ``010`` stays text rather than octal.
    """


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag
        not in (
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
            "tag:yaml.org,2002:timestamp",
        )
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$"
    ),
    list("-+.0123456789"),
)


def load_journey_document(text: str, *, source: str) -> dict[str, Any]:
    """The journey document in ``text``, a JSON or YAML object.

    YAML when ``source`` ends in .yaml / .yml, or has another suffix and the text does not start
    with ``{``. Syntax errors raise ``JourneyInvalid`` naming ``source``, the line and column.
    """
    suffix = Path(source).suffix.lower()
    is_yaml = suffix in (".yaml", ".yml") or (
        suffix != ".json" and not text.lstrip().startswith("{")
    )
    if is_yaml:
        try:
            document = yaml.load(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{source}: line {mark.line + 1}, column {mark.column + 1}" if mark else source
            reason = exc.problem or exc.context or "not valid YAML"
            raise _syntax(where, f"not valid YAML: {reason}") from exc
        except yaml.YAMLError as exc:
            raise _syntax(source, f"not valid YAML: {exc}") from exc
    else:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"{source}: line {exc.lineno}, column {exc.colno}"
            raise _syntax(where, f"not valid JSON: {exc.msg}") from exc
    if not isinstance(document, dict):
        raise _syntax(source, "a journey must be an object with name, states and settings")
    return document


def read_journey_document(path: Path) -> dict[str, Any]:
    """The journey document in the file ``path``; ``JourneyInvalid`` if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise JourneyInvalid(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise JourneyInvalid(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise JourneyInvalid(f"{path}: cannot be read ({exc.strerror})") from exc
    return load_journey_document(text, source=str(path))


def _syntax(where: str, message: str) -> JourneyInvalid:
    problem = Problem(where, message, "syntax")
    return JourneyInvalid(str(problem), [problem])


class _Goal(Doc):
    eventName: Name
    within: WaitDuration | None = None


class _QuietHours(Doc):
    from_: TimeOfDay = Field(alias="from")
    to: TimeOfDay


class _FrequencyCap(Doc):
    max: Annotated[int, Field(ge=1)]
    per: WaitDuration


class _Settings(Doc):
    reentry: bool = False
    maxEntries: Annotated[int, Field(ge=1)] | None = None
    recheckEvery: WaitDuration = DEFAULT_RECHECK_EVERY
    exitOn: list[Name] = []
    goal: _Goal | None = None
    quietHours: _QuietHours | None = None
    frequencyCap: _FrequencyCap | None = None
    timezone: Timezone | None = None
    holdout: Annotated[float, Field(ge=0, le=0.5)] = 0.0


def parse_settings(raw: object) -> tuple[Settings | None, list[Problem]]:
    """The ``Settings`` of a raw ``settings`` object (None or absent = the defaults)."""
    if raw is None:
        return Settings(), []
    try:
        doc = _Settings.model_validate(raw)
    except ValidationError as exc:
        return None, pydantic_problems(exc, "settings")
    return (
        Settings(
            reentry=doc.reentry,
            max_entries=doc.maxEntries,
            recheck_every=doc.recheckEvery,
            exit_on=tuple(doc.exitOn),
            goal=Goal(doc.goal.eventName, doc.goal.within) if doc.goal else None,
            quiet_hours=QuietHours(doc.quietHours.from_, doc.quietHours.to)
            if doc.quietHours
            else None,
            frequency_cap=FrequencyCap(doc.frequencyCap.max, doc.frequencyCap.per)
            if doc.frequencyCap
            else None,
            timezone=doc.timezone,
            holdout=doc.holdout,
        ),
        [],
    )


@dataclass(frozen=True, slots=True)
class ParsedJourney:
    """What ``parse_journey`` could read of a document, problems included.

    ``states`` are the states whose params are valid; ``state_ids`` every usable id in document
    order (duplicates kept); ``raw_edges`` the ``forward`` ids found in the params of the states
    that did not parse, so that graph checks stay meaningful around a broken state.
    """

    name: str | None
    states: tuple[State, ...]
    state_ids: tuple[int, ...]
    raw_edges: Mapping[int, tuple[int, ...]]
    settings: Settings | None
    problems: tuple[Problem, ...]

    def journey(self) -> Journey | None:
        """The ``Journey``, when nothing is wrong with the structure."""
        if self.problems or self.settings is None or self.name is None:
            return None
        return Journey(self.name, self.states, self.settings)


def _raw_forwards(state_type: object, params: object) -> list[int]:
    """The state ids the links of raw params lead to (``raw_links``: never data's keys)."""
    return [
        target
        for _, target in raw_links(state_type, params)
        if isinstance(target, int) and not isinstance(target, bool)
    ]


def parse_journey(
    raw: Mapping[str, object], field_types: Mapping[str, FieldType] | None = None
) -> ParsedJourney:
    """Read a raw document, collecting every structural problem.

    That is the name, each state's params (conditions checked against ``field_types`` when
    given) and the settings. The graph is not checked here: see ``wayfare.model.validation``.
    """
    problems: list[Problem] = []
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(Problem("name", "is required (a non-empty string)", "missing"))
        name = None
    elif len(name) > 200:
        problems.append(Problem("name", "is longer than 200 characters", "invalid"))
    raw_states = raw.get("states")
    states: list[State] = []
    state_ids: list[int] = []
    raw_edges: dict[int, tuple[int, ...]] = {}
    if not isinstance(raw_states, list):
        problems.append(Problem("states", "is required (a list of states)", "missing"))
    elif not raw_states:
        problems.append(Problem("states", "a journey needs at least an entry state", "no_entry"))
    else:
        for index, raw_state in enumerate(raw_states):
            state, found = parse_state(raw_state, index, field_types)
            problems.extend(found)
            if state is not None:
                states.append(state)
                state_ids.append(state.id)
                continue
            label = state_label(raw_state, index)
            if label.startswith("state ") and isinstance(raw_state, Mapping):
                state_id = int(label.removeprefix("state "))
                state_ids.append(state_id)
                raw_edges[state_id] = tuple(
                    _raw_forwards(raw_state.get("type"), raw_state.get("params"))
                )
    settings, found = parse_settings(raw.get("settings"))
    problems.extend(found)
    return ParsedJourney(
        name.strip() if name else None,
        tuple(states),
        tuple(state_ids),
        raw_edges,
        settings,
        tuple(problems),
    )
