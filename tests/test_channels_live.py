"""Channels end to end: a journey's SMS leaves over Twilio's API, its tracked link is followed,
the click moves the journey, the email that follows leaves over SMTP, and the provider's status
callback comes back as an event. Real local servers throughout; SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from wayfare.api.callbacks import twilio_signature
from wayfare.engine.entries import start_journey
from wayfare.engine.worker import Worker
from wayfare.settings import Settings
from wayfare.store.channels import put_channel
from wayfare.store.database import Database
from wayfare.store.journeys import create_journey
from wayfare.store.schema import campaigns, customers, enrollments, events, outbox

from .conftest import NOW
from .providers import ProviderServer, Reply
from .test_api_client import client_for
from .test_channel_email import Recorder, free_port

PUBLIC = "http://testserver"


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Recorder]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()


def campaign(conn: Any, app_id: int, channel: str, content: dict[str, Any]) -> int:
    result = conn.execute(
        campaigns.insert().values(
            application_id=app_id,
            name=channel,
            channel=channel,
            content=content,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    return int(result.inserted_primary_key[0])


def test_sms_click_email_and_status_callback(
    database: Database,
    app_id: int,
    provider: ProviderServer,
    smtp: tuple[Controller, Recorder],
) -> None:
    controller, recorder = smtp
    provider.respond = lambda request: Reply(201, {"sid": "SM" + request.form()["To"][0][-4:]})
    with database.write() as conn:
        conn.execute(
            customers.insert(),
            [
                {
                    "application_id": app_id,
                    "customer_id": "ana",
                    "email": "ana@example.com",
                    "phone": "+34600000001",
                    "push_tokens": [],
                    "consent": {},
                    "fields": {"name": "Ana"},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            ],
        )
        sms = campaign(conn, app_id, "sms", {"text": "Hi {{ name }}: https://shop.example/offer"})
        mail = campaign(
            conn,
            app_id,
            "email",
            {
                "subject": "Your offer, {{ name }}",
                "html": "<html><body><a href='https://shop.example/buy'>Buy</a></body></html>",
                "text": "Buy at https://shop.example/buy",
                "from": "shop@example.com",
            },
        )
        put_channel(
            conn,
            app_id,
            "sms",
            enabled=True,
            settings={
                "baseUrl": provider.url,
                "credentials": {"accountSid": "AC1", "authToken": "tok"},
                "options": {"from": "+15550001111"},
            },
            rate_limit=None,
            now=NOW,
        )
        put_channel(
            conn,
            app_id,
            "email",
            enabled=True,
            settings={"baseUrl": f"smtp://127.0.0.1:{controller.port}"},
            rate_limit=None,
            now=NOW,
        )
        states = [
            {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
            {
                "id": 2,
                "type": "ACTION_SMS_SEND",
                "params": {"action": {"campaignId": sms}, "forward": 3},
            },
            {
                "id": 3,
                "type": "FLOW_SMS",
                "params": {
                    "click": [
                        {"url": "shop.example/offer", "urlMatchMode": "CONTAINS", "forward": 4}
                    ],
                    "timeout": {"time": "P1D", "forward": None},
                },
            },
            {
                "id": 4,
                "type": "ACTION_EMAIL_SEND",
                "params": {"action": {"campaignId": mail}, "forward": None},
            },
        ]
        journey_id = create_journey(conn, app_id, {"name": "offer", "states": states}, NOW)
        start_journey(conn, app_id, journey_id, NOW)

    worker = Worker(Settings(public_url=PUBLIC), database, clock=lambda: NOW)
    try:
        worker.run_once(NOW)
        (call,) = provider.requests
        assert call.path == "/2010-04-01/Accounts/AC1/Messages.json"
        form = call.form()
        assert form["To"] == ["+34600000001"] and form["From"] == ["+15550001111"]
        body = form["Body"][0]
        assert body.startswith("Hi Ana: " + PUBLIC + "/t/")  # rendered, the link tracked
        link = re.search(r"http://testserver(/t/\S+)", body)
        assert link is not None

        api = client_for(database, app=None)
        followed = api.get(link.group(1), follow_redirects=False)
        assert followed.status_code == 302
        assert followed.headers["location"] == "https://shop.example/offer"
        with database.read() as conn:
            state = conn.execute(select(enrollments.c.state_id, enrollments.c.status)).one()
        assert tuple(state) == (4, "completed")  # the click moved the journey at once

        worker.run_once(datetime.now(UTC))  # the API's clock wrote the email's row
        (received,) = recorder.received
        assert received.rcpt_tos == ["ana@example.com"]
        text = received.content.decode()
        assert "Subject: Your offer, Ana" in text
        assert PUBLIC + "/o/" in text  # the open pixel
        assert "List-Unsubscribe: <" + PUBLIC + "/u/" in text

        callback = f"{PUBLIC}/v1/callback/sms/{app_id}"
        params = [("MessageSid", "SM0001"), ("MessageStatus", "delivered")]
        signed = api.post(
            f"/v1/callback/sms/{app_id}",
            data=dict(params),
            headers={"X-Twilio-Signature": twilio_signature("tok", callback, params)},
        )
        assert signed.status_code == 200, signed.text
        with database.read() as conn:
            codes = sorted(conn.execute(select(events.c.event_code)).scalars())
            sent = conn.execute(
                select(outbox.c.channel, outbox.c.status, outbox.c.provider_message_id).order_by(
                    outbox.c.id
                )
            ).all()
        assert codes == ["link.click", "sms.delivered"]
        assert [tuple(row)[:2] for row in sent] == [("sms", "sent"), ("email", "sent")]
        assert sent[0].provider_message_id == "SM0001"
    finally:
        worker.dispatcher.close()
