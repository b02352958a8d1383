"""The outbox dispatch: due messages rendered for their customers and handed to their channels.

A tick claims due pending outbox rows (``SKIP LOCKED`` on PostgreSQL) and, in that transaction,
renders them, settles what cannot go (no consent, a disabled channel, a template error), delivers
the ``log`` channel and leases the rest: ``attempts`` + 1 and ``next_attempt_at`` past the lease,
so no other worker takes them. The provider calls are then made outside any transaction,
concurrently, within each application's rate limit per channel; a second transaction writes
their outcomes: sent, skipped or failed (with the provider's reason), or pending again after an
exponential back-off with jitter. A worker that dies mid-send leaves its leased rows to fall due
again when the lease ends; the provider sees the same idempotency key.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection

from wayfare.channels.base import (
    Adapter,
    ChannelConfig,
    Delivery,
    Failed,
    Message,
    RetryLater,
    Sent,
    Skipped,
    from_exception,
)
from wayfare.channels.email import EmailAdapter
from wayfare.channels.http import FastClient
from wayfare.channels.inapp import InAppAdapter
from wayfare.channels.log import LogAdapter
from wayfare.channels.push import PushAdapter
from wayfare.channels.rendering import ToRender, render_in_place, render_messages
from wayfare.channels.sms import SmsAdapter
from wayfare.channels.telegram import TelegramAdapter
from wayfare.channels.tracking import links_for, message_links, signing_key
from wayfare.channels.wallet import WalletAdapter
from wayfare.channels.whatsapp import WhatsAppAdapter
from wayfare.store import outbox
from wayfare.store.channels import StoredChannel, channel_settings_for
from wayfare.store.customers import remove_push_tokens
from wayfare.store.database import Database

LEASE = timedelta(minutes=2)
"""How long a leased message is reserved for the worker sending it (beyond its timeout)."""

MAX_ATTEMPTS = 12
"""Attempts before a message that keeps failing for a passing reason is failed for good (with
the back-off, about six hours of trying; at 20 % failed calls, 4 in a billion messages)."""

FIRST_BACKOFF = 10.0
"""Seconds before the first retry; each further retry waits twice as long (with jitter)."""

MAX_BACKOFF = 6 * 3600.0
"""The longest wait between two attempts, in seconds."""

DEFAULT_CONCURRENCY = 50
"""Provider calls in flight at once per channel (``options.concurrency`` changes it)."""

LOG = LogAdapter()

BUILT_IN = frozenset({"inapp"})
"""Channels Wayfare delivers itself (the in-app inbox): their adapter needs no settings."""

TRACKED = frozenset({"email", "sms", "whatsapp", "telegram"})
"""Channels whose links become tracking links (and emails get an open pixel and unsubscribe)."""


def default_adapters() -> dict[str, Adapter]:
    """One adapter per channel (the provider's protocol), by channel name."""
    adapters: list[Adapter] = [
        PushAdapter(),
        InAppAdapter(),
        WalletAdapter(),
        EmailAdapter(),
        SmsAdapter(),
        WhatsAppAdapter(),
        TelegramAdapter(),
    ]
    return {adapter.channel: adapter for adapter in adapters}


def backoff(attempts: int, rng: random.Random) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: doubling, jittered ±50 %."""
    base = min(MAX_BACKOFF, FIRST_BACKOFF * 2.0 ** max(0, attempts - 1))
    return base * rng.uniform(0.5, 1.5)


@dataclass(frozen=True, slots=True)
class Lease:
    """A message leased for sending: what to send, how, and the attempt it is."""

    message: Message
    config: ChannelConfig
    adapter: Adapter
    attempts: int


@dataclass(slots=True)
class Outcomes:
    """Outbox rows to settle, by id: (the attempt they were leased for, the delivery)."""

    rows: list[tuple[int, int, Delivery]] = field(default_factory=list)
    dead_tokens: list[tuple[int, str, tuple[str, ...]]] = field(default_factory=list)
    """Push tokens providers said are dead: (application id, customer id, tokens)."""


class Dispatcher:
    """Claims due outbox rows in batches and hands them to their channels' adapters."""

    def __init__(
        self,
        database: Database,
        *,
        adapters: Mapping[str, Adapter] | None = None,
        public_url: str | None = None,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.public_url = public_url
        self.adapters = dict(default_adapters() if adapters is None else adapters)
        self.rng = rng or random.Random()
        self.monotonic = monotonic
        self._buckets: dict[tuple[int, str], tuple[float, float]] = {}
        self._signing_key: bytes | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._clients: list[httpx.AsyncClient] = []

    # -- one tick ------------------------------------------------------------------------------

    def tick(self, now: datetime, limit: int = 2000) -> int:
        """Dispatch one batch of due outbox rows at ``now``; how many rows it settled or leased."""
        with self.database.write() as conn:
            count, leases = self._claim(conn, now, limit)
        if leases:
            started = self.monotonic()
            outcomes = self._run(self._send_all(leases, started + lease_seconds(leases)))
            after = now + timedelta(seconds=self.monotonic() - started)  # back-offs from here
            with self.database.write() as conn:
                settle(conn, outcomes, after, self.rng)
        return count

    def close(self) -> None:
        """Close the adapters' connections, the HTTP client and the event loop."""
        if self._loop is not None:
            for adapter in self.adapters.values():
                self._loop.run_until_complete(adapter.aclose())
            for client in self._clients:
                self._loop.run_until_complete(client.aclose())
            self._loop.close()
            self._loop = None
            self._clients = []

    def _claim(self, conn: Connection, now: datetime, limit: int) -> tuple[int, list[Lease]]:
        rows = outbox.claim_due(conn, now, limit)
        if not rows:
            return 0, []
        stored = channel_settings_for(conn, {(r.application_id, r.channel) for r in rows})
        rows, later = self._within_rate(rows, stored, now)
        outbox.postpone(conn, later)
        built = render_messages(conn, rows)
        settled = Outcomes()
        logged: list[tuple[int, dict[str, Any]]] = []
        leases: list[Lease] = []
        for row, message in zip(rows, built, strict=True):
            if not isinstance(message, Message):
                settled.rows.append((row.id, row.attempts, message))
                continue
            settings = stored.get((row.application_id, row.channel))
            adapter = self._adapter(row.channel, settings)
            if settings is not None and not settings.enabled:
                settled.rows.append((row.id, row.attempts, Skipped("channel disabled")))
            elif adapter is LOG:
                logged.append((row.id, dict(message.content)))
            else:
                config = settings.config if settings is not None else ChannelConfig()
                message = self._tracked(conn, message, now)
                leases.append(Lease(message, config, adapter, row.attempts + 1))
        outbox.mark_logged(conn, logged, now)
        settle(conn, settled, now, self.rng)
        groups: dict[str, list[Lease]] = defaultdict(list)
        for item in leases:
            groups[item.adapter.channel].append(item)
        prepared: list[Lease] = []
        for adapter_leases in groups.values():
            adapter = adapter_leases[0].adapter
            by_id = {item.message.id: item for item in adapter_leases}
            for message in adapter.prepare(conn, [item.message for item in adapter_leases], now):
                old = by_id[message.id]
                prepared.append(Lease(message, old.config, old.adapter, old.attempts))
        hold(conn, prepared, now)
        return len(rows) + len(later), prepared

    def _tracked(self, conn: Connection, message: Message, now: datetime) -> Message:
        """``message`` with its tracking links, when there is a public URL to serve them."""
        if self.public_url is None or message.channel not in TRACKED:
            return message
        if self._signing_key is None:
            self._signing_key = signing_key(conn, now)
        links = links_for(
            self._signing_key,
            self.public_url,
            message.id,
            message.application_id,
            message.customer.customer_id,
            message.campaign_id,
            channel=message.channel,
        )
        return replace(message, links=message_links(links))

    def _adapter(self, channel: str, settings: StoredChannel | None) -> Adapter:
        if settings is not None and settings.provider == "log":
            return LOG
        if settings is None and channel not in BUILT_IN:
            return LOG
        return self.adapters.get(channel, LOG)

    def _within_rate(
        self,
        rows: list[outbox.Claimed],
        stored: Mapping[tuple[int, str], StoredChannel],
        now: datetime,
    ) -> tuple[list[outbox.Claimed], list[tuple[int, datetime]]]:
        """The rows the rate limits let go now, and when each of the others may go."""
        allowed: list[outbox.Claimed] = []
        later: list[tuple[int, datetime]] = []
        taken: dict[tuple[int, str], int] = defaultdict(int)
        clock = self.monotonic()
        for row in rows:
            pair = (row.application_id, row.channel)
            settings = stored.get(pair)
            rate = settings.config.rate_limit if settings is not None else None
            if not rate:
                allowed.append(row)
                continue
            tokens, last = self._buckets.get(pair, (float(rate), clock))
            tokens = min(float(rate), tokens + (clock - last) * rate)
            if tokens >= 1.0:
                self._buckets[pair] = (tokens - 1.0, clock)
                allowed.append(row)
            else:
                self._buckets[pair] = (tokens, clock)
                taken[pair] += 1
                wait = math.ceil((taken[pair] - tokens) / rate)
                later.append((row.id, now + timedelta(seconds=max(1, wait))))
        return allowed, later

    # -- sending -------------------------------------------------------------------------------

    def _run(self, coroutine: Any) -> Outcomes:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        result: Outcomes = self._loop.run_until_complete(coroutine)
        return result

    async def _send_all(self, leases: Sequence[Lease], deadline: float) -> Outcomes:
        if not self._clients:
            self._clients = [
                FastClient(timeout=None),  # each call is bounded by its channel's timeout
                httpx.AsyncClient(http2=True, timeout=None),
            ]
        fast, http2 = self._clients
        limits: dict[str, asyncio.Semaphore] = {}
        for item in leases:
            if item.adapter.channel not in limits:
                width = int(item.config.options.get("concurrency") or DEFAULT_CONCURRENCY)
                limits[item.adapter.channel] = asyncio.Semaphore(max(1, width))

        async def one(item: Lease) -> tuple[int, int, Delivery]:
            client = http2 if item.adapter.http2 else fast
            async with limits[item.adapter.channel]:
                if self.monotonic() + call_seconds(item) > deadline:  # its lease would end
                    delivery: Delivery = RetryLater("not sent: the batch outlasted its lease")
                else:
                    delivery = await _attempt(item, client)
            return item.message.id, item.attempts, delivery

        rows = list(await asyncio.gather(*(one(item) for item in leases)))
        dead = [
            (item.message.application_id, item.message.customer.customer_id, delivery.dead_tokens)
            for item, (_id, _attempts, delivery) in zip(leases, rows, strict=True)
            if isinstance(delivery, Sent | RetryLater | Failed) and delivery.dead_tokens
        ]
        return Outcomes(rows, dead)


def call_seconds(item: Lease) -> float:
    """The longest one provider call of ``item`` may take (``options.timeout``, the adapter's)."""
    return float(item.config.options.get("timeout") or item.adapter.timeout)


def lease_seconds(leases: Sequence[Lease]) -> float:
    """How long a batch's leases last.

    Every call's turn at its channel's concurrency, the longest call, plus ``LEASE``; a call
    whose turn would come later is not made (it stays due, unsent).
    """
    rounds: dict[str, float] = defaultdict(float)
    for item in leases:
        width = int(item.config.options.get("concurrency") or DEFAULT_CONCURRENCY)
        rounds[item.adapter.channel] += call_seconds(item) / max(1, width)
    return (
        LEASE.total_seconds()
        + max(rounds.values(), default=0.0)
        + max((call_seconds(item) for item in leases), default=0.0)
    )


async def _attempt(item: Lease, client: httpx.AsyncClient) -> Delivery:
    """One send, bounded by the channel's timeout; an adapter's bug is a failed attempt."""
    timeout = call_seconds(item)
    try:
        async with asyncio.timeout(timeout + 1.0):
            return await item.adapter.send(item.message, item.config, client)
    except TimeoutError:
        return RetryLater(f"timeout after {timeout:g} s")
    except httpx.HTTPError as exc:
        return from_exception(exc)
    except Exception as exc:  # a bug in an adapter must not lose the batch's other outcomes
        return RetryLater(f"adapter error: {type(exc).__name__}: {exc}")


def hold(conn: Connection, leases: Sequence[Lease], now: datetime) -> None:
    """Reserve leased rows for their worker: the attempt counted, due again when the lease ends."""
    until = now + timedelta(seconds=lease_seconds(leases))
    outbox.lease_rows(
        conn,
        [(item.message.id, item.attempts, until, dict(item.message.content)) for item in leases],
    )


def settle(conn: Connection, outcomes: Outcomes, now: datetime, rng: random.Random) -> None:
    """Write each row's outcome, if it is still the attempt it was leased for."""
    settled: list[outbox.Settled] = []
    for row_id, attempts, delivery in outcomes.rows:
        match delivery:
            case Sent(provider_message_id=provider_id):
                settled.append(
                    outbox.Settled(row_id, attempts, "sent", None, now, provider_id, now)
                )
            case Skipped(reason=reason):
                settled.append(outbox.Settled(row_id, attempts, "skipped", reason, now))
            case Failed(reason=reason):
                settled.append(outbox.Settled(row_id, attempts, "failed", reason, now))
            case RetryLater(reason=reason, after=after) if attempts >= MAX_ATTEMPTS:
                reason = f"gave up after {attempts} attempts: {reason}"
                settled.append(outbox.Settled(row_id, attempts, "failed", reason, now))
            case RetryLater(reason=reason, after=after):
                wait = max(after or 0.0, backoff(attempts, rng))
                retry_at = now + timedelta(seconds=wait)
                settled.append(outbox.Settled(row_id, attempts, "pending", reason, retry_at))
    outbox.settle_rows(conn, settled)
    if outcomes.dead_tokens:  # whatever became of the attempt: the provider said so
        remove_push_tokens(conn, outcomes.dead_tokens, now)


def deliver_in_place(conn: Connection, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Deliver the new outbox rows (about to be inserted) of channels that have no settings.

    (The in-app inbox, which needs none, is written by the dispatcher.)

    Those go to the ``log`` channel, whose delivery is a database write: each such message is
    rendered and written as sent in the transaction that creates it, with no second pass over
    the outbox. (A channel set to ``provider: "log"`` goes through the dispatcher instead, as a
    configured channel does.)
    Rows that cannot go (an erased customer, a template error) stay pending: the dispatcher
    settles them with their reason.
    """
    due = [r for r in rows if r.get("status") == "pending" and r["next_attempt_at"] <= now]
    if not due:
        return
    stored = channel_settings_for(conn, {(r["application_id"], r["channel"]) for r in due})
    logged = [
        row
        for row in due
        if (row["application_id"], row["channel"]) not in stored and row["channel"] not in BUILT_IN
    ]
    items = [
        ToRender(
            r["application_id"], r["customer_id"], r["channel"], r["campaign_id"], r["payload"]
        )
        for r in logged
    ]
    for row, content in zip(logged, render_in_place(conn, items), strict=True):
        if content is not None:
            row["status"] = "sent"
            row["rendered"] = content
            row["sent_at"] = now
            row["attempts"] = 1
