"""``wayfare serve`` as a user runs it: a real process on a free port, on a fresh SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from wayfare.demo import DEMO_USER

WAYFARE = str(Path(sys.executable).with_name("wayfare"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "WAYFARE_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [WAYFARE, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            assert process.poll() is None, log.read_text()
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "wayfare serve did not answer in 30 s"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_answers_health_and_shows_the_demo_data(server: str) -> None:
    health = httpx.get(server + "/health").json()
    assert health["statusCode"] == 200
    assert health["data"]["database"] == "sqlite"
    with httpx.Client(base_url=server, follow_redirects=True) as browser:
        assert "Log in to Wayfare" in browser.get("/").text
        email, password = DEMO_USER
        home = browser.post("/login", data={"email": email, "password": password})
        assert home.status_code == 200
        assert "<strong>300</strong> customers" in home.text


def test_a_bad_database_url_is_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "WAYFARE_DATABASE_URL": "mysql://nobody@localhost/x"}
    result = subprocess.run(
        [WAYFARE, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: WAYFARE_DATABASE_URL: 'mysql' is not supported; use sqlite:/// or postgresql://"
    ]
