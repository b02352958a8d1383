from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from wayfare.errors import Conflict, InvalidInput, NotFound
from wayfare.store.applications import create_application
from wayfare.store.customers import (
    define_field,
    delete_customer,
    delete_field,
    existing_customer_ids,
    get_customer,
    list_customers,
    list_fields,
    remove_push_tokens,
    upsert_customers,
)
from wayfare.store.database import Database, dialect_of
from wayfare.store.schema import (
    contact_lists,
    customers,
    enrollments,
    events,
    inbox_messages,
    journeys,
    list_members,
    outbox,
)

from .conftest import NOW
from .statements import statements_run


def _fields(database: Database, app_id: int) -> None:
    with database.write() as conn:
        define_field(conn, app_id, "age", "number", NOW)
        define_field(conn, app_id, "vip", "boolean", NOW)
        define_field(conn, app_id, "birthday", "date", NOW)
        define_field(conn, app_id, "last_seen", "datetime", NOW)
        define_field(conn, app_id, "city", "string", NOW)


def test_field_definitions_define_list_conflict_and_delete(database: Database, app_id: int) -> None:
    _fields(database, app_id)
    with database.write() as conn:
        assert define_field(conn, app_id, "age", "number", NOW).type == "number"  # same: no-op
        with pytest.raises(Conflict, match="age"):
            define_field(conn, app_id, "age", "string", NOW)
        with pytest.raises(InvalidInput, match="not a field type"):
            define_field(conn, app_id, "x", "money", NOW)
        with pytest.raises(InvalidInput, match="reserved"):
            define_field(conn, app_id, "email", "string", NOW)
        with pytest.raises(InvalidInput, match="not a field name"):
            define_field(conn, app_id, "1abc", "string", NOW)
    with database.write() as conn:
        upsert_customers(
            conn,
            app_id,
            [
                {"customerId": "a", "fields": {"age": 30, "city": "Madrid"}},
                {"customerId": "b", "fields": {"city": "Vigo"}},
            ],
            NOW,
        )
        delete_field(conn, app_id, "city")
        with pytest.raises(NotFound):
            delete_field(conn, app_id, "city")
    with database.read() as conn:
        assert [f.name for f in list_fields(conn, app_id)] == [
            "age",
            "birthday",
            "last_seen",
            "vip",
        ]
        assert get_customer(conn, app_id, "a").fields == {"age": 30}
        assert get_customer(conn, app_id, "b").fields == {}


def test_upsert_creates_then_merges_and_null_removes(database: Database, app_id: int) -> None:
    _fields(database, app_id)
    later = NOW + timedelta(hours=1)
    with database.write() as conn:
        result = upsert_customers(
            conn,
            app_id,
            [
                {
                    "customerId": "c-1",
                    "email": "ana@example.com",
                    "phone": "+34600111222",
                    "timezone": "Europe/Madrid",
                    "language": "es",
                    "pushTokens": [{"token": "tok1", "platform": "ios"}],
                    "consent": {"sms": False},
                    "fields": {"age": "31", "vip": True, "birthday": "1990-05-01"},
                }
            ],
            NOW,
        )
        assert (result.created, result.updated) == (1, 0)
    with database.write() as conn:
        result = upsert_customers(
            conn,
            app_id,
            [
                {
                    "customerId": "c-1",
                    "language": None,
                    "consent": {"email": False},
                    "fields": {"vip": None, "last_seen": "2026-03-01T10:00:00+01:00"},
                }
            ],
            later,
        )
        assert (result.created, result.updated) == (0, 1)
    with database.read() as conn:
        customer = get_customer(conn, app_id, "c-1")
    assert customer.email == "ana@example.com"
    assert customer.phone == "+34600111222"
    assert customer.language is None
    assert customer.timezone == "Europe/Madrid"
    assert [(t.token, t.platform) for t in customer.push_tokens] == [("tok1", "ios")]
    assert customer.consent == {"sms": False, "email": False}
    assert not customer.allows("sms") and customer.allows("push")
    assert customer.fields == {
        "age": 31,
        "birthday": "1990-05-01",
        "last_seen": "2026-03-01T09:00:00Z",
    }
    assert customer.created_at == NOW and customer.updated_at == later
    assert customer.to_dict()["customerId"] == "c-1"


def test_bulk_is_all_or_nothing_and_lists_every_error(database: Database, app_id: int) -> None:
    _fields(database, app_id)
    bodies = [
        {"customerId": "ok", "fields": {"age": 3}},
        {"customerId": "bad1", "phone": "600111222", "fields": {"age": "old"}},
        {"customerId": "bad 2", "timezone": "Mars/Olympus", "fields": {"nope": 1}},
    ]
    with pytest.raises(InvalidInput) as caught, database.write() as conn:
        upsert_customers(conn, app_id, bodies, NOW)
    wheres = [p.where for p in caught.value.problems]
    assert wheres == [
        "customers[1].phone",
        "customers[1].fields.age",
        "customers[2].customerId",
        "customers[2].timezone",
        "customers[2].fields.nope",
    ]
    with database.read() as conn:
        assert conn.execute(select(func.count()).select_from(customers)).scalar() == 0
    with database.write() as conn:
        result = upsert_customers(conn, app_id, bodies, NOW, ignore_errors=True)
    assert (result.stored, len(result.problems)) == (1, 5)
    with database.read() as conn:
        assert [c.customer_id for c in list_customers(conn, app_id)[0]] == ["ok"]


