"""The console's login, sessions, CSRF protection and application switch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import APIRouter

from wayfare.api.app import create_app
from wayfare.console.web import ConsoleRoute, Viewer
from wayfare.demo import DEMO_USER
from wayfare.errors import Conflict, InvalidInput
from wayfare.store.applications import create_application
from wayfare.store.database import Database
from wayfare.store.users import (
    SESSION_LIFETIME,
    check_login,
    create_user,
    find_session,
    open_session,
    password_matches,
)

from .conftest import NOW
from .console_support import ConsoleClient, TestClient, console_settings, log_in, shot


def test_passwords_are_kept_as_salted_scrypt_hashes(database: Database) -> None:
    with database.write() as conn:
        user = create_user(conn, "Ana@Example.com", "Ana", "correct horse", NOW)
        assert user.email == "ana@example.com"
        assert check_login(conn, "ANA@example.com", "correct horse") == user
        assert check_login(conn, "ana@example.com", "wrong horse") is None
        assert check_login(conn, "nobody@example.com", "correct horse") is None
        with pytest.raises(Conflict):
            create_user(conn, "ana@example.com", "Ana", "another one", NOW)
        with pytest.raises(InvalidInput, match="password: must be at least 8"):
            create_user(conn, "b@example.com", "B", "short", NOW)
    from wayfare.store.users import hash_password

    first, second = hash_password("same"), hash_password("same")
    assert first != second and password_matches("same", first) and password_matches("same", second)


def test_a_session_ends_when_it_expires(database: Database) -> None:
    with database.write() as conn:
        create_application(conn, "acme", NOW)
        user = create_user(conn, "ana@example.com", "Ana", "correct horse", NOW)
        token = open_session(conn, user, NOW)
        session = find_session(conn, token, NOW + SESSION_LIFETIME - timedelta(seconds=1))
        assert session is not None and session.user == user and session.application_id
        assert find_session(conn, token, NOW + SESSION_LIFETIME) is None
        assert find_session(conn, token + "x", NOW) is None


def test_pages_need_a_login_and_come_back_after_it(demo_database: Database) -> None:
    app = create_app(console_settings(demo_database.url), demo_database)
    with ConsoleClient(app, base_url="http://console.test") as client:
        answer = client.get("/?page=2", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=/%3Fpage%3D2"
        wrong = client.post("/login", data={"email": DEMO_USER[0], "password": "nope-nope"})
        assert wrong.status_code == 401 and "do not match" in wrong.text
        back = client.post(
            "/login",
            data={**dict(zip(("email", "password"), DEMO_USER, strict=True)), "next": "/"},
            follow_redirects=False,
        )
        assert back.status_code == 303 and back.headers["location"] == "/"
        assert "httponly" in back.headers["set-cookie"].lower()
        home = client.get("/")
        assert home.status_code == 200 and "customers" in home.text


def test_the_icon_needs_no_login(demo_database: Database) -> None:
    app = create_app(console_settings(demo_database.url), demo_database)
    with ConsoleClient(app, base_url="http://console.test") as client:
        icon = client.get("/favicon.ico")  # browsers ask for it on pages that name no icon
        assert icon.status_code == 200
        assert icon.headers["content-type"].startswith("image/svg+xml")


def test_a_login_never_redirects_off_site(demo_database: Database) -> None:
    app = create_app(console_settings(demo_database.url), demo_database)
    with TestClient(app, base_url="http://console.test") as client:
        answer = client.post(
            "/login",
            data={"email": DEMO_USER[0], "password": DEMO_USER[1], "next": "//evil.example"},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/"


def test_changes_without_the_csrf_token_are_refused(console: ConsoleClient) -> None:
    refused = console.post("/logout", data={"csrf": "forged"})
    assert refused.status_code == 403 and "did not come from this console" in refused.text
    assert console.get("/").status_code == 200  # still logged in
    assert console.form("/logout").status_code == 200
    assert console.get("/", follow_redirects=False).status_code == 303


def test_the_application_shown_can_be_switched(console: ConsoleClient) -> None:
    with console.app.state.database.write() as conn:  # type: ignore[attr-defined]
        other = create_application(conn, "second shop", NOW)
    answer = console.form("/application", {"application": other, "back": "/"})
    assert "Showing second shop." in answer.text
    assert "<strong>0</strong> customers" in answer.text
    assert console.form("/application", {"application": 99999}).status_code == 200


def test_logging_in_with_a_browser(browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    assert page.get_by_role("link", name="Wayfare").is_visible()
    assert page.get_by_role("navigation", name="Sections").is_visible()
    shot(page, "home")
    page.set_viewport_size({"width": 375, "height": 800})
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the home page is {width} px wide at 375"
    shot(page, "home-375")


def test_a_bad_parameter_is_an_html_page_naming_it(console: ConsoleClient) -> None:
    answer = console.get("/lists/abc")
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "<code>list_id</code>" in answer.text or "<code>id</code>" in answer.text, answer.text


def test_failed_logins_are_throttled_per_address_and_client_and_per_client() -> None:
    from wayfare.console.throttle import PER_ADDRESS, PER_CLIENT, WINDOW, LoginThrottle

    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(PER_ADDRESS):  # taken before the password is checked, so at once counts
        assert throttle.attempt("10.0.0.1", "Ana@Example.com ")[0] == 0
    assert throttle.attempt("10.0.0.1", "ana@example.com")[0] == int(WINDOW)
    assert throttle.attempt("10.0.0.2", "ana@example.com")[0] == 0  # no lock-out from elsewhere
    wait, ticket = throttle.attempt("10.0.0.1", "bob@example.com")
    assert wait == 0
    throttle.succeeded("10.0.0.1", "bob@example.com", ticket)  # a right password gives it back
    for _ in range(PER_ADDRESS - 1):
        assert throttle.attempt("10.0.0.1", "bob@example.com")[0] == 0
    assert throttle.attempt("10.0.0.1", "bob@example.com")[0] == 0  # the given-back attempt
    assert throttle.attempt("10.0.0.1", "bob@example.com")[0] > 0
    now[0] += WINDOW
    assert throttle.attempt("10.0.0.1", "ana@example.com")[0] == 0
    for number in range(PER_CLIENT):
        throttle.attempt("10.0.0.3", f"guess{number}@example.com")
    assert throttle.attempt("10.0.0.3", "someone@example.com")[0] > 0
    assert throttle.attempt("10.0.0.4", "someone@example.com")[0] == 0


def test_the_throttle_keeps_a_bounded_number_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from wayfare.console import throttle as module

    monkeypatch.setattr(module, "MAX_KEYS", 10)
    now = [0.0]
    throttle = module.LoginThrottle(clock=lambda: now[0])
    for number in range(50):
        throttle.attempt(f"10.0.0.{number}", "ana@example.com")
        now[0] += module.WINDOW / 10  # old keys empty out as time goes on, and are dropped
    assert len(throttle._attempts) <= 10


def test_the_login_form_refuses_after_too_many_failures(demo_database: Database) -> None:
    app = create_app(console_settings(demo_database.url), demo_database)
    with ConsoleClient(app, base_url="http://console.test") as client:
        for _ in range(5):
            wrong = client.post("/login", data={"email": DEMO_USER[0], "password": "wrong-one"})
            assert wrong.status_code == 401
        refused = client.post("/login", data={"email": DEMO_USER[0], "password": DEMO_USER[1]})
        assert refused.status_code == 429 and "Too many failed logins" in refused.text
        assert int(refused.headers["retry-after"]) > 0


def test_the_session_cookie_is_secure_when_served_over_https(demo_database: Database) -> None:
    settings = console_settings(demo_database.url, public_url="https://wayfare.example.com")
    with ConsoleClient(create_app(settings, demo_database), base_url="http://internal") as client:
        answer = client.post(
            "/login",
            data={"email": DEMO_USER[0], "password": DEMO_USER[1]},
            follow_redirects=False,
        )
        assert "secure" in answer.headers["set-cookie"].lower()


def test_a_missing_page_is_an_html_page_and_the_api_keeps_json(console: ConsoleClient) -> None:
    wrong = console.get("/logout", headers={"accept": "text/html"})
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    page = console.get("/journeys/none/at/all", headers={"accept": "text/html"})
    assert page.status_code == 404 and "there is no page /journeys/none/at/all" in page.text
    assert 'aria-label="Sections"' in page.text  # with the menu, for a logged-in viewer
    api = console.get("/v1/nothing", headers={"accept": "text/html"})
    assert api.status_code == 404 and api.json()["statusCode"] == 404


def test_a_failing_page_is_an_html_page(console: ConsoleClient, caplog) -> None:  # type: ignore[no-untyped-def]
    router = APIRouter(route_class=ConsoleRoute)

    @router.get("/broken")
    def broken(_viewer: Viewer) -> None:
        raise RuntimeError("a bug")

    console.app.include_router(router)  # type: ignore[attr-defined]
    answer = console.get("/broken")
    assert answer.status_code == 500 and "the page failed" in answer.text
    assert "a bug" not in answer.text and "a bug" in caplog.text


def test_logging_out_needs_no_application(console: ConsoleClient) -> None:
    from sqlalchemy import delete

    from wayfare.store.schema import applications

    with console.app.state.database.write() as conn:  # type: ignore[attr-defined]
        conn.execute(delete(applications))
    assert console.form("/logout").status_code == 200
    assert console.get("/", follow_redirects=False).status_code == 303


def test_final_actions_ask_first_without_javascript(browser, live_console) -> None:  # type: ignore[no-untyped-def]
    from wayfare.model.lifecycle import JourneyStatus
    from wayfare.store.journeys import get_journey

    context = browser.new_context(base_url=live_console.url, java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page)
        page.goto("/journeys")
        row = page.get_by_role("row").filter(
            has=page.get_by_role("link", name="Abandoned cart", exact=True)
        )
        row.get_by_role("button", name="Deactivate").click()  # held back: the box is not ticked
        page.wait_for_load_state()
        assert row.get_by_role("checkbox").evaluate("box => box.validity.valueMissing")
        with live_console.database.read() as conn:
            assert get_journey(conn, 1, 2).status is JourneyStatus.ACTIVE
        row.get_by_role("checkbox").check()
        assert "Deactivating is final" in row.locator("label.confirm-check").inner_text()
        row.get_by_role("button", name="Deactivate").click()
        page.wait_for_load_state()
        with live_console.database.read() as conn:
            assert get_journey(conn, 1, 2).status is JourneyStatus.DEACTIVATED
    finally:
        context.close()
