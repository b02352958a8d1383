"""Slowing down password guessing: login attempts counted per address and client, and per client.

An attempt is taken before its password is checked (so guesses sent at once count at once) and
given back when the login succeeds. After ``PER_ADDRESS`` failed attempts at one e-mail address
from one client, or ``PER_CLIENT`` from one client at any addresses, within ``WINDOW``, more are
refused until the oldest leaves the window. Counting per client too means nobody can lock a user
out from elsewhere. The counts live in the process (each API process counts its own) and keep at
most ``MAX_KEYS`` keys, the stalest dropped first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

PER_ADDRESS = 5
PER_CLIENT = 30
WINDOW = 15 * 60.0
"""Seconds a failed attempt counts for."""
MAX_KEYS = 100_000


class LoginThrottle:
    """Login attempts in the last ``WINDOW`` seconds, by address and client and by client."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def attempt(self, client: str, email: str) -> tuple[int, float]:
        """Take an attempt: ``(0, ticket)`` to go on, or the seconds to wait before trying again.

        ``ticket`` gives the attempt back to ``succeeded`` when the password was right.
        """
        now = self._clock()
        keys = _keys(client, email)
        with self._lock:
            wait = max(self._wait(key, limit, now) for key, limit in keys)
            if wait:
                return wait, now
            for key, _limit in keys:
                self._attempts.setdefault(key, deque()).append(now)
                self._attempts.move_to_end(key)
            while len(self._attempts) > MAX_KEYS:
                self._attempts.popitem(last=False)
        return 0, now

    def succeeded(self, client: str, email: str, ticket: float) -> None:
        """Give back the attempt taken at ``ticket``: the password was right."""
        with self._lock:
            for key, _limit in _keys(client, email):
                times = self._attempts.get(key)
                if times is not None and ticket in times:
                    times.remove(ticket)
                    if not times:
                        del self._attempts[key]

    def _wait(self, key: str, limit: int, now: float) -> int:
        times = self._attempts.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - WINDOW:
            times.popleft()
        if not times:
            del self._attempts[key]
            return 0
        if len(times) < limit:
            return 0
        return max(1, int(times[-limit] + WINDOW - now + 0.999))


def _keys(client: str, email: str) -> tuple[tuple[str, int], tuple[str, int]]:
    address = email.strip().lower()
    return ((f"address:{address} client:{client}", PER_ADDRESS), (f"client:{client}", PER_CLIENT))
