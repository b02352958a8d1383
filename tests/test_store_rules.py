"""Rules every store function keeps, on both databases: names, pages, JSON, fields in use."""

from __future__ import annotations

import pytest

from wayfare.errors import Conflict, InvalidInput
from wayfare.model.conditions import parse_condition
from wayfare.model.fields import FieldType
from wayfare.store.applications import create_application
from wayfare.store.customers import (
    define_field,
    delete_field,
    list_customers,
    upsert_customers,
)
from wayfare.store.database import Database
from wayfare.store.journeys import activate_journey, create_journey
from wayfare.store.lists import create_list
from wayfare.store.segments import create_segment, delete_segment

from .conftest import NOW


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "a\x00b"])
def test_names_are_1_to_200_characters_everywhere(database: Database, app_id: int, name) -> None:
    with database.write() as conn:
        with pytest.raises(InvalidInput) as caught:
            create_application(conn, name, NOW)
        assert caught.value.problems[0].where == "name"
        with pytest.raises(InvalidInput):
            create_list(conn, app_id, name, NOW)


def test_a_journey_document_with_a_nul_character_is_refused(
    database: Database, app_id: int
) -> None:
    document = {
        "name": "Welcome",
        "states": [{"id": 1, "type": "IN_ALL", "params": {"x": "a\x00"}}],
    }
    with database.write() as conn, pytest.raises(InvalidInput) as caught:
        create_journey(conn, app_id, document, NOW)
    assert caught.value.problems[0].where == "states[0].params.x"


def test_pages_are_checked_and_search_ignores_case(database: Database, app_id: int) -> None:
    with database.write() as conn:
        upsert_customers(
            conn,
            app_id,
            [
                {"customerId": "alice"},
                {"customerId": "Bob", "email": "BOB@example.com"},
                {"customerId": "carol"},
            ],
            NOW,
        )
        with pytest.raises(InvalidInput) as caught:
            list_customers(conn, app_id, limit=-1)
        assert caught.value.problems[0].where == "limit"
        found, total = list_customers(conn, app_id, q="ALI")
        assert ([c.customer_id for c in found], total) == (["alice"], 1)
        assert [c.customer_id for c in list_customers(conn, app_id, q="bob@")[0]] == ["Bob"]
        ordered = [c.customer_id for c in list_customers(conn, app_id)[0]]
        assert ordered == ["Bob", "alice", "carol"]  # code point order on both databases


def test_customers_are_listed_by_condition_with_their_segments(
    database: Database, app_id: int
) -> None:
    with database.write() as conn:
        define_field(conn, app_id, "city", "string", NOW)
        upsert_customers(
            conn,
            app_id,
            [
                {"customerId": "ana", "fields": {"city": "Madrid"}},
                {"customerId": "andres", "fields": {"city": "Lima"}},
                {"customerId": "amaia", "fields": {"city": "Madrid"}},
                {"customerId": "bea", "fields": {"city": "Madrid"}},
            ],
            NOW,
        )
        madrid = create_segment(conn, app_id, "Madrid", {"city": {"eq": "Madrid"}}, NOW)
        types = {"city": FieldType.STRING}
        in_madrid, _ = parse_condition({"city": {"eq": "Madrid"}}, "cond", types)
        in_segment, _ = parse_condition({"segmentIds": [madrid]}, "cond", types)
        assert in_madrid is not None and in_segment is not None
        for cond in (in_madrid, in_segment):
            found, total = list_customers(conn, app_id, q="A", condition=cond, now=NOW, limit=1)
            assert ([c.customer_id for c in found], total) == (["amaia"], 2)
            found, total = list_customers(conn, app_id, condition=cond, now=NOW)
            assert ([c.customer_id for c in found], total) == (["amaia", "ana", "bea"], 3)


def test_a_field_in_use_cannot_be_deleted(database: Database, app_id: int) -> None:
    journey = {
        "name": "Adults",
        "states": [
            {
                "id": 1,
                "type": "IN_FILTER",
                "params": {"cond": {"age": {"gte": 18}}, "forward": None},
            }
        ],
    }
    with database.write() as conn:
        define_field(conn, app_id, "age", "number", NOW)
        define_field(conn, app_id, "city", "string", NOW)
        journey_id = create_journey(conn, app_id, journey, NOW)
        activate_journey(
            conn, app_id, journey_id, NOW, reentry=False, max_entries=None, recheck_every=None
        )
        segment = create_segment(conn, app_id, "Madrid", {"city": {"eq": "Madrid"}}, NOW)
    with database.write() as conn, pytest.raises(Conflict) as caught:
        delete_field(conn, app_id, "age")
    assert str(caught.value) == (
        f"customer field 'age' is used by active journey {journey_id} (Adults): "
        "it cannot be deleted"
    )
    with database.write() as conn, pytest.raises(Conflict, match=f"segment {segment} \\(Madrid\\)"):
        delete_field(conn, app_id, "city")
    with database.write() as conn:
        delete_segment(conn, app_id, segment)
        delete_field(conn, app_id, "city")


def test_events_and_list_members_refuse_what_json_columns_cannot_hold(
    database: Database, app_id: int
) -> None:
    from wayfare.store.events import record_events
    from wayfare.store.lists import add_members

    bad_data = {"eventCode": "push.click", "customerId": "c1", "customData": {"k": "a\x00"}}
    far = {"eventCode": "push.click", "customerId": "c1", "date": "9999-12-31T23:00:00-05:00"}
    with database.write() as conn, pytest.raises(InvalidInput) as caught:
        record_events(conn, app_id, [bad_data, far], NOW)
    assert [p.where for p in caught.value.problems] == ["events[0].customData.k", "events[1].date"]
    with database.write() as conn:
        listed = create_list(conn, app_id, "VIP", NOW)
        with pytest.raises(InvalidInput) as caught:
            add_members(
                conn, app_id, listed.id, [{"customerId": "c1", "contextValues": {"x": "\x00"}}], NOW
            )
    assert caught.value.problems[0].where.endswith("contextValues.x")


@pytest.mark.parametrize("fields", [[], 0, ""])
def test_customer_fields_must_be_an_object(database: Database, app_id: int, fields) -> None:
    with database.write() as conn, pytest.raises(InvalidInput) as caught:
        upsert_customers(conn, app_id, [{"customerId": "c1", "fields": fields}], NOW)
    assert caught.value.problems[0].where == "customers[0].fields"


@pytest.mark.parametrize("zone", ["Europe", "Europe/", "../etc/passwd", "Mars/Olympus"])
def test_a_time_zone_must_be_an_iana_zone(database: Database, app_id: int, zone: str) -> None:
    with database.write() as conn, pytest.raises(InvalidInput) as caught:
        upsert_customers(conn, app_id, [{"customerId": "c1", "timezone": zone}], NOW)
    assert caught.value.problems[0].where == "customers[0].timezone"
