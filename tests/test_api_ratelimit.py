"""Rate limiting per server key: the token bucket itself (on a clock of our own), then 429s with
``Retry-After`` through the real app on SQLite and PostgreSQL."""

from __future__ import annotations

from wayfare.api.app import create_app
from wayfare.api.ratelimit import TokenBuckets, bucket_size
from wayfare.settings import Settings
from wayfare.store.database import Database

from .test_api_client import TestClient, client_for, key_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2, burst=4, clock=clock)
    assert [buckets.take("a") for _ in range(4)] == [0, 0, 0, 0]
    assert buckets.take("a") == 1  # half a second for the next token: at least 1 s
    assert buckets.take("b") == 0  # another key, another bucket
    clock.now += 0.5
    assert buckets.take("a") == 0
    assert buckets.take("a") == 1
    clock.now += 3600  # a long pause refills no more than the burst
    assert [buckets.take("a") for _ in range(5)] == [0, 0, 0, 0, 1]


def test_retry_after_is_the_wait_for_one_token_rounded_up() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=0.1, burst=1, clock=clock)
    assert buckets.take("a") == 0
    assert buckets.take("a") == 10
    clock.now += 2.5
    assert buckets.take("a") == 8  # 7.5 s left


def test_unknown_keys_cannot_grow_the_table_without_bound() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1, burst=1, clock=clock, max_buckets=3)
    assert buckets.take("busy") == 0
    for key in ("x", "y", "busy", "z"):  # "busy" is used again: "x" is the oldest
        buckets.take(key)
    assert buckets.take("busy") == 1  # still remembered (and empty)
    assert buckets.take("x") == 0  # forgotten: a full bucket again


def test_default_burst_is_twice_the_rate() -> None:
    assert bucket_size(100, None) == 200
    assert bucket_size(0.2, None) == 1
    assert bucket_size(100, 7) == 7
    settings = Settings()
    assert settings.rate_limit > 0 and settings.rate_limit_burst is None


def limited(database: Database, rate: float = 0.01, burst: int = 2) -> TestClient:
    settings = Settings(rate_limit=rate, rate_limit_burst=burst)
    return client_for(database, app=create_app(settings, database))


def test_over_the_limit_is_a_429_with_retry_after(database: Database) -> None:
    client = limited(database)
    first, second = key_for(database), key_for(database, "other")
    as_first = {"Authorization": f"ServerKey {first}"}
    assert client.get("/v1/customer", headers=as_first).status_code == 200
    assert (
        client.post("/v1/customer", json={"customerId": "c"}, headers=as_first).status_code == 201
    )
    refused = client.get("/v1/customer", headers=as_first)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "100"  # 1 token at 0.01/s
    assert refused.json() == {
        "statusCode": 429,
        "errorCode": "rate_limited",
        "message": "too many requests for this server key: retry in 100 s",
    }
    # The refused request did nothing.
    refused = client.post("/v1/customer", json={"customerId": "d"}, headers=as_first)
    assert refused.status_code == 429
    # Another key (of another application) has its own bucket.
    as_second = {"Authorization": f"ServerKey {second}"}
    assert client.get("/v1/customer", headers=as_second).status_code == 200
    listed = client.get("/v1/customer", headers=as_second).json()
    assert listed["count"] == 0
    # Requests without a server key are not limited here.
    assert all(client.get("/health").status_code == 200 for _ in range(5))


def test_the_refused_request_is_not_run(database: Database) -> None:
    client = limited(database, burst=1)
    key = key_for(database)
    headers = {"Authorization": f"ServerKey {key}"}
    assert client.post("/v1/customer", json={"customerId": "a"}, headers=headers).status_code == 201
    assert client.post("/v1/customer", json={"customerId": "b"}, headers=headers).status_code == 429
    other = client_for(database, key)  # a second process: its own buckets
    assert other.get("/v1/customer/b").status_code == 404
    assert other.get("/v1/customer/a").status_code == 200


def test_a_rate_of_zero_disables_the_limit(database: Database) -> None:
    client = limited(database, rate=0, burst=1)
    headers = {"Authorization": f"ServerKey {key_for(database)}"}
    assert all(client.get("/v1/customer", headers=headers).status_code == 200 for _ in range(30))
