"""Apple Wallet: stored passes and registrations (both databases), the PassKit web service as a
device calls it, and the update pushes sent over APNs to a local HTTP/2 server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from tests.h2_server import H2Reply, H2Server, h2_server, make_certificate, pem
from wayfare.api.passkit import since_tag, update_tag
from wayfare.channels.apple_wallet import AppleWalletAdapter, apple_config
from wayfare.channels.base import ChannelConfig, Failed, Message, RetryLater, Sent, Skipped
from wayfare.channels.base import combine as combined
from wayfare.errors import Conflict, InvalidInput
from wayfare.model.customers import Customer
from wayfare.store.database import Database
from wayfare.store.schema import events
from wayfare.store.wallet import (
    create_pass,
    get_pass,
    register_device,
    registrations_of,
    serials_for_device,
    unregister_device,
    update_fields,
)

from .conftest import NOW
from .test_api_client import TestClient, client_for

__all__ = ["h2_server"]

PASS_TYPE = "pass.com.example.loyalty"
KEY = ec.generate_private_key(ec.SECP256R1())
KEY_PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
TOKEN_A = "aa" * 32
TOKEN_B = "bb" * 32


def events_of(database: Database, app_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    with database.read() as conn:
        rows = conn.execute(
            select(events.c.event_code, events.c.customer_id, events.c.custom_data)
            .where(events.c.application_id == app_id)
            .order_by(events.c.id)
        )
        return [(row.event_code, row.customer_id, dict(row.custom_data)) for row in rows]


def new_pass(
    database: Database, app_id: int, customer_id: str = "c-1", serial: str = "S-1"
) -> tuple[int, str]:
    with database.write() as conn:
        return create_pass(conn, app_id, customer_id, PASS_TYPE, serial, {"points": 10}, NOW)


def register(database: Database, serial: str, device: str, token: str) -> bool:
    with database.write() as conn:
        found = get_pass(conn, PASS_TYPE, serial)
        assert found is not None
        return register_device(conn, found, device, token, NOW)


# --- store ------------------------------------------------------------------------------------


def test_a_pass_is_created_with_an_authentication_token(database: Database, app_id: int) -> None:
    pass_id, token = new_pass(database, app_id)
    assert len(token) >= 16
    with database.read() as conn:
        found = get_pass(conn, PASS_TYPE, "S-1")
        assert get_pass(conn, PASS_TYPE, "S-2") is None
    assert found is not None
    assert (found.id, found.customer_id, found.authentication_token) == (pass_id, "c-1", token)
    assert found.fields == {"points": 10}
    assert found.updated_at == NOW
    with pytest.raises(Conflict):
        new_pass(database, app_id)
    with database.write() as conn, pytest.raises(InvalidInput) as bad:
        create_pass(conn, app_id, "c 1", PASS_TYPE, "S-9", {}, NOW)
    assert bad.value.problems[0].where == "customerId"
    with database.write() as conn, pytest.raises(InvalidInput) as bad:
        create_pass(conn, app_id, "c-1", PASS_TYPE, "", {}, NOW)
    assert bad.value.problems[0].where == "serialNumber"
    with database.write() as conn, pytest.raises(InvalidInput) as bad:
        create_pass(conn, app_id, "c-1", PASS_TYPE, "S-9", [1], NOW)  # type: ignore[arg-type]
    assert bad.value.problems[0].where == "fields"


def test_registering_records_installed_once_and_keeps_the_newest_push_token(
    database: Database, app_id: int
) -> None:
    pass_id, _ = new_pass(database, app_id)
    assert register(database, "S-1", "device-1", "token-1") is True
    assert register(database, "S-1", "device-1", "token-2") is False
    with database.read() as conn:
        [registration] = registrations_of(conn, pass_id)
    assert (registration.device_library_id, registration.push_token) == ("device-1", "token-2")
    data = {
        "passTypeIdentifier": PASS_TYPE,
        "serialNumber": "S-1",
        "deviceLibraryIdentifier": "device-1",
    }
    assert events_of(database, app_id) == [("wallet.installed", "c-1", data)]


def test_the_last_device_unregistering_records_removed(database: Database, app_id: int) -> None:
    new_pass(database, app_id)
    register(database, "S-1", "device-1", "t1")
    register(database, "S-1", "device-2", "t2")
    with database.write() as conn:
        found = get_pass(conn, PASS_TYPE, "S-1")
        assert found is not None
        assert unregister_device(conn, found, "device-1", NOW) is True
        assert unregister_device(conn, found, "device-1", NOW) is False
    assert [code for code, _, _ in events_of(database, app_id)] == ["wallet.installed"] * 2
    with database.write() as conn:
        assert unregister_device(conn, found, "device-2", NOW) is True
    codes = [code for code, _, _ in events_of(database, app_id)]
    assert codes == ["wallet.installed", "wallet.installed", "wallet.removed"]
    assert events_of(database, app_id)[-1][2]["deviceLibraryIdentifier"] == "device-2"


def test_serials_for_a_device_since_a_moment(database: Database, app_id: int) -> None:
    new_pass(database, app_id, "c-1", "S-1")
    new_pass(database, app_id, "c-2", "S-2")
    new_pass(database, app_id, "c-3", "S-3")  # on another device
    register(database, "S-1", "device-1", "t")
    register(database, "S-2", "device-1", "t")
    register(database, "S-3", "device-2", "t")
    later = NOW + timedelta(minutes=5, microseconds=17)
    with database.write() as conn:
        assert serials_for_device(conn, "device-1", PASS_TYPE, None) == (["S-1", "S-2"], NOW)
        assert serials_for_device(conn, "device-1", PASS_TYPE, NOW) == ([], None)
        assert serials_for_device(conn, "device-1", "pass.other", None) == ([], None)
        update_fields(conn, app_id, "c-2", {"points": 20}, later)
        assert serials_for_device(conn, "device-1", PASS_TYPE, NOW) == (["S-2"], later)
        assert serials_for_device(conn, "device-1", PASS_TYPE, later) == ([], None)


def test_update_fields_merges_and_dates_only_real_changes(database: Database, app_id: int) -> None:
    new_pass(database, app_id, "c-1", "S-1")
    register(database, "S-1", "device-1", "t1")
    later = NOW + timedelta(hours=1)
    with database.write() as conn:
        [(found, devices)] = update_fields(conn, app_id, "c-1", {"tier": "gold"}, later)
        assert found.fields == {"points": 10, "tier": "gold"}
        assert found.updated_at == later
        assert [d.push_token for d in devices] == ["t1"]
        [(same, _)] = update_fields(conn, app_id, "c-1", {"tier": "gold"}, later + timedelta(1))
        assert same.updated_at == later
        [(removed, _)] = update_fields(conn, app_id, "c-1", {"points": None}, later)
        assert removed.fields == {"tier": "gold"}
        assert update_fields(conn, app_id, "nobody", {"x": 1}, later) == []
        stored = get_pass(conn, PASS_TYPE, "S-1")
    assert stored is not None and stored.fields == {"tier": "gold"}


# --- the PassKit web service ------------------------------------------------------------------


@pytest.fixture
def wallet(database: Database) -> TestClient:
    return client_for(database)


def registration_path(device: str, serial: str = "S-1") -> str:
    return f"/passkit/v1/devices/{device}/registrations/{PASS_TYPE}/{serial}"


def test_a_device_registers_lists_fetches_and_unregisters(
    wallet: TestClient, database: Database, app_id: int
) -> None:
    _, token = new_pass(database, app_id)
    auth = {"Authorization": f"ApplePass {token}"}

    made = wallet.post(registration_path("dev-1"), json={"pushToken": TOKEN_A}, headers=auth)
    assert made.status_code == 201
    again = wallet.post(registration_path("dev-1"), json={"pushToken": TOKEN_A}, headers=auth)
    assert again.status_code == 200

    listed = wallet.get(f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE}")
    assert listed.status_code == 200
    assert listed.json() == {"serialNumbers": ["S-1"], "lastUpdated": update_tag(NOW)}
    tag = listed.json()["lastUpdated"]
    unchanged = wallet.get(
        f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE}",
        params={"passesUpdatedSince": tag},
    )
    assert unchanged.status_code == 204
    assert wallet.get(f"/passkit/v1/devices/dev-9/registrations/{PASS_TYPE}").status_code == 204

    got = wallet.get(f"/passkit/v1/passes/{PASS_TYPE}/S-1", headers=auth)
    assert got.status_code == 200
    assert got.headers["last-modified"] == format_datetime(NOW, usegmt=True)
    assert got.json() == {
        "formatVersion": 1,
        "passTypeIdentifier": PASS_TYPE,
        "serialNumber": "S-1",
        "authenticationToken": token,
        "webServiceURL": "http://testserver/passkit",
        "generic": {"auxiliaryFields": [{"key": "points", "value": 10}]},
    }
    not_modified = wallet.get(
        f"/passkit/v1/passes/{PASS_TYPE}/S-1",
        headers=auth | {"If-Modified-Since": format_datetime(NOW, usegmt=True)},
    )
    assert not_modified.status_code == 304
    older = format_datetime(NOW - timedelta(seconds=1), usegmt=True)
    modified = wallet.get(
        f"/passkit/v1/passes/{PASS_TYPE}/S-1", headers=auth | {"If-Modified-Since": older}
    )
    assert modified.status_code == 200

    assert wallet.delete(registration_path("dev-1"), headers=auth).status_code == 200
    assert wallet.get(f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE}").status_code == 204
    codes = [code for code, _, _ in events_of(database, app_id)]
    assert codes == ["wallet.installed", "wallet.removed"]


def test_calls_without_the_passs_token_are_unauthorized(
    wallet: TestClient, database: Database, app_id: int
) -> None:
    _, token = new_pass(database, app_id)
    body = {"pushToken": TOKEN_A}
    for headers in (
        {},
        {"Authorization": "ApplePass wrong-token-wrong-token"},
        {"Authorization": f"ServerKey {token}"},
    ):
        assert wallet.post(registration_path("d"), json=body, headers=headers).status_code == 401
        assert wallet.delete(registration_path("d"), headers=headers).status_code == 401
        got = wallet.get(f"/passkit/v1/passes/{PASS_TYPE}/S-1", headers=headers)
        assert got.status_code == 401
        assert got.headers["www-authenticate"] == "ApplePass"
    unknown = wallet.post(
        registration_path("d", "S-404"), json=body, headers={"Authorization": f"ApplePass {token}"}
    )
    assert unknown.status_code == 401
    assert events_of(database, app_id) == []


def test_a_registration_without_a_push_token_is_refused(
    wallet: TestClient, database: Database, app_id: int
) -> None:
    _, token = new_pass(database, app_id)
    bad = wallet.post(
        registration_path("d"), json={}, headers={"Authorization": f"ApplePass {token}"}
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["where"] == "pushToken"


def test_device_logs_are_accepted(wallet: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    answer = wallet.post("/passkit/v1/log", json={"logs": ["could not fetch pass S-1"]})
    assert answer.status_code == 200
    assert "could not fetch pass S-1" in caplog.text


def test_update_tags_round_trip() -> None:
    moment = datetime(2026, 3, 15, 12, 0, 1, 123456, tzinfo=UTC)
    assert since_tag(update_tag(moment)) == moment
    assert since_tag(None) is None
    assert since_tag("yesterday") is None
    assert since_tag("9" * 40) is None


# --- the update push --------------------------------------------------------------------------


def message(app_id: int, customer_id: str = "c-1", fields: Any = None) -> Message:
    customer = Customer(customer_id, None, None, None, None, (), {}, None, None, {}, NOW, NOW)
    content = {"fields": {"points": 25} if fields is None else fields}
    return Message(1, f"key-{customer_id}", app_id, "wallet", customer, content, 3)


def token_config(server: H2Server) -> ChannelConfig:
    return ChannelConfig(
        base_url=server.url,
        credentials={"keyId": "KEY1234567", "teamId": "TEAM123456", "privateKey": KEY_PEM},
    )


def push(
    adapter: AppleWalletAdapter, prepared: Message, settings: ChannelConfig, server: H2Server
) -> Any:
    async def run() -> Any:
        async with httpx.AsyncClient(http2=True, verify=server.client_context()) as client:
            try:
                return await adapter.send(prepared, settings, client)
            finally:
                await adapter.aclose()

    return asyncio.run(run())


def test_an_update_stores_the_fields_and_pushes_every_device(
    database: Database, app_id: int, h2_server: H2Server, wallet: TestClient
) -> None:
    _, token = new_pass(database, app_id)
    register(database, "S-1", "dev-1", TOKEN_A)
    register(database, "S-1", "dev-2", TOKEN_B)
    h2_server.respond = lambda request: (
        H2Reply(410, {"reason": "Unregistered"})
        if TOKEN_B in (request.path or "")
        else H2Reply(200, headers={"apns-id": request.header("apns-id") or ""})
    )
    adapter = AppleWalletAdapter()
    later = NOW + timedelta(minutes=1)
    with database.write() as conn:
        [prepared] = adapter.prepare(conn, [message(app_id)], later)
    assert prepared.extra["applePasses"] == 1
    assert [d["pushToken"] for d in prepared.extra["appleDevices"]] == [TOKEN_A, TOKEN_B]

    outcome = push(adapter, prepared, token_config(h2_server), h2_server)

    assert isinstance(outcome, Sent)
    assert len(h2_server.requests) == 2
    for request in h2_server.requests:
        assert request.method == "POST"
        assert request.header("apns-topic") == PASS_TYPE
        assert request.header("apns-push-type") == "background"
        assert request.header("apns-priority") == "5"
        assert (request.header("authorization") or "").startswith("bearer ")
        assert request.body == b"{}"
    assert {r.path for r in h2_server.requests} == {f"/3/device/{TOKEN_A}", f"/3/device/{TOKEN_B}"}
    ids = {r.header("apns-id") for r in h2_server.requests}
    assert len(ids) == 2 and outcome.provider_message_id in ids

    # The device, woken by the push, finds the pass changed and fetches it.
    listed = wallet.get(
        f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE}",
        params={"passesUpdatedSince": update_tag(NOW)},
    )
    assert listed.json()["serialNumbers"] == ["S-1"]
    got = wallet.get(
        f"/passkit/v1/passes/{PASS_TYPE}/S-1", headers={"Authorization": f"ApplePass {token}"}
    )
    assert got.json()["generic"]["auxiliaryFields"] == [{"key": "points", "value": 25}]


def test_every_device_refusing_fails_and_throttling_retries(
    database: Database, app_id: int, h2_server: H2Server
) -> None:
    new_pass(database, app_id)
    register(database, "S-1", "dev-1", TOKEN_A)
    adapter = AppleWalletAdapter()
    with database.write() as conn:
        [prepared] = adapter.prepare(conn, [message(app_id)], NOW)
    h2_server.respond = lambda request: H2Reply(410, {"reason": "Unregistered"})
    assert push(adapter, prepared, token_config(h2_server), h2_server) == Failed(
        "HTTP 410: Unregistered"
    )
    h2_server.respond = lambda request: H2Reply(503, {"reason": "ServiceUnavailable"})
    outcome = push(adapter, prepared, token_config(h2_server), h2_server)
    assert outcome == RetryLater("HTTP 503: ServiceUnavailable")


def test_no_pass_or_no_device_is_skipped(
    database: Database, app_id: int, h2_server: H2Server
) -> None:
    new_pass(database, app_id, "c-1")
    adapter = AppleWalletAdapter()
    with database.write() as conn:
        without_device, without_pass = adapter.prepare(
            conn, [message(app_id, "c-1"), message(app_id, "c-2")], NOW
        )
    settings = token_config(h2_server)
    assert push(adapter, without_pass, settings, h2_server) == Skipped("no Apple Wallet pass")
    assert push(adapter, without_device, settings, h2_server) == Skipped(
        "Apple Wallet pass on no device"
    )
    assert h2_server.requests == []


def test_bad_fields_or_credentials_fail_with_the_reason(
    database: Database, app_id: int, h2_server: H2Server
) -> None:
    new_pass(database, app_id)
    register(database, "S-1", "dev-1", TOKEN_A)
    adapter = AppleWalletAdapter()
    with database.write() as conn:
        bad, good = adapter.prepare(conn, [message(app_id, fields=["x"]), message(app_id)], NOW)
    outcome = push(adapter, bad, token_config(h2_server), h2_server)
    assert isinstance(outcome, Failed) and outcome.reason.startswith("content.fields")
    no_team = ChannelConfig(base_url=h2_server.url, credentials={"keyId": "K", "privateKey": "x"})
    outcome = push(adapter, good, no_team, h2_server)
    assert isinstance(outcome, Failed) and "credentials.teamId" in outcome.reason
    assert h2_server.requests == []


def test_certificate_auth_presents_the_pass_type_certificate(
    database: Database, app_id: int, h2_server: H2Server
) -> None:
    authority = make_certificate("Test Apple CA", ca=True)
    certificate, key = make_certificate(f"Pass Type ID: {PASS_TYPE}", issuer=authority)
    h2_server.require_client_certificate(pem(authority[0]))
    new_pass(database, app_id)
    register(database, "S-1", "dev-1", TOKEN_A)
    adapter = AppleWalletAdapter(trusted=h2_server.certificate_pem)
    with database.write() as conn:
        [prepared] = adapter.prepare(conn, [message(app_id)], NOW)
    key_pem = pem(certificate, key).split("-----END CERTIFICATE-----\n", 1)[1]
    settings = ChannelConfig(
        base_url="https://walletobjects.invalid",  # Google's, in the shared wallet settings
        credentials={"apple": {"certificate": pem(certificate), "certificateKey": key_pem}},
        options={"apple": {"baseUrl": h2_server.url}},
    )

    assert isinstance(push(adapter, prepared, settings, h2_server), Sent)

    [request] = h2_server.requests
    assert request.client_subject == f"commonName=Pass Type ID: {PASS_TYPE}"
    assert request.header("authorization") is None
    assert request.header("apns-topic") == PASS_TYPE

    # Without the certificate the server refuses the connection: nothing is delivered.
    refused = push(AppleWalletAdapter(), prepared, token_config(h2_server), h2_server)
    assert isinstance(refused, RetryLater)
    assert len(h2_server.requests) == 1


def test_apple_settings_may_sit_under_an_apple_key() -> None:
    both = ChannelConfig(
        base_url="https://gw",
        credentials={"apple": {"keyId": "K"}, "google": {"issuerId": "1"}},
        options={"apple": {"sandbox": True}},
    )
    assert apple_config(both) == ChannelConfig(
        credentials={"keyId": "K"}, options={"sandbox": True}
    )
    routed = ChannelConfig(base_url="https://google", options={"apple": {"baseUrl": "https://a"}})
    assert apple_config(routed) == ChannelConfig(base_url="https://a")
    plain = ChannelConfig(credentials={"keyId": "K"})
    assert apple_config(plain) is plain


def test_combined_outcomes() -> None:
    assert combined([Failed("a"), Sent("id-1")]) == Sent("id-1")
    assert combined([Failed("a"), RetryLater("b", 3.0)]) == RetryLater("b", 3.0)
    assert combined([Failed("a"), Failed("b")]) == Failed("a; b")
