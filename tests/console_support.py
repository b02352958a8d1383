"""Fixtures for the web console's tests: the demo on SQLite, an HTTP client, a real browser.

- ``console``: a ``ConsoleClient`` (Starlette's test client) logged in as the demo user on a
  fresh copy of the demo database; ``console.form(url, data)`` posts a form with the CSRF token.
- ``live_console``: ``wayfare serve`` as a user runs it, in this process: uvicorn on a free port
  and the engine's worker, on a demo SQLite file shared by a module's browser tests (each test
  makes what it changes itself).
- ``fresh_page``: a page of Debian's Chromium (``/usr/bin/chromium``, driven by playwright) on
  ``live_console``, 1280 px wide; a console error or an uncaught script error fails the test.
  ``browser_page`` is the same, logged in as the demo user (``log_in``).
  ``shot(page, name)`` keeps a screenshot in ``artifacts/console/``.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from wayfare.api.app import create_app
from wayfare.demo import DEMO_USER, load_demo_if_empty
from wayfare.settings import Settings
from wayfare.store.database import Database

with warnings.catch_warnings():  # starlette warns that it prefers httpx2 to httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "console"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_settings(url: str, **changes: Any) -> Settings:
    """Settings for a console test on the database at ``url``."""
    return Settings(database_url=url, demo=False, rate_limit=0, **changes)


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file holding the demo, copied for each test."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    load_demo_if_empty(database)
    database.dispose()
    return path


@pytest.fixture
def demo_database(tmp_path: Path, demo_template: Path) -> Iterator[Database]:
    """A fresh copy of the demo database."""
    path = tmp_path / "demo.db"
    shutil.copy(demo_template, path)
    database = Database(f"sqlite:///{path}")
    try:
        yield database
    finally:
        database.dispose()


class ConsoleClient(TestClient):
    """A test client logged in to the console; ``form`` posts with the session's CSRF token."""

    csrf = ""

    def login(self, email: str = DEMO_USER[0], password: str = DEMO_USER[1]) -> None:
        """Log in as ``email`` and remember the CSRF token."""
        answer = self.post("/login", data={"email": email, "password": password})
        assert answer.status_code == 200, answer.text
        self.csrf = csrf_of(answer.text)

    def form(self, url: str, data: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        """POST ``data`` as a form to ``url``, with the CSRF token."""
        return self.post(url, data={"csrf": self.csrf, **(data or {})}, **kwargs)


def csrf_of(html: str) -> str:
    """The CSRF token in a console page."""
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def console(demo_database: Database) -> Iterator[ConsoleClient]:
    """The console on a fresh demo database, logged in as the demo user."""
    app = create_app(console_settings(demo_database.url), demo_database)
    with ConsoleClient(app, base_url="http://console.test") as client:
        client.login()
        yield client


@dataclass(frozen=True)
class LiveConsole:
    """A running console: its address and database."""

    url: str
    database: Database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveConsole]:
    """The API, console and worker on a demo SQLite file, served on a free port.

    One per test module: its worker thread waits on the process's wake-up event, which the
    worker's own tests (later modules) watch.
    """
    from wayfare.engine.worker import Worker, run_in_thread

    path = tmp_path_factory.mktemp("live") / "live.db"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    load_demo_if_empty(database)
    port = _free_port()
    settings = console_settings(database.url, public_url=f"http://127.0.0.1:{port}")
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, database), port=port, log_level="warning")
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    worker, stop = run_in_thread(Worker(settings, database))
    deadline = time.monotonic() + 20
    while not server.started:
        assert serving.is_alive() and time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    try:
        yield LiveConsole(f"http://127.0.0.1:{port}", database)
    finally:
        stop.set()
        server.should_exit = True
        serving.join(10)
        worker.join(10)
        database.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (skipped where it is not installed, failed in CI).

    One per test module: playwright's sync API keeps an event loop running in the main thread
    while it is open, and later modules (the dispatcher) run event loops of their own there.
    """
    import os

    if not CHROMIUM.exists():
        if os.environ.get("CI") or os.environ.get("WAYFARE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{CHROMIUM} is required here (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed: browser tests NOT RUN")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def fresh_page(browser: Any, live_console: LiveConsole) -> Iterator[Any]:
    """A page of the live console, not logged in, 1280 px wide; script errors fail the test."""
    context = browser.new_context(
        base_url=live_console.url, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: _console_error(m, errors))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: _failed_resource(r, errors))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"errors in the browser console: {errors}"


def _console_error(message: Any, errors: list[str]) -> None:
    # A page answered 4xx (a form shown again with its problems) is logged by Chromium as a
    # failed resource; failed resources are told apart by ``_failed_resource`` instead.
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        errors.append(message.text)


def _failed_resource(response: Any, errors: list[str]) -> None:
    if response.status >= 400 and response.request.resource_type != "document":
        errors.append(f"{response.status} for {response.request.resource_type} {response.url}")


def log_in(page: Any, email: str = DEMO_USER[0], password: str = DEMO_USER[1]) -> None:
    """Log ``page`` in through the login form (the one it shows, or ``/login``)."""
    if "/login" not in page.url:
        page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture
def browser_page(fresh_page: Any) -> Any:
    """A page logged in to the live console as the demo user; script errors fail the test."""
    log_in(fresh_page)
    return fresh_page


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot of ``page`` kept as ``artifacts/console/<name>.png``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
