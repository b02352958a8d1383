"""Slowing down password guessing: failed logins counted per address and per client.

After ``PER_ADDRESS`` failures for one e-mail address, or ``PER_CLIENT`` from one client address,
within ``WINDOW``, more attempts are refused until the oldest failure leaves the window. The count
lives in the process (each API process counts its own), which bounds guessing per process
without a write per attempt.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

PER_ADDRESS = 5
PER_CLIENT = 30
WINDOW = 15 * 60.0
"""Seconds a failure counts for."""


class LoginThrottle:
    """Failed logins in the last ``WINDOW`` seconds, by e-mail address and by client."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str, email: str) -> int:
        """Seconds before ``client`` may try ``email`` again (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [
                self._wait(key, limit, now)
                for key, limit in ((_address(email), PER_ADDRESS), (f"client:{client}", PER_CLIENT))
            ]
        return max(waits)

    def failed(self, client: str, email: str) -> None:
        """Count a failed login."""
        now = self._clock()
        with self._lock:
            for key in (_address(email), f"client:{client}"):
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > 100_000:  # a flood of made-up addresses: forget the old
                self._forget(now)

    def _wait(self, key: str, limit: int, now: float) -> int:
        times = self._failures.get(key)
        if not times:
            return 0
        while times and times[0] <= now - WINDOW:
            times.popleft()
        if len(times) < limit:
            return 0
        return max(1, int(times[-limit] + WINDOW - now + 0.999))

    def _forget(self, now: float) -> None:
        for key in [k for k, times in self._failures.items() if times[-1] <= now - WINDOW]:
            del self._failures[key]


def _address(email: str) -> str:
    return f"email:{email.strip().lower()}"
