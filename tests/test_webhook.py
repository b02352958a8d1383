"""``FLOW_WEBHOOK``: URL, headers and body rendered for each customer; JSON or text bodies."""

from __future__ import annotations

from typing import Any

import pytest

from wayfare.engine.entries import start_journey
from wayfare.engine.worker import Runner
from wayfare.store.database import Database

from .conftest import NOW
from .providers import ProviderServer, Reply
from .test_runner import add_customers, counters, drain, journey


def hook(url: str, **params: Any) -> dict[str, Any]:
    return {
        "id": 2,
        "type": "FLOW_WEBHOOK",
        "params": {
            "url": url,
            "method": "POST",
            "success": {"forward": None},
            "failure": {"forward": None},
            **params,
        },
    }


@pytest.mark.parametrize(
    ("body", "sent"),
    [
        (
            {"customer": "{{ customer.customerId }}", "tier": "{{ tier | upcase }}", "n": 1},
            {"customer": "c0000", "tier": "GOLD", "n": 1},
        ),
        ('{"id": "{{ customer.customerId }}"}', '{"id": "c0000"}'),
    ],
    ids=["json", "text"],
)
def test_url_headers_and_body_are_rendered_for_the_customer(
    database: Database, app_id: int, provider: ProviderServer, body: Any, sent: Any
) -> None:
    add_customers(database, app_id, 1, tier="gold")
    provider.respond = lambda request: Reply(200, {"ok": True})
    state = hook(
        provider.url + "/crm/{{ customer.customerId }}",
        headers={"X-Tier": "{{ tier }}", "Content-Type": "application/json"},
        body=body,
    )
    jid = journey(database, app_id, {"type": "IN_ALL", "params": {"forward": 2}}, state)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    drain(Runner(database, allow_private_webhooks=True), NOW)
    (request,) = provider.requests
    assert (request.method, request.path) == ("POST", "/crm/c0000")
    assert request.headers["x-tier"] == "gold"
    assert request.headers["idempotency-key"].startswith(f"{jid}:c0000:1:2:")
    assert (request.json() if isinstance(sent, dict) else request.body.decode()) == sent
    assert counters(database, jid)[(2, "branch:success")] == 1


def test_a_template_error_takes_the_failure_branch(
    database: Database, app_id: int, provider: ProviderServer
) -> None:
    add_customers(database, app_id, 1)
    state = hook(provider.url + "/x", body="{{ 'a' | no_such_filter }}")
    jid = journey(database, app_id, {"type": "IN_ALL", "params": {"forward": 2}}, state)
    with database.write() as conn:
        start_journey(conn, app_id, jid, NOW)
    drain(Runner(database, allow_private_webhooks=True), NOW)
    assert provider.requests == []
    assert counters(database, jid)[(2, "branch:failure")] == 1
