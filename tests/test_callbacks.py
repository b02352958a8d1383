"""Provider callbacks and the in-app inbox routes, through the real app on both databases."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from wayfare.api.callbacks import twilio_signature
from wayfare.channels.dispatch import Dispatcher
from wayfare.store.applications import ensure_application
from wayfare.store.campaigns import create_campaign
from wayfare.store.channels import put_channel
from wayfare.store.customers import upsert_customers
from wayfare.store.database import Database
from wayfare.store.inbox import add_messages
from wayfare.store.outbox import insert_outbox
from wayfare.store.schema import channel_settings, events, outbox

from .conftest import NOW
from .providers import ProviderServer, Reply, provider
from .test_api_client import TestClient, client_for, key_for

__all__ = ["provider"]

AUTH_TOKEN = "twilio-auth-token"
APP_SECRET = "meta-app-secret"
VERIFY_TOKEN = "verify-me"
SID = "SM" + "f" * 32
CALL_SID = "CA" + "0" * 32
WAMID = "wamid.HBgLMzQ2MDA5OTk4ODgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


def setup(database: Database, *, app_secret: str | None = APP_SECRET) -> tuple[int, dict[str, int]]:
    """Application ``acme`` with SMS and WhatsApp settings, customer c-1 and sent messages."""
    key_for(database)
    with database.write() as conn:
        app_id = ensure_application(conn, "acme", NOW)
        upsert_customers(conn, app_id, [{"customerId": "c-1", "phone": "+34600111222"}], NOW)
        options: dict[str, Any] = {"phoneNumberId": "1065", "verifyToken": VERIFY_TOKEN}
        if app_secret:
            options["appSecret"] = app_secret
        conn.execute(
            channel_settings.insert(),
            [
                {
                    "application_id": app_id,
                    "channel": "sms",
                    "enabled": True,
                    "settings": {
                        "credentials": {"accountSid": "AC1", "authToken": AUTH_TOKEN},
                        "options": {"from": "+1500"},
                    },
                    "updated_at": NOW,
                },
                {
                    "application_id": app_id,
                    "channel": "whatsapp",
                    "enabled": True,
                    "settings": {"credentials": {"accessToken": "t"}, "options": options},
                    "updated_at": NOW,
                },
            ],
        )
        base = {
            "application_id": app_id,
            "customer_id": "c-1",
            "payload": {},
            "status": "sent",
            "attempts": 1,
            "next_attempt_at": NOW,
            "created_at": NOW,
            "sent_at": NOW,
        }
        conn.execute(
            outbox.insert(),
            [
                base | {"idempotency_key": "k-sms", "channel": "sms", "provider_message_id": SID},
                base
                | {"idempotency_key": "k-wa", "channel": "whatsapp", "provider_message_id": WAMID},
                base | {"idempotency_key": "k-in", "channel": "inapp", "provider_message_id": None},
            ],
        )
        ids = {
            row.channel: int(row.id) for row in conn.execute(select(outbox.c.id, outbox.c.channel))
        }
    return app_id, ids


def stored(database: Database) -> list[tuple[str, str, dict[str, Any]]]:
    with database.read() as conn:
        rows = conn.execute(
            select(events.c.event_id, events.c.event_code, events.c.custom_data).order_by(
                events.c.event_id
            )
        )
        return [(row.event_id, row.event_code, row.custom_data) for row in rows]


def twilio_post(
    client: TestClient,
    app_id: int,
    form: dict[str, str],
    token: str = AUTH_TOKEN,
    kind: str = "sms",
    signed_url: str | None = None,
) -> Any:
    """Post ``form`` as Twilio would, signed over ``signed_url`` (default: the URL posted to)."""
    url = f"http://testserver/v1/callback/{kind}/{app_id}"
    signed = signed_url or url
    signature = base64.b64encode(
        hmac.new(
            token.encode(),
            (signed + "".join(k + v for k, v in sorted(form.items()))).encode(),
            hashlib.sha1,
        ).digest()
    ).decode()
    return client.post(
        url,
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Twilio-Signature": signature,
        },
    )


def test_twilio_signature_known_answer() -> None:
    # The example of Twilio's own request validator tests (twilio-python).
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, list(params.items())) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_twilio_status_callback(database: Database) -> None:
    app_id, ids = setup(database)
    client = client_for(database)
    form = {"MessageSid": SID, "MessageStatus": "sent", "AccountSid": "AC1", "SmsStatus": "sent"}
    answer = twilio_post(client, app_id, form)
    assert answer.status_code == 200 and answer.json()["data"] == {"recorded": 0}

    delivered = twilio_post(client, app_id, form | {"MessageStatus": "delivered"})
    assert delivered.status_code == 200 and delivered.json()["data"] == {"recorded": 1}
    again = twilio_post(client, app_id, form | {"MessageStatus": "delivered"})
    assert again.json()["data"] == {"recorded": 0}  # Twilio retried: stored once
    failed = twilio_post(
        client, app_id, form | {"MessageStatus": "undelivered", "ErrorCode": "30003"}
    )
    assert failed.json()["data"] == {"recorded": 1}
    sms = ids["sms"]
    assert stored(database) == [
        (
            f"sms:{sms}:delivered",
            "sms.delivered",
            {"messageId": sms, "campaignId": None, "providerStatus": "delivered"},
        ),
        (
            f"sms:{sms}:failed",
            "sms.failed",
            {
                "messageId": sms,
                "campaignId": None,
                "providerStatus": "undelivered",
                "errorCode": 30003,
            },
        ),
    ]
    unknown = twilio_post(
        client, app_id, form | {"MessageSid": "SMnope", "MessageStatus": "delivered"}
    )
    assert unknown.status_code == 200 and unknown.json()["data"] == {"recorded": 0}


def test_twilio_refuses_bad_signatures(database: Database) -> None:
    app_id, _ = setup(database)
    client = client_for(database)
    form = {"MessageSid": SID, "MessageStatus": "delivered"}
    assert twilio_post(client, app_id, form, token="wrong").status_code == 403
    url = f"/v1/callback/sms/{app_id}"
    unsigned = client.post(
        url, content=urlencode(form), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert unsigned.status_code == 403
    assert unsigned.json()["errorCode"] == "bad_signature"
    # A signature over other parameters does not cover these.
    signature = twilio_signature(AUTH_TOKEN, "http://testserver" + url, [("MessageSid", SID)])
    tampered = client.post(
        url,
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert tampered.status_code == 403
    assert twilio_post(client, app_id + 1, form).status_code == 403  # no such settings
    assert stored(database) == []


@pytest.mark.parametrize(
    ("kind", "option", "form", "code"),
    [
        ("sms", "statusCallback", {"MessageSid": SID, "MessageStatus": "failed"}, "sms.failed"),
        (
            "call",
            "callStatusCallback",
            {"CallSid": CALL_SID, "CallStatus": "busy", "To": "+34600111222"},
            "call.missed",
        ),
    ],
)
def test_twilio_signed_public_url(
    database: Database, kind: str, option: str, form: dict[str, str], code: str
) -> None:
    """Behind a proxy Twilio signs the public URL it was given, not the one seen here."""
    app_id, ids = setup(database)
    public = f"https://wayfare.example.com/v1/callback/{kind}/{app_id}"
    with database.write() as conn:
        conn.execute(
            channel_settings.update()
            .where(channel_settings.c.channel == "sms")
            .values(
                settings={
                    "credentials": {"accountSid": "AC1", "authToken": AUTH_TOKEN},
                    "options": {"from": "+1500", option: public},
                }
            )
        )
    client = client_for(database)
    answer = twilio_post(client, app_id, form, kind=kind, signed_url=public)
    assert answer.status_code == 200 and answer.json()["data"] == {"recorded": 1}
    ((event_id, event_code, _),) = stored(database)
    assert event_code == code
    expected = f"sms:{ids['sms']}:failed" if kind == "sms" else f"call:{CALL_SID}:"
    assert event_id.startswith(expected)


def test_whatsapp_verification(database: Database) -> None:
    app_id, _ = setup(database)
    client = client_for(database)
    url = f"/v1/callback/whatsapp/{app_id}"
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    answer = client.get(url, params=query)
    assert answer.status_code == 200 and answer.text == "1158201444"
    assert client.get(url, params=query | {"hub.verify_token": "nope"}).status_code == 403
    assert client.get(url, params=query | {"hub.mode": "unsubscribe"}).status_code == 403
    assert client.get(f"/v1/callback/whatsapp/{app_id + 1}", params=query).status_code == 403


def whatsapp_payload(*statuses: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550783881",
                                    "phone_number_id": "1065",
                                },
                                "statuses": list(statuses),
                            },
                            "field": "messages",
                        }
                    ],
                }
            ],
        }
    ).encode()


def status(kind: str, wamid: str = WAMID, **extra: Any) -> dict[str, Any]:
    return {
        "id": wamid,
        "status": kind,
        "timestamp": "1773576000",
        "recipient_id": "34600111222",
    } | extra


def meta_post(client: TestClient, app_id: int, body: bytes, secret: str = APP_SECRET) -> Any:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        f"/v1/callback/whatsapp/{app_id}",
        content=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )


def test_whatsapp_statuses(database: Database) -> None:
    app_id, ids = setup(database)
    client = client_for(database)
    wa = ids["whatsapp"]
    body = whatsapp_payload(
        status("sent"), status("delivered"), status("read"), status("read", "wamid.other")
    )
    answer = meta_post(client, app_id, body)
    assert answer.status_code == 200 and answer.json()["data"] == {"recorded": 2}
    assert meta_post(client, app_id, body).json()["data"] == {"recorded": 0}
    data = {"messageId": wa, "campaignId": None}
    assert stored(database) == [
        (f"whatsapp:{wa}:delivered", "whatsapp.delivered", data | {"providerStatus": "delivered"}),
        (f"whatsapp:{wa}:read", "whatsapp.read", data | {"providerStatus": "read"}),
    ]
    with database.read() as conn:
        when = conn.execute(select(events.c.occurred_at).limit(1)).scalar_one()
    assert when.timestamp() == 1773576000

    odd = whatsapp_payload({"id": ["x"], "status": ["read"]}, {"id": 5, "status": "read"})
    assert meta_post(client, app_id, odd).json()["data"] == {"recorded": 0}  # not a 500

    failed = whatsapp_payload(
        status("failed", errors=[{"code": 131026, "title": "Message undeliverable"}])
    )
    assert meta_post(client, app_id, failed).json()["data"] == {"recorded": 1}
    assert stored(database)[1] == (
        f"whatsapp:{wa}:failed",
        "whatsapp.failed",
        data | {"providerStatus": "failed", "errorCode": 131026},
    )


def test_whatsapp_signature(database: Database) -> None:
    app_id, _ = setup(database)
    client = client_for(database)
    body = whatsapp_payload(status("delivered"))
    assert meta_post(client, app_id, body, secret="other").status_code == 403
    plain = client.post(f"/v1/callback/whatsapp/{app_id}", content=body)
    assert plain.status_code == 403 and plain.json()["errorCode"] == "bad_signature"
    assert stored(database) == []


def test_whatsapp_without_app_secret(database: Database) -> None:
    app_id, _ = setup(database, app_secret=None)
    client = client_for(database)
    answer = client.post(
        f"/v1/callback/whatsapp/{app_id}", content=whatsapp_payload(status("delivered"))
    )
    assert answer.status_code == 200 and answer.json()["data"] == {"recorded": 1}
    bad = client.post(f"/v1/callback/whatsapp/{app_id}", content=b"not json")
    assert bad.status_code == 400


def test_erased_customers_are_not_brought_back(database: Database) -> None:
    app_id, _ = setup(database)
    client = client_for(database, key_for(database))
    assert client.delete("/v1/customer/c-1").status_code == 200
    answer = meta_post(client, app_id, whatsapp_payload(status("delivered")))
    assert answer.status_code == 200 and answer.json()["data"] == {"recorded": 0}
    assert client.get("/v1/customer/c-1").status_code == 404


@pytest.fixture
def inbox(database: Database) -> tuple[TestClient, int, int]:
    """A client of acme, and its in-app inbox message (id) from outbox row (id)."""
    app_id, ids = setup(database)
    with database.write() as conn:
        add_messages(
            conn,
            [
                {
                    "application_id": app_id,
                    "customer_id": "c-1",
                    "outbox_id": ids["inapp"],
                    "campaign_id": None,
                    "content": {"html": "<p>Hi</p>"},
                    "created_at": NOW,
                    "expires_at": None,
                }
            ],
        )
    client = client_for(database, key_for(database))
    [item] = client.get("/v1/inapp/c-1").json()["data"]
    return client, int(item["id"]), ids["inapp"]


def test_inapp_routes(database: Database, inbox: tuple[TestClient, int, int]) -> None:
    client, message_id, outbox_id = inbox
    listed = client.get("/v1/inapp/c-1?limit=10").json()
    assert listed["count"] == 1
    assert listed["data"][0]["content"] == {"html": "<p>Hi</p>"}
    assert listed["data"][0]["readAt"] is None
    assert client.get("/v1/inapp/c-2").json() == {
        "statusCode": 200,
        "message": "OK",
        "data": [],
        "count": 0,
    }

    read = client.post(f"/v1/inapp/{message_id}/read")
    assert read.status_code == 200 and read.json()["data"]["readAt"] is not None
    clicked = client.post(f"/v1/inapp/{message_id}/click", json={"url": "https://shop.example/x"})
    assert clicked.status_code == 200 and clicked.json()["data"]["clickedAt"] is not None
    assert client.post(f"/v1/inapp/{message_id}/click").status_code == 200  # again, no body
    data = {"inboxId": message_id, "campaignId": None, "messageId": outbox_id}
    assert stored(database) == [
        (f"inapp:{message_id}:click", "inapp.click", data | {"url": "https://shop.example/x"}),
        (f"inapp:{message_id}:read", "inapp.read", data),
    ]
    missing = client.post(f"/v1/inapp/{message_id + 99}/read")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "not_found"
    bad = client.post(f"/v1/inapp/{message_id}/click", json={"link": "x"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["where"] == "link"
    assert client_for(database).get("/v1/inapp/c-1").status_code == 401


def test_inapp_is_per_application(database: Database, inbox: tuple[TestClient, int, int]) -> None:
    _, message_id, _ = inbox
    other = client_for(database, key_for(database, "globex"))
    assert other.get("/v1/inapp/c-1").json()["count"] == 0
    assert other.post(f"/v1/inapp/{message_id}/read").status_code == 404
    assert stored(database) == []


def test_dispatched_sms_and_inapp_come_back(database: Database, provider: ProviderServer) -> None:
    """The real dispatcher sends through the SMS and in-app channels; the outcomes come back."""
    key = key_for(database)
    public = "https://wayfare.example.com/v1/callback/sms/1"
    provider.respond = lambda request: Reply(201, {"sid": SID, "status": "queued"})
    with database.write() as conn:
        app_id = ensure_application(conn, "acme", NOW)
        upsert_customers(conn, app_id, [{"customerId": "c-1", "phone": "+34600111222"}], NOW)
        put_channel(
            conn,
            app_id,
            "sms",
            enabled=True,
            settings={
                "baseUrl": provider.url,
                "credentials": {"accountSid": "AC1", "authToken": AUTH_TOKEN},
                "options": {"from": "+1500", "statusCallback": public},
            },
            rate_limit=None,
            now=NOW,
        )
        put_channel(conn, app_id, "inapp", enabled=True, settings={}, rate_limit=None, now=NOW)
        sms_campaign = create_campaign(conn, app_id, "s", "sms", {"text": "Hi"}, NOW)
        card = {"card": {"title": "Hi", "body": "Sale"}}  # (no expiresIn: the API uses real time)
        inapp_campaign = create_campaign(conn, app_id, "i", "inapp", card, NOW)
        insert_outbox(
            conn,
            [
                {
                    "application_id": app_id,
                    "idempotency_key": f"e2e:{channel}",
                    "customer_id": "c-1",
                    "channel": channel,
                    "campaign_id": campaign,
                    "payload": {"campaignId": campaign},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
                for channel, campaign in (("sms", sms_campaign), ("inapp", inapp_campaign))
            ],
        )
    dispatcher = Dispatcher(database)
    try:
        dispatcher.tick(NOW)
    finally:
        dispatcher.close()
    [request] = provider.requests
    assert request.path == "/2010-04-01/Accounts/AC1/Messages.json"
    assert request.form()["StatusCallback"] == [public]
    with database.read() as conn:
        sent = {
            row.channel: row
            for row in conn.execute(
                select(outbox.c.id, outbox.c.channel, outbox.c.status, outbox.c.provider_message_id)
            )
        }
    assert sent["sms"].status == "sent" and sent["sms"].provider_message_id == SID
    assert sent["inapp"].status == "sent"
    assert sent["inapp"].provider_message_id == str(sent["inapp"].id)

    client = client_for(database, key)
    form = {"MessageSid": SID, "MessageStatus": "delivered"}
    signature = twilio_signature(AUTH_TOKEN, public, list(form.items()))
    answer = client.post(
        f"/v1/callback/sms/{app_id}",
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert answer.json()["data"] == {"recorded": 1}
    [item] = client.get("/v1/inapp/c-1").json()["data"]
    assert item["content"] == {"card": {"title": "Hi", "body": "Sale"}}
    assert item["campaignId"] == inapp_campaign
    assert client.post(f"/v1/inapp/{item['id']}/click", json={}).status_code == 200
    assert [(code, data["campaignId"]) for _, code, data in stored(database)] == [
        ("inapp.click", inapp_campaign),
        ("inapp.read", inapp_campaign),
        ("sms.delivered", sms_campaign),
    ]


def test_call_status_callbacks_become_call_events(database: Database) -> None:
    app_id, _ = setup(database)
    with database.write() as conn:  # two customers share a number; one has another
        upsert_customers(
            conn,
            app_id,
            [
                {"customerId": "c-2", "phone": "+34600111222"},
                {"customerId": "c-3", "phone": "+34600333444"},
            ],
            NOW,
        )
    client = client_for(database)
    inbound = {
        "CallSid": CALL_SID,
        "AccountSid": "AC1",
        "From": "+34600111222",
        "To": "+1500",
        "Direction": "inbound",
    }
    ringing = twilio_post(client, app_id, inbound | {"CallStatus": "ringing"}, kind="call")
    assert ringing.status_code == 200 and ringing.json()["data"] == {"recorded": 0}
    done = inbound | {"CallStatus": "completed", "CallDuration": "42"}
    answer = twilio_post(client, app_id, done, kind="call")
    assert answer.status_code == 200 and answer.json()["data"] == {"recorded": 2}
    again = twilio_post(client, app_id, done, kind="call")
    assert again.json()["data"] == {"recorded": 0}  # Twilio retried: stored once
    # An outbound call the customer did not pick up: the customer is the called number.
    outbound = {
        "CallSid": "CA" + "1" * 32,
        "From": "+1500",
        "To": "+34600333444",
        "Direction": "outbound-api",
        "CallStatus": "no-answer",
    }
    missed = twilio_post(client, app_id, outbound, kind="call")
    assert missed.json()["data"] == {"recorded": 1}
    nobody = outbound | {"CallSid": "CA" + "2" * 32, "To": "+34699999999"}
    assert twilio_post(client, app_id, nobody, kind="call").json()["data"] == {"recorded": 0}
    with database.read() as conn:
        rows = conn.execute(
            select(events.c.customer_id, events.c.event_code, events.c.custom_data)
            .where(events.c.event_code.like("call.%"))
            .order_by(events.c.customer_id)
        ).all()
    completed = {
        "callSid": CALL_SID,
        "providerStatus": "completed",
        "direction": "inbound",
        "from": "+34600111222",
        "to": "+1500",
        "duration": 42,
    }
    assert [tuple(r) for r in rows] == [
        ("c-1", "call.completed", completed),
        ("c-2", "call.completed", completed),
        (
            "c-3",
            "call.missed",
            {
                "callSid": "CA" + "1" * 32,
                "providerStatus": "no-answer",
                "direction": "outbound-api",
                "from": "+1500",
                "to": "+34600333444",
            },
        ),
    ]


def test_call_callbacks_need_the_twilio_signature(database: Database) -> None:
    app_id, _ = setup(database)
    client = client_for(database)
    form = {"CallSid": CALL_SID, "CallStatus": "completed", "From": "+34600111222"}
    refused = twilio_post(client, app_id, form, token="wrong", kind="call")
    assert refused.status_code == 403 and refused.json()["errorCode"] == "bad_signature"
    with database.read() as conn:
        assert conn.execute(select(events.c.id)).first() is None
