"""``FLOW_WEBHOOK``: URL, headers and body rendered for each customer; JSON or text bodies."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from wayfare.channels import webhook
from wayfare.engine.entries import start_journey
from wayfare.engine.worker import Runner
from wayfare.model.durations import parse_duration
from wayfare.model.states import WebhookParams
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


def test_the_call_goes_to_the_address_that_was_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: a name that is public when checked and private when called stays out.

    The resolver is the part faked here (there is no DNS server in the tests): it answers a
    public address for ``hooks.example`` the first time and the local server's after that.
    """
    server = ProviderServer().start()
    port = int(server.url.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["192.0.43.10"])  # a public address (IANA's), not routed from here

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example":
            host = next(answers, "127.0.0.1")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    params = WebhookParams(
        f"http://hooks.example:{port}/score", "POST", {}, None, parse_duration("PT1S"), None, None
    )
    try:
        answer = webhook.call(params, "k1", None, "c1", {}, allow_private=False)
    finally:
        server.stop()
    assert server.requests == []  # the local server was never reached
    assert answer.status is None and "error" in answer.body


def test_a_pinned_call_reaches_the_checked_address_under_its_host_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The call goes to the checked address, with the URL's name in ``Host``.

    Loopback counts as public here (``_not_public`` patched), so the local server stands in for
    a public one; the name resolves to it once, and then to nothing.
    """
    server = ProviderServer().start()
    port = int(server.url.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])

    def once(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example":
            host = next(answers, "name.invalid")  # a second lookup finds nothing
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", once)
    monkeypatch.setattr(webhook, "_not_public", lambda address: False)
    params = WebhookParams(
        f"http://hooks.example:{port}/score", "POST", {}, None, parse_duration("PT2S"), None, None
    )
    try:
        answer = webhook.call(params, "k1", None, "c1", {}, allow_private=False)
    finally:
        server.stop()
    assert answer.status == 200
    [request] = server.requests
    assert request.headers["host"] == f"hooks.example:{port}"
    assert request.headers["idempotency-key"] == "k1"


def test_a_pinned_call_keeps_the_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pinned to its checked address, the call still names its host (``Host``, TLS name)."""
    real = socket.getaddrinfo

    def public(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real("192.0.43.10" if host == "hooks.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", public)
    assert webhook.public_address("https://user:pw@hooks.example:8443/a?b=1") == (
        "https://user:pw@192.0.43.10:8443/a?b=1",
        "hooks.example:8443",
        "hooks.example",
    )
    assert webhook.public_address("http://hooks.example/x") == (
        "http://192.0.43.10/x",
        "hooks.example",
        None,
    )
    assert webhook.public_address("http://127.0.0.1:9/x") is None
    assert webhook.public_address("http://[::1]/x") is None
    assert webhook.public_address("http:///x") is None
