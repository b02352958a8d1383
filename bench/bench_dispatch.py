"""Time the outbox dispatcher against local providers running in processes of their own.

``python bench/bench_dispatch.py sms|smtp|flaky|all [--messages N] [--limit L[,L...]]
[--concurrency C] [--connections K] [--no-ceiling] [--profile]``

- ``sms``: N SMS messages (``Hi {{ name }}``) to a local Twilio Messages API (``servers.py``).
  First, for scale: the server alone (a bare keep-alive HTTP/1.1 client, 50 connections; then
  httpx, the dispatcher's client, 10 and 50 in flight) and the dispatcher alone (an adapter
  answering ``Sent`` without a call). Then the timed ``Dispatcher.tick(now, limit)`` loop until
  nothing is due, and the check: every row sent, each message received once, as rendered.
  Target >= 2,000 messages/s.
- ``smtp``: N emails (subject, HTML and text parts) to a local aiosmtpd server, the same way
  (the server alone loaded by aiosmtplib over 10 connections). Target >= 500 messages/s.
- ``flaky``: N SMS messages to a Twilio server answering 20 % of calls with 503, driven with a
  virtual clock (each round at the earliest ``next_attempt_at`` still pending, at least a minute
  after the last) until nothing is pending; checks that every row is sent, that each message
  was accepted exactly once (the customers' phone numbers are unique) and that each row's
  ``attempts`` is the number of calls the server got for it; prints the retries.

Set-up (not timed): a temporary SQLite database with an application, N customers (phone, email,
a ``name`` field), the campaign, the channel's settings (``--concurrency`` and ``--connections``
set ``options.concurrency`` and ``options.maxConnections``) and N pending outbox rows. The
servers' CPU is their own process's; the figures give the dispatcher process's CPU time.
``--profile`` runs the timed loop under cProfile (CPU time) and prints where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import os
import pstats
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))

from common import process_cpu
from servers import ACCOUNT, MESSAGES_PATH, TOKEN, Provider

from wayfare.channels import dispatch
from wayfare.channels.base import Adapter, ChannelConfig, Delivery, Message, Sent
from wayfare.channels.dispatch import Dispatcher
from wayfare.store.applications import create_application
from wayfare.store.campaigns import create_campaign
from wayfare.store.channels import put_channel
from wayfare.store.database import Database
from wayfare.store.outbox import insert_outbox, next_attempt
from wayfare.store.schema import customers, outbox

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
CHUNK = 20_000
SENDER = "+15550000000"
SMS_CONTENT = {"text": "Hi {{ name }}"}
EMAIL_CONTENT = {
    "subject": "News for {{ name }}",
    "html": '<p>Hi {{ name }},</p><p>Our <a href="https://example.com/offer">offer</a>.</p>',
    "text": "Hi {{ name }},\n\nOur offer: https://example.com/offer\n",
}
STEP = timedelta(minutes=1)
"""The virtual clock's smallest step between rounds of the flaky run."""
DEFAULT_LIMIT = {"sms": 5000, "smtp": 5000, "flaky": 2000}
"""The tick limits that did best here (500, 2,000 and 5,000 tried: fewer, larger ticks win)."""


def phone(i: int) -> str:
    return f"+1555{i:07d}"


def email(i: int) -> str:
    return f"c{i:07d}@example.com"


# -- set-up (not timed) ----------------------------------------------------------------------


