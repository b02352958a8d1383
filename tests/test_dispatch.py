"""The outbox dispatch: render, hand to the channel once, retry passing failures, settle outcomes.

A small adapter speaking JSON over HTTP to the recording provider server stands for a provider
(the real channels have their own tests); every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select

from wayfare.channels.base import Adapter, ChannelConfig, Delivery, Message, from_response
from wayfare.channels.dispatch import MAX_ATTEMPTS, Dispatcher
from wayfare.store.channels import put_channel
from wayfare.store.database import Database
from wayfare.store.outbox import insert_outbox
from wayfare.store.schema import campaigns, customers, outbox

from .conftest import NOW
from .providers import ProviderServer, Reply


class JsonAdapter(Adapter):
    """POSTs ``{to, text}`` to ``{base}/messages``; the reply's ``id`` is the provider's id."""

    channel: ClassVar[str] = "sms"

    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        if not message.customer.phone:
            from wayfare.channels.base import Skipped

            return Skipped("no phone number")
        response = await client.post(
            config.url("https://unused.example") + "/messages",
            json={"to": message.customer.phone, "text": message.content["text"]},
            headers={"Idempotency-Key": message.key},
            timeout=float(config.options.get("timeout", 5)),
        )
        body = response.json() if response.content else {}
        return from_response(response, str(body.get("error", "")), body.get("id"))


def setup(database: Database, app_id: int, count: int, text: str = "Hi {{ name }}") -> int:
    with database.write() as conn:
        conn.execute(
            customers.insert(),
            [
                {
                    "application_id": app_id,
                    "customer_id": f"c{i}",
                    "phone": f"+3460000000{i}" if i != 99 else None,
                    "push_tokens": [],
                    "consent": {"sms": False} if i == 98 else {},
                    "fields": {"name": f"Ana {i}"},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(count)
            ],
        )
        return add_campaign(conn, app_id, "sms", {"text": text})


def add_campaign(conn: Any, app_id: int, channel: str, content: dict[str, Any]) -> int:
    """A campaign stored as it is (no content checks: some tests store what a check refuses)."""
    result = conn.execute(
        campaigns.insert().values(
            application_id=app_id,
            name=f"{channel} {len(str(content))}",
            channel=channel,
            content=content,
            created_at=NOW,
            updated_at=NOW,
        )
    )
    assert result.inserted_primary_key is not None
    return int(result.inserted_primary_key[0])


def queue(database: Database, app_id: int, campaign_id: int, ids: list[int]) -> None:
    with database.write() as conn:
        insert_outbox(
            conn,
            [
                {
                    "application_id": app_id,
                    "idempotency_key": f"test:c{i}",
                    "customer_id": f"c{i}",
                    "channel": "sms",
                    "campaign_id": campaign_id,
                    "payload": {"context": {"coupon": "X1"}, "campaignId": campaign_id},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
                for i in ids
            ],
        )


def configure(
    database: Database,
    app_id: int,
    url: str,
    *,
    enabled: bool = True,
    rate_limit: int | None = None,
    **options: Any,
) -> None:
    settings = {"baseUrl": url, "credentials": {"token": "s3cret"}, "options": options}
    with database.write() as conn:
        put_channel(
            conn, app_id, "sms", enabled=enabled, settings=settings, rate_limit=rate_limit, now=NOW
        )


def rows(database: Database) -> dict[str, dict[str, Any]]:
    with database.read() as conn:
        found = conn.execute(select(outbox).order_by(outbox.c.id)).mappings().all()
    return {row["customer_id"]: dict(row) for row in found}


def dispatcher(database: Database, **kwargs: Any) -> Dispatcher:
    return Dispatcher(database, adapters={"sms": JsonAdapter()}, rng=random.Random(7), **kwargs)


def drain(d: Dispatcher, now: datetime) -> int:
    total = 0
    while done := d.tick(now):
        total += done
    return total


def test_an_unconfigured_channel_is_recorded_by_the_log_channel_rendered(
    database: Database, app_id: int
) -> None:
    cid = setup(database, app_id, 3, "Hi {{ name }}, code {{ context.coupon }}")
    queue(database, app_id, cid, [0, 1, 2])
    d = dispatcher(database)
    assert d.tick(NOW) == 3
    found = rows(database)
    assert {r["status"] for r in found.values()} == {"sent"}
    assert found["c1"]["rendered"] == {"text": "Hi Ana 1, code X1"}
    assert found["c1"]["sent_at"] == NOW
    d.close()


def test_a_configured_channel_calls_the_provider_once_per_message(
    database: Database, app_id: int, provider: ProviderServer
) -> None:
    cid = setup(database, app_id, 3)
    configure(database, app_id, provider.url)
    provider.respond = lambda request: Reply(201, {"id": "SM" + request.json()["to"][-1]})
    queue(database, app_id, cid, [0, 1, 2])
    d = dispatcher(database)
    assert drain(d, NOW) == 3
    assert sorted(r.json()["text"] for r in provider.requests) == [
        "Hi Ana 0",
        "Hi Ana 1",
        "Hi Ana 2",
    ]
    assert {r.headers["idempotency-key"] for r in provider.requests} == {
        "test:c0",
        "test:c1",
        "test:c2",
    }
    found = rows(database)
    assert found["c2"]["status"] == "sent"
    assert found["c2"]["provider_message_id"] == "SM2"
    assert found["c2"]["attempts"] == 1
    assert drain(d, NOW + timedelta(days=1)) == 0  # nothing left: no second send
    assert len(provider.requests) == 3
    d.close()


def test_consent_missing_address_disabled_channel_and_bad_templates_settle_without_a_call(
    database: Database, app_id: int, provider: ProviderServer
) -> None:
    cid = setup(database, app_id, 100)
    configure(database, app_id, provider.url)
    provider.respond = lambda request: Reply(201, {"id": "SM"})
    queue(database, app_id, cid, [98, 99])
    d = dispatcher(database)
    drain(d, NOW)
    found = rows(database)
    assert (found["c98"]["status"], found["c98"]["reason"]) == ("skipped", "no consent")
    assert (found["c99"]["status"], found["c99"]["reason"]) == ("skipped", "no phone number")
    assert provider.requests == []
    configure(database, app_id, provider.url, enabled=False)
    queue(database, app_id, cid, [1])
    drain(d, NOW)
    assert (rows(database)["c1"]["status"], rows(database)["c1"]["reason"]) == (
        "skipped",
        "channel disabled",
    )
    with database.write() as conn:  # a campaign deleted after the message was queued
        conn.execute(outbox.update().values(campaign_id=None, status="pending", attempts=0))
    configure(database, app_id, provider.url)
    drain(d, NOW)
    assert (rows(database)["c1"]["status"], rows(database)["c1"]["reason"]) == (
        "failed",
        "campaign deleted",
    )
    d.close()


def test_passing_failures_back_off_and_deliver_exactly_once(
    database: Database, app_id: int, provider: ProviderServer
) -> None:
    cid = setup(database, app_id, 2)
    configure(database, app_id, provider.url)
    answers = iter([Reply(503, {"error": "busy"}), Reply(429, {}, {"Retry-After": "120"})])
    provider.respond = lambda request: next(answers, Reply(201, {"id": "SM-ok"}))
    queue(database, app_id, cid, [0])
    d = dispatcher(database)
    drain(d, NOW)
    first = rows(database)["c0"]
    assert (first["status"], first["attempts"], first["reason"]) == ("pending", 1, "HTTP 503: busy")
    assert NOW + timedelta(seconds=5) <= first["next_attempt_at"] <= NOW + timedelta(seconds=15)
    assert drain(d, NOW + timedelta(seconds=4)) == 0  # not due before its back-off
    later = first["next_attempt_at"]
    drain(d, later)
    second = rows(database)["c0"]
    assert (second["status"], second["attempts"]) == ("pending", 2)
    assert second["next_attempt_at"] >= later + timedelta(seconds=120)  # Retry-After wins
    drain(d, second["next_attempt_at"])
    third = rows(database)["c0"]
    assert (third["status"], third["attempts"], third["provider_message_id"]) == (
        "sent",
        3,
        "SM-ok",
    )
    assert len(provider.requests) == 3
    assert len({r.headers["idempotency-key"] for r in provider.requests}) == 1
    d.close()


def test_permanent_refusals_fail_with_the_providers_reason_and_retries_give_up(
    database: Database, app_id: int, provider: ProviderServer
) -> None:
    cid = setup(database, app_id, 2)
    configure(database, app_id, provider.url)
    provider.respond = lambda request: (
        Reply(400, {"error": "invalid number"})
        if request.json()["to"].endswith("0")
        else Reply(500, {"error": "down"})
    )
    queue(database, app_id, cid, [0, 1])
    d = dispatcher(database)
    now = NOW
    for _ in range(MAX_ATTEMPTS + 2):
        drain(d, now)
        now += timedelta(days=1)
    found = rows(database)
    assert (found["c0"]["status"], found["c0"]["reason"]) == ("failed", "HTTP 400: invalid number")
    assert found["c0"]["attempts"] == 1
    assert found["c1"]["status"] == "failed"
    assert found["c1"]["reason"] == f"gave up after {MAX_ATTEMPTS} attempts: HTTP 500: down"
    assert len(provider.requests) == 1 + MAX_ATTEMPTS
    d.close()


def test_a_timeout_is_retried(database: Database, app_id: int, provider: ProviderServer) -> None:
    cid = setup(database, app_id, 1)
    configure(database, app_id, provider.url, timeout=0.2)
    provider.respond = lambda request: Reply(201, {"id": "late"}, delay=1.0)
    queue(database, app_id, cid, [0])
    d = dispatcher(database)
    drain(d, NOW)
    found = rows(database)["c0"]
    assert found["status"] == "pending"
    assert found["reason"].startswith("timeout")
    d.close()


def test_a_rate_limit_holds_back_what_exceeds_it(
    database: Database, app_id: int, provider: ProviderServer
) -> None:
    cid = setup(database, app_id, 5)
    configure(database, app_id, provider.url, rate_limit=2)
    provider.respond = lambda request: Reply(201, {"id": "SM"})
    queue(database, app_id, cid, [0, 1, 2, 3, 4])
    clock = [100.0]
    d = dispatcher(database, monotonic=lambda: clock[0])
    assert d.tick(NOW) == 5
    assert len(provider.requests) == 2
    held = sorted(r["next_attempt_at"] for r in rows(database).values() if r["status"] == "pending")
    assert held == [NOW + timedelta(seconds=1)] * 2 + [NOW + timedelta(seconds=2)]
    clock[0] += 1.0
    d.tick(NOW + timedelta(seconds=1))
    assert len(provider.requests) == 4
    clock[0] += 1.0
    d.tick(NOW + timedelta(seconds=2))
    assert len(provider.requests) == 5
    assert {r["status"] for r in rows(database).values()} == {"sent"}
    d.close()


def test_a_worker_dying_mid_send_leaves_the_message_to_be_sent_again_with_its_key(
    database: Database, app_id: int, provider: ProviderServer
) -> None:
    cid = setup(database, app_id, 1)
    configure(database, app_id, provider.url)
    provider.respond = lambda request: Reply(201, {"id": "SM"})
    queue(database, app_id, cid, [0])
    d = dispatcher(database)
    with database.write() as conn:  # the claim-and-lease transaction, then the worker "dies"
        d._claim(conn, NOW, 10)
    leased = rows(database)["c0"]
    assert (leased["status"], leased["attempts"]) == ("pending", 1)
    assert drain(d, NOW + timedelta(seconds=30)) == 0  # leased: nobody else takes it
    drain(d, leased["next_attempt_at"])
    found = rows(database)["c0"]
    assert (found["status"], found["attempts"]) == ("sent", 2)
    assert [r.headers["idempotency-key"] for r in provider.requests] == ["test:c0"]
    d.close()


def test_the_in_app_inbox_needs_no_settings(database: Database, app_id: int) -> None:
    from wayfare.channels.dispatch import default_adapters
    from wayfare.store.schema import inbox_messages

    with database.write() as conn:
        conn.execute(
            customers.insert().values(
                application_id=app_id,
                customer_id="c0",
                push_tokens=[],
                consent={},
                fields={"name": "Ana"},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        cid = add_campaign(conn, app_id, "inapp", {"html": "<p>Hi {{ name }}</p>"})
        insert_outbox(
            conn,
            [
                {
                    "application_id": app_id,
                    "idempotency_key": "test:inbox",
                    "customer_id": "c0",
                    "channel": "inapp",
                    "campaign_id": cid,
                    "payload": {"campaignId": cid},
                    "next_attempt_at": NOW,
                    "created_at": NOW,
                }
            ],
        )
    d = Dispatcher(database, adapters=default_adapters())
    drain(d, NOW)
    d.close()
    with database.read() as conn:
        (content,) = conn.execute(select(inbox_messages.c.content)).scalars()
    assert content == {"html": "<p>Hi Ana</p>"}
    assert rows(database)["c0"]["status"] == "sent"


@pytest.mark.parametrize(
    "text",
    [
        "Hi {{ name | upcase }}{% if vip %}, VIP{% endif %}",  # fields only: the light path
        "Hi {{ customer.customerId }} {{ name }} {{ context.coupon }}",  # the full path
    ],
)
def test_rendering_in_place_gives_what_the_dispatcher_renders(
    database: Database, app_id: int, text: str
) -> None:
    from wayfare.channels.rendering import ToRender, render_in_place, render_messages
    from wayfare.store.outbox import Claimed

    cid = setup(database, app_id, 100, text)
    payload = {"context": {"coupon": "X1"}, "campaignId": cid}
    ids = [0, 5, 98, 99, 1000]  # 98 refused consent; 1000 does not exist
    with database.read() as conn:
        light = render_in_place(conn, [ToRender(app_id, f"c{i}", "sms", cid, payload) for i in ids])
        full = render_messages(
            conn, [Claimed(i, f"k{i}", app_id, f"c{i}", "sms", cid, payload, 0) for i in ids]
        )
    assert light == [m.content if isinstance(m, Message) else None for m in full]
    assert light[0] is not None and light[2] is None and light[4] is None


def test_a_huge_retry_after_is_capped_and_a_broken_campaign_fails_alone(
    database: Database, app_id: int, provider: ProviderServer
) -> None:
    from wayfare.channels.base import RETRY_AFTER_MAX

    cid = setup(database, app_id, 3)
    with database.write() as conn:  # content stored before campaigns were checked on save
        broken = add_campaign(conn, app_id, "sms", {"text": "Hi {% for x in items %}"})
    configure(database, app_id, provider.url)
    provider.respond = lambda request: (
        Reply(429, {}, {"Retry-After": "1e12"})
        if request.json()["to"].endswith("0")
        else Reply(201, {"id": "SM"})
    )
    queue(database, app_id, cid, [0, 1])
    queue(database, app_id, broken, [2])
    d = dispatcher(database)
    d.tick(NOW)
    found = rows(database)
    assert found["c1"]["status"] == "sent"
    assert found["c2"]["status"] == "failed"
    assert found["c2"]["reason"].startswith("template error: content.text")
    assert found["c0"]["status"] == "pending"
    assert found["c0"]["next_attempt_at"] <= NOW + timedelta(seconds=RETRY_AFTER_MAX + 60)
    d.close()


def test_a_lease_covers_the_batch_and_calls_past_it_are_not_made(
    database: Database, app_id: int, provider: ProviderServer
) -> None:
    from wayfare.channels.dispatch import LEASE, Lease, lease_seconds

    cid = setup(database, app_id, 4)
    configure(database, app_id, provider.url, timeout=5, concurrency=2)
    provider.respond = lambda request: Reply(201, {"id": "SM"})
    queue(database, app_id, cid, [0, 1, 2, 3])
    clock = [0.0]

    def monotonic() -> float:  # each look at the clock is a minute later
        clock[0] += 60.0
        return clock[0]

    d = dispatcher(database, monotonic=monotonic)
    d.tick(NOW)
    found = rows(database)
    assert len(provider.requests) < 4  # the batch outlasted its lease: the rest never left
    unsent = [r for r in found.values() if r["status"] == "pending"]
    assert unsent and all(r["reason"].startswith("not sent") for r in unsent)
    config = ChannelConfig(options={"timeout": 5, "concurrency": 2})
    leases = [
        Lease(Message(i, "k", app_id, "sms", None, {}), config, JsonAdapter(), 1)  # type: ignore[arg-type]
        for i in range(10)
    ]
    assert lease_seconds(leases) == LEASE.total_seconds() + 10 * 5 / 2 + 5
    d.close()
