"""Which shard a portal is in, and which process owns a shard: pure functions, no I/O.

Both are computed by every process from the same inputs and must agree everywhere, so they
use a fixed hash (BLAKE2b), never Python's per-process salted ``hash``.

``shard_of`` is Lamping and Veach's jump consistent hash: changing the shard count from S to
S' moves only the portals that must move (about ``|S' - S| / max(S, S')`` of them).

``assign`` is rendezvous (highest random weight) hashing with a load bound: every shard goes
to the highest-ranked live member that still has room, where room is ``shards // members``
shards, plus one for the first ``shards % members`` members to reach it. All members compute
the same answer from the same member set; every member holds a fair share (the counts differ
by at most one); a join or a leave moves few shards.

With ``weights`` (how many of the configured portals each shard serves, from
:func:`portal_weights`) a fair share is counted in portals, not shards: with few portals
the shards are uneven (30 portals over 16 shards: sizes 0 to 5), and equal shard counts
left one of three members with fewer than 6 portals in about one fleet in nine. The
weighted shards go first, heaviest first, each to the highest-ranked member whose portals
stay within ⌈portals / members⌉ (else to the member with the fewest); the shards without a
configured portal are then spread by count as above, so every member still takes a share
of the commands for portals only the registry knows yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

_MASK = (1 << 64) - 1


def _digest(*parts: str) -> int:
    data = "\x1f".join(parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def jump_hash(key: int, buckets: int) -> int:
    """Lamping and Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm" (2014)."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * 2862933555777941757 + 1) & _MASK
        candidate = int((bucket + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return bucket


def shard_of(portal: str, shards: int) -> int:
    """The shard that serves ``portal`` (already lower-cased by the contract)."""
    return jump_hash(_digest(portal), shards)


def portal_weights(portals: Iterable[str], shards: int) -> dict[int, int]:
    """Shard → how many of ``portals`` it serves (shards without one are left out)."""
    weights: dict[int, int] = {}
    for portal in portals:
        shard = shard_of(portal.lower(), shards)
        weights[shard] = weights.get(shard, 0) + 1
    return weights


def portals_digest(portals: Iterable[str]) -> str:
    """Names a set of portals, so members can tell whether they weigh shards alike."""
    return format(_digest(*sorted({p.lower() for p in portals})), "016x")


def _ranked(live: list[str], shard: int) -> list[str]:
    """The members in the shard's order of preference (highest random weight first)."""
    return sorted(live, key=lambda member: (_digest(member, str(shard)), member), reverse=True)


def assign(
    shards: int, members: Iterable[str], weights: Mapping[int, int] | None = None
) -> dict[str, frozenset[int]]:
    """Every live member's shards; the same answer in every process for the same members
    (and the same ``weights``)."""
    live = sorted(set(members))
    if not live:
        return {}
    held: dict[str, set[int]] = {member: set() for member in live}
    weighed = {s: w for s, w in (weights or {}).items() if 0 <= s < shards and w > 0}
    if weighed:
        cap = -(-sum(weighed.values()) // len(live))
        load = dict.fromkeys(live, 0)
        for shard in sorted(weighed, key=lambda s: (-weighed[s], s)):
            ranked = _ranked(live, shard)
            weight = weighed[shard]
            fits = [m for m in ranked if load[m] + weight <= cap]
            member = fits[0] if fits else min(ranked, key=lambda m: load[m])  # stable: rank
            load[member] += weight
            held[member].add(shard)
    rest = [shard for shard in range(shards) if shard not in weighed]
    floor, extra = divmod(len(rest), len(live))
    counted = dict.fromkeys(live, 0)
    for shard in rest:
        for member in _ranked(live, shard):
            count = counted[member]
            if count < floor or (count == floor and extra > 0):
                if count == floor:
                    extra -= 1
                counted[member] += 1
                held[member].add(shard)
                break
    return {member: frozenset(owned) for member, owned in held.items()}


def moved(before: Mapping[str, frozenset[int]], after: Mapping[str, frozenset[int]]) -> int:
    """How many shards change owner between two assignments (for tests and logs)."""
    owner_before = {shard: member for member, owned in before.items() for shard in owned}
    owner_after = {shard: member for member, owned in after.items() for shard in owned}
    return sum(1 for shard, member in owner_after.items() if owner_before.get(shard) != member)
