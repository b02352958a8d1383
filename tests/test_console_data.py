"""The console's customer fields, contact lists (with CSV uploads) and event types."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from wayfare.store.customers import get_customer, list_fields
from wayfare.store.events import list_event_types
from wayfare.store.lists import find_list, list_lists, list_members
from wayfare.store.places import list_places
from wayfare.store.schema import applications, contact_lists
from wayfare.store.schema import list_members as members_table

from .console_loop import queries_on_the_loop
from .console_support import ConsoleClient, shot
from .statements import statements_run


def _database(console: ConsoleClient) -> Any:
    return console.app.state.database


def _demo(console: ConsoleClient) -> int:
    with _database(console).read() as conn:
        return int(
            conn.execute(
                select(applications.c.id).where(applications.c.name == "demo")
            ).scalar_one()
        )


def _error(page: str, name: str) -> str:
    """The message shown under the input ``name``."""
    found = re.search(rf'<p class="error" id="e-{re.escape(name)}">([^<]*)</p>', page)
    assert found, f"no error under {name}"
    return html.unescape(found.group(1))


# -- fields --------------------------------------------------------------------------------------


def test_fields_are_listed_with_their_type_and_users(console: ConsoleClient) -> None:
    page = console.get("/fields")
    assert page.status_code == 200 and "<h1>Customer fields</h1>" in page.text
    with _database(console).read() as conn:
        fields = list_fields(conn, _demo(console))
    rows = re.findall(r'<th scope="row"><code>([^<]+)</code></th>\s*<td>([^<]+)</td>', page.text)
    assert rows == [(f.name, f.type.value) for f in fields]
    vip_row = page.text.split("<code>vip</code>")[1].split("</tr>")[0]
    assert "yes: segment" in vip_row and "Big spenders" in vip_row
    city_row = page.text.split("<code>city</code>")[1].split("</tr>")[0]
    assert "<td>no</td>" in city_row


def test_a_field_is_added_and_deleted_and_bad_ones_are_named(console: ConsoleClient) -> None:
    demo = _demo(console)
    added = console.form(
        "/fields", {"name": "loyalty_tier", "type": "string"}, follow_redirects=False
    )
    assert added.status_code == 303 and added.headers["location"] == "/fields"
    with _database(console).read() as conn:
        assert {f.name: f.type.value for f in list_fields(conn, demo)}["loyalty_tier"] == "string"
    assert "Field loyalty_tier (string) added." in console.get("/fields").text

    bad_name = console.form("/fields", {"name": "2fast", "type": "string"})
    assert bad_name.status_code == 400 and "not a field name" in _error(bad_name.text, "name")
    assert 'value="2fast"' in bad_name.text
    bad_type = console.form("/fields", {"name": "score", "type": "colour"})
    assert bad_type.status_code == 400 and "not a field type" in _error(bad_type.text, "type")
    reserved = console.form("/fields", {"name": "email", "type": "string"})
    assert "reserved" in _error(reserved.text, "name")
    again = console.form("/fields", {"name": "loyalty_tier", "type": "number"})
    assert again.status_code == 400 and "already exists" in _error(again.text, "name")

    deleted = console.form("/fields/loyalty_tier/delete", follow_redirects=False)
    assert deleted.status_code == 303
    with _database(console).read() as conn:
        assert "loyalty_tier" not in {f.name for f in list_fields(conn, demo)}


def test_deleting_a_field_in_use_is_refused_with_the_store_message(
    console: ConsoleClient,
) -> None:
    demo = _demo(console)
    refused = console.form("/fields/vip/delete")
    assert refused.status_code == 409
    assert "customer field &#39;vip&#39; is used by" in refused.text
    assert "Big spenders" in refused.text and "cannot be deleted" in refused.text
    with _database(console).read() as conn:
        assert "vip" in {f.name for f in list_fields(conn, demo)}
        assert "vip" in get_customer(conn, demo, "cust-0001").fields


def test_deleting_a_field_removes_its_values(console: ConsoleClient) -> None:
    demo = _demo(console)
    assert console.form("/fields/city/delete").status_code == 200
    with _database(console).read() as conn:
        assert "city" not in get_customer(conn, demo, "cust-0001").fields


# -- lists ---------------------------------------------------------------------------------------


def test_lists_show_their_member_counts(console: ConsoleClient) -> None:
    page = console.get("/lists")
    with _database(console).read() as conn:
        (newsletter,) = list_lists(conn, _demo(console))
    assert newsletter.members > 0
    assert f'<a href="/lists/{newsletter.id}">Newsletter</a>' in page.text
    assert f'<td class="number">{newsletter.members:,}</td>' in page.text
    shown = console.get(f"/lists/{newsletter.id}")
    assert shown.status_code == 200
    with _database(console).read() as conn:
        first = list_members(conn, _demo(console), newsletter.id, limit=100)
    ids = re.findall(r'<th scope="row"><a href="/customers/[^"]+">([^<]+)</a>', shown.text)
    assert ids == [m.customer_id for m in first]
    if newsletter.members > 100:
        assert f'href="/lists/{newsletter.id}?page=2"' in shown.text


def test_a_list_is_created_filled_from_csv_and_deleted(console: ConsoleClient) -> None:
    demo = _demo(console)
    made = console.form("/lists", {"name": "Spring fair"}, follow_redirects=False)
    assert made.status_code == 303
    with _database(console).read() as conn:
        found = find_list(conn, demo, "Spring fair")
    assert found is not None and made.headers["location"] == f"/lists/{found.id}"
    csv = b"customerId,coupon\ncust-0001,SPRING10\ncust-0002,\nnew.person@shop,SPRING20\n"
    uploaded = console.form(
        f"/lists/{found.id}/csv",
        files={"file": ("fair.csv", csv, "text/csv")},
        follow_redirects=False,
    )
    assert uploaded.status_code == 303, uploaded.text
    page = console.get(uploaded.headers["location"]).text
    assert "Read 3 rows of fair.csv: 3 members added" in page and "1 new customers" in page
    with _database(console).read() as conn:
        members = {m.customer_id: dict(m.context) for m in list_members(conn, demo, found.id)}
        assert get_customer(conn, demo, "new.person@shop").customer_id == "new.person@shop"
    assert members == {
        "cust-0001": {"coupon": "SPRING10"},
        "cust-0002": {},
        "new.person@shop": {"coupon": "SPRING20"},
    }
    assert 'coupon="SPRING10"' in page

    deleted = console.form(f"/lists/{found.id}/delete", follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/lists"
    with _database(console).read() as conn:
        assert find_list(conn, demo, "Spring fair") is None
        assert not conn.execute(
            select(members_table.c.customer_id).where(members_table.c.list_id == found.id)
        ).first()
        assert get_customer(conn, demo, "cust-0001")  # the customers stay
    assert console.get(f"/lists/{found.id}").status_code == 404


def test_a_bad_csv_line_is_named_and_nothing_is_stored(console: ConsoleClient) -> None:
    demo = _demo(console)
    console.form("/lists", {"name": "Careful"})
    with _database(console).read() as conn:
        found = find_list(conn, demo, "Careful")
    assert found is not None
    csv = b"customerId,coupon\ncust-0001,A\nnot an id!,B\ncust-0003,C,extra\n"
    refused = console.form(f"/lists/{found.id}/csv", files={"file": ("bad.csv", csv, "text/csv")})
    assert refused.status_code == 400
    assert "line 3" in refused.text and "line 4" in refused.text
    with _database(console).read() as conn:
        assert list_members(conn, demo, found.id) == []
    skipped = console.form(
        f"/lists/{found.id}/csv",
        data={"ignoreErrors": "on"},
        files={"file": ("bad.csv", csv, "text/csv")},
    )
    assert skipped.status_code == 200
    assert "1 members added" in skipped.text and "2 bad rows skipped (first: line 3" in skipped.text
    with _database(console).read() as conn:
        assert [m.customer_id for m in list_members(conn, demo, found.id)] == ["cust-0001"]
    no_file = console.form(f"/lists/{found.id}/csv", files={"file": ("", b"", "text/csv")})
    assert no_file.status_code == 400 and "choose a CSV file" in _error(no_file.text, "file")
    no_header = console.form(
        f"/lists/{found.id}/csv", files={"file": ("x.csv", b"id,coupon\n1,2\n", "text/csv")}
    )
    assert no_header.status_code == 400 and "customerId" in no_header.text


def test_list_names_are_checked(console: ConsoleClient) -> None:
    empty = console.form("/lists", {"name": "  "})
    assert empty.status_code == 400 and "a name is required" in _error(empty.text, "name")
    twice = console.form("/lists", {"name": "Newsletter"})
    assert twice.status_code == 400 and "already exists" in _error(twice.text, "name")
    with _database(console).read() as conn:
        assert len(list_lists(conn, _demo(console))) == 1
    assert console.get("/lists/999999").status_code == 404


# -- event types ---------------------------------------------------------------------------------


def test_event_types_are_listed_and_created(console: ConsoleClient) -> None:
    demo = _demo(console)
    page = console.get("/event-types")
    with _database(console).read() as conn:
        types = list_event_types(conn, demo)
    assert re.findall(r'<th scope="row"><code>([^<]+)</code>', page.text) == [t.code for t in types]
    made = console.form(
        "/event-types",
        {"code": "store.visit", "name": "Visited a store", "retentionDays": "90"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    with _database(console).read() as conn:
        visit = {t.code: t for t in list_event_types(conn, demo)}["store.visit"]
    assert visit.name == "Visited a store" and visit.retention_days == 90 and visit.enabled
    assert "90 days" in console.get("/event-types").text

    twice = console.form("/event-types", {"code": "store.visit", "name": "Again"})
    assert twice.status_code == 400 and "already exists" in _error(twice.text, "code")
    assert 'value="Again"' in twice.text
    builtin = console.form("/event-types", {"code": "push.click", "name": "Click"})
    assert "built-in" in _error(builtin.text, "code")
    bad = console.form("/event-types", {"code": "no spaces", "name": "", "retentionDays": "0"})
    assert bad.status_code == 400
    assert "not an event code" in _error(bad.text, "code")
    assert "a name is required" in _error(bad.text, "name")
    assert "at least 1" in _error(bad.text, "retentionDays")
    words = console.form("/event-types", {"code": "x.y", "name": "X", "retentionDays": "a week"})
    assert "whole number" in _error(words.text, "retentionDays")
    with _database(console).read() as conn:
        assert "x.y" not in {t.code for t in list_event_types(conn, demo)}


def test_changes_without_the_csrf_token_are_refused(console: ConsoleClient) -> None:
    demo = _demo(console)
    with _database(console).read() as conn:
        (newsletter,) = list_lists(conn, demo)
    for url, data in (
        ("/fields", {"name": "sneaky", "type": "string"}),
        ("/fields/city/delete", {}),
        ("/lists", {"name": "Sneaky"}),
        (f"/lists/{newsletter.id}/delete", {}),
        ("/event-types", {"code": "sneaky", "name": "Sneaky"}),
    ):
        assert console.post(url, data=data).status_code == 403, url
    upload = console.post(
        f"/lists/{newsletter.id}/csv",
        data={"csrf": "forged"},
        files={"file": ("x.csv", b"customerId\nsneaky-1\n", "text/csv")},
    )
    assert upload.status_code == 403
    with _database(console).read() as conn:
        assert "city" in {f.name for f in list_fields(conn, demo)}
        assert "sneaky" not in {f.name for f in list_fields(conn, demo)}
        assert [lst.name for lst in list_lists(conn, demo)] == ["Newsletter"]
        assert "sneaky" not in {t.code for t in list_event_types(conn, demo)}
        assert not conn.execute(
            select(contact_lists.c.id).where(contact_lists.c.name == "Sneaky")
        ).first()
        assert not get_customer_or_none(conn, demo, "sneaky-1")


def get_customer_or_none(conn: Any, application_id: int, customer_id: str) -> Any:
    from wayfare.errors import NotFound

    try:
        return get_customer(conn, application_id, customer_id)
    except NotFound:
        return None


def test_a_list_filled_from_a_file_input_in_a_browser(browser_page: Any, tmp_path: Path) -> None:
    page = browser_page
    name = f"Browser fair {tmp_path.name}"
    page.goto("/lists")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create list").click()
    page.wait_for_url("**/lists/*")
    assert page.get_by_role("heading", level=1).inner_text() == f"List {name}"
    csv = tmp_path / "members.csv"
    csv.write_text("customerId,coupon\ncust-0021,B1\ncust-0022,B2\n")
    page.get_by_label("CSV file", exact=True).set_input_files(str(csv))
    page.get_by_role("button", name="Upload").click()
    page.get_by_text("Read 2 rows of members.csv: 2 members added").wait_for()
    assert page.locator("tbody tr").count() == 2
    shot(page, "list")
    page.set_viewport_size({"width": 375, "height": 800})
    for url in ("/fields", "/lists", "/event-types", page.url):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, url
    page.set_viewport_size({"width": 1280, "height": 900})
    for url, title in (("/fields", "fields"), ("/event-types", "event-types")):
        page.goto(url)
        shot(page, title)


def test_no_data_page_queries_the_database_on_the_event_loop(console: ConsoleClient) -> None:
    """A query on the loop's thread would hold up every other request while it waits."""
    csv = b"customerId\ncust-0001\n"
    with queries_on_the_loop(_database(console)) as on_the_loop:
        assert console.get("/fields").is_success and console.get("/lists/1").is_success
        uploaded = console.form(
            "/lists/1/csv", files={"file": ("a.csv", csv, "text/csv")}, follow_redirects=False
        )
        assert uploaded.status_code == 303
        bad = console.form("/lists/1/csv", files={"file": ("b.csv", b"id\nx\n", "text/csv")})
        assert bad.status_code == 400
        none = console.form("/lists/1/csv", {"ignoreErrors": "on"}, files={"file": ("", b"")})
        assert none.status_code == 400 and "choose a CSV file" in none.text
        assert console.form("/lists/999/csv", files={"file": ("a.csv", csv)}).status_code == 404
    assert on_the_loop == []