def setup(database: Database, count: int, channel: str, port: int, options: dict[str, Any]) -> int:
    """An application, ``count`` customers, the channel's campaign and settings, pending rows."""
    with database.write() as conn:
        app = create_application(conn, "bench", NOW)
        for start in range(0, count, CHUNK):
            conn.execute(
                customers.insert(),
                [
                    {
                        "application_id": app,
                        "customer_id": f"c{i:07d}",
                        "email": email(i),
                        "phone": phone(i),
                        "push_tokens": [],
                        "consent": {},
                        "fields": {"name": f"Name {i}"},
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for i in range(start, min(count, start + CHUNK))
                ],
            )
        if channel == "sms":
            campaign = create_campaign(conn, app, "bench sms", "sms", SMS_CONTENT, NOW)
            settings: dict[str, Any] = {
                "baseUrl": f"http://127.0.0.1:{port}",
                "credentials": {"accountSid": ACCOUNT, "authToken": TOKEN},
                "options": {"from": SENDER},
            }
        else:
            campaign = create_campaign(conn, app, "bench email", "email", EMAIL_CONTENT, NOW)
            settings = {
                "baseUrl": f"smtp://127.0.0.1:{port}",
                "options": {"from": "Bench <bench@example.com>"},
            }
        settings["options"].update(options)
        put_channel(conn, app, channel, enabled=True, settings=settings, rate_limit=None, now=NOW)
        for start in range(0, count, CHUNK):
            insert_outbox(
                conn,
                [
                    {
                        "application_id": app,
                        "idempotency_key": f"bench:{channel}:{i}",
                        "customer_id": f"c{i:07d}",
                        "channel": channel,
                        "campaign_id": campaign,
                        "payload": {"context": {}, "campaignId": campaign},
                        "status": "pending",
                        "attempts": 0,
                        "next_attempt_at": NOW,
                        "created_at": NOW,
                    }
                    for i in range(start, min(count, start + CHUNK))
                ],
            )
    return app


def outbox_rows(database: Database) -> list[dict[str, Any]]:
    with database.read() as conn:
        query = select(
            outbox.c.customer_id, outbox.c.status, outbox.c.attempts, outbox.c.reason
        ).order_by(outbox.c.id)
        return [dict(r) for r in conn.execute(query).mappings()]


# -- the servers alone -----------------------------------------------------------------------


def _twilio_request(i: int) -> bytes:
    body = urlencode({"To": f"+1999{i:07d}", "From": SENDER, "Body": f"ceiling {i}"}).encode()
    token = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode())
    return (
        b"POST " + MESSAGES_PATH + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Basic " + token + b"\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


async def _raw_http_load(port: int, count: int, width: int) -> None:
    """``count`` calls over ``width`` keep-alive connections, by a bare HTTP/1.1 client."""
    numbers = iter(range(count))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in numbers:
            writer.write(_twilio_request(i))
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 201 "), head
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        writer.close()

    await asyncio.gather(*(worker() for _ in range(width)))


async def _httpx_load(port: int, count: int, width: int) -> None:
    """``count`` calls, ``width`` at once, by httpx (the dispatcher's client, pool limits set)."""
    import httpx

    url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    auth = httpx.BasicAuth(ACCOUNT, TOKEN)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    numbers = iter(range(count))
    limits = httpx.Limits(max_connections=width, max_keepalive_connections=width)
    async with httpx.AsyncClient(limits=limits, auth=auth) as client:

        async def worker() -> None:
            for i in numbers:
                form = {"To": f"+1999{i:07d}", "From": SENDER, "Body": f"ceiling {i}"}
                response = await client.post(url, content=urlencode(form), headers=headers)
                assert response.status_code == 201, response.text

        await asyncio.gather(*(worker() for _ in range(width)))


async def _smtp_load(port: int, count: int, width: int) -> None:
    from aiosmtplib import SMTP

    numbers = iter(range(count))
    body = (
        b"From: bench@example.com\r\nTo: x@example.com\r\nSubject: ceiling\r\n"
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
    )

    async def worker() -> None:
        smtp = SMTP(hostname="127.0.0.1", port=port)
        await smtp.connect()
        for i in numbers:
            await smtp.sendmail("bench@example.com", [f"x{i}@example.com"], body)
        await smtp.quit()

    await asyncio.gather(*(worker() for _ in range(width)))


def _load(provider: Provider, label: str, count: int, run: Any) -> None:
    server_cpu, cpu = process_cpu(provider.pid), time.process_time()
    started = time.perf_counter()
    asyncio.run(run)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_cpu = process_cpu(provider.pid) - server_cpu
    got = provider.stats()
    assert got["created"] == count, {k: v for k, v in got.items() if k != "byRecipient"}
    provider.reset()
    print(
        f"  {label}: {count / wall:,.0f}/s; client CPU {cpu / count * 1e6:,.0f} µs/message, "
        f"server CPU {server_cpu / count * 1e6:,.0f} µs/message "
        f"(server ceiling {count / server_cpu if server_cpu else float('inf'):,.0f}/s on one core)"
    )


def ceiling(provider: Provider, count: int) -> None:
    """The server alone, loaded by a client in this process (not the dispatcher)."""
    port = provider.port
    if provider.kind == "sms":
        _load(
            provider,
            "server alone, bare HTTP/1.1 client, 50 connections",
            count,
            _raw_http_load(port, count, 50),
        )
        few = min(count, 3000)
        for width in (10, 50):
            _load(
                provider,
                f"server alone, httpx client, {width} in flight",
                few,
                _httpx_load(port, few, width),
            )
    else:
        _load(
            provider,
            "server alone, aiosmtplib client, 10 connections",
            count,
            _smtp_load(port, count, 10),
        )


# -- the timed dispatch ----------------------------------------------------------------------


def drain(
    dispatcher: Dispatcher, now: datetime, limit: int, profile: cProfile.Profile | None
) -> tuple[int, int]:
    """Tick until a tick finds nothing due; (rows claimed, ticks)."""
    total = ticks = 0
    if profile is not None:
        profile.enable()
    try:
        while done := dispatcher.tick(now, limit):
            total += done
            ticks += 1
    finally:
        if profile is not None:
            profile.disable()
    return total, ticks


def report_profile(profile: cProfile.Profile) -> None:
    """The dispatcher's own steps, then the costliest functions (cProfile adds its overhead)."""
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(r"wayfare/(channels|store)/", 30)
    stats.sort_stats("tottime").print_stats(20)
    if os.environ.get("PROFILE_OUT"):
        stats.dump_stats(os.environ["PROFILE_OUT"])


class NoCall(Adapter):
    """Answers ``Sent`` at once, without a provider call: the dispatcher's own cost."""

    def __init__(self, channel: str) -> None:
        self.channel = channel  # type: ignore[misc]

    async def send(self, message: Message, config: ChannelConfig, client: Any) -> Delivery:
        return Sent(f"local-{message.id}")


def without_calls(channel: str, count: int, limit: int, options: dict[str, Any]) -> None:
    """Dispatch ``count`` messages with adapters that make no call: what the rest costs."""
    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{Path(folder) / 'nocall.db'}")
        database.migrate()
        setup(database, count, channel, 9, options)
        dispatcher = Dispatcher(database, adapters={channel: NoCall(channel)})
        cpu, started = time.process_time(), time.perf_counter()
        drain(dispatcher, NOW, limit, None)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        dispatcher.close()
        sent = sum(1 for r in outbox_rows(database) if r["status"] == "sent")
        assert sent == count, sent
        database.dispose()
    print(
        f"  dispatcher alone ({count:,} {channel} messages, adapter answering Sent with no call, "
        f"limit {limit:,}): {count / wall:,.0f} messages/s; CPU {cpu / count * 1e6:,.0f} "
        "µs/message (claim, render, lease, gather, settle)"
    )


def throughput(
    kind: str,
    count: int,
    limit: int,
    options: dict[str, Any],
    profile: bool,
    show_ceiling: bool,
) -> None:
    """Dispatch ``count`` messages over ``kind`` (sms or smtp) once, timed, and check them."""
    channel = "sms" if kind == "sms" else "email"
    with Provider(kind) as provider, tempfile.TemporaryDirectory() as folder:
        if show_ceiling:
            ceiling(provider, min(count, 20_000))
            without_calls(channel, count, limit, options)
        database = Database(f"sqlite:///{Path(folder) / 'dispatch.db'}")
        database.migrate()
        setup(database, count, channel, provider.port, options)
        dispatcher = Dispatcher(database, rng=random.Random(7))
        profiler = cProfile.Profile(time.process_time) if profile else None
        server_cpu = process_cpu(provider.pid)
        cpu, started = time.process_time(), time.perf_counter()
        claimed, ticks = drain(dispatcher, NOW, limit, profiler)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        server_cpu = process_cpu(provider.pid) - server_cpu
        dispatcher.close()
        rows = outbox_rows(database)
        got = provider.stats()
        statuses = Counter(r["status"] for r in rows)
        problems = []
        if statuses != {"sent": count}:
            reasons = Counter(r["reason"] for r in rows if r["status"] != "sent")
            problems.append(f"statuses {dict(statuses)}, reasons {reasons.most_common(3)}")
        if got["requests"] != count or got["created"] != count or got["bad"]:
            problems.append(f"server saw {got['requests']:,} calls, {got['created']:,} accepted")
        address = phone if kind == "sms" else email
        by = got["byRecipient"]
        wrong = [i for i in range(count) if by.get(address(i), [0, 0])[:2] != [1, 1]]
        if kind == "sms":
            wrong += [i for i in range(count) if by.get(phone(i), [0, 0, ""])[2] != f"Hi Name {i}"]
        if wrong:
            problems.append(f"{len(wrong):,} messages not received exactly once as rendered")
        print(
            f"  dispatch {channel} ({count:,} messages, limit {limit:,}, {ticks} ticks, "
            f"claimed {claimed:,}): {wall:.2f} s, {count / wall:,.0f} messages/s; "
            f"dispatcher CPU {cpu:.2f} s ({cpu / count * 1e6:,.0f} µs/message, "
            f"{cpu / wall:.0%} of one core); server CPU {server_cpu:.2f} s"
        )
        print("  check: " + ("; ".join(problems) if problems else "every row sent, each once"))
        database.dispose()
        if profiler is not None:
            report_profile(profiler)
        if problems:
            raise SystemExit(1)


def flaky(
    count: int, limit: int, options: dict[str, Any], fail_rate: float = 0.2, seed: int = 1
) -> None:
    """Dispatch to a provider failing ``fail_rate`` of calls with 503, on a virtual clock."""
    with (
        Provider("sms", fail_rate=fail_rate, seed=seed) as provider,
        tempfile.TemporaryDirectory() as folder,
    ):
        database = Database(f"sqlite:///{Path(folder) / 'flaky.db'}")
        database.migrate()
        setup(database, count, "sms", provider.port, options)
        dispatcher = Dispatcher(database, rng=random.Random(seed))
        now, rounds, ticks = NOW, 0, 0
        started = time.perf_counter()
        while True:
            rounds += 1
            ticks += drain(dispatcher, now, limit, None)[1]
            with database.read() as conn:
                due = next_attempt(conn)
            if due is None:
                break
            now = max(due, now + STEP)
        wall = time.perf_counter() - started
        dispatcher.close()
        rows = outbox_rows(database)
        got = provider.stats()
        with database.read() as conn:
            attempts = conn.execute(select(func.sum(outbox.c.attempts))).scalar_one()
        by = got["byRecipient"]
        statuses = Counter(r["status"] for r in rows)
        problems = []
        if statuses != {"sent": count}:
            reasons = Counter(r["reason"] for r in rows if r["status"] != "sent")
            problems.append(f"statuses {dict(statuses)}, reasons {reasons.most_common(3)}")
        accepted = Counter(by.get(phone(i), [0, 0])[1] for i in range(count))
        if set(accepted) != {1}:
            problems.append(
                f"{sum(v for k, v in accepted.items() if k > 1):,} messages accepted more than "
                f"once, {accepted.get(0, 0):,} never accepted"
            )
        recorded = {r["customer_id"]: r["attempts"] for r in rows}
        mismatched = sum(
            1 for i in range(count) if by.get(phone(i), [0])[0] != recorded.get(f"c{i:07d}")
        )
        if mismatched:
            problems.append(f"{mismatched:,} rows whose attempts differ from the server's calls")
        if got["requests"] != attempts or got["created"] != count or got["bad"]:
            problems.append(
                f"server: {got['requests']:,} calls, {got['created']:,} accepted, "
                f"outbox attempts {attempts:,}"
            )
        spread = Counter(r["attempts"] for r in rows)
        print(
            f"  flaky sms ({count:,} messages, {fail_rate:.0%} answered 503, seed {seed}): "
            f"max attempts {dispatch.MAX_ATTEMPTS}: "
            f"{got['requests']:,} calls, {got['failed']:,} retries (503s), "
            f"{rounds} rounds of the virtual clock ({ticks} ticks), last round at "
            f"+{(now - NOW).total_seconds():,.0f} s virtual; {wall:.2f} s wall"
        )
        print(
            "  attempts per message: " + ", ".join(f"{k}: {v:,}" for k, v in sorted(spread.items()))
        )
        print(
            "  check: "
            + (
                "; ".join(problems)
                if problems
                else "every row sent, each accepted once, attempts = calls"
            )
        )
        database.dispose()
        if problems:
            raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["sms", "smtp", "flaky", "all"])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--limit", default=None, help="tick limit(s), comma-separated")
    parser.add_argument(
        "--concurrency", type=int, default=None, help="the channel's options.concurrency"
    )
    parser.add_argument(
        "--connections", type=int, default=None, help="the email channel's options.maxConnections"
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=None,
        help="what if: the dispatcher's MAX_ATTEMPTS for this run (flaky)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the flaky server's seed")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed loop")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the server-alone run")
    args = parser.parse_args()
    if args.max_attempts:
        dispatch.MAX_ATTEMPTS = args.max_attempts
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1, 5 min); 2 cores")
    for what in ["sms", "smtp", "flaky"] if args.what == "all" else [args.what]:
        limits = [int(x) for x in args.limit.split(",")] if args.limit else [DEFAULT_LIMIT[what]]
        options: dict[str, Any] = {}
        if args.concurrency:
            options["concurrency"] = args.concurrency
        if args.connections and what == "smtp":
            options["maxConnections"] = args.connections
        print(f"{what}: options {options}")
        for n, limit in enumerate(limits):
            if what == "flaky":
                flaky(args.messages, limit, options, seed=args.seed)
            else:
                show = not args.no_ceiling and n == 0
                throughput(what, args.messages, limit, options, args.profile, show)


if __name__ == "__main__":
    main()
