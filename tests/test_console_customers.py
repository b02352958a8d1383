"""The console's customers: search, the table, a profile, editing, consent and erasure."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import func, select

from wayfare.store.applications import create_application
from wayfare.store.customers import define_field, get_customer, upsert_customers
from wayfare.store.events import customer_events
from wayfare.store.schema import customers, enrollments, events, journeys, list_members, outbox

from .conftest import NOW
from .console_loop import queries_on_the_loop
from .console_support import ConsoleClient, shot


def _database(console: ConsoleClient) -> Any:
    return console.app.state.database


def _ids(page: str) -> list[str]:
    """The customer ids the table of a customers page links to."""
    return [
        html.unescape(i)
        for i in re.findall(r'<th scope="row" class="nowrap"><a href="[^"]+">([^<]+)</a>', page)
    ]


def _demo_id(console: ConsoleClient) -> int:
    with _database(console).read() as conn:
        return int(conn.execute(select(customers.c.application_id).limit(1)).scalar_one())


def test_the_table_pages_through_customers_by_id(console: ConsoleClient) -> None:
    first = console.get("/customers")
    assert first.status_code == 200
    assert "<h1>Customers</h1>" in first.text and "300 customers" in first.text
    ids = _ids(first.text)
    assert ids == [f"cust-{n:04d}" for n in range(1, 51)]
    assert 'href="/customers?page=2" rel="next"' in first.text
    second = _ids(console.get("/customers?page=2").text)
    assert second[0] == "cust-0051" and len(second) == 50
    with _database(console).read() as conn:
        email = conn.execute(
            select(customers.c.email).where(customers.c.customer_id == "cust-0001")
        ).scalar_one()
    assert email in first.text


def test_odd_page_numbers_show_a_page_not_an_error(console: ConsoleClient) -> None:
    for number in ("abc", "0", "-3", "99999999999999999999999"):
        answer = console.get("/customers", params={"page": number})
        assert answer.status_code == 200, number
        assert answer.headers["content-type"].startswith("text/html")
    assert _ids(console.get("/customers", params={"page": "abc"}).text)[0] == "cust-0001"
    assert _ids(console.get("/customers", params={"page": "999"}).text) == []
    long = console.get("/customers", params={"q": "c" * 300})
    assert long.status_code == 200 and "0 customers found" in long.text
    events = console.get("/customers/cust-0001", params={"events": "lots"})
    assert events.status_code == 200


def test_search_by_id_email_and_field_value_stays_in_the_application(
    console: ConsoleClient,
) -> None:
    database = _database(console)
    with database.write() as conn:
        other = create_application(conn, "other-brand", NOW)
        define_field(conn, other, "city", "string", NOW)
        upsert_customers(
            conn,
            other,
            [
                {"customerId": "cust-0007-other", "email": "spy.7@example.com"},
                {"customerId": "cust-9999", "fields": {"city": "Madrid"}},
            ],
            NOW,
        )
        demo = _demo_id(console)
        seventh = get_customer(conn, demo, "cust-0007")
        madrid = sorted(
            row.customer_id
            for row in conn.execute(
                select(customers.c.customer_id, customers.c.fields).where(
                    customers.c.application_id == demo
                )
            )
            if row.fields.get("city") == "Madrid"
        )
    by_id = console.get("/customers", params={"q": "CUST-0007"})
    assert _ids(by_id.text) == ["cust-0007"]
    assert "cust-0007-other" not in by_id.text
    assert _ids(console.get("/customers", params={"q": "cust-9999"}).text) == []
    assert seventh.email is not None
    by_email = console.get("/customers", params={"q": seventh.email.upper()})
    assert _ids(by_email.text) == ["cust-0007"]
    assert _ids(console.get("/customers", params={"q": "spy."}).text) == []
    by_field = console.get("/customers", params={"field": "city", "value": "Madrid"})
    assert by_field.status_code == 200
    assert f"{len(madrid)} customers found" in by_field.text
    assert _ids(by_field.text) == madrid[:50] and "cust-9999" not in by_field.text
    narrowed = console.get(
        "/customers", params={"field": "city", "value": "Madrid", "q": madrid[0]}
    )
    assert _ids(narrowed.text) == [madrid[0]]
    bad = console.get("/customers", params={"field": "age", "value": "old"})
    assert bad.status_code == 400 and 'id="e-value"' in bad.text
    unknown = console.get("/customers", params={"field": "shoe_size", "value": "4"})
    assert unknown.status_code == 400 and "no such customer field" in unknown.text


def test_a_profile_shows_fields_events_and_enrollments(console: ConsoleClient) -> None:
    database = _database(console)
    demo = _demo_id(console)
    with database.read() as conn:
        enrolled = conn.execute(
            select(enrollments.c.customer_id, journeys.c.name, journeys.c.id)
            .join(journeys, journeys.c.id == enrollments.c.journey_id)
            .where(enrollments.c.application_id == demo)
            .order_by(enrollments.c.id)
            .limit(1)
        ).one()
        customer = get_customer(conn, demo, enrolled.customer_id)
        latest = customer_events(conn, demo, enrolled.customer_id, limit=50)
        in_journeys = conn.execute(
            select(enrollments.c.status).where(
                enrollments.c.application_id == demo,
                enrollments.c.customer_id == enrolled.customer_id,
            )
        ).all()
    with database.write() as conn:  # what the worker would have sent by now
        conn.execute(
            outbox.insert(),
            [
                {
                    "application_id": demo,
                    "idempotency_key": f"console-test-{n}",
                    "journey_id": enrolled.id,
                    "customer_id": enrolled.customer_id,
                    "channel": channel,
                    "payload": {},
                    "status": status,
                    "attempts": 1,
                    "next_attempt_at": NOW,
                    "reason": reason,
                    "created_at": NOW,
                }
                for n, (channel, status, reason) in enumerate(
                    [("email", "sent", None), ("sms", "skipped", "no consent for sms")]
                )
            ],
        )
    answer = console.get(f"/customers/{enrolled.customer_id}")
    assert answer.status_code == 200, answer.text
    text = answer.text
    assert f"<code>{customer.customer_id}</code>" in text
    for name, value in customer.fields.items():
        shown = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if isinstance(value, bool):
            assert re.search(
                rf'id="f-fields\.{name}".*?<option value="{shown}" selected', text, re.S
            ), name
        else:
            assert f'id="f-fields.{name}" name="fields.{name}" type=' in text
            assert f'value="{html.escape(shown)}"' in text, name
    assert f'value="{customer.email}"' in text
    section = text.split('id="events-title"')[1].split('id="messages-title"')[0]
    shown_times = re.findall(r'<time datetime="([^"]+)"', section)
    assert shown_times == [e.occurred_at.isoformat() for e in latest[:20]]  # newest first
    assert len(latest) >= 1 and shown_times == sorted(shown_times, reverse=True)
    assert section.count("<code>") == len(shown_times)
    journeys_part = text.split('id="journeys-title"')[1].split('id="events-title"')[0]
    assert f'<a href="/journeys/{enrolled.id}">{html.escape(enrolled.name)}</a>' in journeys_part
    assert journeys_part.count("<tr>") - 1 == len(in_journeys)
    for (status,) in in_journeys:
        assert status in journeys_part
    with database.read() as conn:
        sent = conn.execute(
            select(outbox.c.channel).where(
                outbox.c.application_id == demo, outbox.c.customer_id == enrolled.customer_id
            )
        ).all()
    messages_part = text.split('id="messages-title"')[1].split('id="erase-title"')[0]
    assert f"({len(sent)}" in messages_part and len(sent) >= 2
    assert "skipped" in messages_part and "no consent for sms" in messages_part
    assert messages_part.count("<tr>") - (1 if sent else 0) == min(len(sent), 20)
    assert "Delete (erase)" in text and "list memberships" in text


def test_a_profile_of_ids_with_symbols_and_unknown_ids(console: ConsoleClient) -> None:
    database = _database(console)
    demo = _demo_id(console)
    odd = "ana.b+test:1@shop-2"
    with database.write() as conn:
        upsert_customers(conn, demo, [{"customerId": odd, "fields": {"city": "Oslo"}}], NOW)
    listed = console.get("/customers", params={"q": "ana.b+"})
    assert _ids(listed.text) == [odd]
    assert 'href="/customers/ana.b%2Btest%3A1%40shop-2"' in listed.text
    shown = console.get("/customers/ana.b%2Btest%3A1%40shop-2")
    assert shown.status_code == 200 and 'value="Oslo"' in shown.text
    missing = console.get("/customers/nobody-here")
    assert missing.status_code == 404 and "nobody-here" in missing.text


def test_editing_saves_typed_values_and_names_a_bad_field(console: ConsoleClient) -> None:
    database = _database(console)
    demo = _demo_id(console)
    url = "/customers/cust-0003"
    saved = console.form(
        url,
        {
            "email": "new.3@example.com",
            "phone": "",
            "fields.age": "41",
            "fields.vip": "true",
            "fields.city": "",
            "fields.birthday": "1985-02-03",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303 and saved.headers["location"] == url
    with database.read() as conn:
        customer = get_customer(conn, demo, "cust-0003")
    assert customer.email == "new.3@example.com" and customer.phone is None
    assert customer.fields["age"] == 41 and customer.fields["vip"] is True
    assert customer.fields["birthday"] == "1985-02-03" and "city" not in customer.fields
    assert "Saved customer cust-0003" in console.get(url).text
    bad = console.form(url, {"fields.age": "forty", "timezone": "Mars/Olympus", "email": "x"})
    assert bad.status_code == 400
    assert re.search(r'id="e-fields\.age">[^<]*expected a number', bad.text)
    assert 'id="e-timezone"' in bad.text and 'id="e-email"' in bad.text
    assert 'value="forty"' in bad.text  # what was typed is kept
    with database.read() as conn:
        assert get_customer(conn, demo, "cust-0003").fields["age"] == 41


def test_consent_is_withdrawn_and_granted_per_channel(console: ConsoleClient) -> None:
    database = _database(console)
    demo = _demo_id(console)
    url = "/customers/cust-0004"
    console.form(f"{url}/consent", {"channel": "sms", "allowed": "false"})
    with database.read() as conn:
        assert get_customer(conn, demo, "cust-0004").allows("sms") is False
    page = console.get(url).text
    assert 'aria-label="Grant consent for sms"' in page
    assert "refused: sms" in console.get("/customers", params={"q": "cust-0004"}).text
    console.form(f"{url}/consent", {"channel": "sms", "allowed": "true"})
    with database.read() as conn:
        assert get_customer(conn, demo, "cust-0004").consent["sms"] is True
    wrong = console.form(f"{url}/consent", {"channel": "pigeon", "allowed": "true"})
    assert wrong.status_code == 400 and "pigeon" in wrong.text


def test_erasing_removes_the_customer_and_what_they_left(console: ConsoleClient) -> None:
    database = _database(console)
    demo = _demo_id(console)
    with database.read() as conn:
        member = conn.execute(
            select(list_members.c.customer_id)
            .join(events, events.c.customer_id == list_members.c.customer_id)
            .limit(1)
        ).scalar_one()
        assert conn.execute(  # the newsletter's members are in the welcome series
            select(enrollments.c.id).where(enrollments.c.customer_id == member)
        ).first()
    erased = console.form(f"/customers/{member}/erase", follow_redirects=False)
    assert erased.status_code == 303 and erased.headers["location"] == "/customers"
    with database.read() as conn:
        for table in (customers, events, enrollments):
            assert not conn.execute(
                select(table.c.customer_id).where(
                    table.c.application_id == demo, table.c.customer_id == member
                )
            ).first()
        assert not conn.execute(
            select(list_members.c.customer_id).where(list_members.c.customer_id == member)
        ).first()
    assert console.get(f"/customers/{member}").status_code == 404


def test_changes_without_the_csrf_token_are_refused(console: ConsoleClient) -> None:
    database = _database(console)
    demo = _demo_id(console)
    for url, data in (
        ("/customers/cust-0005", {"fields.age": "99"}),
        ("/customers/cust-0005/consent", {"channel": "email", "allowed": "false"}),
        ("/customers/cust-0005/erase", {}),
    ):
        answer = console.post(url, data=data)
        assert answer.status_code == 403, url
        forged = console.post(url, data={**data, "csrf": "forged"})
        assert forged.status_code == 403, url
    with database.read() as conn:
        customer = get_customer(conn, demo, "cust-0005")
    assert customer.fields["age"] != 99 and customer.allows("email")


def test_search_and_profile_in_a_browser_at_two_widths(browser_page: Any) -> None:
    page = browser_page
    page.goto("/customers")
    page.get_by_label("Id or e-mail starts with").fill("cust-001")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/customers?q=cust-001*")
    assert page.locator("tbody tr").count() == 10
    shot(page, "customers")
    page.get_by_role("link", name="cust-0012").click()
    page.wait_for_url("**/customers/cust-0012")
    assert page.get_by_role("heading", level=1).inner_text() == "Customer cust-0012"
    assert page.get_by_label("age", exact=True).input_value()
    shot(page, "customer-profile")
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "customer-profile-375")
    page.goto("/customers?q=cust-00")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "customers-375")
    page.goto("/customers/cust-0012")
    page.get_by_role("button", name="Delete (erase)").click()
    dialog = page.get_by_role("dialog")
    assert "list memberships" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert page.url.endswith("/customers/cust-0012")


def test_numbers_in_other_scripts_are_not_numbers(console: ConsoleClient) -> None:
    """``"²"`` passes ``str.isdigit`` but not ``int``: a page, not a 500."""
    for number in ("²", "١٢", "1²"):
        answer = console.get("/customers", params={"page": number})
        assert answer.status_code == 200, number
        assert _ids(answer.text)[0] == "cust-0001"
        assert console.get("/lists/1", params={"page": number}).status_code == 200, number
        events = console.get("/customers/cust-0001", params={"events": number})
        assert events.status_code == 200, number


def test_search_by_a_number_or_boolean_field_is_typed(console: ConsoleClient) -> None:
    with _database(console).read() as conn:
        rows = conn.execute(
            select(customers.c.customer_id, customers.c.fields).where(
                customers.c.application_id == _demo_id(console)
            )
        ).all()
    age = next(row.fields["age"] for row in rows if "age" in row.fields)
    of_age = sorted(row.customer_id for row in rows if row.fields.get("age") == age)
    vips = sorted(row.customer_id for row in rows if row.fields.get("vip") is True)
    assert vips and len(vips) < len(rows)
    by_age = console.get("/customers", params={"field": "age", "value": str(age)})
    assert by_age.status_code == 200, by_age.text
    assert f"{len(of_age)} customers found" in by_age.text and _ids(by_age.text) == of_age[:50]
    for text in ("true", "TRUE", "yes"):
        by_vip = console.get("/customers", params={"field": "vip", "value": text})
        assert by_vip.status_code == 200, text
        assert f"{len(vips)} customers found" in by_vip.text
    maybe = console.get("/customers", params={"field": "vip", "value": "maybe"})
    assert (
        maybe.status_code == 400 and "true or false" in maybe.text and 'id="e-value"' in maybe.text
    )
    old = console.get("/customers", params={"field": "age", "value": "old"})
    assert old.status_code == 400 and "'old' is not a number" in html.unescape(old.text)


def test_no_customer_page_queries_the_database_on_the_event_loop(console: ConsoleClient) -> None:
    """A query on the loop's thread would hold up every other request while it waits."""
    url = "/customers/cust-0004"
    with queries_on_the_loop(_database(console)) as on_the_loop:
        assert console.get("/customers", params={"field": "age", "value": "30"}).is_success
        assert console.get(url).is_success
        saved = console.form(url, {"fields.age": "52"}, follow_redirects=False)
        assert saved.status_code == 303
        assert console.form(url, {"fields.age": "old"}).status_code == 400
        assert console.form(url + "/consent", {"channel": "sms", "allowed": "false"}).is_success
    assert on_the_loop == []


