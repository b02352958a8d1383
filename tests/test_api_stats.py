"""``/v1/journey/{id}/stats``, ``/stats/series``, ``/history.csv`` and ``/enrollments``: the
figures of a real run."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from wayfare.engine.worker import Runner
from wayfare.store.applications import ensure_application
from wayfare.store.database import Database
from wayfare.store.journeys import get_journey
from wayfare.store.stats import SeriesPoint, journey_series

from .conftest import NOW
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


def _points(data: dict[str, Any]) -> list[SeriesPoint]:
    """The points of a ``/stats/series`` answer, read back as ``journey_series`` gives them."""
    return [
        SeriesPoint(
            start=datetime.fromisoformat(p["start"]),
            end=datetime.fromisoformat(p["end"]),
            **{k: v for k, v in p.items() if k not in ("start", "end")},
        )
        for p in data["points"]
    ]


def test_stats_series_are_journey_series_over_the_interval(database: Database) -> None:
    api = client_for(database, key_for(database))
    journey_id = started(api, database)
    with database.write() as conn:
        app_id = ensure_application(conn, "acme", NOW)
        journey = get_journey(conn, app_id, journey_id)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    def series(start: datetime, end: datetime, step: timedelta) -> list[SeriesPoint]:
        with database.read() as conn:
            return list(journey_series(conn, app_id, journey_id, start=start, end=end, step=step))

    dates = {
        "dateFrom": (today - timedelta(days=1)).date().isoformat(),
        "dateTo": (today + timedelta(days=1)).date().isoformat(),
    }
    answer = api.get(f"/v1/journey/{journey_id}/stats/series", params={**dates, "step": "PT1H"})
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert (data["step"], data["test"], len(data["points"])) == ("PT1H", False, 48)
    got = _points(data)
    assert got == series(today - timedelta(days=1), today + timedelta(days=1), timedelta(hours=1))
    assert (sum(p.entered for p in got), sum(p.sent for p in got)) == (2, 2)
    assert got[0].start == today - timedelta(days=1)

    # No step: the console's choice, PT2H over two days; P1D over a month, starting at dateFrom.
    two_days = api.get(f"/v1/journey/{journey_id}/stats/series", params=dates).json()["data"]
    assert two_days["step"] == "PT2H" and len(two_days["points"]) == 24
    assert sum(p["entered"] for p in two_days["points"]) == 2
    month = {"dateFrom": (today - timedelta(days=29)).isoformat(), "dateTo": dates["dateTo"]}
    answer = api.get(f"/v1/journey/{journey_id}/stats/series", params=month)
    assert answer.json()["data"]["step"] == "P1D"
    got = _points(answer.json()["data"])
    assert len(got) == 30 and got[-1].start == today
    assert got == series(today - timedelta(days=29), today + timedelta(days=1), timedelta(days=1))

    # No interval: from the activation (on the hour) until now.
    assert journey.activated_at is not None
    answer = api.get(f"/v1/journey/{journey_id}/stats/series", params={"step": "PT30M"})
    data = answer.json()["data"]
    born = journey.activated_at.replace(minute=0, second=0, microsecond=0)
    assert datetime.fromisoformat(data["dateFrom"]) == born and data["step"] == "PT30M"
    now = datetime.fromisoformat(data["dateTo"])
    assert born < now <= datetime.now(UTC)
    got = _points(data)
    assert got == series(born, now, timedelta(minutes=30)) and got[0].start == born
    assert sum(p.entered for p in got) == 2

    test_run = api.get(f"/v1/journey/{journey_id}/stats/series", params={**dates, "test": "true"})
    assert test_run.json()["data"]["test"] is True
    assert sum(p["entered"] + p["sent"] for p in test_run.json()["data"]["points"]) == 0


def test_stats_series_name_their_bad_parameters(database: Database) -> None:
    api = client_for(database, key_for(database))
    journey_id = started(api, database)
    path = f"/v1/journey/{journey_id}/stats/series"
    for params, where in [
        ({"step": "P1M"}, "step"),
        ({"step": "PT0S"}, "step"),
        ({"step": "-PT1H"}, "step"),
        ({"step": "hourly"}, "step"),
        ({"step": "PT1.5H"}, "step"),
        ({"dateFrom": "2020-01-01", "dateTo": "2026-01-01", "step": "PT1M"}, "step"),
        ({"dateFrom": "9999-12-01", "dateTo": "9999-12-31", "step": "P100D"}, "step"),
        ({"dateFrom": "yesterday"}, "dateFrom"),
        ({"dateTo": "2026-13-01"}, "dateTo"),
        ({"dateFrom": "2026-03-02", "dateTo": "2026-03-01"}, "dateTo"),
        ({"dateFrom": "2026-03-01", "dateTo": "2026-03-01T00:00:00Z"}, "dateTo"),
    ]:
        answer = api.get(path, params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["errors"][0]["where"] == where, (params, answer.text)
    many = api.get(path, params={"dateFrom": "2020-01-01", "dateTo": "2026-01-01", "step": "PT1M"})
    assert "at most 10000" in many.json()["errors"][0]["message"]
    calendar = {"dateFrom": "0001-01-01", "dateTo": "9999-12-31"}
    answer = api.get(path, params=calendar)
    assert answer.status_code == 400 and answer.json()["errors"][0]["where"] == "dateTo"
    assert "default step" in answer.json()["errors"][0]["message"]
    answer = api.get(path, params={**calendar, "dateTo": "9000-01-01"})
    assert answer.status_code == 200, answer.text
    weeks = answer.json()["data"]
    assert len(weeks["points"]) == 31 and weeks["step"].endswith("D")
    assert sum(p["entered"] for p in weeks["points"]) == 2


def test_stats_series_of_another_application_is_a_404(database: Database) -> None:
    api = client_for(database, key_for(database))
    journey_id = started(api, database)
    other = client_for(database, key_for(database, "other"))
    for params in ({}, {"dateFrom": "2026-01-01", "dateTo": "2026-02-01", "step": "P1D"}):
        answer = other.get(f"/v1/journey/{journey_id}/stats/series", params=params)
        assert answer.status_code == 404 and answer.json()["errorCode"] == "not_found"
        assert api.get("/v1/journey/999/stats/series", params=params).status_code == 404
    assert api.get(f"/v1/journey/{journey_id}/stats/series").status_code == 200


def test_stats_series_of_a_draft_start_at_its_creation(database: Database) -> None:
    api = client_for(database, key_for(database))
    made = api.post("/v1/journey", json={"name": "Half done", "states": []}).json()["data"]
    for test in ("false", "true"):
        answer = api.get(f"/v1/journey/{made['id']}/stats/series", params={"test": test})
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        created_at = datetime.fromisoformat(made["createdAt"])
        assert datetime.fromisoformat(data["dateFrom"]) == created_at.replace(
            minute=0, second=0, microsecond=0
        )
        assert data["step"] == "PT1H" and 1 <= len(data["points"]) <= 2
        assert all(p["entered"] == p["sent"] == 0 for p in data["points"])
