"""Event to message: an ``IN_CUSTOM_EVENT`` journey fed a steady stream of events over HTTP.

``python bench/bench_latency.py [--rate 1000] [--seconds 60] [--batch K]``

Starts the real server (``wayfare serve``, which runs the worker in-process) on a temporary
SQLite file, makes an application and server key (``wayfare keys create``), then through the
API: the event type ``signup``, a push campaign (Liquid, two fields), the journey
``IN_CUSTOM_EVENT signup`` -> ``ACTION_PUSH_SEND`` -> end (started with ``PUT
/v1/journey/{id}/start``) and ``rate x seconds`` push-reachable customers (``PUT
/v1/customer/list``). Then it sends one ``signup`` per customer at a steady ``--rate`` events/s,
open loop (a request leaves at its scheduled time whether or not the previous ones were
answered), each event's ``date`` its send time: ``POST /v1/event`` one event per request over
keep-alive connections, or with ``--batch K`` ``POST /v1/event/batch`` with K events.
Afterwards it reads each outbox row's ``created_at`` and ``sent_at`` (the ``log`` channel's
hand-over) from the SQLite file, read-only, and prints the percentiles of ``sent_at - send
time`` and ``created_at - send time``. Target (issue 3): p50 <= 20 ms, p99 <= 100 ms.

Reading the figures: the ``log`` channel delivers in the transaction that writes the message,
stamping ``created_at`` and ``sent_at`` with that transaction's ``now`` (read when the request's
handler starts, before the work and the commit), so both measure the wait before the server
took the event up; ``event sent -> HTTP answer`` includes the work and the commit, an upper
bound of the time to the message being handed over. The sender runs on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).parent))
from common import PUSH_CONTENT, percentiles, process_cpu, table

WAYFARE = str(Path(sys.executable).parent / "wayfare")


@dataclass
class Sent:
    """What the sender saw, per customer (one event each): POSIX times and the answer."""

    scheduled: dict[str, float] = field(default_factory=dict)
    at: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    failed_customers: set[str] = field(default_factory=set)
    dropped: int = 0


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_key(env: dict[str, str]) -> str:
    """``wayfare keys create --application bench``: the key, printed on the last line."""
    done = subprocess.run(
        [WAYFARE, "keys", "create", "--application", "bench"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def wait_ready(client: httpx.Client, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the API until it answers (30 s at most)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            if client.get("/v1/event/type").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not answer in 30 s:\n{log.read_text()[-3000:]}")


def call(client: httpx.Client, method: str, path: str, body: Any = None) -> Any:
    """An API call that must succeed; its ``data``."""
    response = client.request(method, path, json=body)
    if response.status_code >= 300:
        raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:2000]}")
    return response.json()["data"]


def set_up(client: httpx.Client, customers: int) -> int:
    """Event type, campaign, journey (started) and customers, through the API; the journey id."""
    call(client, "POST", "/v1/event/type", {"code": "signup", "name": "Signed up"})
    for name in ("name", "city"):
        call(client, "POST", "/v1/customer/field", {"name": name, "type": "string"})
    campaign = call(
        client,
        "POST",
        "/v1/campaign",
        {"name": "welcome", "channel": "push", "content": PUSH_CONTENT},
    )["id"]
    states = [
        {"id": 1, "type": "IN_CUSTOM_EVENT", "params": {"eventName": "signup", "forward": 2}},
        {
            "id": 2,
            "type": "ACTION_PUSH_SEND",
            "params": {"action": {"campaignId": campaign}, "forward": None},
        },
    ]
    journey = call(client, "POST", "/v1/journey", {"name": "welcome", "states": states})["id"]
    call(client, "PUT", f"/v1/journey/{journey}/start")
    for start in range(0, customers, 10_000):
        chunk = [
            {
                "customerId": f"c{i:07d}",
                "pushTokens": [{"token": f"t{i}", "platform": "android"}],
                "fields": {"name": f"Name {i}", "city": "Madrid"},
            }
            for i in range(start, min(customers, start + 10_000))
        ]
        call(client, "PUT", "/v1/customer/list", {"customers": chunk})
    return int(journey)


def iso(moment: float) -> str:
    """A POSIX time as ISO 8601 UTC with microseconds."""
    return datetime.fromtimestamp(moment, UTC).isoformat()


async def send_all(
    base_url: str,
    key: str,
    count: int,
    rate: float,
    batch: int,
    connections: int,
    max_behind: float,
) -> Sent:
    """Send ``count`` events at ``rate``/s, ``batch`` a request (0: one per ``POST /v1/event``).

    A request that could not leave within ``max_behind`` seconds of its scheduled time (all
    connections busy) is not sent: its events are counted as dropped.
    """
    sent = Sent()
    per_request = max(1, batch)
    interval = per_request / rate
    connector = aiohttp.TCPConnector(limit=connections)
    headers = {"Authorization": f"ServerKey {key}", "Content-Type": "application/json"}
    # aiohttp, not httpx: with httpx's async client the sender itself fell behind, at about 280
    # single events a second on this machine
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(
        base_url, connector=connector, headers=headers, timeout=timeout
    ) as client:
        # At most ``connections`` requests in the client at once, so that a request that waited
        # too long for a connection is dropped rather than sent late
        gate = asyncio.Semaphore(connections)

        async def one(number: int, scheduled: float) -> None:
            async with gate:
                if time.time() - scheduled > max_behind:  # the server cannot keep up: give up
                    sent.dropped += min(count, (number + 1) * per_request) - number * per_request
                    return
                await post(number, scheduled)

        async def post(number: int, scheduled: float) -> None:
            first = number * per_request
            ids = [f"c{i:07d}" for i in range(first, min(count, first + per_request))]
            at = time.time()
            events = [
                {"eventId": f"e{c}", "eventCode": "signup", "customerId": c, "date": iso(at)}
                for c in ids
            ]
            path, body = (
                ("/v1/event/batch", {"events": events}) if batch else ("/v1/event", events[0])
            )
            try:
                async with client.post(path, data=json.dumps(body)) as response:
                    await response.read()
                    outcome = str(response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                outcome = type(exc).__name__
            answered = time.time()
            for c in ids:
                sent.scheduled[c], sent.at[c], sent.answered[c] = scheduled, at, answered
            if outcome not in ("200", "201"):
                sent.errors[outcome] = sent.errors.get(outcome, 0) + 1
                sent.failed_customers.update(ids)

        requests = -(-count // per_request)
        tasks = set()
        origin = time.time()
        for number in range(requests):
            scheduled = origin + number * interval
            delay = scheduled - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(number, scheduled))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        while tasks:
            await asyncio.gather(*list(tasks))
    return sent


def outbox_rows(database: Path, journey: int) -> list[tuple[str, str, str | None, str]]:
    """(customer, created_at, sent_at, status) of the journey's outbox rows, read-only."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return list(
            conn.execute(
                "SELECT customer_id, created_at, sent_at, status FROM outbox WHERE journey_id = ?",
                (journey,),
            )
        )
    finally:
        conn.close()


