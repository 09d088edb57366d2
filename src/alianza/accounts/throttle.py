"""Slowing down password guessing: too many failed sign-ins for one username lock it for a while.

Kept in the process's memory: a node runs one server process, a restart forgets the count (and costs the
attacker the same), and nothing about failed guesses needs to outlive the lock.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

MAX_FAILURES = 5
WINDOW_SECONDS = 600.0
LOCK_SECONDS = 600.0


class LoginThrottle:
    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] < now - WINDOW_SECONDS:
            failures.popleft()
        return failures

    def wait_seconds(self, username: str) -> int:
        """Seconds until ``username`` may try again (0 when not locked)."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(username.casefold(), now)
            if len(failures) < MAX_FAILURES:
                return 0
            return max(0, int(failures[-1] + LOCK_SECONDS - now) + 1)

    def failed(self, username: str) -> None:
        with self._lock:
            self._recent(username.casefold(), time.monotonic()).append(time.monotonic())

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(username.casefold(), None)


throttle = LoginThrottle()
