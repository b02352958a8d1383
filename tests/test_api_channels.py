"""``/v1/channel`` (provider settings, credentials write-only) and ``/v1/message`` (messages)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wayfare.engine.worker import Worker
from wayfare.errors import InvalidInput
from wayfare.settings import Settings
from wayfare.store.channels import list_channels, refuse_private_base_url
from wayfare.store.database import Database

from .test_api_client import TestClient, client_for, key_for


@pytest.fixture
def api(database: Database) -> TestClient:
    return client_for(database, key_for(database))


def test_channels_start_on_the_log_channel_and_take_settings(
    api: TestClient, database: Database
) -> None:
    listed = api.get("/v1/channel").json()
    assert listed["count"] == 7
    assert {c["channel"]: c["configured"] for c in listed["data"]}["sms"] is False
    providers = {c["channel"]: c["settings"]["provider"] for c in listed["data"]}
    assert providers["sms"] == "log" and providers["inapp"] == "inbox"
    settings = {
        "baseUrl": "https://api.twilio.example",
        "credentials": {"accountSid": "AC1", "authToken": "secret-token"},
        "options": {"from": "+15550001111"},
    }
    put = api.put("/v1/channel/sms", json={"settings": settings, "rateLimit": 20})
    assert put.status_code == 200, put.json()
    sms = {c["channel"]: c for c in api.get("/v1/channel").json()["data"]}["sms"]
    assert sms["configured"] is True and sms["rateLimit"] == 20
    assert sms["settings"]["credentials"] == {"accountSid": "********", "authToken": "********"}
    assert sms["settings"]["options"] == {"from": "+15550001111"}
    assert "secret-token" not in api.get("/v1/channel").text
    sms["settings"]["options"]["from"] = "+15550002222"  # changed and sent back as shown
    again = api.put("/v1/channel/sms", json={"settings": sms["settings"], "rateLimit": 5})
    assert again.status_code == 200
    with database.read() as conn:
        (config,) = [c.config for c in list_channels(conn, 1) if c.channel == "sms"]
    assert config.credentials == {"accountSid": "AC1", "authToken": "secret-token"}
    assert config.options == {"from": "+15550002222"} and config.rate_limit == 5


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/channel/fax", {"settings": {}}, "channel"),
        ("/v1/channel/sms", {"settings": {"baseUrl": "not a url"}}, "settings.baseUrl"),
        ("/v1/channel/sms", {"settings": {"token": "x"}}, "settings.token"),
        ("/v1/channel/sms", {"settings": {}, "rateLimit": 0}, "rateLimit"),
        ("/v1/channel/sms", {"settings": {"baseUrl": "http://127.0.0.1:9/"}}, "settings.baseUrl"),
        ("/v1/channel/email", {"settings": {"baseUrl": "smtp://10.0.0.7:25"}}, "settings.baseUrl"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(
    api: TestClient, path: str, body: dict[str, object], where: str
) -> None:
    refused = api.put(path, json=body)
    assert refused.status_code == 400
    assert [e["where"] for e in refused.json()["errors"]] == [where]


def test_a_private_base_url_is_refused_unless_the_server_allows_it() -> None:
    for url in ("http://127.0.0.1:9/", "http://localhost/", "smtp://10.0.0.7:25"):
        with pytest.raises(InvalidInput) as refused:
            refuse_private_base_url({"baseUrl": url}, allow_private=False)
        assert [p.code for p in refused.value.problems] == ["private_address"]
        refuse_private_base_url({"baseUrl": url}, allow_private=True)
    refuse_private_base_url({"baseUrl": "not a url"}, allow_private=False)  # put_channel's to name
    refuse_private_base_url({}, allow_private=False)


def test_messages_show_what_each_customer_got(api: TestClient, database: Database) -> None:
    api.post("/v1/customer/field", json={"name": "name", "type": "string"})
    for name in ("ana", "bo"):
        made = api.post(
            "/v1/customer",
            json={"customerId": name, "phone": "+34600000001", "fields": {"name": name.title()}},
        )
        assert made.status_code == 201, made.json()
    campaign = api.post(
        "/v1/campaign", json={"name": "Hi", "channel": "sms", "content": {"text": "Hi {{ name }}"}}
    ).json()["data"]["id"]
    states = [
        {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
        {
            "id": 2,
            "type": "ACTION_SMS_SEND",
            "params": {"action": {"campaignId": campaign}, "forward": None},
        },
    ]
    journey = api.post("/v1/journey", json={"name": "J", "states": states}).json()["data"]["id"]
    started = api.put(f"/v1/journey/{journey}/start", json={})
    assert started.status_code == 200, started.json()
    Worker(Settings(), database).run_once(datetime.now(UTC))
    found = api.get("/v1/message", params={"customerId": "bo"}).json()
    assert found["count"] == 1
    (message,) = found["data"]
    assert message["channel"] == "sms" and message["status"] == "sent"
    assert message["content"] == {"text": "Hi Bo"}
    assert message["journeyId"] == journey and message["stateId"] == 2
    assert api.get("/v1/message", params={"channel": "email"}).json()["count"] == 0
    assert api.get("/v1/message", params={"journeyId": journey}).json()["count"] == 2
