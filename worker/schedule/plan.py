"""When each portal's sweeps fall, and how a tick waits for its time: pure, no I/O.

**Phase.** Portal P with interval I is swept at the slots ``k·I + phase(P, I)`` (seconds
since the epoch): the phase is a hash of the domain, so the sweeps of many portals spread
evenly over the interval, every process computes the same slots, and a restart (or an
outage after which every portal is re-armed at once) does not bunch them together.

**Waiting.** A tick waits in the broker, never in a process. Two kinds of queue hold it
(``worker/adapters/amqp/topology.py``):

- the portal's *interval queue* (one per distinct interval): per-message TTL, used for a
  wait ``r`` with ``I - tolerance(I) ≤ r ≤ I``. A queue expires only the message at its
  head, so every message in it must expire in about the order it was published: within
  that band a tick is held back by at most ``tolerance(I)`` behind an earlier one. This is
  the steady state: one publish per sweep.
- *hop queues* with a fixed TTL of 2^k × 0.25 s: any other wait (the first arming, a
  re-arming, a tick that came in late) is spent in hops, the longest one that fits each
  time, so it arrives on time after at most ``log2`` hops, once.

A tick that arrives more than :data:`EARLY` before its due time (more than its span, when
ticks are handled in batches: ``worker/schedule/ticks.py``) takes the next hop.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

EARLY = 0.05  # a tick this close to its due time fires now
HOP_BASE = 0.25  # the shortest hop; hops are HOP_BASE · 2^k
HOP_MAX_EXPONENT = 20  # the longest hop: 0.25 s · 2^20 ≈ 3 days
MIN_INTERVAL = 1.0  # a shorter positive interval is refused by the settings


def phase(portal: str, interval: float) -> float:
    """The portal's offset in ``[0, interval)``: the same in every process and release."""
    digest = hashlib.blake2b(portal.lower().encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 * interval


def next_slot(portal: str, interval: float, after: float) -> float:
    """The portal's first slot strictly after ``after`` (epoch seconds)."""
    offset = phase(portal, interval)
    k = math.floor((after - offset) / interval) + 1
    return k * interval + offset


def tolerance(interval: float) -> float:
    """How late a tick may fire and still be on time: 5 % of the interval, 0.1 s to 15 s.

    Also the band of waits the interval queue takes, so the most one tick is held back
    behind another there."""
    return min(max(interval * 0.05, 0.1), 15.0)


def following(portal: str, interval: float, due: float, now: float) -> float:
    """The due time after a tick due at ``due`` fired at ``now``: one interval on, or, if
    that has passed too (a tick far too late), the portal's next slot."""
    step = due + interval
    return step if step > now else next_slot(portal, interval, now)


@dataclass(frozen=True, slots=True)
class Wait:
    """Where a tick waits next: ``queue_seconds`` names the queue (an interval queue when
    ``per_message`` is true, else a hop), ``expiration`` its per-message TTL, if any."""

    queue_seconds: float
    per_message: bool
    expiration: float | None = None


def hop(seconds: float) -> float:
    """The longest hop that does not overshoot ``seconds`` (the shortest hop if none)."""
    exponent = math.floor(math.log2(max(seconds, HOP_BASE) / HOP_BASE))
    return HOP_BASE * float(2 ** min(max(exponent, 0), HOP_MAX_EXPONENT))


def wait_for(remaining: float, interval: float) -> Wait:
    """How a tick with ``remaining`` seconds to wait, for a portal swept every ``interval``,
    waits next (``remaining`` > :data:`EARLY`; less fires now)."""
    if interval - tolerance(interval) <= remaining <= interval:
        return Wait(queue_seconds=interval, per_message=True, expiration=remaining)
    return Wait(queue_seconds=hop(remaining), per_message=False)


def valid_interval(seconds: float) -> bool:
    """0 (off) or at least :data:`MIN_INTERVAL`."""
    return seconds == 0 or seconds >= MIN_INTERVAL
