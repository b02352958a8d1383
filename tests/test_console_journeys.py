"""The console's journeys list and workflow: new (templates, scratch), validate, activate,
deactivate, clone, remove and customers put in from a CSV."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import func, select

from wayfare.engine.runner import put_customers, start_journey, stop_journey
from wayfare.model.lifecycle import JourneyStatus
from wayfare.model.templates import TEMPLATES
from wayfare.store.customers import upsert_customers
from wayfare.store.database import Database
from wayfare.store.enrollments import JourneyCounts, journey_counts
from wayfare.store.journeys import check_journey, create_journey, get_journey, list_journeys
from wayfare.store.lists import list_lists
from wayfare.store.schema import enrollments

from .conftest import NOW
from .console_support import ConsoleClient, shot
from .statements import statements_run

GALLERY = {
    "welcome-series",
    "birthday",
    "abandoned-cart",
    "re-engagement",
    "ab-test",
    "webhook-enrichment",
}


def _database(console: ConsoleClient) -> Database:
    database: Database = console.app.state.database  # type: ignore[attr-defined]
    return database


def _journey(console: ConsoleClient, name: str) -> Any:
    with _database(console).read() as conn:
        for journey in list_journeys(conn, 1, limit=500).items:
            if journey.name == name:
                return journey
    raise AssertionError(f"no journey named {name!r}")


def _stored(console: ConsoleClient, journey_id: int) -> Any:
    with _database(console).read() as conn:
        return get_journey(conn, 1, journey_id)


def _draft(console: ConsoleClient, document: dict[str, Any]) -> int:
    with _database(console).write() as conn:
        return create_journey(conn, 1, document, NOW)


def _post(console: ConsoleClient, url: str, data: Any = None, **kwargs: Any) -> httpx.Response:
    """A form posted as the console does, its redirect not followed (the builder is elsewhere)."""
    return console.form(url, data, follow_redirects=False, **kwargs)


def _notice(answer: httpx.Response) -> str:
    return unquote(answer.cookies.get("wayfare_notice", "").strip('"'))


def _redirected_to(answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def _row(html: str, name: str) -> str:
    """The table row of the journey named ``name``."""
    return html.split(f">{name}</a>")[1].split("</tr>")[0]


def _list_journey(console: ConsoleClient, name: str) -> int:
    """A new active journey entered from a CSV (``IN_LIST`` without a list) named ``name``."""
    answer = _post(console, "/journeys/new", {"name": name, "entry": "IN_LIST"})
    journey_id = int(_redirected_to(answer).rsplit("/", 1)[1])
    activated = _post(console, f"/journeys/{journey_id}/activate", {"recheckEvery": "10"})
    assert _redirected_to(activated) == "/journeys"
    return journey_id


def _entered(console: ConsoleClient, journey_id: int, test: bool = False) -> dict[str, Any]:
    with _database(console).read() as conn:
        rows = conn.execute(
            select(enrollments.c.customer_id, enrollments.c.context).where(
                enrollments.c.journey_id == journey_id, enrollments.c.test.is_(test)
            )
        ).all()
    return {row.customer_id: row.context for row in rows}


# ---------------------------------------------------------------------------------------------
# The list


def test_the_list_shows_the_demo_journeys_with_status_entry_and_live_counts(
    console: ConsoleClient,
) -> None:
    listing = console.get("/journeys")
    assert listing.status_code == 200
    with _database(console).read() as conn:
        (newsletter,) = list_lists(conn, 1)
    welcome = _row(listing.text, "Welcome series")
    assert 'class="badge active">active<' in welcome
    assert "Contact list Newsletter" in welcome
    # its members entered at activation; they wait two days after their first email
    assert newsletter.members > 0
    assert welcome.count(f'class="number">{newsletter.members}</td>') == 2
    cart = _row(listing.text, "Abandoned cart")
    assert "Custom event cart.add" in cart and 'class="badge active"' in cart
    assert "Deactivate" in cart and "Activate<" not in cart and ">Remove<" not in cart
    vip = _row(listing.text, "VIP offer (A/B)")
    assert 'class="badge draft">draft<' in vip and "Customers matching a filter" in vip
    assert vip.count('class="number">0</td>') == 2
    for action in ("Edit", "Statistics", "Validate", "Activate", "Clone", "Remove"):
        assert f">{action}<" in vip, action
    assert "Upload CSV" in welcome and "Upload CSV" not in vip
    assert 'href="/journeys/new"' in listing.text


def test_the_list_pages_and_counts_with_the_same_queries_however_many_rows(
    console: ConsoleClient,
) -> None:
    database = _database(console)

    def queries(url: str) -> int:
        with statements_run(database) as found:
            assert console.get(url).status_code == 200
        return len(found)

    few = queries("/journeys")
    for n in range(30):
        _draft(console, {"name": f"Draft {n:02d}", "states": []})
    assert queries("/journeys") == few
    first, second = console.get("/journeys").text, console.get("/journeys?page=2").text
    assert ">Draft 29</a>" in first and ">Draft 29</a>" not in second
    assert "Page 1 of 2" in first and ">Welcome series</a>" in second
    assert ">Draft 29</a>" in console.get("/journeys?page=x").text  # the first page
    drafts = console.get("/journeys?status=ACTIVE").text
    assert ">Welcome series</a>" in drafts and ">Draft 29</a>" not in drafts


def test_journey_counts_are_live_enrollments_in_one_query(database: Database, app_id: int) -> None:
    """``store.enrollments.journey_counts``, which the list reads, on SQLite and PostgreSQL."""
    people = [{"customerId": f"c{n}"} for n in range(5)]
    waiting = {"id": 2, "type": "FLOW_DELAY", "params": {"time": "P1D", "forward": None}}
    with database.write() as conn:
        upsert_customers(conn, app_id, people, NOW)
        everyone = create_journey(
            conn,
            app_id,
            {
                "name": "All",
                "states": [{"id": 1, "type": "IN_ALL", "params": {"forward": 2}}, waiting],
            },
            NOW,
        )
        listed = create_journey(
            conn,
            app_id,
            {
                "name": "Some",
                "states": [{"id": 1, "type": "IN_LIST", "params": {"forward": 2}}, waiting],
            },
            NOW,
        )
        idle = create_journey(conn, app_id, {"name": "Idle", "states": []}, NOW)
        start_journey(conn, app_id, everyone, NOW)
        put_customers(conn, app_id, listed, ["c1", "c2"], NOW, test=True)  # tests do not count
    with database.read() as conn:
        counts = journey_counts(conn, app_id, [everyone, listed, idle])
    assert counts == {everyone: JourneyCounts(now=5, entered=5)}
    with database.write() as conn:
        stop_journey(conn, app_id, everyone, NOW)
        assert journey_counts(conn, app_id, [everyone]) == {everyone: JourneyCounts(0, 5)}
        assert journey_counts(conn, app_id, []) == {}


# ---------------------------------------------------------------------------------------------
# New journeys


def test_the_gallery_offers_every_template() -> None:
    assert {t.id for t in TEMPLATES} >= GALLERY


@pytest.mark.parametrize("template", [t.id for t in TEMPLATES])
def test_a_journey_is_created_from_each_template(console: ConsoleClient, template: str) -> None:
    gallery = console.get("/journeys/new")
    assert gallery.status_code == 200
    assert f'name="template" value="{template}"' in gallery.text
    answer = _post(console, "/journeys/new/template", {"template": template, "name": "Mine"})
    journey_id = int(_redirected_to(answer).removeprefix("/journeys/"))
    assert "Created Mine from the template" in _notice(answer)
    journey = _stored(console, journey_id)
    assert journey.name == "Mine" and journey.status is JourneyStatus.DRAFT
    with _database(console).read() as conn:
        assert check_journey(conn, 1, journey_id).valid
    again = _post(console, "/journeys/new/template", {"template": template, "name": "Mine"})
    assert again.status_code == 400
    assert "already exists" in again.text.split(f'id="template-{template}"')[1].split("</li>")[0]


def test_a_template_needs_a_name_and_must_exist(console: ConsoleClient) -> None:
    gallery = console.get("/journeys/new").text
    # each card offers a name no journey has yet, so that Create works at once
    assert 'id="name-welcome-series" name="name" type="text" required maxlength="200"' in gallery
    assert 'value="Welcome series 2"' in gallery and 'value="Birthday greeting"' in gallery
    nameless = _post(console, "/journeys/new/template", {"template": "birthday", "name": "  "})
    assert nameless.status_code == 400 and "give the journey a name" in nameless.text
    unknown = _post(console, "/journeys/new/template", {"template": "nope", "name": "X"})
    assert unknown.status_code == 404 and "journey template &#39;nope&#39;" in unknown.text


def test_a_journey_is_created_from_scratch(console: ConsoleClient) -> None:
    answer = _post(
        console,
        "/journeys/new",
        {"name": "On cart", "entry": "IN_CUSTOM_EVENT", "eventName": "cart.add"},
    )
    journey = _stored(console, int(_redirected_to(answer).removeprefix("/journeys/")))
    assert journey.status is JourneyStatus.DRAFT
    assert journey.states == [
        {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "cart.add", "forward": None}}
    ]
    birthday = _post(
        console, "/journeys/new", {"name": "Cake", "entry": "IN_BIRTHDAY", "field": "birthday"}
    )
    cake = _stored(console, int(_redirected_to(birthday).removeprefix("/journeys/")))
    with _database(console).read() as conn:
        assert check_journey(conn, 1, cake.id).valid
    listing = console.get("/journeys").text
    assert "Custom event cart.add" in _row(listing, "On cart")
    assert "Birthday" in _row(listing, "Cake")


def test_a_scratch_form_with_mistakes_names_its_fields(console: ConsoleClient) -> None:
    answer = _post(console, "/journeys/new", {"name": "", "entry": "IN_CUSTOM_EVENT"})
    assert answer.status_code == 400
    assert 'id="e-name"' in answer.text and 'id="e-eventName"' in answer.text
    taken = _post(console, "/journeys/new", {"name": "Welcome series", "entry": "IN_ALL"})
    assert taken.status_code == 400
    assert "already exists" in taken.text.split('id="e-name"')[1].split("</p>")[0]


# ---------------------------------------------------------------------------------------------
# Validate, activate, deactivate


def test_validating_an_invalid_draft_names_the_state(console: ConsoleClient) -> None:
    journey_id = _draft(
        console,
        {
            "name": "Broken",
            "states": [
                {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
                {"id": 2, "type": "FLOW_DELAY", "params": {"time": "soon", "forward": 3}},
                {
                    "id": 3,
                    "type": "ACTION_PUSH_SEND",
                    "params": {"action": {"campaignId": 999}, "forward": None},
                },
            ],
        },
    )
    answer = _post(console, f"/journeys/{journey_id}/check", {"back": "/journeys"})
    assert _redirected_to(answer) == f"/journeys/{journey_id}?check=1"
    notice = _notice(answer)
    assert notice.startswith("Broken: 2 problems: state 2: params.time: 'soon' is not")
    assert "; state 3: params." in notice and "999" in notice
    vip = _journey(console, "VIP offer (A/B)")
    valid = _post(console, f"/journeys/{vip.id}/check", {"back": "https://evil.example/"})
    assert _redirected_to(valid) == "/journeys"
    assert _notice(valid) == "VIP offer (A/B) is valid."


def test_a_draft_is_activated_with_its_options(console: ConsoleClient) -> None:
    vip = _journey(console, "VIP offer (A/B)")
    form = console.get(f"/journeys/{vip.id}/activate")
    assert form.status_code == 200
    for label in ("Allow re-entry", "Maximum number of entries", "Every", "Unit"):
        assert f">{label}" in form.text, label
    wrong = _post(
        console,
        f"/journeys/{vip.id}/activate",
        {"reentry": "1", "maxEntries": "0", "recheckEvery": "x", "recheckUnit": "hours"},
    )
    assert wrong.status_code == 400
    assert "at least 1 (or empty)" in wrong.text.split('id="e-maxEntries"')[1]
    assert 'id="e-recheckEvery"' in wrong.text
    assert _stored(console, vip.id).status is JourneyStatus.DRAFT
    answer = _post(
        console,
        f"/journeys/{vip.id}/activate",
        {"reentry": "1", "maxEntries": "3", "recheckEvery": "2", "recheckUnit": "hours"},
    )
    assert _redirected_to(answer) == "/journeys"
    journey = _stored(console, vip.id)
    assert journey.status is JourneyStatus.ACTIVE
    assert journey.settings["reentry"] is True
    assert journey.settings["maxEntries"] == 3 and journey.settings["recheckEvery"] == "PT2H"
    with _database(console).read() as conn:
        vips = conn.execute(
            select(func.count()).where(enrollments.c.journey_id == vip.id)
        ).scalar_one()
    assert vips > 0 and f"{vips:,} customer(s) entered" in _notice(answer)
    assert f'data-label="In it now" class="number">{vips}</td>' in _row(
        console.get("/journeys").text, vip.name
    )


def test_activating_an_invalid_draft_shows_the_states_on_the_form(
    console: ConsoleClient,
) -> None:
    journey_id = _draft(
        console,
        {
            "name": "Unsent",
            "states": [
                {"id": 1, "type": "IN_ALL", "params": {"forward": 2}},
                {
                    "id": 2,
                    "type": "ACTION_PUSH_SEND",
                    "params": {"action": {"campaignId": 999}, "forward": None},
                },
            ],
        },
    )
    form = console.get(f"/journeys/{journey_id}/activate")
    assert "cannot be activated yet" in form.text and "<code>state 2: params." in form.text
    answer = _post(console, f"/journeys/{journey_id}/activate", {"recheckEvery": "5"})
    assert answer.status_code == 400
    assert "<code>state 2: params." in answer.text and "999" in answer.text
    assert 'value="5"' in answer.text  # what was typed stays
    assert _stored(console, journey_id).status is JourneyStatus.DRAFT


def test_deactivation_is_final(console: ConsoleClient) -> None:
    welcome = _journey(console, "Welcome series")
    listing = console.get("/journeys").text
    assert "Deactivating is final: Welcome series cannot be activated again" in _row(
        listing, "Welcome series"
    )
    answer = _post(console, f"/journeys/{welcome.id}/deactivate")
    assert _redirected_to(answer) == "/journeys"
    assert "Welcome series is deactivated" in _notice(answer)
    assert _stored(console, welcome.id).status is JourneyStatus.DEACTIVATED
    with _database(console).read() as conn:
        left = conn.execute(
            select(enrollments.c.status, func.count())
            .where(enrollments.c.journey_id == welcome.id)
            .group_by(enrollments.c.status)
        ).all()
    assert [status for status, _ in left] == ["exited"]
    assert f"{left[0][1]:,} customer(s) left it" in _notice(answer)
    form = console.get(f"/journeys/{welcome.id}/activate")
    assert "deactivation is final" in form.text and 'name="maxEntries"' not in form.text
    again = _post(console, f"/journeys/{welcome.id}/activate", {"recheckEvery": "10"})
    assert again.status_code == 409
    assert "deactivation is final; clone it to make a new draft" in again.text
    assert _stored(console, welcome.id).status is JourneyStatus.DEACTIVATED
    row = _row(console.get("/journeys").text, "Welcome series")
    assert 'class="badge stopped">deactivated<' in row and "Deactivate" not in row


# ---------------------------------------------------------------------------------------------
# Clone, remove


def test_a_clone_of_an_active_journey_is_a_draft(console: ConsoleClient) -> None:
    cart = _journey(console, "Abandoned cart")
    answer = _post(console, f"/journeys/{cart.id}/clone")
    clone_id = int(_redirected_to(answer).removeprefix("/journeys/"))
    clone = _stored(console, clone_id)
    assert clone.name == "Abandoned cart (copy)" and clone.status is JourneyStatus.DRAFT
    assert clone.cloned_from == cart.id and clone.states == cart.states
    named = _post(console, f"/journeys/{cart.id}/clone", {"name": "Cart v2"})
    assert _stored(console, int(_redirected_to(named).rsplit("/", 1)[1])).name == "Cart v2"
    assert _stored(console, cart.id).status is JourneyStatus.ACTIVE


def test_remove_takes_drafts_and_refuses_active_journeys(console: ConsoleClient) -> None:
    vip = _journey(console, "VIP offer (A/B)")
    assert "Remove VIP offer (A/B)? Its enrollments" in _row(
        console.get("/journeys").text, vip.name
    )
    answer = _post(console, f"/journeys/{vip.id}/remove")
    assert _redirected_to(answer) == "/journeys" and _notice(answer) == "Removed VIP offer (A/B)."
    assert ">VIP offer (A/B)</a>" not in console.get("/journeys").text
    cart = _journey(console, "Abandoned cart")
    refused = _post(console, f"/journeys/{cart.id}/remove")
    assert refused.status_code == 409 and "deactivate it first" in refused.text
    assert _stored(console, cart.id).status is JourneyStatus.ACTIVE


# ---------------------------------------------------------------------------------------------
# Customers from a CSV


def test_a_csv_puts_customers_into_a_list_entry_journey(console: ConsoleClient) -> None:
    journey_id = _list_journey(console, "From a file")
    assert "Upload CSV" in _row(console.get("/journeys").text, "From a file")
    form = console.get(f"/journeys/{journey_id}/customers")
    assert form.status_code == 200 and 'type="file"' in form.text
    csv = b"customerId,plan\r\ncust-0001,gold\r\ncust-0002,\r\nnobody-here,silver\r\n"
    answer = _post(
        console,
        f"/journeys/{journey_id}/customers",
        files={"file": ("people.csv", csv, "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    assert "<strong>2</strong> customer(s) went in." in answer.text
    assert "1 are not customers of this application" in answer.text
    assert "nobody-here" in answer.text
    assert _entered(console, journey_id) == {"cust-0001": {"plan": "gold"}, "cust-0002": {}}
    again = _post(
        console,
        f"/journeys/{journey_id}/customers",
        files={"file": ("people.csv", csv, "text/csv")},
    )
    assert "2 were in the journey already" in again.text


def test_a_bad_csv_names_its_line_and_column_and_puts_nobody_in(console: ConsoleClient) -> None:
    journey_id = _list_journey(console, "Picky")
    csv = b"customerId,plan\ncust-0003,gold\nbad id!,x\ncust-0004\n"
    answer = _post(
        console, f"/journeys/{journey_id}/customers", files={"file": ("bad.csv", csv, "text/csv")}
    )
    assert answer.status_code == 400
    assert "<code>line 3, column &#34;customerId&#34;</code>" in answer.text
    assert "<code>line 4</code>: expected 2 values, found 1" in answer.text
    assert _entered(console, journey_id) == {}
    headless = _post(
        console,
        f"/journeys/{journey_id}/customers",
        files={"file": ("x.csv", b"id\nA\n", "text/csv")},
    )
    assert headless.status_code == 400 and "customerId" in headless.text
    nothing = _post(console, f"/journeys/{journey_id}/customers", files={"file": ("", b"", "")})
    assert nothing.status_code == 400 and "choose a CSV file" in nothing.text


def test_a_draft_takes_a_csv_as_a_test_run_only(console: ConsoleClient) -> None:
    answer = _post(console, "/journeys/new", {"name": "Trial", "entry": "IN_LIST"})
    journey_id = int(_redirected_to(answer).removeprefix("/journeys/"))
    csv = ("people.csv", b"customerId\ncust-0005\n", "text/csv")
    form = console.get(f"/journeys/{journey_id}/customers")
    assert re.search(r'name="test" type="checkbox" value="1"\s+checked', form.text)
    live = _post(console, f"/journeys/{journey_id}/customers", files={"file": csv})
    assert live.status_code == 409 and "customers go into an active journey" in live.text
    test = _post(console, f"/journeys/{journey_id}/customers", {"test": "1"}, files={"file": csv})
    assert "went in as a test run" in test.text
    assert _entered(console, journey_id, test=True) == {"cust-0005": {}}
    assert _entered(console, journey_id) == {}


# ---------------------------------------------------------------------------------------------
# CSRF


def test_changes_without_the_csrf_token_are_refused(console: ConsoleClient) -> None:
    cart = _journey(console, "Abandoned cart")
    for action in ("deactivate", "clone", "check"):
        refused = console.post(f"/journeys/{cart.id}/{action}", data={"csrf": "forged"})
        assert refused.status_code == 403, action
    refused = console.post("/journeys/new", data={"name": "Sneaky", "entry": "IN_ALL"})
    assert refused.status_code == 403
    upload = console.post(
        f"/journeys/{cart.id}/customers",
        files={"file": ("x.csv", b"customerId\ncust-0001\n", "text/csv")},
    )
    assert upload.status_code == 403
    assert _stored(console, cart.id).status is JourneyStatus.ACTIVE
    with _database(console).read() as conn:
        names = {j.name for j in list_journeys(conn, 1, limit=100).items}
    assert "Sneaky" not in names and "Abandoned cart (copy)" not in names


# ---------------------------------------------------------------------------------------------
# In a browser


def test_the_journey_workflow_in_a_browser(browser_page: Any, live_console: Any) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto("/journeys")
    assert page.get_by_role("heading", name="Journeys", level=1).is_visible()
    shot(page, "journeys-list")
    page.set_viewport_size({"width": 375, "height": 800})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the journeys list is {width} px wide at 375"
    shot(page, "journeys-list-375")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="New journey").first.click()
    page.wait_for_url("**/journeys/new")
    name = f"Birthday {page.evaluate('Date.now()')}"
    card = page.locator("#template-birthday")
    card.get_by_label("Name of the new journey").fill(name)
    shot(page, "journeys-new")
    # the scratch form shows only the field its entry type needs
    assert not page.get_by_label("Event (for a custom-event entry)").is_visible()
    page.get_by_label("Who enters").select_option("IN_CUSTOM_EVENT")
    assert page.get_by_label("Event (for a custom-event entry)").is_visible()
    card.get_by_role("button", name="Create a journey from the template Birthday greeting").click()
    page.wait_for_url(re.compile(r"/journeys/\d+$"))
    journey_id = int(page.url.rsplit("/", 1)[1])

    page.goto(f"/journeys/{journey_id}/activate")  # the page, as it works without script
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "journeys-activate-375")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto("/journeys")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    row.get_by_role("link", name=f"Activate {name}").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Allow re-entry").check()
    dialog.get_by_label("Maximum number of entries per customer").fill("2")
    dialog.get_by_label("Every").fill("1")
    dialog.get_by_label("Unit").select_option("days")
    shot(page, "journeys-activate")
    dialog.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_contain_text(f"{name} is active")
    with live_console.database.read() as conn:
        journey = get_journey(conn, 1, journey_id)
    assert journey.status is JourneyStatus.ACTIVE
    assert journey.settings["reentry"] is True and journey.settings["maxEntries"] == 2
    assert journey.settings["recheckEvery"] == "P1D"
    assert row.locator(".badge").inner_text() == "active"
    row.get_by_role("button", name="Deactivate").click()
    dialog = page.get_by_role("dialog")
    assert "Deactivating is final" in dialog.inner_text()
    shot(page, "journeys-deactivate")
    dialog.get_by_role("button", name="Cancel").click()
    assert row.locator(".badge").inner_text() == "active"

    # from scratch, a list-entry draft takes a CSV as a test run
    page.goto("/journeys/new")
    page.set_viewport_size({"width": 375, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "journeys-new-375")
    scratch = page.locator("form.scratch")
    scratch.get_by_label("Name").fill(f"{name} list")
    scratch.get_by_label("Who enters").select_option("IN_LIST")
    scratch.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/journeys/\d+$"))
    page.goto(f"/journeys/{page.url.rsplit('/', 1)[1]}/customers")
    assert page.get_by_label("Test run").is_checked()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": b"customerId\ncust-0007\n"}]
    )
    page.get_by_role("button", name="Upload").click()
    assert "1 customer(s) went in as a test run" in page.get_by_role("status").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shot(page, "journeys-upload-375")
