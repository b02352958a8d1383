"""``/v1/campaign/{id}/send/...`` and ``/sendings``: through the real app and the real dispatcher
(the log channel, no settings), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wayfare.channels.dispatch import Dispatcher
from wayfare.store.database import Database

from .test_api_client import TestClient, client_for, key_for


@pytest.fixture
def api(database: Database) -> TestClient:
    return client_for(database, key_for(database))


def dispatch(database: Database, at: datetime | None = None) -> None:
    dispatcher = Dispatcher(database)
    try:
        while dispatcher.tick(at or datetime.now(UTC) + timedelta(seconds=1)):
            pass
    finally:
        dispatcher.close()


def setup(api: TestClient, content: dict[str, Any] | None = None, channel: str = "sms") -> int:
    """Customers c-0..c-3 and a campaign; the campaign's id."""
    for i in range(4):
        made = api.post("/v1/customer", json={"customerId": f"c-{i}"})
        assert made.status_code in (200, 201), made.json()
    content = content or {"text": "Hi {{ customer.customerId }} {{ context.coupon | default: '' }}"}
    made = api.post("/v1/campaign", json={"name": "Promo", "channel": channel, "content": content})
    assert made.status_code == 201, made.json()
    return int(made.json()["data"]["id"])


def messages(api: TestClient, customer_id: str) -> list[dict[str, Any]]:
    found = api.get("/v1/message", params={"customerId": customer_id})
    assert found.status_code == 200, found.json()
    return list(found.json()["data"])


def test_send_all_now_then_progress_and_statistics(api: TestClient, database: Database) -> None:
    campaign_id = setup(api)
    sent = api.post(f"/v1/campaign/{campaign_id}/send/all")
    assert sent.status_code == 201, sent.json()
    data = sent.json()["data"]
    assert (data["audience"], data["total"], data["channel"], data["status"]) == (
        "all",
        4,
        "sms",
        "sending",
    )
    assert data["stats"]["pending"] == 4 and data["progress"] == 0.0
    sending_id = data["id"]
    dispatch(database)
    shown = api.get(f"/v1/campaign/{campaign_id}/sendings/{sending_id}").json()["data"]
    assert shown["status"] == "done" and shown["progress"] == 1.0
    assert shown["stats"]["sent"] == 4 and shown["stats"]["pending"] == 0
    got = messages(api, "c-2")
    assert [(m["status"], m["content"]) for m in got] == [("sent", {"text": "Hi c-2 "})]
    clicked = api.post(
        "/v1/event",
        json={
            "eventCode": "link.click",
            "customerId": "c-2",
            "customData": {"messageId": got[0]["id"], "campaignId": campaign_id},
        },
    )
    assert clicked.status_code in (200, 201), clicked.json()
    stats = api.get(f"/v1/campaign/{campaign_id}/sendings/{sending_id}").json()["data"]["stats"]
    assert (stats["clicked"], stats["clickRate"], stats["delivered"]) == (1, 0.25, 0)
    listed = api.get(f"/v1/campaign/{campaign_id}/sendings").json()
    assert listed["count"] == 1 and listed["data"][0]["stats"]["clicked"] == 1


def test_send_to_customers_with_context_and_unknown_ids(
    api: TestClient, database: Database
) -> None:
    campaign_id = setup(api)
    sent = api.post(
        f"/v1/campaign/{campaign_id}/send/list",
        json={
            "customersWithContext": [
                {"customerId": "c-1", "context": {"coupon": "GOLD"}},
                {"customerId": "ghost", "context": {"coupon": "X"}},
            ]
        },
    )
    assert sent.status_code == 201, sent.json()
    data = sent.json()["data"]
    assert data["total"] == 1 and data["unknown"] == {"count": 1, "customerIds": ["ghost"]}
    plain = api.post(f"/v1/campaign/{campaign_id}/send/list", json={"customers": ["c-3"]})
    assert plain.json()["data"]["total"] == 1
    dispatch(database)
    assert [m["content"] for m in messages(api, "c-1")] == [{"text": "Hi c-1 GOLD"}]
    assert [m["content"] for m in messages(api, "c-3")] == [{"text": "Hi c-3 "}]
    assert messages(api, "ghost") == []

    both = api.post(
        f"/v1/campaign/{campaign_id}/send/list", json={"listId": 1, "customers": ["c-1"]}
    )
    assert both.status_code == 400 and both.json()["errors"][0]["where"] == "listId/customers"
    none = api.post(f"/v1/campaign/{campaign_id}/send/list", json={})
    assert none.status_code == 400
    bad = api.post(f"/v1/campaign/{campaign_id}/send/list", json={"customers": ["ok", "n o"]})
    assert bad.status_code == 400 and bad.json()["errors"][0]["where"] == "customers[1]"


