"""The console's whole journey workflow in a real browser, as issue 6 describes it.

Log in, create a journey from a template, edit a state, see a validation error on the right
state, fix it, validate, activate with options, upload a CSV of customers, and see the statistics
change once the worker has sent. A screenshot of each page is kept in ``artifacts/console/``.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import select

from wayfare.model.lifecycle import JourneyStatus
from wayfare.store.journeys import get_journey
from wayfare.store.schema import customers, enrollments, outbox

from .console_support import LiveConsole, log_in, shot

SENDING_DEADLINE = 30.0
"""Seconds the live worker has to send the journey's first messages."""


def _customers_with_push(console: LiveConsole, count: int) -> list[str]:
    with console.database.read() as conn:
        rows = conn.execute(
            select(customers.c.customer_id, customers.c.push_tokens).order_by(customers.c.id)
        ).all()
    return [row.customer_id for row in rows if row.push_tokens][:count]


def _sent_by_state(page: Any, state_id: int) -> str:
    row = page.locator("section", has=page.get_by_role("heading", name="Messages"))
    cells = row.get_by_role("row").filter(has=page.get_by_role("rowheader", name=str(state_id)))
    return str(cells.locator("td.number").first.inner_text())


def test_a_journey_from_template_to_statistics(fresh_page: Any, live_console: LiveConsole) -> None:
    from playwright.sync_api import expect

    page = fresh_page
    page.goto("/journeys")
    page.wait_for_url("**/login?next=/journeys")
    shot(page, "e2e-01-login")
    log_in(page)
    expect(page.get_by_role("heading", name="Journeys", level=1)).to_be_visible()
    shot(page, "e2e-02-journeys")

    # a journey from the gallery
    page.get_by_role("link", name="New journey").first.click()
    name = f"Come back {int(time.time() * 1000)}"
    card = page.locator("#template-re-engagement")
    card.get_by_label("Name of the new journey").fill(name)
    shot(page, "e2e-03-gallery")
    card.get_by_role("button", name="Create a journey from the template Re-engagement").click()
    page.wait_for_url(re.compile(r"/journeys/\d+$"))
    journey_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    shot(page, "e2e-04-builder")

    # edit state 3 with a campaign of the wrong channel: the problem shows on state 3's field
    page.get_by_role("link", name="Wait for push click").first.click()
    expect(page.get_by_role("heading", name="State 3: Wait for push click")).to_be_visible()
    page.get_by_label("Push campaign").select_option(label="Welcome email (email)")
    page.get_by_label("Amount").fill("2")
    page.get_by_role("button", name="Save state 3").click()
    panel = page.locator("#panel")
    expect(panel.get_by_role("heading", name="State 3: Wait for push click")).to_be_visible()
    expect(panel.locator(".error")).to_contain_text("is for email, not push")
    shot(page, "e2e-05-state-problem")
    with live_console.database.read() as conn:
        stored = get_journey(conn, 1, journey_id)
    state = next(s for s in stored.states if s["id"] == 3)
    assert state["params"]["timeout"]["time"] == "P3D", "a refused edit stored something"

    # fix it: the journey's own push campaign
    page.get_by_label("Push campaign").select_option(label=f"{name} · Come-back push (push)")
    page.get_by_role("button", name="Save state 3").click()
    expect(page.locator(".notice")).to_contain_text("State 3 saved")
    shot(page, "e2e-06-state-fixed")

    # validate and activate with options, from the list
    page.goto("/journeys")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    row.get_by_role("button", name="Validate").click()
    expect(page.get_by_role("status")).to_contain_text(f"{name} is valid")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))
    row.get_by_role("link", name=f"Activate {name}").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Allow re-entry").check()
    dialog.get_by_label("Maximum number of entries per customer").fill("3")
    dialog.get_by_label("Every").fill("2")
    dialog.get_by_label("Unit").select_option("hours")
    shot(page, "e2e-07-activate")
    dialog.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_contain_text(f"{name} is active")
    with live_console.database.read() as conn:
        stored = get_journey(conn, 1, journey_id)
    assert stored.status is JourneyStatus.ACTIVE
    assert stored.settings["reentry"] is True and stored.settings["maxEntries"] == 3
    assert stored.settings["recheckEvery"] == "PT2H"
    assert next(s for s in stored.states if s["id"] == 3)["params"]["timeout"]["time"] == ("P2D")

    # nobody in it yet
    page.goto(f"/journeys/{journey_id}/stats")
    expect(page.get_by_role("heading", name=f"Statistics of {name}")).to_be_visible()
    shot(page, "e2e-08-stats-before")

    # a CSV of customers who have a push token
    chosen = _customers_with_push(live_console, 5)
    page.goto(f"/journeys/{journey_id}/customers")
    page.get_by_label("CSV file").set_input_files(
        files=[
            {
                "name": "come-back.csv",
                "mimeType": "text/csv",
                "buffer": ("customerId\n" + "\n".join(chosen) + "\n").encode(),
            }
        ]
    )
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("status")).to_contain_text("5 customer(s) went in")
    shot(page, "e2e-09-upload")

    # the worker sends the push; the statistics show it
    deadline = time.monotonic() + SENDING_DEADLINE
    page.goto(f"/journeys/{journey_id}/stats")
    while _sent_by_state(page, 2) != "5":
        assert time.monotonic() < deadline, "the worker did not send within the deadline"
        page.wait_for_timeout(250)
        page.reload()
    with live_console.database.read() as conn:
        entered = conn.execute(
            select(enrollments.c.customer_id).where(enrollments.c.journey_id == journey_id)
        ).all()
        sent = conn.execute(
            select(outbox.c.id).where(outbox.c.journey_id == journey_id, outbox.c.status == "sent")
        ).all()
    assert len(entered) == 5 and len(sent) == 5
    assert page.locator("#state-1 td.number").first.inner_text() == "5"
    expect(page.get_by_role("img").first).to_contain_text("sent 5")
    shot(page, "e2e-10-stats-after")