def test_a_profile_shows_the_latest_enrollments_and_how_many(console: ConsoleClient) -> None:
    from datetime import timedelta

    from wayfare.store.inspection import ENROLLMENTS_SHOWN

    database = _database(console)
    demo = _demo_id(console)
    with database.write() as conn:
        journey_id = conn.execute(
            select(journeys.c.id).where(journeys.c.application_id == demo).limit(1)
        ).scalar_one()
        conn.execute(
            enrollments.insert(),
            [
                {
                    "application_id": demo,
                    "journey_id": journey_id,
                    "customer_id": "cust-0299",
                    "entry_number": 100 + n,
                    "test": False,
                    "state_id": 1,
                    "status": "completed",
                    "context": {},
                    "transitions": 1,
                    "entered_at": NOW + timedelta(minutes=n),
                    "updated_at": NOW,
                }
                for n in range(ENROLLMENTS_SHOWN + 5)
            ],
        )
        total = conn.execute(
            select(func.count()).where(
                enrollments.c.application_id == demo, enrollments.c.customer_id == "cust-0299"
            )
        ).scalar_one()
    text = console.get("/customers/cust-0299").text
    part = text.split('id="journeys-title"')[1].split('id="events-title"')[0]
    assert part.count("<tr>") - 1 == ENROLLMENTS_SHOWN
    assert f"({total:,}, the latest {ENROLLMENTS_SHOWN})" in part
    newest = f"{NOW + timedelta(minutes=ENROLLMENTS_SHOWN + 4):%Y-%m-%d %H:%M}"
    assert part.index(newest) < part.index(f"{NOW + timedelta(minutes=5):%Y-%m-%d %H:%M}")
