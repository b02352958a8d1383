"""``/v1/list`` and ``/v1/event``: contact lists and their uploads, event types and events."""

from __future__ import annotations

import pytest

from wayfare.store.database import Database

from .test_api_client import TestClient, client_for, key_for


@pytest.fixture
def api(database: Database) -> TestClient:
    return client_for(database, key_for(database))


def test_lists(api: TestClient) -> None:
    made = api.post("/v1/list", json={"name": "VIP"})
    assert made.status_code == 201
    list_id = made.json()["data"]["id"]
    assert api.post("/v1/list", json={"name": "VIP"}).status_code == 409
    assert api.post("/v1/list", json={"name": ""}).json()["errors"][0]["where"] == "name"
    put = api.put(
        f"/v1/list/{list_id}/customers",
        json={"customers": ["c-1", {"customerId": "c-2", "contextValues": {"coupon": "X1"}}]},
    )
    assert put.status_code == 200
    assert put.json()["data"] == {"added": 2, "updated": 0, "customersCreated": 2}
    bad = api.put(f"/v1/list/{list_id}/customers", json={"customers": ["ok", "not ok!"]})
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["where"] == "customers[1].customerId"

    shown = api.get(f"/v1/list/{list_id}?limit=1&page=1").json()
    assert shown["count"] == 2 and shown["data"]["members"] == 2
    assert shown["data"]["customers"] == [{"customerId": "c-2", "contextValues": {"coupon": "X1"}}]
    listed = api.get("/v1/list").json()
    assert listed["count"] == 1 and listed["data"][0]["name"] == "VIP"

    upload = api.post(
        f"/v1/list/{list_id}/csv",
        files={"file": ("m.csv", b"customerId,coupon\nc-2,Y2\nc-3,Z3\n", "text/csv")},
    )
    assert upload.status_code == 200, upload.text
    assert (upload.json()["data"]["stored"], upload.json()["data"]["duplicates"]) == (1, 1)
    assert api.get(f"/v1/list/{list_id}").json()["data"]["members"] == 3
    missing = api.post("/v1/list/999/csv", files={"file": ("m.csv", b"customerId\nx\n")})
    assert missing.status_code == 404
    assert api.get("/v1/customer/c-3").status_code == 200  # members are customers

    assert api.delete(f"/v1/list/{list_id}").status_code == 200
    assert api.get(f"/v1/list/{list_id}").status_code == 404
    assert api.delete(f"/v1/list/{list_id}").status_code == 404
    assert api.get("/v1/customer/c-1").status_code == 200  # the customers stay


def test_event_types_and_events(api: TestClient) -> None:
    made = api.post("/v1/event/type", json={"code": "cart.add", "name": "Added to cart"})
    assert made.status_code == 201 and made.json()["data"]["retentionDays"] is None
    assert api.post("/v1/event/type", json={"code": "cart.add", "name": "x"}).status_code == 409
    bad = api.post("/v1/event/type", json={"code": "cart add", "name": "x", "retentionDays": 0})
    assert bad.status_code == 400 and bad.json()["errors"][0]["where"] == "retentionDays"
    assert [t["code"] for t in api.get("/v1/event/type").json()["data"]] == ["cart.add"]

    event = {
        "eventId": "e-1",
        "eventCode": "cart.add",
        "customerId": "c-1",
        "customData": {"sku": 7},
    }
    first = api.post("/v1/event", json=event)
    assert first.status_code == 201
    assert first.json()["data"] == {"recorded": 1, "duplicates": 0, "customersCreated": 1}
    again = api.post("/v1/event", json=event)
    assert again.status_code == 200 and again.json()["data"]["duplicates"] == 1
    unknown = api.post("/v1/event", json={**event, "eventId": "e-2", "eventCode": "nope"})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["where"] == "eventCode"
    late = api.post("/v1/event", json={**event, "eventId": "e-3", "date": "yesterday"})
    assert late.status_code == 400 and late.json()["errors"][0]["where"] == "date"


def test_event_batch(api: TestClient) -> None:
    api.post("/v1/event/type", json={"code": "visit", "name": "Visit"})
    events = [
        {"eventId": f"e-{n}", "eventCode": "visit", "customerId": f"c-{n % 3}"} for n in range(50)
    ]
    answer = api.post("/v1/event/batch", json={"events": events})
    assert answer.status_code == 201
    assert answer.json()["data"] == {"recorded": 50, "duplicates": 0, "customersCreated": 3}
    replay = api.post("/v1/event/batch", json={"events": events[:10]}).json()["data"]
    assert (replay["recorded"], replay["duplicates"]) == (0, 10)

    bad = [*events[:5], {"eventCode": "visit", "customerId": "bad id!"}]
    refused = api.post(
        "/v1/event/batch",
        json={"events": [{**e, "eventId": "n" + e.get("eventId", "")} for e in bad]},
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["where"] == "events[5].customerId"
    assert api.get("/v1/customer").json()["count"] == 3  # nothing of the refused batch stored
    too_many = api.post("/v1/event/batch", json={"events": [{}] * 10_001})
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["where"] == "events"
    for body, where in [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"events": {"a": 1}}', "events"),
        (b'{"events": [], "extra": 1}', "extra"),
    ]:
        wrong = api.post(
            "/v1/event/batch", content=body, headers={"Content-Type": "application/json"}
        )
        assert wrong.status_code == 400, body
        assert [e["where"] for e in wrong.json()["errors"]] == [where], body