def test_duplicates_in_one_request_merge_in_order(database: Database, app_id: int) -> None:
    _fields(database, app_id)
    with database.write() as conn:
        result = upsert_customers(
            conn,
            app_id,
            [
                {"customerId": "d", "email": "a@x.io", "fields": {"age": 1, "city": "A"}},
                {"customerId": "d", "fields": {"age": 2}},
            ],
            NOW,
        )
    assert (result.created, result.duplicates) == (1, 1)
    with database.read() as conn:
        customer = get_customer(conn, app_id, "d")
    assert (customer.email, customer.fields) == ("a@x.io", {"age": 2, "city": "A"})


def test_erasure_removes_everything_about_the_customer(database: Database, app_id: int) -> None:
    with database.write() as conn:
        upsert_customers(conn, app_id, [{"customerId": "gone"}, {"customerId": "kept"}], NOW)
        list_id = conn.execute(
            contact_lists.insert().values(application_id=app_id, name="L", created_at=NOW)
        ).inserted_primary_key[0]
        journey_id = conn.execute(
            journeys.insert().values(
                application_id=app_id,
                name="J",
                status="ACTIVE",
                version=1,
                states=[],
                settings={},
                created_at=NOW,
                updated_at=NOW,
            )
        ).inserted_primary_key[0]
        for who in ("gone", "kept"):
            conn.execute(list_members.insert().values(list_id=list_id, customer_id=who, context={}))
            conn.execute(
                events.insert().values(
                    application_id=app_id,
                    event_id=f"e-{who}",
                    event_code="x",
                    customer_id=who,
                    occurred_at=NOW,
                    custom_data={},
                    received_at=NOW,
                )
            )
            enrollment_id = conn.execute(
                enrollments.insert().values(
                    application_id=app_id,
                    journey_id=journey_id,
                    customer_id=who,
                    entry_number=1,
                    test=False,
                    state_id=1,
                    status="waiting",
                    context={},
                    transitions=0,
                    entered_at=NOW,
                    updated_at=NOW,
                )
            ).inserted_primary_key[0]
            conn.execute(
                outbox.insert().values(
                    application_id=app_id,
                    idempotency_key=f"k-{who}",
                    enrollment_id=enrollment_id,
                    customer_id=who,
                    channel="push",
                    payload={},
                    status="pending",
                    attempts=0,
                    next_attempt_at=NOW,
                    created_at=NOW,
                )
            )
            sent_id = conn.execute(
                outbox.insert().values(
                    application_id=app_id,
                    idempotency_key=f"sent-{who}",
                    customer_id=who,
                    channel="inapp",
                    payload={},
                    status="sent",
                    attempts=1,
                    next_attempt_at=NOW,
                    created_at=NOW,
                    rendered={"html": f"<p>Hello {who}</p>"},
                    reason=f"bounced: <{who}@example.com>",
                    provider_message_id=f"SM-{who}",
                )
            ).inserted_primary_key[0]
            conn.execute(
                inbox_messages.insert().values(
                    application_id=app_id,
                    customer_id=who,
                    outbox_id=sent_id,
                    content={"html": f"<p>Hello {who}</p>"},
                    created_at=NOW,
                )
            )
    with database.write() as conn:
        delete_customer(conn, app_id, "gone")
        with pytest.raises(NotFound):
            delete_customer(conn, app_id, "gone")
    with database.read() as conn:
        for table in (customers, list_members, events, enrollments, inbox_messages):
            ids = conn.execute(select(table.c.customer_id)).scalars().all()
            assert ids == ["kept"], table.name
        messages = conn.execute(
            select(
                outbox.c.customer_id,
                outbox.c.status,
                outbox.c.rendered,
                outbox.c.reason,
                outbox.c.provider_message_id,
            ).order_by(outbox.c.id)
        ).all()
    assert [tuple(m) for m in messages] == [  # sent stays counted, without its personal data
        ("gone", "sent", None, None, None),
        ("kept", "pending", None, None, None),
        ("kept", "sent", {"html": "<p>Hello kept</p>"}, "bounced: <kept@example.com>", "SM-kept"),
    ]


