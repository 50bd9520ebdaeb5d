"""When to re-check a registration that has not settled yet, and how that is remembered.

After a change Bitrix24 and Voximplant take a while to register the line. The worker
re-checks through the delay queues with growing intervals until both sides settle or the
settle deadline passes, then emits ``pending_timeout``. Between checks the progress travels
in the re-queued message's AMQP headers (:class:`SettleState`), so no worker holds it.

Pure: the caller passes the clock's readings in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

STARTED_HEADER: Final = "x-sipline-settle-started"
ATTEMPT_HEADER: Final = "x-sipline-settle-attempt"


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

    def to_headers(self) -> dict[str, str | int]:
        """The AMQP headers that carry this state on the re-queued message.

        The start time travels as text: an AMQP client may encode a float header as a
        32-bit float, which rounds an epoch time by a minute or more.
        """
        return {STARTED_HEADER: repr(self.started_at), ATTEMPT_HEADER: self.attempt}

    @classmethod
    def from_headers(cls, headers: Mapping[str, object] | None, *, now: float) -> SettleState:
        """The state a message carries; missing or garbled values restart from ``now``.

        A start time in the future, or not a finite number, counts as missing; so does an
        attempt count that is negative or not a whole number.
        """
        headers = headers or {}
        started = _as_float(headers.get(STARTED_HEADER))
        if started is None or started > now:
            started = now
        attempt = _as_count(headers.get(ATTEMPT_HEADER))
        return cls(started_at=started, attempt=0 if attempt is None else attempt)


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _as_float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float | Decimal | str | bytes):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _as_count(value: object) -> int | None:
    number = _as_float(value)
    if number is None or number < 0 or not number.is_integer():
        return None
    return int(number)
