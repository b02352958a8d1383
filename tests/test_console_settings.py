"""The console's settings: channel settings (credentials write-only) and API keys (secret once)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from wayfare.store.applications import create_application
from wayfare.store.channels import list_channels
from wayfare.store.database import Database
from wayfare.store.keys import create_key, list_keys

from .console_support import ConsoleClient, shot

APP = 1
"""The demo application's id (the first application of the demo database)."""


def _database(console: ConsoleClient) -> Database:
    database: Database = console.app.state.database  # type: ignore[attr-defined]
    return database


def _config(console: ConsoleClient, channel: str):  # type: ignore[no-untyped-def]
    with _database(console).read() as conn:
        found = [c for c in list_channels(conn, APP) if c.channel == channel]
    return found[0] if found else None


def _secret(html: str) -> str:
    found = re.search(r'id="secret" type="text" readonly value="([^"]+)"', html)
    assert found, "no secret on the page"
    return found.group(1)


def test_channels_list_their_provider_and_status(console: ConsoleClient) -> None:
    listing = console.get("/channels")
    assert listing.status_code == 200
    sms = listing.text.split('href="/channels/sms">SMS</a>')[1].split("</tr>")[0]
    assert "not configured: messages go to the log channel" in sms
    inapp = listing.text.split('href="/channels/inapp">In-app</a>')[1].split("</tr>")[0]
    assert "built in" in inapp
    for channel in ("push", "email", "whatsapp", "telegram", "wallet"):
        assert f'href="/channels/{channel}"' in listing.text


def test_channel_settings_are_saved_with_credentials_write_only(console: ConsoleClient) -> None:
    form = {
        "enabled": "1",
        "settings.baseUrl": "https://api.twilio.example",
        "rateLimit": "20",
        "settings.credentials.accountSid": "AC123",
        "settings.credentials.authToken": "very-secret-token",
        "settings.options": '{"from": "+15550001111"}',
    }
    saved = console.form("/channels/sms", form)
    assert saved.status_code == 200 and "SMS settings saved." in saved.text
    assert "very-secret-token" not in saved.text and "AC123" not in saved.text
    assert "(stored: ********)" in saved.text
    stored = _config(console, "sms")
    assert dict(stored.config.credentials) == {
        "accountSid": "AC123",
        "authToken": "very-secret-token",
    }
    assert stored.config.rate_limit == 20 and stored.config.options == {"from": "+15550001111"}
    assert (
        "configured" in console.get("/channels").text.split('/channels/sms"')[1].split("</tr>")[0]
    )
    # Saved again with the credentials left blank: they are kept; a removed one goes.
    again = console.form(
        "/channels/sms",
        {
            "enabled": "1",
            "settings.baseUrl": "https://api.twilio.example",
            "settings.credentials.apiKeySid": "SK9",
            "clear.accountSid": "1",
            "settings.options": '{"from": "+15550002222"}',
        },
    )
    assert "SMS settings saved." in again.text
    stored = _config(console, "sms")
    assert dict(stored.config.credentials) == {"authToken": "very-secret-token", "apiKeySid": "SK9"}
    assert stored.config.options == {"from": "+15550002222"} and stored.config.rate_limit is None
    assert stored.enabled is True
    disabled = console.form("/channels/sms", {"settings.options": ""})  # unticked: disabled
    assert "disabled: messages are skipped" in disabled.text
    assert _config(console, "sms").enabled is False


def test_json_credentials_and_bad_settings_are_named_per_field(console: ConsoleClient) -> None:
    bad = console.form(
        "/channels/push",
        {
            "enabled": "1",
            "settings.credentials.apns": '{"keyId": "K",\n "teamId": }',
            "settings.options": "[1]",
            "rateLimit": "fast",
        },
    )
    assert bad.status_code == 400
    assert "settings.credentials.apns: not valid JSON" in bad.text and "line 2 column" in bad.text
    assert "settings.options: must be a JSON object" in bad.text
    assert "<code>rateLimit</code>: must be a whole number" in bad.text
    assert _config(console, "push") is None
    zero = console.form("/channels/push", {"enabled": "1", "rateLimit": "0"})
    assert (
        zero.status_code == 400
        and "must be a whole number of messages per second, 1 to" in zero.text
    )
    good = console.form(
        "/channels/push",
        {
            "enabled": "1",
            "settings.credentials.apns": '{"keyId": "K", "teamId": "T", "privateKey": "P"}',
        },
    )
    assert good.status_code == 200
    assert dict(_config(console, "push").config.credentials) == {
        "apns": {"keyId": "K", "teamId": "T", "privateKey": "P"}
    }
    assert console.get("/channels/fax").status_code == 404


def test_a_private_base_url_is_refused(console: ConsoleClient) -> None:
    for url in ("http://127.0.0.1:9/", "smtp://10.0.0.7:25"):
        refused = console.form("/channels/email", {"enabled": "1", "settings.baseUrl": url})
        assert refused.status_code == 400
        assert "a private or loopback address is refused on this server" in refused.text
        field = refused.text.split('id="f-settings.baseUrl"')[1].split("</div>")[0]
        assert 'class="error"' in field
    assert _config(console, "email") is None


