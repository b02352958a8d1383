"""What every channel adapter shares: the message it sends, its settings, its outcome values.

An adapter is an object with a ``channel`` name and ``async send(message, config, client)``; it
makes one provider call (or none, when the message cannot go: no address) and returns one
delivery value. Expected outcomes are values, never exceptions: ``Sent``, ``Skipped`` (nothing
sent, with the reason), ``RetryLater`` (timeouts, 429, 5xx: the dispatcher backs off) and
``Failed`` (the provider refused the message for good, with its reason).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
from sqlalchemy import Connection

from wayfare.model.customers import Customer

__all__ = [
    "Adapter",
    "ChannelConfig",
    "Delivery",
    "Failed",
    "Message",
    "RetryLater",
    "Sent",
    "Skipped",
    "combine",
    "from_exception",
    "from_response",
    "retry_after",
]


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered message for one customer, as the dispatcher hands it to an adapter.

    ``content`` is the campaign's content with every Liquid string rendered for this customer
    (the shape of each channel's content is in ``wayfare.templates``). ``key`` is the outbox
    idempotency key: adapters send it to providers that accept one. ``links`` holds the
    tracking URLs the dispatcher made for this message (``open``, ``unsubscribe``, and
    ``click`` as a function of the target URL), empty when tracking is off. ``extra`` is what
    an adapter's ``prepare`` added (wallet: the devices registered for the customer's pass).
    """

    id: int
    key: str
    application_id: int
    channel: str
    customer: Customer
    content: Mapping[str, Any]
    campaign_id: int | None = None
    links: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """A channel's settings for one application (``PUT /v1/channel/{channel}``).

    ``base_url`` replaces the provider's public URL (tests and self-hosted gateways point it at
    a local server); ``credentials`` and ``options`` are the channel's own keys (documented by
    each adapter); ``rate_limit`` is messages per second for the application, None for no limit.
    """

    enabled: bool = True
    base_url: str | None = None
    credentials: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    rate_limit: float | None = None

    def url(self, default: str) -> str:
        """The base URL to call: the configured one, else the provider's ``default``."""
        return (self.base_url or default).rstrip("/")


@dataclass(frozen=True, slots=True)
class Sent:
    """The provider accepted the message; its id for the message, when it gives one."""

    provider_message_id: str | None = None
    dead_tokens: tuple[str, ...] = ()
    """Push tokens the provider says will never work again (other devices of the customer)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """Nothing was sent, for a reason that retrying will not change (no address, no consent)."""

    reason: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    """A passing failure (timeout, network error, 429, 5xx): try again after a back-off.

    ``after`` is the provider's ``Retry-After`` in seconds when it gave one.
    """

    reason: str
    after: float | None = None
    dead_tokens: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Failed:
    """The provider refused the message for good (bad address, bad credentials, bad content)."""

    reason: str
    permanent: bool = True
    dead_tokens: tuple[str, ...] = ()
    """Push tokens the provider says will never work again (the dispatcher removes them)."""


Delivery = Sent | Skipped | RetryLater | Failed
"""The outcome of one ``send``."""


class Adapter(ABC):
    """A channel adapter: one per channel, shared by every application, holding no state.

    ``prepare`` runs in the dispatcher's database transaction before any sending (the in-app
    inbox writes its rows there; wallet adapters update stored passes and add the registered
    devices to ``Message.extra``); ``send`` then makes the provider call, outside any
    transaction, concurrently with other messages.
    """

    channel: ClassVar[str]
    timeout: ClassVar[float] = 10.0
    """Seconds one provider call may take unless the channel's ``options.timeout`` says."""
    http2: ClassVar[bool] = False
    """Whether ``send`` needs an HTTP/2 client (APNs); others get the faster HTTP/1.1 one."""

    def prepare(
        self, conn: Connection, messages: Sequence[Message], now: datetime
    ) -> list[Message]:
        """Database work for ``messages`` before they are sent; the messages to send."""
        return list(messages)

    @abstractmethod
    async def send(
        self, message: Message, config: ChannelConfig, client: httpx.AsyncClient
    ) -> Delivery:
        """Send one message with ``config``; the outcome as a value."""

    async def aclose(self) -> None:  # noqa: B027 (most adapters keep nothing open)
        """Close what the adapter keeps open between sends (connection pools); none by default."""


def combine(outcomes: Sequence[Delivery]) -> Delivery:
    """One outcome for a message sent to several devices (a push fan-out, wallet passes).

    Sent if any device got it (the first provider id), so a retry sends no duplicate; else
    RetryLater if any may go later (the longest Retry-After); else Failed with every reason.
    """
    dead = tuple(
        token
        for o in outcomes
        if isinstance(o, Failed | RetryLater | Sent)
        for token in o.dead_tokens
    )
    sent = [o for o in outcomes if isinstance(o, Sent)]
    if sent:
        ids = [o.provider_message_id for o in sent if o.provider_message_id]
        return Sent(ids[0] if ids else None, dead)
    later = [o for o in outcomes if isinstance(o, RetryLater)]
    if later:
        afters = [o.after for o in later if o.after is not None]
        return RetryLater("; ".join(o.reason for o in later), max(afters) if afters else None, dead)
    reasons = [o.reason for o in outcomes if isinstance(o, Failed | Skipped)]
    return Failed("; ".join(reasons) or "no device accepted the message", dead_tokens=dead)


RETRY_AFTER_MAX = 6 * 3600.0
"""The longest ``Retry-After`` honoured (seconds): a provider cannot park a message for ever."""


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (a number of seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(RETRY_AFTER_MAX, seconds) if seconds >= 0 else 0.0  # NaN and inf too

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return min(RETRY_AFTER_MAX, max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def from_response(
    response: httpx.Response, reason: str, provider_message_id: str | None = None
) -> Delivery:
    """The usual HTTP outcome: 2xx sent, 408/425/429/5xx retry later, other statuses failed.

    ``reason`` is the provider's explanation taken from the body (used when not sent).
    """
    status = response.status_code
    if 200 <= status < 300:
        return Sent(provider_message_id)
    text = f"HTTP {status}: {reason}" if reason else f"HTTP {status}"
    if status in (408, 425, 429) or status >= 500:
        return RetryLater(text, retry_after(response))
    return Failed(text)


def from_exception(exc: httpx.HTTPError) -> Delivery:
    """A timeout or network error: retry later, saying what happened."""
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "network error"
    return RetryLater(f"{kind}: {str(exc) or type(exc).__name__}")  # httpx's text may be empty
