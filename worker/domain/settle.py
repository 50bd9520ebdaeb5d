"""When to re-check a registration that has not settled yet, and how that is remembered.

After a change Bitrix24 and Voximplant take a while to register the line. The worker
re-checks through the delay queues with growing intervals until both sides settle or the
settle deadline passes, then emits ``pending_timeout``. Between checks the progress
(:class:`SettleState`) travels with the re-queued message, so no worker holds it; the
runtime encodes it (``worker.runtime.headers``), this module never sees a header.

Pure: the caller passes the clock's readings in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SettlePlan:
    """Growing re-check ``intervals`` (seconds; the last repeats) within ``deadline`` seconds.

    Built at the edge from the settings (``settle_intervals``, ``settle_deadline``).
    """

    intervals: tuple[float, ...]
    deadline: float

    def __post_init__(self) -> None:
        if not self.intervals:
            raise ValueError("a settle plan needs at least one interval")
        if not all(_positive_finite(value) for value in self.intervals):
            raise ValueError("settle intervals must be positive, finite seconds")
        if not _positive_finite(self.deadline):
            raise ValueError("the settle deadline must be positive, finite seconds")

    def next_delay(self, attempt: int, elapsed: float) -> float | None:
        """Seconds to wait before the next check, or None: time out now.

        ``attempt`` counts the checks made so far (1 after the first); ``elapsed`` is the
        time since the first check. The delay grows with the attempt, the last interval
        repeating, and is clipped so the final check lands at the deadline; once the
        deadline is reached (or ``elapsed`` is not a number) there is no next check.
        """
        if math.isnan(elapsed):
            return None
        remaining = self.deadline - max(elapsed, 0.0)
        if remaining <= 0:
            return None
        index = min(max(attempt, 1), len(self.intervals)) - 1
        return min(self.intervals[index], remaining)


@dataclass(frozen=True, slots=True)
class SettleState:
    """Progress of one line's settling: when the first check ran and how many ran since."""

    started_at: float
    attempt: int = 0

    @classmethod
    def start(cls, now: float) -> SettleState:
        """The state before the first check."""
        return cls(started_at=now, attempt=0)

    def advanced(self) -> SettleState:
        """The state after one more check."""
        return SettleState(started_at=self.started_at, attempt=self.attempt + 1)

    def elapsed(self, now: float) -> float:
        """Seconds since the first check (never negative, whatever the clocks did)."""
        return max(now - self.started_at, 0.0)

    @classmethod
    def resume(cls, carried: SettleState | None, *, now: float) -> SettleState:
        """The state to continue from: the one a re-check carried, or a fresh one at ``now``.

        No carried state (a first check, a replayed re-check) starts a new settle window; a
        start time in the future (another host's clock, a forged value) restarts it at
        ``now``, keeping the count of checks made.
        """
        if carried is None:
            return cls.start(now)
        if carried.started_at > now:
            return cls(started_at=now, attempt=carried.attempt)
        return carried


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0
