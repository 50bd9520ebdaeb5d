"""The client-side leaky bucket of one portal, and its per-method operating-time pauses.

Bitrix24 counts requests per portal in a leaky bucket (standard: 50, draining 2/s;
enterprise: 250, draining 5/s) and answers ``503 QUERY_LIMIT_EXCEEDED`` above it.  Keeping
our own bucket (aiolimiter's, shared by every command for the portal) means normal work
never meets that answer.  The portal counts a request when it arrives, a little after we
counted it, so a burst that bunches up in flight could overflow it by a request or two:
``headroom`` keeps that much of the bucket unused.  The drain rate is not reduced, so the
sustained rate is the plan's.

``429 OPERATION_TIME_LIMIT`` is per method: that method alone is paused until the
portal's ``operating_reset_at``, and calls to it fail fast with ``RateLimited`` meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiolimiter import AsyncLimiter

from worker.errors import RateLimited


class PortalLimiter:
    """Admission control for one portal's requests."""

    def __init__(
        self,
        *,
        portal: str,
        capacity: int,
        drain_per_second: float,
        headroom: int = 2,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.portal = portal
        self.capacity = max(1, capacity - headroom)
        self.drain_per_second = drain_per_second
        self._bucket = AsyncLimiter(self.capacity, self.capacity / drain_per_second)
        self._clock, self._wall = clock, wall_clock
        self._blocked_until = 0.0
        self._paused: dict[str, float] = {}

    def check(self, method: str) -> None:
        """Fail fast if the portal paused this method (operating-time limit)."""
        until = self._paused.get(method)
        if until is None:
            return
        remaining = until - self._wall()
        if remaining <= 0:
            del self._paused[method]
            return
        raise RateLimited(
            f"Bitrix24 {method} on {self.portal}: OPERATION_TIME_LIMIT, "
            f"paused for {remaining:.1f} s",
            code="OPERATION_TIME_LIMIT",
            retry_after=remaining,
        )

    async def acquire(self, method: str) -> float:
        """Wait for room in the bucket (and any back-off); return the seconds waited."""
        self.check(method)
        started = self._clock()
        delay = self._blocked_until - self._clock()
        if delay > 0:  # a later back-off during this sleep holds only later callers
            await asyncio.sleep(delay)
        await self._bucket.acquire()
        return self._clock() - started

    def back_off(self, seconds: float) -> None:
        """The portal said ``QUERY_LIMIT_EXCEEDED``: hold every caller for ``seconds``."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    def pause(self, method: str, until_wall: float) -> None:
        """Pause one method until the portal's ``operating_reset_at`` (Unix time)."""
        self._paused[method] = max(self._paused.get(method, 0.0), until_wall)

    def paused_for(self, method: str) -> float:
        """Seconds this method is still paused (0 when it is not)."""
        return max(0.0, self._paused.get(method, 0.0) - self._wall())
