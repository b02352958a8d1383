"""``Idempotency-Key`` on the POSTs that create or send, through the real app on SQLite and
PostgreSQL: replays, a key reused with another body, a key still in flight, expiry, uploads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Table, func, select

from wayfare.api.auth import utcnow
from wayfare.api.idempotency import BodyHash
from wayfare.store.applications import application_id
from wayfare.store.database import Database
from wayfare.store.idempotency import KEY_TTL, claim, complete
from wayfare.store.schema import events, idempotency_keys, sendings

from .test_api_client import TestClient, client_for, key_for


@pytest.fixture
def api(database: Database) -> TestClient:
    client = client_for(database, key_for(database))
    made = client.post("/v1/event/type", json={"code": "cart.add", "name": "Added to cart"})
    assert made.status_code == 201
    return client


EVENT = {"eventCode": "cart.add", "customerId": "c-1"}  # no eventId: each run stores a new one


def count(database: Database, table: Table) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_repeat_gets_the_first_answer_without_running_again(
    api: TestClient, database: Database
) -> None:
    first = api.post("/v1/event", json=EVENT, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = api.post("/v1/event", json=EVENT, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["content-type"] == "application/json"
    assert again.json() == first.json()
    assert count(database, events) == 1
    # Without the header (or with another key) each POST runs.
    assert api.post("/v1/event", json=EVENT).status_code == 201
    assert api.post("/v1/event", json=EVENT, headers={"Idempotency-Key": "k-2"}).status_code == 201
    assert count(database, events) == 3


def test_the_same_key_with_another_body_or_path_is_a_422(
    api: TestClient, database: Database
) -> None:
    headers = {"Idempotency-Key": "k-1"}
    assert api.post("/v1/event", json=EVENT, headers=headers).status_code == 201
    other = api.post("/v1/event", json={**EVENT, "customerId": "c-2"}, headers=headers)
    assert other.status_code == 422
    assert other.json() == {
        "statusCode": 422,
        "errorCode": "idempotency_key_reused",
        "message": "this Idempotency-Key was used with another request (path or body)",
    }
    batch = api.post("/v1/event/batch", json={"events": [EVENT]}, headers=headers)
    assert batch.status_code == 422
    assert count(database, events) == 1


def test_errors_below_500_are_kept_too(api: TestClient, database: Database) -> None:
    headers = {"Idempotency-Key": "bad-1"}
    bad = api.post("/v1/list", json={"name": ""}, headers=headers)
    assert bad.status_code == 400
    again = api.post("/v1/list", json={"name": ""}, headers=headers)
    assert (again.status_code, again.json()) == (400, bad.json())
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_key_still_in_flight_is_a_409(api: TestClient, database: Database) -> None:
    now = utcnow()
    with database.write() as conn:  # another process is running the first request
        app_id = application_id(conn, "acme")
        assert claim(conn, app_id, "k-1", "POST", "/v1/event", now) is None
    busy = api.post("/v1/event", json=EVENT, headers={"Idempotency-Key": "k-1"})
    assert busy.status_code == 409
    assert busy.json()["errorCode"] == "idempotency_in_flight"
    assert count(database, events) == 0
    # A claim left by a process that died is taken over after a while.
    with database.write() as conn:
        conn.execute(idempotency_keys.update().values(created_at=now - timedelta(hours=2)))
    assert api.post("/v1/event", json=EVENT, headers={"Idempotency-Key": "k-1"}).status_code == 201
    assert count(database, events) == 1


def test_keys_expire_after_24_hours(api: TestClient, database: Database) -> None:
    old = utcnow() - KEY_TTL - timedelta(minutes=1)
    with database.write() as conn:
        app_id = application_id(conn, "acme")
        assert claim(conn, app_id, "k-old", "POST", "/v1/event", old) is None
        complete(conn, app_id, "k-old", "0" * 64, 201, '{"statusCode": 201}')
        assert claim(conn, app_id, "k-gone", "POST", "/v1/event", old) is None
        complete(conn, app_id, "k-gone", "0" * 64, 201, '{"statusCode": 201}')
    answer = api.post("/v1/event", json=EVENT, headers={"Idempotency-Key": "k-old"})
    assert answer.status_code == 201 and "Idempotent-Replayed" not in answer.headers
    assert count(database, events) == 1
    with database.read() as conn:  # the expired keys were cleaned up on the way
        keys = conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.status_code)).all()
    assert keys == [("k-old", 201)]


def test_keys_belong_to_their_application(api: TestClient, database: Database) -> None:
    other = client_for(database, key_for(database, "other"))
    assert other.post("/v1/event/type", json={"code": "cart.add", "name": "x"}).status_code == 201
    headers = {"Idempotency-Key": "shared"}
    assert api.post("/v1/event", json=EVENT, headers=headers).status_code == 201
    theirs = other.post("/v1/event", json={**EVENT, "customerId": "z"}, headers=headers)
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert count(database, events) == 2


def test_refused_requests_claim_nothing(api: TestClient, database: Database) -> None:
    headers = {"Idempotency-Key": "k-1"}
    reader = client_for(database, key_for(database, role="read"))
    assert reader.post("/v1/event", json=EVENT, headers=headers).status_code == 403
    nobody = client_for(database, "not-a-key")
    assert nobody.post("/v1/event", json=EVENT, headers=headers).status_code == 401
    assert count(database, idempotency_keys) == 0
    too_long = api.post("/v1/event", json=EVENT, headers={"Idempotency-Key": "k" * 256})
    assert too_long.status_code == 400
    assert too_long.json()["errorCode"] == "invalid_idempotency_key"
    assert api.post("/v1/event", json=EVENT, headers=headers).status_code == 201


def test_other_routes_ignore_the_header(api: TestClient, database: Database) -> None:
    headers = {"Idempotency-Key": "k-1"}
    for name in ("a", "b"):  # event types are not among the idempotent POSTs
        made = api.post("/v1/event/type", json={"code": name, "name": name}, headers=headers)
        assert made.status_code == 201
    assert count(database, idempotency_keys) == 0


def test_sending_twice_with_a_key_sends_once(api: TestClient, database: Database) -> None:
    for i in range(2):
        assert api.post("/v1/customer", json={"customerId": f"c-{i}"}).status_code == 201
    content = {"text": "Hi {{ context.coupon }}"}
    made = api.post("/v1/campaign", json={"name": "Promo", "channel": "sms", "content": content})
    campaign_id = made.json()["data"]["id"]
    headers = {"Idempotency-Key": "send-1"}
    path = f"/v1/campaign/{campaign_id}/send/all"
    first = api.post(path, headers=headers)  # no body at all
    assert first.status_code == 201
    again = api.post(path, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert count(database, sendings) == 1

    # A CSV upload: streamed and hashed as it goes; the multipart boundary changes each time.
    csv = b"customerId,coupon\r\nc-0,SAVE10\r\nc-1,SAVE20\r\n"
    upload = f"/v1/campaign/{campaign_id}/send/csv"
    headers = {"Idempotency-Key": "send-2"}
    first = api.post(upload, files={"file": ("s.csv", csv)}, headers=headers)
    assert first.status_code == 201, first.json()
    again = api.post(upload, files={"file": ("s.csv", csv)}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert count(database, sendings) == 2
    changed = csv.replace(b"SAVE20", b"SAVE30")
    reused = api.post(upload, files={"file": ("s.csv", changed)}, headers=headers)
    assert reused.status_code == 422
    assert count(database, sendings) == 2


def test_a_multipart_boundary_split_across_pieces_hashes_the_same() -> None:
    def hashed(boundary: bytes, pieces: int) -> str:
        scope = {
            "query_string": b"",
            "headers": [(b"content-type", b"multipart/form-data; boundary=" + boundary)],
        }
        body = b"--%s\r\nContent-Disposition: form-data\r\n\r\ncustomerId\r\nc-1\r\n--%s--\r\n" % (
            boundary,
            boundary,
        )
        digest = BodyHash(scope)
        size = max(1, len(body) // pieces)
        for start in range(0, len(body), size):
            digest.update(body[start : start + size])
        return digest.hexdigest()

    expected = hashed(b"aaaaaaaaaaaaaaaa", 1)
    assert {hashed(b"bbbbbbbbbbbbbbbb", n) for n in (1, 3, 7, 40, 200)} == {expected}
