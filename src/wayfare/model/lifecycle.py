"""The journey lifecycle ``DRAFT -> ACTIVE -> DEACTIVATED`` as one explicit transition table.

Every change a user can ask of a stored journey is an ``Action``; ``transition`` says what status
the journey has afterwards, or raises ``InvalidTransition`` with a message that says why not and
what to do instead. Deactivation is final: out of ``DEACTIVATED`` there is only clone and delete.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from wayfare.errors import InvalidTransition


class JourneyStatus(StrEnum):
    """Where a journey is in its life."""

    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    DEACTIVATED = "DEACTIVATED"


class Action(StrEnum):
    """Something a user asks of a stored journey."""

    EDIT = "edit"
    """Change the name, states or settings (also state-level edits)."""
    ACTIVATE = "activate"
    """Validate and start: customers enter from now on."""
    DEACTIVATE = "deactivate"
    """Stop for good: no new entries, waiting enrollments end."""
    DELETE = "delete"
    """Remove the journey, its enrollments and statistics."""
    CLONE = "clone"
    """Copy the journey into a new draft (the source is left as it is)."""
    ENROLL = "enroll"
    """Put real customers in (through the API or a CSV)."""
    TEST = "test"
    """Put test customers in: a draft can be tried before activation."""


DRAFT, ACTIVE, DEACTIVATED = JourneyStatus.DRAFT, JourneyStatus.ACTIVE, JourneyStatus.DEACTIVATED

TRANSITIONS: Mapping[tuple[JourneyStatus, Action], JourneyStatus] = MappingProxyType(
    {
        (DRAFT, Action.EDIT): DRAFT,
        (DRAFT, Action.ACTIVATE): ACTIVE,
        (ACTIVE, Action.DEACTIVATE): DEACTIVATED,
        # Delete removes the row: the status it "has" afterwards is the one it had.
        (DRAFT, Action.DELETE): DRAFT,
        (DEACTIVATED, Action.DELETE): DEACTIVATED,
        # Clone makes a new draft and leaves the source untouched.
        (DRAFT, Action.CLONE): DRAFT,
        (ACTIVE, Action.CLONE): ACTIVE,
        (DEACTIVATED, Action.CLONE): DEACTIVATED,
        (ACTIVE, Action.ENROLL): ACTIVE,
        (DRAFT, Action.TEST): DRAFT,
        (ACTIVE, Action.TEST): ACTIVE,
    }
)
"""Every allowed (status, action) and the status the journey has afterwards; nothing else is."""

_WHY_NOT: Mapping[tuple[JourneyStatus, Action], str] = MappingProxyType(
    {
        (ACTIVE, Action.EDIT): ("an active journey cannot be edited; clone it to make a new draft"),
        (DEACTIVATED, Action.EDIT): (
            "a deactivated journey cannot be edited; clone it to make a new draft"
        ),
        (ACTIVE, Action.ACTIVATE): "it is already active",
        (DEACTIVATED, Action.ACTIVATE): (
            "deactivation is final; clone it to make a new draft and activate that"
        ),
        (DRAFT, Action.DEACTIVATE): (
            "only an active journey can be deactivated; a draft can be deleted instead"
        ),
        (DEACTIVATED, Action.DEACTIVATE): "it is already deactivated, and deactivation is final",
        (ACTIVE, Action.DELETE): "an active journey cannot be deleted; deactivate it first",
        (DRAFT, Action.ENROLL): (
            "customers can only be put into an active journey; activate it first, "
            "or put them in as test customers"
        ),
        (DEACTIVATED, Action.ENROLL): (
            "deactivation is final: a deactivated journey takes no new customers"
        ),
        (DEACTIVATED, Action.TEST): (
            "deactivation is final: a deactivated journey takes no new customers, "
            "not even test ones; clone it to try it again"
        ),
    }
)


def allowed_actions(status: JourneyStatus) -> frozenset[Action]:
    """The actions a journey in ``status`` allows."""
    return frozenset(action for (source, action) in TRANSITIONS if source == status)


def transition(
    status: JourneyStatus | str, action: Action | str, *, journey_id: int | None = None
) -> JourneyStatus:
    """The status after ``action`` on a journey in ``status``; ``InvalidTransition`` if refused.

    ``journey_id``, when given, is named in the message ("journey 4 is ACTIVE: ...").
    """
    status = JourneyStatus(status)
    action = Action(action)
    after = TRANSITIONS.get((status, action))
    if after is not None:
        return after
    subject = "the journey" if journey_id is None else f"journey {journey_id}"
    why = _WHY_NOT.get((status, action), f"cannot {action.value} it")
    raise InvalidTransition(f"{subject} is {status.value}: {why}")