def test_the_fields_page_checks_each_journey_once_not_once_per_field(
    console: ConsoleClient,
) -> None:

    from wayfare.store.customers import define_field

    from .conftest import NOW

    def statements() -> int:
        with statements_run(_database(console)) as found:
            assert console.get("/fields").status_code == 200
        return len(found)

    before = statements()
    with _database(console).write() as conn:
        demo = _demo(console)
        for n in range(15):
            define_field(conn, demo, f"extra_{n}", "string", NOW)
    assert statements() == before, "one more field should not mean more queries"


# -- places --------------------------------------------------------------------------------------


def test_places_are_listed_added_and_deleted(console: ConsoleClient) -> None:
    demo = _demo(console)
    with _database(console).read() as conn:
        names = [p.name for p in list_places(conn, demo)]
    page = console.get("/places")
    assert page.status_code == 200
    assert (
        re.findall(r'<th scope="row">([^<]+)</th>', page.text)
        == names
        == [
            "Madrid store",
            "Lisbon store",
        ]
    )
    made = console.form(
        "/places",
        {"name": "Paris store", "latitude": "48.8566", "longitude": "2.3522", "radius": "200"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    with _database(console).read() as conn:
        paris = {p.name: p for p in list_places(conn, demo)}["Paris store"]
    assert (paris.latitude, paris.longitude, paris.radius) == (48.8566, 2.3522, 200.0)
    assert paris.cooldown.total_seconds() == 600  # the default, PT10M
    bad = console.form(
        "/places",
        {"name": "Nowhere", "latitude": "north", "longitude": "200", "radius": "5"},
    )
    assert bad.status_code == 400 and "not a number" in _error(bad.text, "latitude")
    worse = console.form(
        "/places",
        {"name": "Madrid store", "latitude": "1", "longitude": "200", "radius": "0"},
    )
    assert worse.status_code == 400
    assert "-180 to 180" in _error(worse.text, "longitude")
    assert "metres" in _error(worse.text, "radius")
    gone = console.form(f"/places/{paris.id}/delete", {"confirmed": "1"}, follow_redirects=False)
    assert gone.status_code == 303
    with _database(console).read() as conn:
        assert "Paris store" not in {p.name for p in list_places(conn, demo)}
