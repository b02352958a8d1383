"""``PUT /v1/journey/{id}/customers`` and ``/customers/csv``: customers put into a journey, live
and as test runs, through the real app, the real worker and the real dispatcher (log channel)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wayfare.channels.dispatch import Dispatcher
from wayfare.engine.wake import LOCAL_WAKE
from wayfare.engine.worker import Runner, Worker
from wayfare.importing import entries as journey_entries
from wayfare.settings import Settings
from wayfare.store.database import Database

from .test_api_client import TestClient, client_for, key_for


@pytest.fixture
def api(database: Database) -> TestClient:
    return client_for(database, key_for(database))


def run(database: Database) -> None:
    """Run the journeys and deliver their messages, as the worker would now."""
    at = datetime.now(UTC) + timedelta(seconds=1)
    runner = Runner(database)
    while runner.tick(at):
        pass
    dispatcher = Dispatcher(database)
    try:
        while dispatcher.tick(at):
            pass
    finally:
        dispatcher.close()


def journey(api: TestClient, *, entry: str = "IN_LIST", start: bool = True) -> int:
    """Customers c-0..c-3, an SMS campaign using ``context.coupon`` and a journey sending it."""
    for i in range(4):
        made = api.post("/v1/customer", json={"customerId": f"c-{i}", "phone": f"+3460000000{i}"})
        assert made.status_code in (200, 201), made.json()
    campaign = api.post(
        "/v1/campaign",
        json={
            "name": "Coupon",
            "channel": "sms",
            "content": {
                "text": "Hi {{ customer.customerId }}: {{ context.coupon | default: '-' }}"
            },
        },
    )
    assert campaign.status_code == 201, campaign.json()
    document = {
        "name": "Coupons",
        "states": [
            {"id": 1, "type": entry, "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_SMS_SEND",
                "params": {
                    "action": {"campaignId": campaign.json()["data"]["id"]},
                    "forward": None,
                },
            },
        ],
    }
    made = api.post("/v1/journey", json=document)
    assert made.status_code == 201, made.json()
    journey_id = int(made.json()["data"]["id"])
    if start:
        assert api.put(f"/v1/journey/{journey_id}/start").status_code == 200
    return journey_id


def texts(api: TestClient, customer_id: str) -> list[str]:
    found = api.get("/v1/message", params={"customerId": customer_id})
    assert found.status_code == 200, found.json()
    return [m["content"]["text"] for m in found.json()["data"]]


def entered(api: TestClient, journey_id: int, *, test: bool = False) -> int:
    stats = api.get(f"/v1/journey/{journey_id}/stats", params={"test": test}).json()["data"]
    return int(stats["states"][0]["entered"])


def put(api: TestClient, journey_id: int, body: Any, test: bool | None = None) -> Any:
    params = {} if test is None else {"test": str(test).lower()}
    return api.put(f"/v1/journey/{journey_id}/customers", json=body, params=params)


def upload(api: TestClient, journey_id: int, text: str, test: bool | None = None) -> Any:
    params = {} if test is None else {"test": str(test).lower()}
    return api.put(
        f"/v1/journey/{journey_id}/customers/csv",
        files={"file": ("people.csv", text.encode(), "text/csv")},
        params=params,
    )


def test_by_ids_known_unknown_and_already_in(api: TestClient, database: Database) -> None:
    journey_id = journey(api)
    done = put(api, journey_id, {"customers": ["c-0", "c-1", "ghost", "c-0"]})
    assert done.status_code == 200, done.json()
    assert done.json()["data"] == {
        "test": False,
        "entered": 2,
        "discarded": {"count": 1, "customerIds": ["c-0"]},
        "unknown": {"count": 1, "customerIds": ["ghost"]},
    }
    run(database)
    assert texts(api, "c-0") == ["Hi c-0: -"] and texts(api, "c-1") == ["Hi c-1: -"]
    assert texts(api, "c-2") == []
    assert api.get("/v1/customer/ghost").status_code == 404  # not created
    again = put(api, journey_id, {"customers": ["c-0", "c-2"]}).json()["data"]
    assert (again["entered"], again["discarded"]) == (1, {"count": 1, "customerIds": ["c-0"]})
    run(database)
    assert texts(api, "c-0") == ["Hi c-0: -"]  # once
    assert entered(api, journey_id) == 3


def test_context_values_reach_the_message(api: TestClient, database: Database) -> None:
    journey_id = journey(api)
    done = put(
        api,
        journey_id,
        {
            "customersWithContext": [
                {"customerId": "c-1", "context": {"coupon": "SPRING-10"}},
                {"customerId": "c-2", "contextValues": {"coupon": 7}},
                {"customerId": "c-3"},
            ]
        },
    )
    assert done.status_code == 200, done.json()
    assert done.json()["data"]["entered"] == 3
    run(database)
    assert texts(api, "c-1") == ["Hi c-1: SPRING-10"]
    assert texts(api, "c-2") == ["Hi c-2: 7"]
    assert texts(api, "c-3") == ["Hi c-3: -"]
    shown = api.get(f"/v1/journey/{journey_id}/enrollments", params={"customerId": "c-1"})
    assert shown.json()["data"][0]["status"] == "completed"


def test_test_runs_go_into_drafts_and_count_apart(api: TestClient, database: Database) -> None:
    journey_id = journey(api, start=False)
    refused = put(api, journey_id, {"customers": ["c-0"]})
    assert refused.status_code == 409
    assert refused.json()["errorCode"] == "invalid_transition"
    assert "DRAFT" in refused.json()["message"] and "test" in refused.json()["message"]
    refused_csv = upload(api, journey_id, "customerId\nc-0\n")
    assert refused_csv.status_code == 409
    done = put(api, journey_id, {"customers": ["c-0"]}, test=True)
    assert done.status_code == 200, done.json()
    assert done.json()["data"]["test"] is True and done.json()["data"]["entered"] == 1
    csv = upload(api, journey_id, "customerId,coupon\nc-1,T\n", test=True)
    assert csv.status_code == 200 and csv.json()["data"]["entered"] == 1
    run(database)
    assert texts(api, "c-0") == ["Hi c-0: -"] and texts(api, "c-1") == ["Hi c-1: T"]
    assert entered(api, journey_id, test=True) == 2
    assert entered(api, journey_id) == 0
    assert api.get(f"/v1/journey/{journey_id}").json()["data"]["status"] == "DRAFT"
    # once active, the live run starts apart from the test one
    assert api.put(f"/v1/journey/{journey_id}/start").status_code == 200
    live = put(api, journey_id, {"customers": ["c-0"]}).json()["data"]
    assert live["entered"] == 1 and live["test"] is False
    # a stopped journey takes nobody
    assert api.put(f"/v1/journey/{journey_id}/stop").status_code == 200
    stopped = put(api, journey_id, {"customers": ["c-2"]}, test=True)
    assert stopped.status_code == 409 and "DEACTIVATED" in stopped.json()["message"]


def test_live_entries_need_an_in_list_journey(api: TestClient, database: Database) -> None:
    journey_id = journey(api, entry="IN_ALL")
    refused = put(api, journey_id, {"customers": ["c-0"]})
    assert refused.status_code == 400 and "IN_LIST" in refused.json()["message"]
    # a draft that does not validate takes no test run either
    broken = api.post(
        "/v1/journey",
        json={"name": "Broken", "states": [{"id": 1, "type": "IN_LIST", "params": {"forward": 9}}]},
    ).json()["data"]["id"]
    not_valid = put(api, broken, {"customers": ["c-0"]}, test=True)
    assert not_valid.status_code == 400 and "check" in not_valid.json()["message"]


def test_by_csv_with_context_columns(api: TestClient, database: Database) -> None:
    journey_id = journey(api)
    text = "customerId;coupon;note\r\nc-0;A1;x\r\nc-1;;\r\nghost;Z;\r\nc-0;B2;\r\n"
    done = upload(api, journey_id, text)
    assert done.status_code == 200, done.json()
    assert done.json()["data"] == {
        "test": False,
        "entered": 2,
        "discarded": {"count": 1, "customerIds": ["c-0"]},
        "unknown": {"count": 1, "customerIds": ["ghost"]},
    }
    run(database)
    assert texts(api, "c-0") == ["Hi c-0: A1"] and texts(api, "c-1") == ["Hi c-1: -"]
    # a whole text/csv body works too
    plain = api.put(
        f"/v1/journey/{journey_id}/customers/csv",
        content=b"customerId\nc-2\n",
        headers={"Content-Type": "text/csv"},
    )
    assert plain.status_code == 200 and plain.json()["data"]["entered"] == 1


def test_a_csv_with_a_bad_row_is_refused_whole(api: TestClient, database: Database) -> None:
    journey_id = journey(api)
    bad_id = upload(api, journey_id, "customerId,coupon\nc-0,A\nnot an id!,B\nc-1,C\n")
    assert bad_id.status_code == 400, bad_id.json()
    assert bad_id.json()["errorCode"] == "import_failed"
    assert bad_id.json()["errors"][0]["where"] == 'line 3, column "customerId"'
    short = upload(api, journey_id, "customerId,coupon\nc-0,A\nc-1\n")
    assert short.status_code == 400 and short.json()["errors"][0]["where"] == "line 3"
    no_column = upload(api, journey_id, "id,coupon\nc-0,A\n")
    assert no_column.status_code == 400 and "customerId" in no_column.json()["message"]
    assert no_column.json()["errors"][0]["where"] == "line 1"
    no_file = api.put(
        f"/v1/journey/{journey_id}/customers/csv",
        files={"other": ("x.csv", b"customerId\nc-0\n", "text/csv")},
    )
    assert no_file.status_code == 400 and no_file.json()["errors"][0]["where"] == "file"
    assert entered(api, journey_id) == 0
    run(database)
    assert texts(api, "c-0") == []


def test_bad_bodies_name_the_field(api: TestClient) -> None:
    journey_id = journey(api)
    empty = put(api, journey_id, {})
    assert empty.status_code == 400 and empty.json()["errors"][0]["where"] == "body"
    both = put(api, journey_id, {"customers": ["c-0"], "customersWithContext": []})
    assert both.status_code == 400
    assert both.json()["errors"][0]["where"] == "customers/customersWithContext"
    for body, field in (
        ({"customers": [1]}, "customers"),
        ({"customers": "c-0"}, "customers"),
        ({"customers": ["c-0", "not an id!"]}, "customers"),
        ({"customers": ["x" * 201]}, "customers"),
        ({"customersWithContext": [{"context": {}}]}, "customersWithContext"),
        ({"customersWithContext": [{"customerId": "c-0", "context": 3}]}, "customersWithContext"),
        ({"customers": ["c-0"], "junk": True}, "junk"),
    ):
        refused = put(api, journey_id, body)
        assert refused.status_code == 400, (body, refused.json())
        assert refused.json()["errors"][0]["where"].startswith(field), refused.json()
    bad_id = put(api, journey_id, {"customers": ["c-0", "not an id!"]}).json()["errors"][0]
    assert bad_id["where"] == "customers[1]" and "not a customer id" in bad_id["message"]
    assert put(api, journey_id, {"customers": []}).json()["data"]["entered"] == 0


def test_other_applications_journeys_are_not_found(api: TestClient, database: Database) -> None:
    journey_id = journey(api)
    other = client_for(database, key_for(database, "other"))
    assert other.post("/v1/customer", json={"customerId": "c-0"}).status_code in (200, 201)
    assert put(other, journey_id, {"customers": ["c-0"]}).status_code == 404
    assert put(other, journey_id, {"customers": ["c-0"]}, test=True).status_code == 404
    assert upload(other, journey_id, "customerId\nc-0\n").status_code == 404
    assert put(api, 999, {"customers": ["c-0"]}).status_code == 404
    assert upload(api, 999, "customerId\nc-0\n").status_code == 404
    assert entered(api, journey_id) == 0
    # and a key of this application does not put another application's customers in
    done = put(api, journey_id, {"customers": ["c-0"]}).json()["data"]
    assert done["entered"] == 1


def test_customers_put_in_wake_the_worker(api: TestClient, database: Database) -> None:
    journey_id = journey(api)
    LOCAL_WAKE.clear()
    if database.dialect.is_postgres:
        listener = Worker(Settings(), database)._listen()
        try:
            assert put(api, journey_id, {"customers": ["c-0"]}).json()["data"]["entered"] == 1
            assert [n.channel for n in listener.notifies(timeout=5, stop_after=1)] == ["wayfare"]
        finally:
            listener.close()
    else:
        assert upload(api, journey_id, "customerId\nc-0\n").json()["data"]["entered"] == 1
        assert LOCAL_WAKE.is_set()


def test_a_csv_of_several_batches(
    api: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journey_entries, "BATCH", 2)
    journey_id = journey(api)
    # a bad row after two batches were written: the whole file is refused, nobody entered
    late = upload(api, journey_id, "customerId,coupon\nc-0,A\nc-1,B\nc-2,C\nc-3,D\nbad id,E\n")
    assert late.status_code == 400 and late.json()["errors"][0]["where"].startswith("line 6")
    assert entered(api, journey_id) == 0
    text = "customerId,coupon\nc-0,A\nc-1,B\nc-2,C\nc-0,again\nghost,X\nc-3,D\nc-1,again\n"
    done = upload(api, journey_id, text).json()["data"]
    assert (done["entered"], done["discarded"], done["unknown"]) == (
        4,
        {"count": 2, "customerIds": ["c-0", "c-1"]},
        {"count": 1, "customerIds": ["ghost"]},
    )
    run(database)
    assert [texts(api, f"c-{i}") for i in range(4)] == [
        ["Hi c-0: A"],
        ["Hi c-1: B"],
        ["Hi c-2: C"],
        ["Hi c-3: D"],
    ]
