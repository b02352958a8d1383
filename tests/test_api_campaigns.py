"""``/v1/campaign``: content checked on save, and the preview of a campaign for one customer."""

from __future__ import annotations

from typing import Any

import pytest

from wayfare.store.database import Database

from .test_api_client import TestClient, client_for, key_for


@pytest.fixture
def api(database: Database) -> TestClient:
    return client_for(database, key_for(database))


def campaign(api: TestClient, channel: str, content: dict[str, Any]) -> int:
    made = api.post("/v1/campaign", json={"name": "C", "channel": channel, "content": content})
    assert made.status_code == 201, made.json()
    return int(made.json()["data"]["id"])


def test_a_template_error_is_refused_with_its_field_and_line(api: TestClient) -> None:
    html = "<p>Hi {{ first_name }}</p>\n{% for item in items %}\n<li>{{ item }}</li>\n"
    bad = api.post(
        "/v1/campaign",
        json={"name": "Mail", "channel": "email", "content": {"subject": "Hi", "html": html}},
    )
    assert bad.status_code == 400 and bad.json()["errorCode"] == "invalid_input"
    assert bad.json()["errors"] == [
        {
            "where": "content.html",
            "message": "line 3: expected tag endfor, found the end of the template",
            "code": "template_syntax",
        }
    ]
    buttons = [{"label": "Go"}]
    wrong = api.post(
        "/v1/campaign",
        json={"name": "P", "channel": "push", "content": {"title": 1, "buttons": buttons}},
    )
    assert [(e["where"], e["message"]) for e in wrong.json()["errors"]] == [
        ("content.title", "expected a string"),
        ("content.body", "required"),
        ("content.buttons[0].url", "required"),
    ]
    campaign_id = campaign(api, "sms", {"text": "Hi"})
    edit = api.put(f"/v1/campaign/{campaign_id}", json={"content": {"text": "{% if %}"}})
    assert edit.status_code == 400 and edit.json()["errors"][0]["where"] == "content.text"
    assert api.get(f"/v1/campaign/{campaign_id}").json()["data"]["content"] == {"text": "Hi"}


def test_preview_renders_for_a_stored_customer(api: TestClient) -> None:
    api.post("/v1/customer/field", json={"name": "first_name", "type": "string"})
    api.post("/v1/customer/field", json={"name": "vip", "type": "boolean"})
    api.post(
        "/v1/customer",
        json={
            "customerId": "c-1",
            "email": "ana@example.com",
            "fields": {"first_name": "Ana", "vip": True},
        },
    )
    api.post("/v1/customer", json={"customerId": "c-2"})
    campaign_id = campaign(
        api,
        "push",
        {
            "title": "Hi {{ first_name | default: 'friend' }}{% if vip %} (VIP){% endif %}",
            "body": "{{ context.cart | upcase }} {{ event.eventCode }} {{ event.customData.sku }}",
            "buttons": [{"label": "Mail", "url": "mailto:{{ customer.email }}"}],
            "data": {"n": 3},
        },
    )
    shown = api.post(
        f"/v1/campaign/{campaign_id}/preview",
        json={
            "customerId": "c-1",
            "context": {"cart": "shoes"},
            "event": {"eventCode": "cart.add", "customData": {"sku": "S-1"}},
        },
    )
    assert shown.status_code == 200, shown.json()
    assert shown.json()["data"] == {
        "campaignId": campaign_id,
        "channel": "push",
        "customerId": "c-1",
        "content": {
            "title": "Hi Ana (VIP)",
            "body": "SHOES cart.add S-1",
            "buttons": [{"label": "Mail", "url": "mailto:ana@example.com"}],
            "data": {"n": 3},
        },
    }
    plain = api.post(f"/v1/campaign/{campaign_id}/preview", json={"customerId": "c-2"})
    assert plain.json()["data"]["content"]["title"] == "Hi friend"
    assert plain.json()["data"]["content"]["body"] == "  "

    missing = api.post(f"/v1/campaign/{campaign_id}/preview", json={"customerId": "nobody"})
    assert missing.status_code == 404 and "'nobody'" in missing.json()["message"]
    no_campaign = api.post("/v1/campaign/999/preview", json={"customerId": "c-1"})
    assert no_campaign.status_code == 404 and "campaign 999" in no_campaign.json()["message"]
    typo = api.post(f"/v1/campaign/{campaign_id}/preview", json={"customer": "c-1"})
    assert typo.status_code == 400


def test_a_render_error_in_preview_names_the_field(api: TestClient) -> None:
    api.post("/v1/customer", json={"customerId": "c-1"})
    campaign_id = campaign(api, "sms", {"text": "{{ 5 | divided_by: context.n }}"})
    failed = api.post(
        f"/v1/campaign/{campaign_id}/preview", json={"customerId": "c-1", "context": {"n": 0}}
    )
    assert failed.status_code == 400 and failed.json()["errorCode"] == "template_error"
    assert failed.json()["message"] == "content.text: line 1: divided_by: can't divide by 0"


def test_preview_needs_a_key(database: Database) -> None:
    anonymous = client_for(database)
    assert anonymous.post("/v1/campaign/1/preview", json={"customerId": "c-1"}).status_code == 401
