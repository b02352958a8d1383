"""``wayfare serve --workers 2`` as a user runs it: two HTTP processes on one SQLite file."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

WAYFARE = str(Path(sys.executable).with_name("wayfare"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_http_processes_take_single_events_on_one_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "serve.db"
    env = {**os.environ, "WAYFARE_DATABASE_URL": f"sqlite:///{database}", "WAYFARE_RATE_LIMIT": "0"}
    made = subprocess.run(
        [WAYFARE, "keys", "create", "--application", "shop"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [WAYFARE, "serve", "--port", str(port), "--no-demo", "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"ServerKey {key}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "wayfare serve did not answer in 60 s"
            time.sleep(0.1)
        defined = httpx.post(
            base + "/v1/event/type", json={"code": "visit", "name": "Visit"}, headers=headers
        )
        assert defined.status_code == 201, defined.text

        async def post_all() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=20)
            async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits) as client:
                return await asyncio.gather(
                    *(
                        client.post(
                            "/v1/event",
                            json={
                                "eventId": f"e-{n}",
                                "eventCode": "visit",
                                "customerId": f"c-{n}",
                            },
                        )
                        for n in range(100)
                    )
                )

        answers = asyncio.run(post_all())
        assert [a.status_code for a in answers] == [201] * 100, [a.text for a in answers[:3]]
        assert "Started parent process" in log.read_text()  # uvicorn's supervisor: 2 processes
    finally:
        process.terminate()
        process.wait(timeout=30)
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 100
