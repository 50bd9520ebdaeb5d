"""The portal's two limits: the leaky bucket per portal, the operating time per method.

Bitrix24 adds 1 per request and drains ``drain_per_second``; a request that would take the
level above the capacity gets ``503 QUERY_LIMIT_EXCEEDED`` and is not counted.  Each method
also has a budget of execution time over a sliding window: over it, ``429
OPERATION_TIME_LIMIT`` until the oldest counted call leaves the window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class LeakyBucket:
    """Server-side bucket: admits or refuses, never waits."""

    def __init__(
        self,
        capacity: int,
        drain_per_second: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.drain_per_second = drain_per_second
        self._clock = clock
        self._level = 0.0
        self._last = clock()

    @property
    def level(self) -> float:
        self._leak()
        return self._level

    def take(self) -> bool:
        """Count one request if there is room; False means ``QUERY_LIMIT_EXCEEDED``."""
        self._leak()
        if self._level + 1 > self.capacity + 1e-9:
            return False
        self._level += 1
        return True

    def configure(self, capacity: int, drain_per_second: float) -> None:
        self._leak()
        self.capacity, self.drain_per_second = capacity, drain_per_second

    def _leak(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._last) * self.drain_per_second)
        self._last = now


class OperatingMeter:
    """Execution time per method over a sliding window (Unix time, as Bitrix24 reports)."""

    def __init__(self, limit: float, window: float, clock: Callable[[], float] = time.time) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._calls: dict[str, deque[tuple[float, float]]] = {}

    def used(self, method: str) -> float:
        calls = self._calls.get(method)
        if not calls:
            return 0.0
        horizon = self._clock() - self.window
        while calls and calls[0][0] < horizon:
            calls.popleft()
        return sum(duration for _, duration in calls)

    def reset_at(self, method: str) -> float:
        """When the oldest counted call leaves the window."""
        calls = self._calls.get(method)
        oldest = calls[0][0] if calls else self._clock()
        return oldest + self.window

    def blocked(self, method: str) -> bool:
        return self.used(method) > self.limit

    def record(self, method: str, duration: float) -> None:
        self._calls.setdefault(method, deque()).append((self._clock(), duration))