def test_a_list_sending(api: TestClient, database: Database) -> None:
    campaign_id = setup(api)
    list_id = api.post("/v1/list", json={"name": "VIP"}).json()["data"]["id"]
    api.put(
        f"/v1/list/{list_id}/customers",
        json={"customers": [{"customerId": "c-0", "contextValues": {"coupon": "VIP10"}}, "c-1"]},
    )
    sent = api.post(f"/v1/campaign/{campaign_id}/send/list", json={"listId": list_id})
    assert sent.status_code == 201, sent.json()
    assert (sent.json()["data"]["audience"], sent.json()["data"]["listId"]) == ("list", list_id)
    assert sent.json()["data"]["total"] == 2
    dispatch(database)
    assert [m["content"] for m in messages(api, "c-0")] == [{"text": "Hi c-0 VIP10"}]
    assert [m["content"] for m in messages(api, "c-1")] == [{"text": "Hi c-1 "}]
    assert messages(api, "c-2") == []


def test_a_csv_sending_renders_its_columns(api: TestClient, database: Database) -> None:
    campaign_id = setup(api, {"text": "{{ context.coupon }} for {{ context.name }}"})
    csv = b"customerId,coupon,name\r\nc-0,SAVE10,Ana\r\nc-2,SAVE20,Luis\r\nnobody,X,Y\r\n"
    sent = api.post(f"/v1/campaign/{campaign_id}/send/csv", files={"file": ("s.csv", csv)})
    assert sent.status_code == 201, sent.json()
    data = sent.json()["data"]
    assert (data["audience"], data["total"], data["unknown"]["count"]) == ("csv", 2, 1)
    dispatch(database)
    assert [m["content"] for m in messages(api, "c-0")] == [{"text": "SAVE10 for Ana"}]
    assert [m["content"] for m in messages(api, "c-2")] == [{"text": "SAVE20 for Luis"}]

    bad = api.post(
        f"/v1/campaign/{campaign_id}/send/csv",
        files={"file": ("s.csv", b"customerId,coupon\nc-0,A\nn o,B\n")},
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["where"] == 'line 3, column "customerId"'
    assert api.get(f"/v1/campaign/{campaign_id}/sendings").json()["count"] == 1


def test_a_scheduled_sending_waits_and_is_cancelled(api: TestClient, database: Database) -> None:
    campaign_id = setup(api)
    at = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    later = api.post(
        f"/v1/campaign/{campaign_id}/send/all", json={"sendAt": at.isoformat()}
    ).json()["data"]
    kept = api.post(
        f"/v1/campaign/{campaign_id}/send/csv",
        params={"sendAt": at.replace(tzinfo=None).isoformat()},  # no offset: UTC
        files={"file": ("s.csv", b"customerId\nc-0\n")},
    ).json()["data"]
    assert later["status"] == "scheduled" and later["sendAt"] == at.isoformat()
    assert kept["sendAt"] == at.isoformat()
    dispatch(database)
    assert [m["status"] for m in messages(api, "c-1")] == ["pending"]
    cancelled = api.delete(f"/v1/campaign/{campaign_id}/sendings/{later['id']}")
    assert cancelled.status_code == 200, cancelled.json()
    body = cancelled.json()["data"]
    assert body["cancelled"] == 4 and body["status"] == "cancelled"
    assert body["stats"]["skipped"] == {"cancelled": 4}
    dispatch(database, at + timedelta(seconds=1))
    assert [(m["status"], m["reason"]) for m in messages(api, "c-1")] == [("skipped", "cancelled")]
    assert sorted(m["status"] for m in messages(api, "c-0")) == ["sent", "skipped"]


def test_other_applications_campaigns_lists_and_sendings_are_not_found(
    database: Database,
) -> None:
    owner = client_for(database, key_for(database, "a"))
    intruder = client_for(database, key_for(database, "b"))
    campaign_id = setup(owner)
    list_id = owner.post("/v1/list", json={"name": "VIP"}).json()["data"]["id"]
    sending_id = owner.post(f"/v1/campaign/{campaign_id}/send/all").json()["data"]["id"]
    theirs = setup(intruder)
    calls = [
        intruder.post(f"/v1/campaign/{campaign_id}/send/all"),
        intruder.post(f"/v1/campaign/{campaign_id}/send/list", json={"customers": ["c-0"]}),
        intruder.post(
            f"/v1/campaign/{campaign_id}/send/csv", files={"file": ("s.csv", b"customerId\nc-0\n")}
        ),
        intruder.post(f"/v1/campaign/{theirs}/send/list", json={"listId": list_id}),
        intruder.get(f"/v1/campaign/{campaign_id}/sendings"),
        intruder.get(f"/v1/campaign/{campaign_id}/sendings/{sending_id}"),
        intruder.get(f"/v1/campaign/{theirs}/sendings/{sending_id}"),
        intruder.delete(f"/v1/campaign/{campaign_id}/sendings/{sending_id}"),
    ]
    assert [c.status_code for c in calls] == [404] * len(calls)
    assert owner.get(f"/v1/campaign/{campaign_id}/sendings").json()["count"] == 1
    assert intruder.get(f"/v1/campaign/{theirs}/sendings").json()["count"] == 0
