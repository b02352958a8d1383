"""The console's login, sessions, CSRF protection and application switch."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wayfare.api.app import create_app
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
from .console_support import ConsoleClient, TestClient, console_settings, shot


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
