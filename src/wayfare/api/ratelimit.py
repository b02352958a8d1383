"""Rate limiting per server key: a token bucket per key, in this process, answering 429.

Buckets are found by the key the request carries (its ``Authorization: ServerKey`` value), so
the check costs no database access; one key is one bucket. Requests without a server key
(tracking links, SDK calls, provider callbacks) are not limited here.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from wayfare.api.errors import error_response

MAX_BUCKETS = 100_000
"""Buckets kept at most; the least recently used goes first (unknown keys cannot fill memory)."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """A token bucket per key: ``rate`` tokens a second, holding at most ``burst``."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = MAX_BUCKETS,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a rate > 0 and a burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> int:
        """Take a token for ``key``: 0 when allowed, else the seconds to wait (at least 1)."""
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) / self.rate))


def bucket_size(rate: float, burst: int | None) -> int:
    """The burst of a limit: ``burst`` when given, else twice ``rate`` (at least 1)."""
    return burst if burst is not None else max(1, math.ceil(2 * rate))


class RateLimit:
    """ASGI middleware: requests with a server key over its bucket get 429 and ``Retry-After``."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or refuse it when its key is over its rate."""
        if scope["type"] == "http":
            key = _server_key(scope)
            if key is not None:
                wait = self.buckets.take(key)
                if wait:
                    message = f"too many requests for this server key: retry in {wait} s"
                    answer = error_response(
                        429, "rate_limited", message, headers={"Retry-After": str(wait)}
                    )
                    await answer(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _server_key(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, secret = value.decode("latin-1").strip().partition(" ")
            secret = secret.strip()
            return secret if scheme.lower() == "serverkey" and secret else None
    return None
