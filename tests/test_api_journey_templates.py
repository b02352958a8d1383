"""``/v1/journey/template``: the gallery, and drafts made from it that start as they are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wayfare.engine.worker import Runner
from wayfare.model.templates import TEMPLATES
from wayfare.store.database import Database

from .test_api_client import TestClient, client_for, key_for

TEMPLATE_IDS = [t.id for t in TEMPLATES]


@pytest.fixture
def api(database: Database) -> TestClient:
    return client_for(database, key_for(database))


def from_template(api: TestClient, template_id: str, **body: Any) -> dict[str, Any]:
    made = api.post(f"/v1/journey/template/{template_id}", json={"name": template_id, **body})
    assert made.status_code == 201, made.json()
    return dict(made.json()["data"])


def test_the_gallery_lists_what_each_template_needs(api: TestClient) -> None:
    listed = api.get("/v1/journey/template")
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == len(body["data"]) >= 6
    by_id = {t["id"]: t for t in body["data"]}
    assert set(by_id) >= {
        "welcome-series",
        "birthday",
        "abandoned-cart",
        "re-engagement",
        "ab-test",
        "webhook-enrichment",
    }
    cart = by_id["abandoned-cart"]
    assert cart["entryType"] == "IN_CUSTOM_EVENT" and cart["channels"] == ["push", "email"]
    assert [c["key"] for c in cart["campaigns"]] == ["cartPush", "cartEmail"]
    assert [e["code"] for e in cart["events"]] == ["cart.add", "purchase"]
    assert cart["settings"]["goal"]["eventName"] == "purchase"
    assert by_id["birthday"]["fields"] == [{"name": "birthday", "type": "date"}]
    assert by_id["birthday"]["activation"] == {"reentry": True}
    assert by_id["ab-test"]["states"][1]["type"] == "FLOW_RANDOM"
    assert by_id["webhook-enrichment"]["fields"] == [{"name": "crm_score", "type": "number"}]
    # a slot shows as null in the listing
    assert by_id["welcome-series"]["states"][1]["params"]["action"] == {"campaignId": None}
    assert all(t["description"] and t["name"] for t in body["data"])


@pytest.mark.parametrize("template_id", TEMPLATE_IDS)
def test_each_template_makes_a_draft_that_checks_and_starts(
    api: TestClient, template_id: str
) -> None:
    made = from_template(api, template_id)
    assert made["status"] == "DRAFT" and made["template"] == template_id
    journey_id = made["id"]
    template = next(t for t in TEMPLATES if t.id == template_id)
    slots = made["campaigns"]
    assert set(slots) == {c.key for c in template.campaigns}
    assert sorted(made["created"]["campaigns"]) == sorted(set(slots.values()))
    for need in template.campaigns:
        campaign = api.get(f"/v1/campaign/{slots[need.key]}").json()["data"]
        assert campaign["channel"] == need.channel
        assert campaign["name"] == f"{template_id} · {need.name}"
    assert made["created"]["eventTypes"] == [e.code for e in template.events]
    assert made["created"]["fields"] == [f.name for f in template.fields]
    check = api.get(f"/v1/journey/{journey_id}/check").json()["data"]
    assert check == {"valid": True, "problems": []}
    started = api.put(f"/v1/journey/{journey_id}/start", json=dict(template.activation))
    assert started.status_code == 200, started.json()
    assert started.json()["data"]["status"] == "ACTIVE"


def test_given_campaigns_are_used_and_existing_needs_are_not_made_again(
    api: TestClient,
) -> None:
    push = api.post(
        "/v1/campaign",
        json={"name": "Mine", "channel": "push", "content": {"title": "t", "body": "b"}},
    ).json()["data"]["id"]
    api.post("/v1/event/type", json={"code": "purchase", "name": "Purchase"})
    made = from_template(api, "abandoned-cart", campaigns={"cartPush": push})
    assert made["campaigns"]["cartPush"] == push
    assert made["created"]["campaigns"] == [made["campaigns"]["cartEmail"]]
    assert made["created"]["eventTypes"] == ["cart.add"]
    retargeting = made["states"][1]["params"]
    assert [r["campaignId"] for r in retargeting["reminders"]] == [
        push,
        made["campaigns"]["cartEmail"],
    ]
    assert api.get(f"/v1/journey/{made['id']}/check").json()["data"]["valid"] is True
    # the second journey from the same template reuses the event types
    again = from_template(api, "abandoned-cart", name="Cart 2", campaigns=made["campaigns"])
    assert again["created"] == {"campaigns": [], "fields": [], "eventTypes": []}


def test_bad_requests_name_the_field(api: TestClient, database: Database) -> None:
    missing = api.post("/v1/journey/template/nope", json={"name": "x"})
    assert missing.status_code == 404 and "welcome-series" in missing.json()["message"]
    no_name = api.post("/v1/journey/template/birthday", json={})
    assert no_name.status_code == 400 and no_name.json()["errors"][0]["where"] == "name"
    extra = api.post("/v1/journey/template/birthday", json={"name": "x", "junk": 1})
    assert extra.status_code == 400 and extra.json()["errors"][0]["where"] == "junk"
    slot = api.post(
        "/v1/journey/template/birthday", json={"name": "x", "campaigns": {"welcomePush": 1}}
    )
    assert slot.status_code == 400
    assert slot.json()["errors"][0]["where"] == "campaigns.welcomePush"
    unknown = api.post(
        "/v1/journey/template/birthday", json={"name": "x", "campaigns": {"birthdayEmail": 999}}
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["where"] == "campaigns.birthdayEmail"
    huge = api.post(
        "/v1/journey/template/birthday", json={"name": "x", "campaigns": {"birthdayEmail": 2**70}}
    )
    assert huge.status_code == 400
    assert huge.json()["errors"][0]["where"].startswith("campaigns.birthdayEmail")
    push = api.post(
        "/v1/campaign",
        json={"name": "P", "channel": "push", "content": {"title": "t", "body": "b"}},
    ).json()["data"]["id"]
    wrong = api.post(
        "/v1/journey/template/birthday", json={"name": "x", "campaigns": {"birthdayEmail": push}}
    )
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["code"] == "channel_mismatch"
    # another application's campaign is no campaign here
    other = client_for(database, key_for(database, "other"))
    theirs = other.post(
        "/v1/campaign",
        json={"name": "E", "channel": "email", "content": {"subject": "s", "text": "t"}},
    ).json()["data"]["id"]
    refused = api.post(
        "/v1/journey/template/birthday",
        json={"name": "x", "campaigns": {"birthdayEmail": theirs}},
    )
    assert refused.status_code == 400
    # nothing of the refused requests was stored
    assert api.get("/v1/journey").json()["count"] == 0
    assert api.get("/v1/campaign").json()["count"] == 1


def test_a_field_of_another_type_is_a_conflict_and_nothing_is_made(api: TestClient) -> None:
    api.post("/v1/customer/field", json={"name": "birthday", "type": "string"})
    refused = api.post("/v1/journey/template/birthday", json={"name": "Birthday"})
    assert refused.status_code == 409
    assert "birthday" in refused.json()["message"] and "date" in refused.json()["message"]
    assert api.get("/v1/campaign").json()["count"] == 0
    assert api.get("/v1/journey").json()["count"] == 0
    from_template(api, "welcome-series", name="Welcome")
    taken = api.post("/v1/journey/template/welcome-series", json={"name": "Welcome"})
    assert taken.status_code == 409
    assert api.get("/v1/campaign").json()["count"] == 2  # the refused one's were rolled back


def test_a_template_journey_runs(api: TestClient, database: Database) -> None:
    made = from_template(api, "welcome-series", name="Welcome")
    assert api.put(f"/v1/journey/{made['id']}/start").status_code == 200
    assert api.post("/v1/customer", json={"customerId": "c-1"}).status_code in (200, 201)
    sent = api.post("/v1/event", json={"eventCode": "signup", "customerId": "c-1"})
    assert sent.status_code in (200, 201), sent.json()
    runner = Runner(database)
    now = datetime.now(UTC) + timedelta(seconds=1)
    while runner.tick(now):
        pass
    messages = api.get("/v1/message", params={"customerId": "c-1"}).json()["data"]
    assert [m["campaignId"] for m in messages] == [made["campaigns"]["welcomePush"]]
    while runner.tick(now + timedelta(days=1, minutes=1)):
        pass
    messages = api.get("/v1/message", params={"customerId": "c-1"}).json()["data"]
    assert sorted(m["campaignId"] for m in messages) == sorted(made["campaigns"].values())


def test_other_applications_see_nothing_of_it(api: TestClient, database: Database) -> None:
    made = from_template(api, "ab-test")
    other = client_for(database, key_for(database, "other"))
    assert other.get(f"/v1/journey/{made['id']}").status_code == 404
    assert other.get("/v1/campaign").json()["count"] == 0
    assert other.get("/v1/journey/template").json()["count"] == len(TEMPLATES)
    assert client_for(database).get("/v1/journey/template").status_code == 401
