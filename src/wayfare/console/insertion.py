"""Putting a new state in between: the links a new state can go after, and the states it makes.

A link is one ``forward`` of a state's params, at a place its type keeps links
(``wayfare.model.states.raw_links``: never a key of a webhook's body or of a condition), named
``STATE:PATH`` in a form (``4:else.forward``) and in words for a select, with the graph's edge
labels ("after 4 · Filter, no"; "path 2 (50%)" when a state's labels repeat). ``insert_after``
gives the states with the link pointing at the new state and the new state's first ``forward``
(its only one, or its first branch) pointing where the link went, so the whole change is saved
at once (``update_journey``). A link chosen in a form is found again among the state's links by
its name, and written through its path of steps: the name is never split. An entry state
(``IN_*``) starts the journey, so no link can lead into it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from wayfare.console.journey_words import branch_labels, forwards, type_words
from wayfare.errors import Problem
from wayfare.model.states import LinkPath, link_text, raw_links, raw_state_id

NOWHERE = ""
"""The choice that links the new state to nothing (the user links it later)."""


def link_choices(states: Sequence[object]) -> list[tuple[str, str]]:
    """Every outgoing link of ``states`` as (``STATE:PATH``, words), "nowhere yet" first."""
    choices = [(NOWHERE, "nowhere yet (I'll link it myself)")]
    for state in states:
        ident = raw_state_id(state)
        if ident is None or not isinstance(state, dict):
            continue
        state_type, params = str(state.get("type")), state.get("params")
        found = forwards(state_type, params)
        labels = branch_labels(state_type, params, [path for path, _ in found])
        words = type_words(state_type, params)
        if len(set(labels)) < len(labels):  # "Random 50/50": say which 50%
            labels = [f"path {k} ({label})" for k, label in enumerate(labels, start=1)]
        for (path, _), label in zip(found, labels, strict=True):
            text = f"after {ident} · {words}" + (f", {label}" if label else "")
            choices.append((f"{ident}:{path}", text))
    return choices


def _set_at(params: Any, path: LinkPath, value: object) -> None:
    """Write ``value`` at ``path`` (a link ``raw_links`` found there, so every step exists)."""
    target = params
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _links(state: dict[str, Any]) -> dict[str, tuple[LinkPath, object]]:
    """A state's links by the name a form gives them (``else.forward``)."""
    found = raw_links(state.get("type"), state.get("params"))
    return {link_text(path): (path, target) for path, target in found}


def insert_after(
    states: Sequence[object], new_state: dict[str, Any], link: str
) -> tuple[list[Any], list[Problem]]:
    """``states`` with ``new_state`` added after ``link`` (``STATE:PATH``, or ``NOWHERE``).

    The link's ``forward`` becomes the new state's id and the new state's first ``forward``
    takes the link's old target (``None``: the end). Problems name the field ``after``.
    """
    if link == NOWHERE:
        return [*states, new_state], []
    if str(new_state.get("type", "")).startswith("IN_"):
        message = "an entry state starts the journey: no link can lead to it"
        return list(states), [Problem("after", message, "invalid")]
    ident_text, _, name = link.partition(":")
    wanted = int(ident_text) if ident_text.isascii() and ident_text.isdigit() else None
    source = next((s for s in states if wanted is not None and raw_state_id(s) == wanted), None)
    links = _links(source) if isinstance(source, dict) else {}
    if not isinstance(source, dict) or name not in links:
        return list(states), [Problem("after", f"there is no link {link!r} any more", "invalid")]
    own = raw_links(new_state.get("type"), new_state.get("params"))
    if not own:
        message = "this state has no next state, so nothing would follow it: link it yourself"
        return list(states), [Problem("after", message, "invalid")]
    path, target = links[name]
    added = copy.deepcopy(new_state)
    _set_at(added["params"], own[0][0], target)
    changed = copy.deepcopy(source)
    _set_at(changed["params"], path, added["id"])
    return [changed if s is source else s for s in states] + [added], []