def drain(database: Path, journey: int, expected: int, patience: float) -> float:
    """Wait until ``expected`` rows are handed over, or no progress for ``patience`` s."""
    started = time.monotonic()
    last, progress = -1, time.monotonic()
    while True:
        handed = sum(1 for row in outbox_rows(database, journey) if row[3] != "pending")
        if handed >= expected:
            return time.monotonic() - started
        if handed != last:
            last, progress = handed, time.monotonic()
        elif time.monotonic() - progress > patience:
            return time.monotonic() - started
        time.sleep(0.2)


def stamp(text: str) -> float:
    """A naive UTC timestamp as SQLite holds it, as POSIX time."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def report(sent: Sent, rows: list[tuple[str, str, str | None, str]], rate: float) -> None:
    """Print the latency table and what did not arrive."""
    created, handed, handed_scheduled = [], [], []
    statuses: dict[str, int] = {}
    seen = set()
    for customer, created_at, sent_at, status in rows:
        statuses[status] = statuses.get(status, 0) + 1
        at = sent.at.get(customer)
        if at is None:
            continue
        seen.add(customer)
        created.append((stamp(created_at) - at) * 1000)
        if sent_at is not None:
            handed.append((stamp(sent_at) - at) * 1000)
            handed_scheduled.append((stamp(sent_at) - sent.scheduled[customer]) * 1000)
    accepted = set(sent.at) - sent.failed_customers
    missing = accepted - seen
    ok = [c for c in sent.at if c not in sent.failed_customers]
    ms = ["p50 ms", "p95 ms", "p99 ms", "max ms"]
    lines = [
        ["event sent -> handed to the channel (sent_at)", len(handed), *percentiles(handed)],
        ["event sent -> outbox row written (created_at)", len(created), *percentiles(created)],
        [
            "event sent -> HTTP answer (committed)",
            len(ok),
            *percentiles([(sent.answered[c] - sent.at[c]) * 1000 for c in ok]),
        ],
        [
            "event scheduled -> handed (sent_at)",
            len(handed_scheduled),
            *percentiles(handed_scheduled),
        ],
        [
            "sender behind schedule",
            len(sent.at),
            *percentiles([(sent.at[c] - sent.scheduled[c]) * 1000 for c in sent.at]),
        ],
    ]
    print(table(["measure", "events", *ms], lines))
    times = sorted(sent.at.values())
    span = max(times[-1] - times[0], 1e-9) if times else 1e-9
    print(
        f"events sent {len(sent.at):,} in {span:.1f} s ({len(sent.at) / span:,.0f}/s, "
        f"accepted {len(accepted) / span:,.0f}/s; "
        f"asked for {rate:,.0f}/s); not sent (sender too far behind) "
        f"{sent.dropped:,}; failed requests {sent.errors or 'none'}; "
        f"outbox rows by status {statuses}; accepted events with no outbox row: {len(missing):,}"
        + (f" (e.g. {sorted(missing)[:5]})" if missing else "")
    )


def main() -> None:
    """Parse the options, run the server, send, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1000, help="events/s (default 1000)")
    parser.add_argument("--seconds", type=float, default=60, help="how long (default 60)")
    parser.add_argument(
        "--batch", type=int, default=0, help="K events per POST /v1/event/batch (default: single)"
    )
    parser.add_argument(
        "--connections", type=int, default=64, help="keep-alive connections (default 64)"
    )
    parser.add_argument(
        "--patience",
        type=float,
        default=30,
        help="after sending, wait this long without progress for the outbox (default 30 s)",
    )
    parser.add_argument(
        "--max-behind",
        type=float,
        default=10,
        help="drop a request that cannot leave this long after its time (default 10 s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the folder (database, log)")
    args = parser.parse_args()
    count = round(args.rate * args.seconds)
    folder = Path(tempfile.mkdtemp(prefix="wayfare-latency-"))
    database = folder / "latency.db"
    log = folder / "server.log"
    env = {
        **os.environ,
        "WAYFARE_DATABASE_URL": f"sqlite:///{database}",
        "WAYFARE_DEMO": "false",
        "WAYFARE_RATE_LIMIT": "0",  # one key sends everything: no per-key limit here
    }
    key = create_key(env)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [WAYFARE, "serve", "--port", str(port), "--no-demo"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(
            base_url=base_url, headers={"Authorization": f"ServerKey {key}"}, timeout=120
        ) as client:
            wait_ready(client, server, log)
            started = time.perf_counter()
            journey = set_up(client, count)
        print(
            f"set-up through the API: {count:,} customers in {time.perf_counter() - started:.1f} s"
        )
        server_cpu, cpu = process_cpu(server.pid), time.process_time()
        sent = asyncio.run(
            send_all(base_url, key, count, args.rate, args.batch, args.connections, args.max_behind)
        )
        print(
            f"while sending: server CPU {process_cpu(server.pid) - server_cpu:.1f} s, "
            f"this sender's CPU {time.process_time() - cpu:.1f} s"
        )
        accepted = len(set(sent.at) - sent.failed_customers)
        waited = drain(database, journey, accepted, args.patience)
        print(f"waited {waited:.1f} s after the last send for the outbox")
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    report(sent, outbox_rows(database, journey), args.rate)
    mode = f"POST /v1/event/batch x {args.batch}" if args.batch else "POST /v1/event"
    print(f"({mode}, {args.connections} connections)")
    if args.keep:
        print(f"database and server log kept in {folder}")
    else:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
