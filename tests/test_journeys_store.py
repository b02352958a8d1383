"""Stored journeys on both databases: drafts, versions, state edits, activation, clone."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from wayfare.errors import Conflict, InvalidInput, InvalidTransition, JourneyInvalid, NotFound
from wayfare.model.lifecycle import JourneyStatus
from wayfare.store.applications import create_application
from wayfare.store.campaigns import create_campaign
from wayfare.store.database import Database
from wayfare.store.journeys import (
    DEACTIVATED_REASON,
    JourneyRef,
    activate_journey,
    active_journeys_using,
    add_state,
    check_journey,
    clone_journey,
    create_journey,
    deactivate_journey,
    delete_journey,
    get_journey,
    journey_names,
    journeys_using,
    list_journeys,
    remove_state,
    replace_state,
    update_journey,
)
from wayfare.store.schema import enrollments

from .conftest import NOW

LATER = NOW + timedelta(hours=1)


def welcome(campaign_id: int, name: str = "Welcome") -> dict[str, Any]:
    """A small valid journey: everyone gets one email."""
    return {
        "name": name,
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": campaign_id}, "forward": None},
            },
        ],
        "settings": {"timezone": "Europe/Madrid"},
    }


@pytest.fixture
def email_id(database: Database, app_id: int) -> int:
    with database.write() as conn:
        return create_campaign(conn, app_id, "Hello", "email", {"subject": "Hi", "html": "x"}, NOW)


@pytest.fixture
def draft_id(database: Database, app_id: int, email_id: int) -> int:
    with database.write() as conn:
        return create_journey(conn, app_id, welcome(email_id), NOW)


def activate(database: Database, app_id: int, journey_id: int) -> None:
    with database.write() as conn:
        activate_journey(
            conn, app_id, journey_id, NOW, reentry=False, max_entries=None, recheck_every=None
        )


# ------------------------------------------------------------------ drafts


def test_a_draft_is_stored_as_given(database: Database, app_id: int, email_id: int) -> None:
    with database.write() as conn:
        journey_id = create_journey(conn, app_id, welcome(email_id), NOW)
    with database.read() as conn:
        journey = get_journey(conn, app_id, journey_id)
    assert journey.id == journey_id
    assert (journey.name, journey.status, journey.version) == ("Welcome", "DRAFT", 1)
    assert journey.states == welcome(email_id)["states"]
    assert journey.settings == {"timezone": "Europe/Madrid"}
    assert journey.created_at == journey.updated_at == NOW
    assert journey.activated_at is None and journey.cloned_from is None
    assert journey.document() == welcome(email_id)


def test_a_half_done_draft_can_be_saved(database: Database, app_id: int) -> None:
    half = {"name": "Later", "states": [{"id": 1, "type": "IN_ALL", "params": {"forward": 9}}]}
    with database.write() as conn:
        journey_id = create_journey(conn, app_id, half, NOW)
        report = check_journey(conn, app_id, journey_id)
    assert report.problems, "a dangling forward must be reported by check"
    with database.read() as conn:
        assert get_journey(conn, app_id, journey_id).settings == {}


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ({"states": []}, "name"),
        ({"name": "  ", "states": []}, "name"),
        ({"name": 5, "states": []}, "name"),
        ({"name": "x" * 201, "states": []}, "name"),
        ({"name": "A"}, "states"),
        ({"name": "A", "states": {"1": {}}}, "states"),
        ({"name": "A", "states": [], "settings": []}, "settings"),
        ({"name": "A", "states": [{"id": 1, "params": {"x": float("nan")}}]}, "states[0].params.x"),
    ],
)
def test_a_draft_must_be_shaped_like_a_journey(
    database: Database, app_id: int, document: dict[str, Any], where: str
) -> None:
    with database.write() as conn, pytest.raises(InvalidInput) as raised:
        create_journey(conn, app_id, document, NOW)
    assert [p.where for p in raised.value.problems] == [where]


def test_every_shape_problem_is_reported_at_once(database: Database, app_id: int) -> None:
    with database.write() as conn, pytest.raises(InvalidInput) as raised:
        create_journey(conn, app_id, {"name": "", "states": None, "settings": 3}, NOW)
    assert [p.where for p in raised.value.problems] == ["name", "states", "settings"]


def test_names_are_unique_per_application(database: Database, app_id: int, email_id: int) -> None:
    with database.write() as conn:
        create_journey(conn, app_id, welcome(email_id), NOW)
        other_app = create_application(conn, "globex", NOW)
        create_journey(conn, other_app, welcome(email_id), NOW)
    with database.write() as conn, pytest.raises(Conflict, match="'Welcome' already exists"):
        create_journey(conn, app_id, welcome(email_id), NOW)


def test_listing_pages_newest_first(database: Database, app_id: int) -> None:
    with database.write() as conn:
        ids = [create_journey(conn, app_id, {"name": f"J{i}", "states": []}, NOW) for i in range(5)]
        other_app = create_application(conn, "globex", NOW)
        create_journey(conn, other_app, {"name": "theirs", "states": []}, NOW)
    with database.read() as conn:
        first = list_journeys(conn, app_id, limit=2, page=0)
        last = list_journeys(conn, app_id, limit=2, page=2)
        drafts = list_journeys(conn, app_id, status=JourneyStatus.ACTIVE)
    assert first.count == last.count == 5
    assert [j.id for j in first.items] == [ids[4], ids[3]]
    assert [j.id for j in last.items] == [ids[0]]
    assert drafts.count == 0 and drafts.items == []


# ------------------------------------------------------------------ edits and versions


def test_an_edit_bumps_the_version(database: Database, app_id: int, draft_id: int) -> None:
    with database.write() as conn:
        version = update_journey(conn, app_id, draft_id, {"name": "Hello there"}, LATER)
    with database.read() as conn:
        journey = get_journey(conn, app_id, draft_id)
    assert version == journey.version == 2
    assert journey.name == "Hello there"
    assert journey.settings == {"timezone": "Europe/Madrid"}, "absent members are kept"
    assert journey.updated_at == LATER and journey.created_at == NOW


def test_a_stale_version_is_a_conflict(database: Database, app_id: int, draft_id: int) -> None:
    with database.write() as conn:
        update_journey(conn, app_id, draft_id, {"settings": {}}, NOW, expected_version=1)
    with (
        database.write() as conn,
        pytest.raises(Conflict, match="version 1, it is now at version 2"),
    ):
        update_journey(conn, app_id, draft_id, {"states": []}, NOW, expected_version=1)
    with database.read() as conn:
        journey = get_journey(conn, app_id, draft_id)
    assert journey.version == 2 and len(journey.states) == 2


def test_renaming_onto_another_journey_is_a_conflict(
    database: Database, app_id: int, draft_id: int
) -> None:
    with database.write() as conn:
        create_journey(conn, app_id, {"name": "Other", "states": []}, NOW)
    with database.write() as conn, pytest.raises(Conflict, match="'Other'"):
        update_journey(conn, app_id, draft_id, {"name": "Other"}, NOW)


def test_two_concurrent_edits_of_one_version_cannot_both_win(
    database: Database, app_id: int, draft_id: int
) -> None:
    outcome: dict[str, str] = {}

    def edit_b() -> None:
        try:
            with database.write() as conn:
                update_journey(conn, app_id, draft_id, {"name": "B"}, NOW, expected_version=1)
            outcome["B"] = "saved"
        except Conflict:
            outcome["B"] = "conflict"

    with database.write() as conn:
        update_journey(conn, app_id, draft_id, {"name": "A"}, NOW, expected_version=1)
        other = threading.Thread(target=edit_b)
        other.start()
        if database.dialect.is_postgres:
            # Hold A's transaction open until B has read version 1 and waits on the row lock,
            # so B's conditional UPDATE is what refuses it.
            _wait_until_blocked(database, other)
    other.join(timeout=30)
    assert outcome == {"B": "conflict"}
    with database.read() as conn:
        journey = get_journey(conn, app_id, draft_id)
    assert (journey.name, journey.version) == ("A", 2)


def _wait_until_blocked(database: Database, thread: threading.Thread) -> None:
    with database.engine.connect() as watcher:
        for _ in range(100_000):
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            ).scalar()
            watcher.rollback()
            if waiting or not thread.is_alive():
                return
    raise AssertionError("the second edit never waited for the first")


def test_state_edits(database: Database, app_id: int, draft_id: int, email_id: int) -> None:
    with database.write() as conn:
        added = add_state(conn, app_id, draft_id, {"type": "FLOW_DELAY", "params": {}}, NOW)
        replace_state(conn, app_id, draft_id, 3, {"params": {"time": "P1D", "forward": None}}, NOW)
        replace_state(
            conn,
            app_id,
            draft_id,
            2,
            {
                "id": 2,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": email_id}, "forward": 3},
            },
            NOW,
        )
        remove_state(conn, app_id, draft_id, 1, NOW)
    with database.read() as conn:
        journey = get_journey(conn, app_id, draft_id)
    assert added == 3
    assert journey.version == 5
    assert journey.states == [
        {
            "id": 2,
            "type": "ACTION_EMAIL_SEND",
            "params": {"action": {"campaignId": email_id}, "forward": 3},
        },
        {"id": 3, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": None}},
    ]


def test_state_edit_mistakes(database: Database, app_id: int, draft_id: int) -> None:
    with database.write() as conn:
        with pytest.raises(Conflict, match="already has a state 2"):
            add_state(conn, app_id, draft_id, {"id": 2, "type": "IN_ALL"}, NOW)
        with pytest.raises(InvalidInput, match=r"state\.id"):
            add_state(conn, app_id, draft_id, {"id": "two", "type": "IN_ALL"}, NOW)
        with pytest.raises(NotFound, match="no state 7"):
            replace_state(conn, app_id, draft_id, 7, {"params": {}}, NOW)
        with pytest.raises(InvalidInput, match="must be 2"):
            replace_state(conn, app_id, draft_id, 2, {"id": 3, "params": {}}, NOW)
        with pytest.raises(NotFound, match="no state 7"):
            remove_state(conn, app_id, draft_id, 7, NOW)
        with pytest.raises(Conflict, match="version 9"):
            remove_state(conn, app_id, draft_id, 1, NOW, expected_version=9)
    with database.read() as conn:
        assert get_journey(conn, app_id, draft_id).version == 1


# ------------------------------------------------------------------ activation


def test_activation_stores_the_options(database: Database, app_id: int, draft_id: int) -> None:
    with database.write() as conn:
        journey = activate_journey(
            conn, app_id, draft_id, LATER, reentry=True, max_entries=3, recheck_every="PT5M"
        )
    assert journey.status is JourneyStatus.ACTIVE
    assert journey.activated_at == LATER
    assert journey.settings == {
        "timezone": "Europe/Madrid",
        "reentry": True,
        "maxEntries": 3,
        "recheckEvery": "PT5M",
    }
    with database.read() as conn:
        assert get_journey(conn, app_id, draft_id) == journey


def test_recheck_every_defaults_to_ten_minutes(
    database: Database, app_id: int, draft_id: int
) -> None:
    activate(database, app_id, draft_id)
    with database.read() as conn:
        settings = get_journey(conn, app_id, draft_id).settings
    assert settings["recheckEvery"] == "PT10M" and settings["reentry"] is False


def test_an_invalid_journey_is_not_activated(database: Database, app_id: int) -> None:
    broken = {
        "name": "Broken",
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 9}},
            {
                "id": 2,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": 4242}, "forward": None},
            },
        ],
    }
    with database.write() as conn:
        journey_id = create_journey(conn, app_id, broken, NOW)
    with database.read() as conn:
        before = get_journey(conn, app_id, journey_id)
    with database.write() as conn, pytest.raises(JourneyInvalid) as raised:
        activate_journey(
            conn, app_id, journey_id, LATER, reentry=True, max_entries=0, recheck_every="soon"
        )
    wheres = " | ".join(f"{p.where}: {p.message}" for p in raised.value.problems)
    assert "state 1" in wheres, wheres  # the dangling forward
    assert "4242" in wheres, wheres  # the unknown campaign
    assert "settings.maxEntries" in wheres, wheres
    assert "settings.recheckEvery" in wheres, wheres
    assert str(raised.value).startswith(f"journey {journey_id} cannot be activated: ")
    with database.read() as conn:
        assert get_journey(conn, app_id, journey_id) == before


def test_an_active_journey_cannot_be_edited(database: Database, app_id: int, draft_id: int) -> None:
    activate(database, app_id, draft_id)
    message = f"journey {draft_id} is ACTIVE: an active journey cannot be edited; clone it"
    with database.write() as conn:
        with pytest.raises(InvalidTransition, match=message):
            update_journey(conn, app_id, draft_id, {"name": "Changed"}, NOW)
        with pytest.raises(InvalidTransition, match=message):
            add_state(conn, app_id, draft_id, {"type": "FLOW_DELAY", "params": {}}, NOW)
        with pytest.raises(InvalidTransition, match=message):
            replace_state(conn, app_id, draft_id, 2, {"params": {}}, NOW)
        with pytest.raises(InvalidTransition, match=message):
            remove_state(conn, app_id, draft_id, 2, NOW)
        with pytest.raises(InvalidTransition, match="already active"):
            activate_journey(
                conn, app_id, draft_id, NOW, reentry=False, max_entries=None, recheck_every=None
            )
        with pytest.raises(InvalidTransition, match="deactivate it first"):
            delete_journey(conn, app_id, draft_id)
    with database.read() as conn:
        assert get_journey(conn, app_id, draft_id).name == "Welcome"


# ------------------------------------------------------------------ deactivation


def _enroll(conn: Any, app_id: int, journey_id: int, customer: str, status: str) -> None:
    conn.execute(
        enrollments.insert().values(
            application_id=app_id,
            journey_id=journey_id,
            customer_id=customer,
            entry_number=1,
            test=False,
            state_id=2,
            status=status,
            wake_at=NOW + timedelta(days=1) if status in ("waiting", "ready") else None,
            wait_event="email.open" if status == "waiting" else None,
            wait=None,
            context={},
            transitions=1,
            entered_at=NOW,
            updated_at=NOW,
            ended_at=NOW if status == "completed" else None,
            end_reason="finished" if status == "completed" else None,
        )
    )


def test_deactivation_ends_waiting_enrollments_and_is_final(
    database: Database, app_id: int, draft_id: int, email_id: int
) -> None:
    activate(database, app_id, draft_id)
    with database.write() as conn:
        other_id = create_journey(conn, app_id, welcome(email_id, "Other"), NOW)
    activate(database, app_id, other_id)
    with database.write() as conn:
        _enroll(conn, app_id, draft_id, "ann", "waiting")
        _enroll(conn, app_id, draft_id, "bob", "ready")
        _enroll(conn, app_id, draft_id, "cid", "completed")
        _enroll(conn, app_id, other_id, "ann", "waiting")
    with database.write() as conn:
        done = deactivate_journey(conn, app_id, draft_id, LATER)
    assert done.enrollments_ended == 2
    assert done.journey.status is JourneyStatus.DEACTIVATED
    assert done.journey.deactivated_at == LATER
    with database.read() as conn:
        rows = conn.execute(
            select(
                enrollments.c.journey_id,
                enrollments.c.customer_id,
                enrollments.c.status,
                enrollments.c.end_reason,
                enrollments.c.ended_at,
                enrollments.c.wait_event,
            ).order_by(enrollments.c.journey_id, enrollments.c.customer_id)
        ).all()
    assert [tuple(row) for row in rows] == [
        (draft_id, "ann", "exited", DEACTIVATED_REASON, LATER, None),
        (draft_id, "bob", "exited", DEACTIVATED_REASON, LATER, None),
        (draft_id, "cid", "completed", "finished", NOW, None),
        (other_id, "ann", "waiting", None, None, "email.open"),
    ]
    with database.write() as conn:
        with pytest.raises(InvalidTransition, match="deactivation is final"):
            activate_journey(
                conn, app_id, draft_id, NOW, reentry=False, max_entries=None, recheck_every=None
            )
        with pytest.raises(InvalidTransition, match="deactivation is final"):
            deactivate_journey(conn, app_id, draft_id, NOW)
        with pytest.raises(InvalidTransition, match="cannot be edited"):
            update_journey(conn, app_id, draft_id, {"name": "again"}, NOW)
    with database.read() as conn:
        assert get_journey(conn, app_id, draft_id).status is JourneyStatus.DEACTIVATED


def test_a_draft_cannot_be_deactivated(database: Database, app_id: int, draft_id: int) -> None:
    with database.write() as conn, pytest.raises(InvalidTransition, match="delete"):
        deactivate_journey(conn, app_id, draft_id, NOW)


# ------------------------------------------------------------------ clone and delete


def test_clones_get_free_names(database: Database, app_id: int, draft_id: int) -> None:
    activate(database, app_id, draft_id)
    with database.write() as conn:
        ids = [clone_journey(conn, app_id, draft_id, NOW) for _ in range(3)]
        named = clone_journey(conn, app_id, draft_id, NOW, name="Welcome v2")
        of_clone = clone_journey(conn, app_id, ids[0], NOW)
        with pytest.raises(Conflict, match="'Welcome v2'"):
            clone_journey(conn, app_id, draft_id, NOW, name="Welcome v2")
        with pytest.raises(InvalidInput, match="name"):
            clone_journey(conn, app_id, draft_id, NOW, name="")
    with database.read() as conn:
        clones = [get_journey(conn, app_id, i) for i in [*ids, named, of_clone]]
        source = get_journey(conn, app_id, draft_id)
    assert [c.name for c in clones] == [
        "Welcome (copy)",
        "Welcome (copy 2)",
        "Welcome (copy 3)",
        "Welcome v2",
        "Welcome (copy) (copy)",
    ]
    assert all(c.status is JourneyStatus.DRAFT and c.version == 1 for c in clones)
    assert [c.cloned_from for c in clones] == [draft_id] * 4 + [ids[0]]
    assert clones[0].states == source.states and clones[0].settings == source.settings
    assert source.status is JourneyStatus.ACTIVE


def test_clone_names_take_like_wildcards_literally(database: Database, app_id: int) -> None:
    with database.write() as conn:
        create_journey(conn, app_id, {"name": "50%_off (copy)", "states": []}, NOW)
        source = create_journey(conn, app_id, {"name": "50__off", "states": []}, NOW)
        clone = clone_journey(conn, app_id, source, NOW)
        assert get_journey(conn, app_id, clone).name == "50__off (copy)"


def test_delete_removes_a_draft_or_a_deactivated_journey_with_its_enrollments(
    database: Database, app_id: int, draft_id: int, email_id: int
) -> None:
    with database.write() as conn:
        other_draft = create_journey(conn, app_id, {"name": "Scratch", "states": []}, NOW)
        delete_journey(conn, app_id, other_draft)
    activate(database, app_id, draft_id)
    with database.write() as conn:
        _enroll(conn, app_id, draft_id, "ann", "waiting")
        deactivate_journey(conn, app_id, draft_id, NOW)
        delete_journey(conn, app_id, draft_id)
    with database.read() as conn:
        for gone in (other_draft, draft_id):
            with pytest.raises(NotFound, match=f"journey {gone} does not exist"):
                get_journey(conn, app_id, gone)
        assert conn.execute(select(enrollments.c.id)).all() == []


# ------------------------------------------------------------------ isolation


def test_another_applications_journey_is_not_found(
    database: Database, app_id: int, draft_id: int
) -> None:
    with database.write() as conn:
        other = create_application(conn, "globex", NOW)
    attempts = [
        lambda conn: get_journey(conn, other, draft_id),
        lambda conn: update_journey(conn, other, draft_id, {"name": "mine"}, NOW),
        lambda conn: add_state(conn, other, draft_id, {"type": "IN_ALL"}, NOW),
        lambda conn: replace_state(conn, other, draft_id, 1, {"params": {}}, NOW),
        lambda conn: remove_state(conn, other, draft_id, 1, NOW),
        lambda conn: check_journey(conn, other, draft_id),
        lambda conn: activate_journey(
            conn, other, draft_id, NOW, reentry=False, max_entries=None, recheck_every=None
        ),
        lambda conn: deactivate_journey(conn, other, draft_id, NOW),
        lambda conn: clone_journey(conn, other, draft_id, NOW),
        lambda conn: delete_journey(conn, other, draft_id),
    ]
    for attempt in attempts:
        with database.write() as conn, pytest.raises(NotFound, match=f"journey {draft_id}"):
            attempt(conn)
    with database.read() as conn:
        assert list_journeys(conn, other).count == 0
        journey = get_journey(conn, app_id, draft_id)
    assert (journey.name, journey.status, journey.version) == ("Welcome", "DRAFT", 1)


def test_journeys_using_a_campaign_are_found_by_campaign(
    database: Database, app_id: int, email_id: int
) -> None:
    with database.write() as conn:
        other = create_campaign(conn, app_id, "Other", "email", {"subject": "Hi", "html": "x"}, NOW)
        unused = create_campaign(
            conn, app_id, "Unused", "email", {"subject": "x", "html": "x"}, NOW
        )
        draft = create_journey(conn, app_id, welcome(email_id, "Draft"), NOW)
        live = create_journey(conn, app_id, welcome(other, "Live"), NOW)
    activate(database, app_id, live)
    with database.read() as conn:
        found = journeys_using(conn, app_id, "campaignId", [email_id, other, unused])
        active = journeys_using(conn, app_id, "campaignId", [email_id, other], active=True)
        assert active_journeys_using(conn, app_id, "campaignId", other) == [(live, "Live")]
    assert found == {
        email_id: [JourneyRef(draft, "Draft", "DRAFT")],
        other: [JourneyRef(live, "Live", "ACTIVE")],
        unused: [],
    }
    assert active == {email_id: [], other: [JourneyRef(live, "Live", "ACTIVE")]}


def test_journey_names_are_found_by_prefix(database: Database, app_id: int, email_id: int) -> None:
    with database.write() as conn:
        for name in ("Welcome", "Welcome 2", "welcome lower", "50% off", "Winback"):
            create_journey(conn, app_id, welcome(email_id, name), NOW)
    with database.read() as conn:
        assert journey_names(conn, app_id, ["Welcome", "50%"]) == {
            "Welcome",
            "Welcome 2",
            "50% off",
        }
        assert journey_names(conn, app_id, ["5_%"]) == set()  # wildcards are plain characters
        assert journey_names(conn, app_id, []) == set()
