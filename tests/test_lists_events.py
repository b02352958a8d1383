import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from wayfare.errors import Conflict, ImportFailed, InvalidInput, NotFound
from wayfare.importing import import_events, import_list
from wayfare.store.customers import get_customer, upsert_customers
from wayfare.store.database import Database
from wayfare.store.events import (
    customer_events,
    define_event_type,
    list_event_types,
    record_events,
)
from wayfare.store.lists import (
    add_members,
    create_list,
    delete_list,
    find_list,
    get_list,
    list_lists,
    list_members,
)
from wayfare.store.schema import customers, events

from .conftest import NOW


def _count(database: Database, table) -> int:
    with database.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_lists_create_add_read_delete(database: Database, app_id: int) -> None:
    with database.write() as conn:
        upsert_customers(conn, app_id, [{"customerId": "known"}], NOW)
        vip = create_list(conn, app_id, "VIP", NOW)
        with pytest.raises(Conflict):
            create_list(conn, app_id, "VIP", NOW)
        result = add_members(
            conn,
            app_id,
            vip.id,
            ["known", {"customerId": "new1", "contextValues": {"coupon": "A1"}}],
            NOW,
        )
        assert (result.added, result.updated, result.customers_created) == (2, 0, 1)
        result = add_members(
            conn, app_id, vip.id, [{"customerId": "known", "contextValues": {"x": 1}}], NOW
        )
        assert (result.added, result.updated, result.customers_created) == (0, 1, 0)
        with pytest.raises(InvalidInput) as caught:
            add_members(conn, app_id, vip.id, ["ok", "not ok", {"customerId": 3}], NOW)
        assert [p.where for p in caught.value.problems] == [
            "customers[1].customerId",
            "customers[2].customerId",
        ]
    with database.read() as conn:
        assert [(m.customer_id, dict(m.context)) for m in list_members(conn, app_id, vip.id)] == [
            ("known", {"x": 1}),
            ("new1", {"coupon": "A1"}),
        ]
        assert get_list(conn, app_id, vip.id).members == 2
        assert [lst.name for lst in list_lists(conn, app_id)] == ["VIP"]
        assert get_customer(conn, app_id, "new1").fields == {}
    with database.write() as conn:
        delete_list(conn, app_id, vip.id)
        with pytest.raises(NotFound):
            get_list(conn, app_id, vip.id)
    assert _count(database, customers) == 2  # deleting a list keeps its customers


def test_list_import_creates_the_list_and_counts_new_members(
    database: Database, app_id: int
) -> None:
    text = b"customerId;coupon;city\nc1;A;Vigo\nc2;;Lugo\nc1;B;\n"
    report = import_list(database, app_id, "spring", io.BytesIO(text), NOW)
    assert (report.rows, report.stored, report.duplicates, report.customers_created) == (
        3,
        2,
        1,
        2,
    )
    with database.read() as conn:
        found = find_list(conn, app_id, "spring")
        assert found is not None
        members = {m.customer_id: dict(m.context) for m in list_members(conn, app_id, found.id)}
    assert members == {"c1": {"coupon": "B"}, "c2": {"city": "Lugo"}}
    with pytest.raises(ImportFailed, match='line 3, column "customerId"'):
        import_list(database, app_id, found.id, io.BytesIO(b"customerId\nc3\nbad id\n"), NOW)
    with database.read() as conn:
        assert get_list(conn, app_id, found.id).members == 2


def test_event_types_and_idempotent_events(database: Database, app_id: int) -> None:
    with database.write() as conn:
        define_event_type(conn, app_id, "cart.add", "Added to cart", NOW, retention_days=30)
        with pytest.raises(Conflict):
            define_event_type(conn, app_id, "cart.add", "Again", NOW)
        with pytest.raises(InvalidInput, match="built-in"):
            define_event_type(conn, app_id, "push.click", "Click", NOW)
        assert [(t.code, t.retention_days) for t in list_event_types(conn, app_id)] == [
            ("cart.add", 30)
        ]
        batch = [
            {"eventId": "e1", "eventCode": "cart.add", "customerId": "u1",
             "date": "2026-03-10T08:00:00+01:00", "customData": {"sku": "X"}},
            {"eventCode": "push.click", "customerId": "u1"},
            {"eventId": "e1", "eventCode": "cart.add", "customerId": "u1"},
        ]  # fmt: skip
        result = record_events(conn, app_id, batch, NOW)
        assert (result.recorded, result.duplicates, result.customers_created) == (2, 1, 1)
        again = record_events(conn, app_id, batch[:1], NOW)
        assert (again.recorded, again.duplicates) == (0, 1)
        with pytest.raises(InvalidInput) as caught:
            record_events(
                conn,
                app_id,
                [{"eventCode": "purchase", "customerId": "u1"}, {"eventCode": "cart.add"}],
                NOW,
            )
        assert [p.where for p in caught.value.problems] == [
            "events[0].eventCode",
            "events[1].customerId",
        ]
    with database.read() as conn:
        stored = customer_events(conn, app_id, "u1")
    assert [(e.event_code, e.occurred_at) for e in stored] == [
        ("push.click", NOW),
        ("cart.add", datetime(2026, 3, 10, 7, 0, tzinfo=UTC)),
    ]
    assert stored[1].custom_data == {"sku": "X"}


def test_event_import_csv_puts_extra_columns_in_custom_data(
    database: Database, app_id: int
) -> None:
    with database.write() as conn:
        define_event_type(conn, app_id, "visit", "Store visit", NOW)
    text = (
        "eventId,eventCode,customerId,date,customData,store\n"
        'v1,visit,w1,2026-03-01T10:00:00Z,"{""floor"": 2}",Vigo\n'
        ",visit,w2,,,Lugo\n"
        "v1,visit,w1,2026-03-01T10:00:00Z,,Vigo\n"
    )
    report = import_events(database, app_id, io.BytesIO(text.encode()), NOW)
    assert (report.rows, report.stored, report.duplicates, report.customers_created) == (
        3,
        2,
        1,
        2,
    )
    with database.read() as conn:
        w1 = customer_events(conn, app_id, "w1")
        w2 = customer_events(conn, app_id, "w2")
    assert w1[0].custom_data == {"floor": 2, "store": "Vigo"}
    assert (w2[0].custom_data, w2[0].occurred_at, len(w2[0].event_id)) == (
        {"store": "Lugo"},
        NOW,
        32,
    )


def test_event_import_jsonl_errors_name_the_line(database: Database, app_id: int) -> None:
    lines = (
        b'{"eventId": "j1", "eventCode": "email.open", "customerId": "x1"}\n'
        b"\n"
        b'{"eventCode": "mystery", "customerId": "x1"}\n'
        b"{not json\n"
        b'{"eventCode": "link.click", "customerId": "x2", "date": "yesterday"}\n'
    )
    with pytest.raises(ImportFailed) as caught:
        import_events(database, app_id, io.BytesIO(lines), NOW)
    assert [p.where for p in caught.value.problems] == [
        'line 3, column "eventCode"',
        "line 4",
        'line 5, column "date"',
    ]
    assert _count(database, events) == 0 and _count(database, customers) == 0
    later = NOW + timedelta(seconds=1)
    report = import_events(database, app_id, io.BytesIO(lines), later, ignore_errors=True)
    assert (report.stored, report.errors) == (1, 3)
    assert _count(database, events) == 1
