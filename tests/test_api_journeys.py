"""``/v1/journey`` and ``/v1/campaign``: drafts, states, check, start, stop, clone; campaigns."""

from __future__ import annotations

from typing import Any

import pytest

from wayfare.store.database import Database

from .test_api_client import TestClient, client_for, key_for


@pytest.fixture
def api(database: Database) -> TestClient:
    return client_for(database, key_for(database))


def welcome(campaign_id: int, name: str = "Welcome") -> dict[str, Any]:
    """A small valid journey: everyone gets one email."""
    return {
        "name": name,
        "states": [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": campaign_id}, "forward": None},
            },
        ],
    }


def email_campaign(api: TestClient) -> int:
    made = api.post(
        "/v1/campaign",
        json={"name": "Hello", "channel": "email", "content": {"subject": "Hi", "html": "x"}},
    )
    assert made.status_code == 201
    return int(made.json()["data"]["id"])


def test_campaigns(api: TestClient) -> None:
    campaign_id = email_campaign(api)
    api.post(
        "/v1/campaign",
        json={"name": "Push", "channel": "push", "content": {"title": "t", "body": "b"}},
    )
    assert api.get("/v1/campaign").json()["count"] == 2
    assert [c["name"] for c in api.get("/v1/campaign?channel=email").json()["data"]] == ["Hello"]
    assert api.get(f"/v1/campaign/{campaign_id}").json()["data"]["content"]["subject"] == "Hi"
    changed = api.put(f"/v1/campaign/{campaign_id}", json={"name": "Hello again"})
    assert changed.status_code == 200 and changed.json()["data"]["name"] == "Hello again"
    assert changed.json()["data"]["channel"] == "email"
    bad = api.post("/v1/campaign", json={"name": "x", "channel": "fax", "content": {}})
    assert bad.status_code == 400 and bad.json()["errors"][0]["where"] == "channel"
    assert (
        api.post("/v1/campaign", json={"name": "x", "channel": "sms"}).json()["errors"][0]["where"]
        == "content"
    )
    assert api.get("/v1/campaign/999").status_code == 404
    assert api.delete(f"/v1/campaign/{campaign_id}").status_code == 200
    assert api.get(f"/v1/campaign/{campaign_id}").status_code == 404
    assert api.delete(f"/v1/campaign/{campaign_id}").status_code == 404


def test_a_campaign_in_use_cannot_be_deleted(api: TestClient) -> None:
    campaign_id = email_campaign(api)
    journey_id = api.post("/v1/journey", json=welcome(campaign_id)).json()["data"]["id"]
    assert api.put(f"/v1/journey/{journey_id}/start").status_code == 200
    refused = api.delete(f"/v1/campaign/{campaign_id}")
    assert refused.status_code == 409 and "journey" in refused.json()["message"]


def test_draft_edits_and_states(api: TestClient) -> None:
    campaign_id = email_campaign(api)
    made = api.post("/v1/journey", json=welcome(campaign_id))
    assert made.status_code == 201
    journey = made.json()["data"]
    assert (journey["status"], journey["version"]) == ("DRAFT", 1)
    journey_id = journey["id"]
    assert api.post("/v1/journey", json=welcome(campaign_id)).status_code == 409
    assert api.post("/v1/journey", json={"name": "x"}).json()["errors"][0]["where"] == "states"

    renamed = api.put(f"/v1/journey/{journey_id}", json={"name": "Hello", "version": 1})
    assert renamed.status_code == 200 and renamed.json()["data"]["version"] == 2
    stale = api.put(f"/v1/journey/{journey_id}", json={"name": "Again", "version": 1})
    assert stale.status_code == 409 and stale.json()["errorCode"] == "conflict"

    added = api.post(
        f"/v1/journey/{journey_id}/state", json={"type": "FLOW_DELAY", "params": {"time": "P1D"}}
    )
    assert added.status_code == 201 and added.json()["data"]["stateId"] == 3
    replaced = api.put(
        f"/v1/journey/{journey_id}/state/3",
        json={"params": {"time": "PT1H", "forward": None, "junk": 1}},
    )
    assert replaced.status_code == 200
    assert replaced.json()["data"]["states"][2]["type"] == "FLOW_DELAY"
    check = api.get(f"/v1/journey/{journey_id}/check").json()["data"]
    assert check["valid"] is False
    assert any(p["where"].startswith("state 3") for p in check["problems"])
    assert api.put(f"/v1/journey/{journey_id}/state/9", json={"params": {}}).status_code == 404
    assert api.delete(f"/v1/journey/{journey_id}/state/3").status_code == 200
    assert api.get(f"/v1/journey/{journey_id}/check").json()["data"] == {
        "valid": True,
        "problems": [],
    }
    assert api.get("/v1/journey/999").status_code == 404
    listed = api.get("/v1/journey?status=DRAFT").json()
    assert listed["count"] == 1 and listed["data"][0]["name"] == "Hello"


def test_start_stop_clone_delete(api: TestClient) -> None:
    campaign_id = email_campaign(api)
    broken = welcome(campaign_id, "Broken")
    broken["states"][0]["params"]["forward"] = 7
    broken_id = api.post("/v1/journey", json=broken).json()["data"]["id"]
    refused = api.put(f"/v1/journey/{broken_id}/start")
    assert refused.status_code == 400 and refused.json()["errorCode"] == "journey_invalid"
    assert refused.json()["errors"][0]["where"].startswith("state 1")

    journey_id = api.post("/v1/journey", json=welcome(campaign_id)).json()["data"]["id"]
    bad_options = api.put(f"/v1/journey/{journey_id}/start", json={"maxEntries": 0})
    assert (
        bad_options.status_code == 400 and bad_options.json()["errors"][0]["where"] == "maxEntries"
    )
    for customer in ("c1", "c2"):
        assert api.post("/v1/customer", json={"customerId": customer}).status_code == 201
    started = api.put(
        f"/v1/journey/{journey_id}/start",
        json={"reentry": True, "maxEntries": 3, "recheckEvery": "PT1H"},
    )
    assert started.status_code == 200
    data = started.json()["data"]
    assert (data["status"], data["entered"]) == ("ACTIVE", 2)
    assert (data["settings"]["maxEntries"], data["settings"]["recheckEvery"]) == (3, "PT1H")
    edit = api.put(f"/v1/journey/{journey_id}", json={"name": "Changed"})
    assert edit.status_code == 409 and edit.json()["errorCode"] == "invalid_transition"
    assert api.delete(f"/v1/journey/{journey_id}").status_code == 409
    assert api.put(f"/v1/journey/{journey_id}/start").status_code == 409

    clone = api.post(f"/v1/journey/{journey_id}/clone")
    assert clone.status_code == 201
    assert clone.json()["data"]["name"] == "Welcome (copy)"
    assert clone.json()["data"]["clonedFrom"] == journey_id
    named = api.post(f"/v1/journey/{journey_id}/clone", json={"name": "Second"})
    assert named.json()["data"]["name"] == "Second"

    stopped = api.put(f"/v1/journey/{journey_id}/stop")
    assert stopped.status_code == 200
    assert stopped.json()["data"]["status"] == "DEACTIVATED"
    assert stopped.json()["data"]["enrollmentsEnded"] == 2  # entered, never run by a worker
    assert api.put(f"/v1/journey/{journey_id}/stop").status_code == 409
    assert api.delete(f"/v1/journey/{journey_id}").status_code == 200
    assert api.get(f"/v1/journey/{journey_id}").status_code == 404
