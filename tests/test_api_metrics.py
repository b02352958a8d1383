"""``GET /metrics``: request counters by route template, events ingested, database gauges and the
optional bearer token, through the real app on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from sqlalchemy import insert

from wayfare.api.app import create_app
from wayfare.api.metrics import BUCKETS
from wayfare.settings import Settings
from wayfare.store.applications import ensure_application
from wayfare.store.database import Database
from wayfare.store.schema import enrollments, journeys, outbox

from .conftest import NOW
from .test_api_client import TestClient, client_for, key_for

SAMPLE = re.compile(r"^([a-z_]+)(\{.*\})? (\S+)$")


def scrape(client: TestClient, **headers: str) -> dict[str, float]:
    """The samples of a scrape, by ``name{labels}``; the format is checked line by line."""
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, float] = {}
    for line in answer.text.splitlines():
        if line.startswith("# "):
            assert line.split()[1] in ("HELP", "TYPE"), line
            continue
        found = SAMPLE.match(line)
        assert found, line
        samples[found[1] + (found[2] or "")] = float(found[3])
    return samples


def test_requests_are_counted_by_route_template_and_timed(database: Database) -> None:
    client = client_for(database, key_for(database))
    before = scrape(client)
    for customer_id in ("c-1", "c-2", "c-3"):
        assert client.post("/v1/customer", json={"customerId": customer_id}).status_code == 201
        assert client.get(f"/v1/customer/{customer_id}").status_code == 200
    assert client.get("/v1/customer/nobody").status_code == 404
    assert client.get("/v1/no/such/path/x1").status_code == 404
    after = scrape(client)

    def delta(name: str) -> float:
        return after.get(name, 0) - before.get(name, 0)

    route = 'route="/v1/customer/{customerId}"'
    assert delta(f'wayfare_http_requests_total{{method="GET",{route},status="200"}}') == 3
    assert delta(f'wayfare_http_requests_total{{method="GET",{route},status="404"}}') == 1
    assert (
        delta('wayfare_http_requests_total{method="POST",route="/v1/customer",status="201"}') == 3
    )
    unmatched = 'wayfare_http_requests_total{method="GET",route="unmatched",status="404"}'
    assert delta(unmatched) == 1
    assert not any("c-1" in name or "/x1" in name for name in after)  # never raw paths
    histogram = f'wayfare_http_request_duration_seconds_count{{method="GET",{route}}}'
    assert delta(histogram) == 4
    last = f'wayfare_http_request_duration_seconds_bucket{{method="GET",{route},le="+Inf"}}'
    assert after[last] == after[histogram]
    buckets = [
        after[f'wayfare_http_request_duration_seconds_bucket{{method="GET",{route},le="{b!r}"}}']
        for b in BUCKETS
    ]
    assert buckets == sorted(buckets)  # cumulative
    assert after[f'wayfare_http_request_duration_seconds_sum{{method="GET",{route}}}'] > 0


def test_events_ingested_count_what_was_stored(database: Database) -> None:
    client = client_for(database, key_for(database))
    made = client.post("/v1/event/type", json={"code": "cart.add", "name": "Added to cart"})
    assert made.status_code == 201
    before = scrape(client)["wayfare_events_ingested_total"]
    one = {"eventId": "e-1", "eventCode": "cart.add", "customerId": "c-1"}
    assert client.post("/v1/event", json=one).status_code == 201
    assert client.post("/v1/event", json=one).status_code == 200  # a duplicate: not counted
    batch = [{"eventId": f"e-{i}", "eventCode": "cart.add", "customerId": "c-1"} for i in range(4)]
    assert client.post("/v1/event/batch", json={"events": batch}).json()["data"]["recorded"] == 3
    assert scrape(client)["wayfare_events_ingested_total"] - before == 4


def test_database_gauges(database: Database) -> None:
    with database.write() as conn:
        app_id = ensure_application(conn, "acme", NOW)
        journey_id = conn.execute(
            insert(journeys).values(
                application_id=app_id,
                name="j",
                status="ACTIVE",
                version=1,
                states=[],
                settings={},
                created_at=NOW,
                updated_at=NOW,
            )
        ).inserted_primary_key[0]
        for number, status in enumerate(["waiting", "waiting", "completed"]):
            conn.execute(
                insert(enrollments).values(
                    application_id=app_id,
                    journey_id=journey_id,
                    customer_id="c-1",
                    entry_number=number,
                    test=False,
                    state_id=1,
                    status=status,
                    context={},
                    transitions=0,
                    entered_at=NOW,
                    updated_at=NOW,
                )
            )
        for number, (channel, status) in enumerate(
            [("sms", "pending"), ("sms", "sent"), ("sms", "sent"), ("email", "failed")]
        ):
            conn.execute(
                insert(outbox).values(
                    application_id=app_id,
                    idempotency_key=f"k-{number}",
                    customer_id="c-1",
                    channel=channel,
                    payload={},
                    status=status,
                    attempts=0,
                    next_attempt_at=NOW,
                    created_at=NOW,
                )
            )
    samples = scrape(client_for(database))  # no key needed
    assert samples['wayfare_enrollments{status="waiting"}'] == 2
    assert samples['wayfare_enrollments{status="completed"}'] == 1
    assert samples['wayfare_enrollments{status="failed"}'] == 0
    assert samples["wayfare_outbox_pending"] == 1
    assert samples['wayfare_deliveries{channel="sms",status="sent"}'] == 2
    assert samples['wayfare_deliveries{channel="sms",status="pending"}'] == 1
    assert samples['wayfare_deliveries{channel="email",status="failed"}'] == 1
    assert 'wayfare_deliveries{channel="email",status="sent"}' not in samples


def test_a_metrics_token_is_required_when_set(database: Database) -> None:
    client = client_for(database, app=create_app(Settings(metrics_token="s3cret"), database))
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["errorCode"] == "bad_metrics_token"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert (
        "wayfare_outbox_pending 0"
        in client.get("/metrics", headers={"Authorization": "Bearer s3cret"}).text.splitlines()
    )
