"""``/v1/customer``: fields, customers one by one, in bulk and by CSV upload."""

from __future__ import annotations

import pytest

from wayfare.store.database import Database

from .test_api_client import TestClient, client_for, key_for


@pytest.fixture
def api(database: Database) -> TestClient:
    return client_for(database, key_for(database))


def test_fields_define_list_delete(api: TestClient) -> None:
    made = api.post("/v1/customer/field", json={"name": "age", "type": "number"})
    assert made.status_code == 201
    assert made.json()["data"]["type"] == "number"
    assert (
        api.post("/v1/customer/field", json={"name": "vip", "type": "boolean"}).status_code == 201
    )
    listed = api.get("/v1/customer/field").json()
    assert [f["name"] for f in listed["data"]] == ["age", "vip"] and listed["count"] == 2
    clash = api.post("/v1/customer/field", json={"name": "age", "type": "string"})
    assert clash.status_code == 409 and clash.json()["errorCode"] == "conflict"
    bad = api.post("/v1/customer/field", json={"name": "1x", "type": "colour"})
    assert bad.status_code == 400
    assert {e["where"] for e in bad.json()["errors"]} == {"name", "type"}
    missing = api.post("/v1/customer/field", json={"name": "x"})
    assert missing.status_code == 400 and missing.json()["errors"][0]["where"] == "type"
    api.post("/v1/customer", json={"customerId": "c-1", "fields": {"age": 31}})
    assert api.delete("/v1/customer/field/age").status_code == 200
    assert api.get("/v1/customer/c-1").json()["data"]["fields"] == {}
    assert api.delete("/v1/customer/field/age").status_code == 404


def test_create_get_update_list_and_erase(api: TestClient) -> None:
    api.post("/v1/customer/field", json={"name": "age", "type": "number"})
    made = api.post(
        "/v1/customer",
        json={"customerId": "c-1", "email": "ana@example.com", "fields": {"age": 31}},
    )
    assert made.status_code == 201
    assert made.json()["data"]["email"] == "ana@example.com"
    again = api.post("/v1/customer", json={"customerId": "c-1", "timezone": "Europe/Madrid"})
    assert again.status_code == 200  # it existed: updated
    assert again.json()["data"]["email"] == "ana@example.com"

    changed = api.put("/v1/customer/c-1", json={"email": None, "fields": {"age": 32}})
    assert changed.status_code == 200
    data = changed.json()["data"]
    assert data["email"] is None and data["fields"] == {"age": 32}
    assert data["timezone"] == "Europe/Madrid"
    assert api.put("/v1/customer/nobody", json={"email": "x@example.com"}).status_code == 404

    bad = api.post(
        "/v1/customer", json={"customerId": "c-2", "email": "nope", "fields": {"age": "x"}}
    )
    assert bad.status_code == 400
    assert {e["where"] for e in bad.json()["errors"]} == {"email", "fields.age"}
    assert bad.json()["message"].startswith("email: ")
    typo = api.post("/v1/customer", json={"customerId": "c-2", "emial": "a@b.co"})
    assert typo.status_code == 400 and typo.json()["errors"][0]["where"] == "emial"

    for n in range(2, 6):
        api.post("/v1/customer", json={"customerId": f"c-{n}"})
    page = api.get("/v1/customer?limit=2&page=1").json()
    assert page["count"] == 5
    assert [c["customerId"] for c in page["data"]] == ["c-3", "c-4"]
    assert api.get("/v1/customer?q=c-5").json()["count"] == 1
    assert api.get("/v1/customer?limit=0").json()["errors"][0]["where"] == "limit"

    assert api.delete("/v1/customer/c-1").status_code == 200
    gone = api.get("/v1/customer/c-1")
    assert gone.status_code == 404 and gone.json()["errorCode"] == "not_found"
    assert api.delete("/v1/customer/c-1").status_code == 404


def test_bulk_is_all_or_nothing_unless_errors_are_ignored(api: TestClient) -> None:
    api.post("/v1/customer/field", json={"name": "age", "type": "number"})
    body = {
        "customers": [
            {"customerId": "a", "data": {"age": 30, "email": "a@example.com"}},
            {"customerId": "b", "data": {"age": "old"}},
            {"customerId": "c", "fields": {"age": 40}},
        ]
    }
    refused = api.put("/v1/customer/list", json=body)
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {
            "where": "customers[1].data.age",
            "message": refused.json()["errors"][0]["message"],
            "code": "invalid_value",
        }
    ]
    assert api.get("/v1/customer").json()["count"] == 0

    stored = api.put("/v1/customer/list?ignoreErrors=true", json=body)
    assert stored.status_code == 200
    data = stored.json()["data"]
    assert (data["created"], data["updated"], data["errors"]) == (2, 0, 1)
    assert data["problems"][0]["where"] == "customers[1].data.age"
    assert api.get("/v1/customer/a").json()["data"]["fields"] == {"age": 30}
    assert api.get("/v1/customer/c").json()["data"]["fields"] == {"age": 40}
    too_many = api.put("/v1/customer/list", json={"customers": [{"customerId": "x"}] * 10_001})
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["where"] == "customers"


@pytest.mark.parametrize("as_multipart", [True, False], ids=["multipart", "text-csv"])
def test_csv_upload(database: Database, as_multipart: bool) -> None:
    api = client_for(database, key_for(database))
    text = "customerId,email,age\nc-1,ana@example.com,31\nc-2,,45\n"
    if as_multipart:
        answer = api.post(
            "/v1/customer/csv",
            files={"file": ("customers.csv", text.encode(), "text/csv")},
            data={"note": "ignored"},
        )
    else:
        answer = api.post("/v1/customer/csv", content=text, headers={"Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.text
    report = answer.json()["data"]
    assert (report["rows"], report["stored"], report["errors"]) == (2, 2, 0)
    assert report["fieldsCreated"] == [{"name": "age", "type": "number"}]
    assert api.get("/v1/customer/c-2").json()["data"]["fields"] == {"age": 45}


def test_csv_upload_errors(api: TestClient) -> None:
    bad = api.post(
        "/v1/customer/csv",
        files={"file": ("c.csv", b"customerId,email\nc-1,not-an-email\n", "text/csv")},
    )
    assert bad.status_code == 400 and bad.json()["errorCode"] == "import_failed"
    assert "line 2" in bad.json()["errors"][0]["where"]
    assert api.get("/v1/customer").json()["count"] == 0
    no_file = api.post("/v1/customer/csv", files={"other": ("c.csv", b"customerId\nx\n")})
    assert no_file.status_code == 400 and no_file.json()["errors"][0]["where"] == "file"
    wrong = api.post("/v1/customer/csv", json={"customerId": "x"})
    assert wrong.status_code == 415
