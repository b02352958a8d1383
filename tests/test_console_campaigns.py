"""The console's campaigns: listing, editor (content checked like the API), live preview, sends."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from wayfare.store.campaigns import get_campaign, list_campaigns
from wayfare.store.customers import get_customer
from wayfare.store.database import Database
from wayfare.store.sendings import list_sendings

from .console_support import ConsoleClient, shot
from .statements import statements_run


def _database(console: ConsoleClient) -> Database:
    database: Database = console.app.state.database  # type: ignore[attr-defined]
    return database


def _app_id(console: ConsoleClient) -> int:
    with _database(console).read() as conn:
        (campaign,) = list_campaigns(conn, 1, limit=1).items
    return campaign.application_id


def _stored(console: ConsoleClient, campaign_id: int) -> Any:
    with _database(console).read() as conn:
        return get_campaign(conn, _app_id(console), campaign_id)


def _created_id(answer: Any) -> int:
    found = re.search(r"/campaigns/(\d+)", str(answer.url))
    assert found, answer.url
    return int(found.group(1))


def _first_name(console: ConsoleClient, customer_id: str) -> str:
    with _database(console).read() as conn:
        name: str = get_customer(conn, _app_id(console), customer_id).fields["first_name"]
    return name


def test_the_listing_shows_the_demo_campaigns_and_their_journeys(console: ConsoleClient) -> None:
    listing = console.get("/campaigns")
    assert listing.status_code == 200
    for name in ("Welcome email", "VIP SMS", "Loyalty card update", "Cart reminder push"):
        assert f">{name}</a>" in listing.text
    welcome = listing.text.split(">Welcome email</a>")[1].split("</tr>")[0]
    assert ">Welcome series</a>" in welcome  # the journey that sends it
    assert "no journey" in listing.text.split(">Loyalty card update</a>")[1].split("</tr>")[0]


@pytest.mark.parametrize(
    ("channel", "fields", "stored"),
    [
        (
            "push",
            {
                "content.title": "Hi {{ first_name }}",
                "content.body": "Line one\r\nline two",
                "content.buttons": '[{"label": "Open", "url": "https://shop.example/"}]',
            },
            {
                "title": "Hi {{ first_name }}",
                "body": "Line one\nline two",
                "buttons": [{"label": "Open", "url": "https://shop.example/"}],
            },
        ),
        (
            "email",
            {"content.subject": "Hello", "content.html": "<p>{{ city }}</p>", "content.from": ""},
            {"subject": "Hello", "html": "<p>{{ city }}</p>"},
        ),
        (
            "whatsapp",
            {
                "content.template": "order_update",
                "content.language": "en_US",
                "content.parameters": "{{ first_name }}\n\n42\n",
                "content.media.type": "image",
                "content.media.url": "https://shop.example/a.png",
            },
            {
                "template": "order_update",
                "language": "en_US",
                "parameters": ["{{ first_name }}", "42"],
                "media": {"type": "image", "url": "https://shop.example/a.png"},
            },
        ),
        (
            "inapp",
            {"content.card.title": "Sale", "content.card.body": "Now", "content.expiresIn": "P7D"},
            {"card": {"title": "Sale", "body": "Now"}, "expiresIn": "P7D"},
        ),
        (
            "wallet",
            {"content.fields": '{"points": "{{ age }}"}'},
            {"fields": {"points": "{{ age }}"}},
        ),
    ],
)
def test_a_campaign_is_created_and_edited_per_channel(
    console: ConsoleClient, channel: str, fields: dict[str, str], stored: dict[str, Any]
) -> None:
    editor = console.get(f"/campaigns/new?channel={channel}&name=Spring")
    assert editor.status_code == 200 and 'value="Spring"' in editor.text
    made = console.form("/campaigns/new", {"name": "Spring", "channel": channel, **fields})
    assert made.status_code == 200 and "Campaign created." in made.text, made.text
    campaign_id = _created_id(made)
    campaign = _stored(console, campaign_id)
    assert (campaign.name, campaign.channel, campaign.content) == ("Spring", channel, stored)
    # The editor shows what is stored; posting it back unchanged stores the same.
    page = console.get(f"/campaigns/{campaign_id}")
    shown = {
        name: html.unescape(value)
        for name, value in re.findall(
            r'name="(content\.[\w.]+)" type="text" value="([^"]*)"', page.text
        )
    }
    shown |= {
        name: html.unescape(value)
        for name, value in re.findall(
            r'name="(content\.[\w.]+)"[^>]*>\n?([^<]*)</textarea>', page.text
        )
    }
    shown |= {
        name: value
        for name, value in re.findall(
            r'<select [^>]*name="(content\.[\w.]+)"[^>]*>'
            r'(?:(?!</select>).)*?<option value="(\w+)" selected',
            page.text,
            re.S,
        )
    }
    again = console.form(f"/campaigns/{campaign_id}", {"name": "Spring 2", **shown})
    assert "Campaign saved." in again.text, again.text
    after = _stored(console, campaign_id)
    assert after.name == "Spring 2" and after.content == stored


def test_a_liquid_error_is_named_by_field_and_line_and_nothing_is_stored(
    console: ConsoleClient,
) -> None:
    before = _stored(console, 3)  # Welcome email
    answer = console.form(
        "/campaigns/3",
        {
            "name": "Welcome email",
            "content.subject": "Hi",
            "content.html": "<p>one</p>\n<p>two</p>\n{% endfor %}",
            "content.text": "",
        },
    )
    assert answer.status_code == 400
    assert "content.html: line 3: unexpected tag &#39;endfor&#39;" in answer.text
    field = answer.text.split('id="f-content.html"')[1].split("</div>")[0]
    assert 'class="error"' in field and "line 3" in field  # shown next to the field
    assert "{% endfor %}</textarea>" in answer.text  # what was typed is kept
    assert _stored(console, 3) == before


def test_missing_and_malformed_fields_are_named(console: ConsoleClient) -> None:
    answer = console.form(
        "/campaigns/new",
        {"name": "", "channel": "push", "content.title": "T", "content.data": '{"a": 1,\n}'},
    )
    assert answer.status_code == 400
    assert "content.data: not valid JSON" in answer.text and "line 2 column 1" in answer.text
    assert "<code>content.body</code>: required" in answer.text
    before = console.form(
        "/campaigns/new", {"name": " ", "channel": "sms", "content.text": "{{ first_name }}"}
    )
    assert (
        before.status_code == 400 and "<code>name</code>: must be a non-empty string" in before.text
    )
    with _database(console).read() as conn:
        assert list_campaigns(conn, _app_id(console)).count == 9


def test_the_preview_renders_a_customers_fields(console: ConsoleClient) -> None:
    name = _first_name(console, "cust-0007")
    fragment = console.post(
        "/campaigns/5/preview",  # VIP SMS
        data={"customer": "cust-0007", "content.text": "Hola {{ first_name }}!"},
        headers={"X-CSRF-Token": console.csrf},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text  # a fragment for the pane
    assert f'<p class="bubble">Hola {html.escape(name)}!</p>' in fragment.text
    # The page without scripts: the Preview button renders it and stores nothing.
    page = console.form(
        "/campaigns/3",
        {
            "action": "preview",
            "customer": "cust-0007",
            "name": "Welcome email",
            "content.subject": "For {{ first_name }}",
            "content.html": "<b>{{ first_name }}</b>",
        },
    )
    assert page.status_code == 200
    assert f"For {html.escape(name)}</dd>" in page.text
    assert f'srcdoc="&lt;b&gt;{html.escape(name)}&lt;/b&gt;"' in page.text
    assert 'sandbox=""' in page.text and "allow-scripts" not in page.text
    assert _stored(console, 3).content["subject"] == "Welcome to Acme, {{ first_name }}"


def test_the_preview_of_an_unknown_customer_or_broken_content_says_so(
    console: ConsoleClient,
) -> None:
    def preview(data: dict[str, str], url: str = "/campaigns/5/preview") -> str:
        answer = console.post(url, data=data, headers={"X-CSRF-Token": console.csrf})
        assert answer.status_code == 200
        return answer.text

    text = preview({"customer": "nobody-here", "content.text": "Hi"})
    assert "there is no customer &#39;nobody-here&#39; in this application" in text
    assert "content.text</code>: line 1" in preview(
        {"customer": "cust-0001", "content.text": "{{ x"}
    )
    assert "<code>content.text</code>: required" in preview({"customer": "cust-0001"})
    new = preview(
        {
            "channel": "telegram",
            "customer": "cust-0002",
            "content.text": "{{ customer.customerId }}",
        },
        "/campaigns/new/preview",
    )
    assert '<p class="bubble">cust-0002</p>' in new


def test_the_preview_and_changes_need_the_csrf_token(console: ConsoleClient) -> None:
    refused = console.post("/campaigns/5/preview", data={"customer": "cust-0001"})
    assert refused.status_code == 403
    forged = console.post(
        "/campaigns/5", data={"csrf": "forged", "name": "X", "content.text": "Pwned"}
    )
    assert forged.status_code == 403 and _stored(console, 5).name == "VIP SMS"
    assert console.post("/campaigns/5/delete", data={"csrf": "forged"}).status_code == 403
    assert console.post("/campaigns/5/send", data={"audience": "all"}).status_code == 403
    assert _stored(console, 5).id == 5


def test_a_campaign_is_deleted_unless_an_active_journey_uses_it(console: ConsoleClient) -> None:
    refused = console.form("/campaigns/3/delete")  # the active "Welcome series" sends it
    assert refused.status_code == 409 and "Welcome series" in refused.text
    assert _stored(console, 3).id == 3
    deleted = console.form("/campaigns/4/delete")  # Loyalty card update: no journey
    assert deleted.status_code == 200 and "Campaign 4 deleted." in deleted.text
    assert ">Loyalty card update</a>" not in deleted.text
    assert console.get("/campaigns/4").status_code == 404


def test_send_now_to_a_list_and_to_everyone(console: ConsoleClient) -> None:
    to_list = console.form("/campaigns/5/send", {"audience": "list:1"})
    assert to_list.status_code == 200 and "messages queued." in to_list.text
    to_all = console.form("/campaigns/5/send", {"audience": "all"})
    assert "300 messages queued." in to_all.text
    with _database(console).read() as conn:
        sendings = list_sendings(conn, _app_id(console), 5, limit=10, offset=0).items
    assert sorted((s.audience, s.total) for s in sendings)[0][0] == "all"
    assert {s.audience for s in sendings} == {"all", "list"}
    assert console.form("/campaigns/5/send", {"audience": "list:999"}).status_code == 404


def test_a_campaign_of_another_application_is_not_found(console: ConsoleClient) -> None:
    from datetime import UTC, datetime

    from wayfare.store.applications import create_application
    from wayfare.store.campaigns import create_campaign

    with _database(console).write() as conn:
        other = create_application(conn, "other shop", datetime.now(UTC))
        theirs = create_campaign(conn, other, "Theirs", "sms", {"text": "x"}, datetime.now(UTC))
    assert console.get(f"/campaigns/{theirs}").status_code == 404
    assert console.form(f"/campaigns/{theirs}", {"name": "Mine"}).status_code == 404
    assert ">Theirs</a>" not in console.get("/campaigns").text


def test_the_editor_previews_live_as_you_type(browser_page, live_console) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = browser_page
    page.goto("/campaigns/new?channel=sms&name=Live+preview")
    page.get_by_label("Text").fill("Hello {{ first_name }}, see you in {{ city }}")
    page.get_by_label("Customer").fill("cust-0011")
    with live_console.database.read() as conn:
        customer = get_customer(conn, 1, "cust-0011")
    expected = f"Hello {customer.fields['first_name']}, see you in {customer.fields['city']}"
    bubble = page.locator("#preview .bubble")
    expect(bubble).to_have_text(expected)
    page.get_by_label("Text").press_sequentially(" soon")
    expect(bubble).to_have_text(expected + " soon")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator(".notice")).to_have_text("Campaign created.")
    expect(bubble).to_have_text(expected + " soon")
    shot(page, "campaign-editor")
    page.set_viewport_size({"width": 375, "height": 800})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the campaign editor is {width} px wide at 375"
    page.get_by_label("Text").fill("Bye {{ first_name }}")
    expect(bubble).to_have_text(f"Bye {customer.fields['first_name']}")
    shot(page, "campaign-editor-375")
    page.goto("/campaigns")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the campaigns list is {width} px wide at 375"
    shot(page, "campaigns-375")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/campaigns/3?customer=cust-0011")  # Welcome email: its HTML in a sandboxed frame
    frame = page.frame_locator("#preview iframe")
    expect(frame.locator("p")).to_have_text(
        f"Hello {customer.fields['first_name']}, glad you are here."
    )
    shot(page, "campaign-email")


def test_numbers_in_other_scripts_are_refused_not_a_crash(console: ConsoleClient) -> None:
    """``"²"`` passes ``str.isdigit`` but not ``int``: a clear refusal, not a 500."""
    bad = console.form("/campaigns/5/send", {"audience": "list:²"})
    assert bad.status_code == 400 and "choose everyone or a list" in bad.text
    assert console.form("/campaigns/²/preview", {"customer": "cust-0001"}).status_code == 404
    with _database(console).read() as conn:
        assert list_sendings(conn, _app_id(console), 5, limit=10, offset=0).items == []


def test_saving_keeps_the_preview_customer_whatever_their_id(console: ConsoleClient) -> None:
    from wayfare.store.customers import upsert_customers

    with _database(console).write() as conn:
        upsert_customers(
            conn,
            _app_id(console),
            [{"customerId": "ana+vip@example.com", "fields": {"first_name": "Plus"}}],
            get_campaign(conn, _app_id(console), 5).created_at,
        )
    content = {"content.text": "Hi {{ customer.first_name }}"}
    made = console.form(
        "/campaigns/new",
        {"name": "Plus", "channel": "sms", "customer": "ana+vip@example.com", **content},
    )
    assert made.status_code == 200 and "Campaign created." in made.text
    assert "Hi Plus" in made.text, "the preview is not for the customer chosen before saving"


def test_the_editor_picks_customers_without_counting_them_all(console: ConsoleClient) -> None:
    with statements_run(_database(console)) as found:
        editor = console.get("/campaigns/5")
    assert editor.status_code == 200 and 'value="cust-0001"' in editor.text
    customer_queries = [s for s in (" ".join(f.split()) for f in found) if "FROM customers" in s]
    assert customer_queries and not [s for s in customer_queries if "count(" in s.lower()]


def test_json_nested_too_deeply_is_named_on_its_field(console: ConsoleClient) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    fields = {"content.title": "T", "content.body": "B", "content.buttons": deep}
    saved = console.form("/campaigns/new", {"name": "Deep", "channel": "push", **fields})
    assert saved.status_code == 400, saved.status_code
    assert "content.buttons: nested too deeply" in html.unescape(saved.text)
    assert _stored(console, 1).channel == "push"
    edited = console.form("/campaigns/1", {"name": "Deep", **fields, "content.data": deep})
    assert edited.status_code == 400 and "nested too deeply" in edited.text
    shown = console.form("/campaigns/new/preview", {"channel": "push", **fields})
    assert shown.status_code == 200 and "nested too deeply" in shown.text
    less = "[" * 500 + "]" * 500  # parses, but deeper than anyone writes by hand
    moderate = console.form(
        "/campaigns/new/preview", {**fields, "channel": "push", "content.buttons": less}
    )
    assert moderate.status_code == 200 and "nested too deeply" in moderate.text
    with _database(console).read() as conn:
        assert list_campaigns(conn, _app_id(console)).count == 9


def test_no_campaign_page_queries_the_database_on_the_event_loop(console: ConsoleClient) -> None:
    """The editor's async routes read the form on the loop and do the rest in the thread pool."""
    from .console_loop import queries_on_the_loop

    fields = {"content.title": "T", "content.body": "B"}
    with queries_on_the_loop(_database(console)) as on_the_loop:
        assert console.form("/campaigns/1", {"name": "Welcome push", **fields}).is_success
        shown = console.form("/campaigns/1/preview", {"customer": "cust-0001", **fields})
        assert shown.status_code == 200
        made = console.form("/campaigns/new", {"name": "Loop", "channel": "push", **fields})
        assert made.is_success
    assert on_the_loop == []
