"""The lifecycle table: every (status, action) pair, allowed or refused with its reason."""

import pytest

from wayfare.errors import InvalidTransition
from wayfare.model.lifecycle import (
    TRANSITIONS,
    Action,
    JourneyStatus,
    allowed_actions,
    transition,
)

DRAFT, ACTIVE, DEACTIVATED = JourneyStatus.DRAFT, JourneyStatus.ACTIVE, JourneyStatus.DEACTIVATED

ALLOWED = {
    (DRAFT, Action.EDIT): DRAFT,
    (DRAFT, Action.ACTIVATE): ACTIVE,
    (DRAFT, Action.DELETE): DRAFT,
    (DRAFT, Action.CLONE): DRAFT,
    (DRAFT, Action.TEST): DRAFT,
    (ACTIVE, Action.DEACTIVATE): DEACTIVATED,
    (ACTIVE, Action.CLONE): ACTIVE,
    (ACTIVE, Action.ENROLL): ACTIVE,
    (ACTIVE, Action.TEST): ACTIVE,
    (DEACTIVATED, Action.DELETE): DEACTIVATED,
    (DEACTIVATED, Action.CLONE): DEACTIVATED,
}

REFUSED = {
    (ACTIVE, Action.EDIT): "an active journey cannot be edited; clone it to make a new draft",
    (DEACTIVATED, Action.EDIT): "a deactivated journey cannot be edited; clone it",
    (ACTIVE, Action.ACTIVATE): "already active",
    (DEACTIVATED, Action.ACTIVATE): "deactivation is final",
    (DRAFT, Action.DEACTIVATE): "only an active journey can be deactivated",
    (DEACTIVATED, Action.DEACTIVATE): "deactivation is final",
    (ACTIVE, Action.DELETE): "deactivate it first",
    (DRAFT, Action.ENROLL): "activate it first",
    (DEACTIVATED, Action.ENROLL): "deactivation is final",
    (DEACTIVATED, Action.TEST): "deactivation is final",
}


def test_the_table_covers_every_pair_exactly_once() -> None:
    every = {(status, action) for status in JourneyStatus for action in Action}
    assert set(ALLOWED) | set(REFUSED) == every
    assert not set(ALLOWED) & set(REFUSED)
    assert dict(TRANSITIONS) == ALLOWED


@pytest.mark.parametrize(("status", "action"), sorted(ALLOWED))
def test_allowed_transitions(status: JourneyStatus, action: Action) -> None:
    assert transition(status, action) is ALLOWED[status, action]
    assert transition(status.value, action.value) is ALLOWED[status, action]
    assert action in allowed_actions(status)


@pytest.mark.parametrize(("status", "action"), sorted(REFUSED))
def test_refused_transitions_say_why(status: JourneyStatus, action: Action) -> None:
    with pytest.raises(InvalidTransition) as raised:
        transition(status, action, journey_id=4)
    assert str(raised.value).startswith(f"journey 4 is {status.value}: ")
    assert REFUSED[status, action] in str(raised.value)
    assert action not in allowed_actions(status)


def test_editing_an_active_journey_names_the_way_out() -> None:
    with pytest.raises(InvalidTransition) as raised:
        transition("ACTIVE", "edit", journey_id=4)
    assert str(raised.value) == (
        "journey 4 is ACTIVE: an active journey cannot be edited; clone it to make a new draft"
    )


def test_deactivation_is_final() -> None:
    status = transition(transition(DRAFT, Action.ACTIVATE), Action.DEACTIVATE)
    assert status is DEACTIVATED
    assert allowed_actions(status) == {Action.CLONE, Action.DELETE}


def test_without_an_id_the_message_says_the_journey() -> None:
    with pytest.raises(InvalidTransition, match=r"^the journey is DRAFT: "):
        transition(DRAFT, Action.DEACTIVATE)


def test_unknown_statuses_and_actions_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="PAUSED"):
        transition("PAUSED", Action.EDIT)
    with pytest.raises(ValueError, match="pause"):
        transition(DRAFT, "pause")