def test_fields_in_use_walks_journeys_and_segments_once(database: Database, app_id: int) -> None:
    from wayfare.store.customers import field_users, fields_in_use
    from wayfare.store.journeys import activate_journey, create_journey
    from wayfare.store.segments import create_segment

    def journey(name: str, cond: dict[str, Any]) -> dict[str, Any]:
        state = {"id": 1, "type": "IN_FILTER", "params": {"cond": cond, "forward": None}}
        return {"name": name, "states": [state]}

    _fields(database, app_id)
    with database.write() as conn:
        adults = create_journey(
            conn, app_id, journey("Adults", {"age": {"gte": 18}, "vip": {"eq": True}}), NOW
        )
        activate_journey(
            conn, app_id, adults, NOW, reentry=False, max_entries=None, recheck_every=None
        )
        create_journey(conn, app_id, journey("Draft", {"birthday": {"isnull": True}}), NOW)
        segment = create_segment(conn, app_id, "Madrid", {"city": {"eq": "Madrid"}}, NOW)
    expected = {
        "age": [f"active journey {adults} (Adults)"],
        "vip": [f"active journey {adults} (Adults)"],
        "city": [f"segment {segment} (Madrid)"],
        "birthday": [],
        "last_seen": [],
    }
    with database.read() as conn:
        assert fields_in_use(conn, app_id) == expected
        assert {name: field_users(conn, app_id, name) for name in expected} == expected
        assert field_users(conn, app_id, "no_such_field") == []
    with statements_run(database) as few, database.read() as conn:
        fields_in_use(conn, app_id)
    with database.write() as conn:
        for n in range(20):
            define_field(conn, app_id, f"extra_{n}", "string", NOW)
    with statements_run(database) as many, database.read() as conn:
        assert len(fields_in_use(conn, app_id)) == 25
    assert len(many) == len(few), "one more field should not mean more queries"


def _page_plan(database: Database, app_id: int) -> str:
    """The query plan of ``list_customers``'s page query, the planner kept off a sort."""
    from sqlalchemy import event

    captured: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "ORDER BY" in statement:
            captured.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        with database.read() as conn:
            list_customers(conn, app_id, limit=20, offset=40)
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    ((statement, parameters),) = captured
    with database.read() as conn:
        if database.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            conn.exec_driver_sql("SET LOCAL enable_sort = off")
            explain = "EXPLAIN " + statement
        else:
            explain = "EXPLAIN QUERY PLAN " + statement
        rows = conn.exec_driver_sql(explain, parameters).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_the_customer_page_is_read_in_index_order(database: Database, app_id: int) -> None:
    """Paging by id in code-point order must not sort the application's customers per page."""
    with database.write() as conn:
        upsert_customers(conn, app_id, [{"customerId": f"c{n:03d}"} for n in range(100)], NOW)
        other = create_application(conn, "other", NOW)
        upsert_customers(conn, other, [{"customerId": "c050x"}], NOW)
    with database.read() as conn:
        found, total = list_customers(conn, app_id, limit=20, offset=40)
    assert [c.customer_id for c in found] == [f"c{n:03d}" for n in range(40, 60)]
    assert total == 100
    plan = _page_plan(database, app_id)
    if database.engine.dialect.name == "postgresql":
        assert "Sort" not in plan and "ix_customers_code_point" in plan, plan
    else:
        assert "TEMP B-TREE" not in plan, plan


def test_which_ids_are_customers_with_no_ids_too(database: Database, app_id: int) -> None:
    with database.write() as conn:
        upsert_customers(conn, app_id, [{"customerId": "a"}, {"customerId": "b"}], NOW)
    with database.read() as conn:
        assert existing_customer_ids(conn, app_id, ["b", "zz", "a", "b"]) == {"a", "b"}
        assert existing_customer_ids(conn, app_id, []) == set()
        among = dialect_of(conn).among

        def ids_among(column: Any, values: list[Any]) -> list[int]:
            return list(conn.execute(select(customers.c.id).where(among(column, values))).scalars())

        # an empty list of either kind: nothing (on PostgreSQL an array of the column's type)
        assert ids_among(customers.c.customer_id, []) == []
        assert ids_among(customers.c.id, []) == []
        first = conn.execute(select(func.min(customers.c.id))).scalar_one()
        assert ids_among(customers.c.id, [first]) == [first]


def test_dead_push_tokens_are_removed_in_one_pass(database: Database, app_id: int) -> None:
    with database.write() as conn:
        other = create_application(conn, "other", NOW)
        devices = [{"token": t, "platform": "android"} for t in ("t1", "t2", "t3")]
        for app in (app_id, other):
            upsert_customers(
                conn,
                app,
                [
                    {"customerId": "a", "pushTokens": devices},
                    {"customerId": "b", "pushTokens": devices},
                ],
                NOW,
            )
    later = NOW + timedelta(hours=1)
    dead = [
        (app_id, "a", ("t1",)),
        (app_id, "a", ("t3",)),
        (app_id, "b", ("nope",)),
        (other, "b", ("t2",)),
        (app_id, "gone", ("t1",)),
    ]
    with database.write() as conn:
        assert remove_push_tokens(conn, dead, later) == 2  # a in acme, b in other
    with database.read() as conn:
        tokens = {
            (app, c): [t.token for t in get_customer(conn, app, c).push_tokens]
            for app in (app_id, other)
            for c in ("a", "b")
        }
        assert get_customer(conn, app_id, "a").updated_at == later
        assert get_customer(conn, app_id, "b").updated_at == NOW
    assert tokens == {
        (app_id, "a"): ["t2"],
        (app_id, "b"): ["t1", "t2", "t3"],
        (other, "a"): ["t1", "t2", "t3"],
        (other, "b"): ["t1", "t3"],
    }