def test_channel_changes_need_the_csrf_token(console: ConsoleClient) -> None:
    refused = console.post("/channels/telegram", data={"settings.credentials.botToken": "x"})
    assert refused.status_code == 403 and _config(console, "telegram") is None
    assert console.post("/keys", data={"name": "sneaky", "csrf": "nope"}).status_code == 403
    with _database(console).read() as conn:
        assert all(k.name != "sneaky" for k in list_keys(conn, APP))


def test_a_key_is_created_rotated_and_disabled(console: ConsoleClient) -> None:
    made = console.form("/keys", {"name": "CRM sync", "role": "full", "ipAllowlist": ""})
    assert made.status_code == 200 and "shown this once" in made.text
    assert made.headers["cache-control"] == "no-store"
    secret = _secret(made.text)
    auth = {"Authorization": f"ServerKey {secret}"}
    assert console.get("/v1/customer", headers=auth).status_code == 200
    listing = console.get("/keys")
    assert "CRM sync" in listing.text and f"<code>{secret[:8]}…</code>" in listing.text
    assert secret not in listing.text
    with _database(console).read() as conn:
        (key,) = [k for k in list_keys(conn, APP) if k.name == "CRM sync"]
    rotated = console.form(f"/keys/{key.id}/rotate")
    new_secret = _secret(rotated.text)
    assert new_secret != secret
    assert console.get("/v1/customer", headers=auth).status_code == 401
    new_auth = {"Authorization": f"ServerKey {new_secret}"}
    assert console.get("/v1/customer", headers=new_auth).status_code == 200
    disabled = console.form(f"/keys/{key.id}/disable")
    assert "disabled." in disabled.text
    assert console.get("/v1/customer", headers=new_auth).status_code == 401


def test_a_read_only_key_with_an_allow_list(console: ConsoleClient) -> None:
    made = console.form(
        "/keys", {"name": "Reports", "role": "read", "ipAllowlist": "203.0.113.7\n10.0.0.0/8\n"}
    )
    secret = _secret(made.text)
    with _database(console).read() as conn:
        (key,) = [k for k in list_keys(conn, APP) if k.name == "Reports"]
    assert key.role == "read" and key.ip_allowlist == ("203.0.113.7", "10.0.0.0/8")
    # The test client calls from "testclient", not an allowed address.
    refused = console.get("/v1/customer", headers={"Authorization": f"ServerKey {secret}"})
    assert refused.status_code == 403
    bad = console.form("/keys", {"name": "X", "role": "owner", "ipAllowlist": "1.2.3.4\nnot-an-ip"})
    assert bad.status_code == 400
    assert "&#39;owner&#39; is not one of full, read" in bad.text
    bad = console.form("/keys", {"name": "X", "role": "read", "ipAllowlist": "1.2.3.4\nnot-an-ip"})
    assert "<code>ipAllowlist[1]</code>: &#39;not-an-ip&#39; is not an IP address" in bad.text
    assert "1.2.3.4\nnot-an-ip</textarea>" in bad.text


def test_keys_of_another_application_are_never_listed_or_changed(console: ConsoleClient) -> None:
    now = datetime.now(UTC)
    with _database(console).write() as conn:
        other = create_application(conn, "other shop", now)
        theirs = create_key(conn, other, now, name="their secret key")
    listing = console.get("/keys")
    assert "their secret key" not in listing.text and theirs.key.prefix not in listing.text
    assert console.form(f"/keys/{theirs.key.id}/rotate").status_code == 404
    assert console.form(f"/keys/{theirs.key.id}/disable").status_code == 404
    with _database(console).read() as conn:
        assert list_keys(conn, other)[0].enabled is True


def test_the_keys_page_in_a_browser(browser_page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = browser_page
    page.goto("/keys")
    page.get_by_label("Name").fill("Browser key")
    page.get_by_label("IP allow-list").fill("198.51.100.0/24")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("Secret")
    expect(secret).to_have_attribute("readonly", "")
    assert len(secret.input_value()) > 20
    shot(page, "key-secret")
    page.get_by_role("link", name="Done").click()
    row = page.get_by_role("row").filter(has_text="Browser key")
    row.get_by_role("button", name="Rotate").click()
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Key “Browser key” rotated")
    page.goto("/keys")
    shot(page, "keys")
    page.set_viewport_size({"width": 375, "height": 800})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the keys page is {width} px wide at 375"
    page.goto("/channels/email")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the channel page is {width} px wide at 375"
    shot(page, "channel-email-375")


def test_json_nested_too_deeply_is_named_on_its_field(console: ConsoleClient) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    bad = console.form(
        "/channels/push",
        {"enabled": "1", "settings.options": deep, "settings.credentials.apns": deep},
    )
    assert bad.status_code == 400, bad.status_code
    assert "settings.options: nested too deeply" in bad.text
    assert "settings.credentials.apns: nested too deeply" in bad.text
    assert _config(console, "push") is None


def test_saving_a_channel_does_not_query_on_the_event_loop(console: ConsoleClient) -> None:
    from .console_loop import queries_on_the_loop

    with queries_on_the_loop(console.app.state.database) as on_the_loop:  # type: ignore[attr-defined]
        assert console.form("/channels/sms", {"enabled": "1", "rateLimit": "5"}).is_success
    assert on_the_loop == []
