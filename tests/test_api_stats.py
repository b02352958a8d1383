"""``/v1/journey/{id}/stats``, ``/history.csv`` and ``/enrollments``: the figures of a real run."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from wayfare.engine.worker import Runner
from wayfare.store.database import Database

from .test_api_client import client_for, key_for
from .test_api_journeys import email_campaign, welcome
from .test_runner import drain

if TYPE_CHECKING:  # imported at run time through test_api_client, which silences its warning
    from fastapi.testclient import TestClient


def started(api: TestClient, database: Database) -> int:
    """The welcome journey, with a goal, run to the end for c1 and c2 (c2 buys)."""
    campaign_id = email_campaign(api)
    for customer in ("c1", "c2"):
        made = api.post("/v1/customer", json={"customerId": customer, "email": f"{customer}@x.io"})
        assert made.status_code == 201
    typed = api.post("/v1/event/type", json={"code": "purchase", "name": "Purchase"})
    assert typed.status_code == 201, typed.text
    document = welcome(campaign_id)
    document["settings"] = {"goal": {"eventName": "purchase", "within": "P1D"}}
    journey_id = int(api.post("/v1/journey", json=document).json()["data"]["id"])
    start = api.put(f"/v1/journey/{journey_id}/start")
    assert start.status_code == 200, start.text
    assert start.json()["data"]["entered"] == 2
    drain(Runner(database), datetime.now(UTC) + timedelta(seconds=1))
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    bought = api.post(
        "/v1/event", json={"eventCode": "purchase", "customerId": "c2", "date": later}
    )
    assert bought.status_code in (200, 201), bought.text
    return journey_id


def test_stats_history_and_enrollments(database: Database) -> None:
    api = client_for(database, key_for(database))
    journey_id = started(api, database)

    answer = api.get(f"/v1/journey/{journey_id}/stats")
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert (data["entered"], data["waiting"], data["conversions"]) == (2, 0, 1)
    assert data["conversionRate"] == 0.5
    assert data["goal"] == {"eventName": "purchase", "within": "P1D"}
    states = {s["stateId"]: s for s in data["states"]}
    assert states[1]["branches"] == {"entered": 2}
    assert (states[2]["entered"], states[2]["completed"]) == (2, 2)
    messages = states[2]["messages"]
    assert (messages["sent"], messages["skipped"], messages["conversions"]) == (2, {}, 1)
    assert (messages["clicked"], messages["clickRate"]) == (0, 0.0)

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    future = api.get(f"/v1/journey/{journey_id}/stats", params={"dateFrom": tomorrow}).json()
    assert future["data"]["entered"] == 0 and future["data"]["conversions"] == 0
    past = api.get(
        f"/v1/journey/{journey_id}/stats", params={"dateTo": "2020-01-01T00:00:00"}
    ).json()
    assert past["data"]["entered"] == 0
    assert api.get(f"/v1/journey/{journey_id}/stats?test=true").json()["data"]["entered"] == 0
    bad = api.get(f"/v1/journey/{journey_id}/stats", params={"dateFrom": "yesterday"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["where"] == "dateFrom"
    backwards = api.get(
        f"/v1/journey/{journey_id}/stats", params={"dateFrom": tomorrow, "dateTo": "2020-01-01"}
    )
    assert backwards.status_code == 400 and backwards.json()["errors"][0]["where"] == "dateTo"

    exported = api.get(f"/v1/journey/{journey_id}/history.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["customerId"], r["status"], r["stateId"], r["messagesSent"]) for r in rows] == [
        ("c1", "completed", "2", "1"),
        ("c2", "completed", "2", "1"),
    ]

    found = api.get(f"/v1/journey/{journey_id}/enrollments", params={"customerId": "c2"}).json()
    assert found["count"] == 1
    (enrollment,) = found["data"]
    assert (enrollment["stateId"], enrollment["status"], enrollment["entryNumber"]) == (
        2,
        "completed",
        1,
    )
    assert [m["stateId"] for m in enrollment["messages"]] == [2]
    assert [step["stateId"] for step in enrollment["path"]] == [1, 2]
    nobody = api.get(f"/v1/journey/{journey_id}/enrollments", params={"customerId": "zz"})
    assert nobody.json()["data"] == [] and nobody.json()["count"] == 0
    missing = api.get(f"/v1/journey/{journey_id}/enrollments")
    assert missing.status_code == 400

    other = client_for(database, key_for(database, "other"))
    for path in ("stats", "history.csv", "enrollments?customerId=c1"):
        assert other.get(f"/v1/journey/{journey_id}/{path}").status_code == 404
        assert api.get(f"/v1/journey/999/{path}").status_code == 404
