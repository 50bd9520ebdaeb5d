"""Per-key mutual exclusion that keeps arrival order.

Deliveries arrive in queue order and each gets its own task; the first thing a task awaits is
its key's lock, and ``asyncio.Lock`` wakes waiters first-in first-out, so commands for one
line run one at a time in the order they arrived. Locks are dropped when nobody holds or
waits for them, so memory stays flat however many lines pass through.
"""

from __future__ import annotations

import asyncio


class _Holding:
    """``async with locks.hold(key)``: a plain class, cheaper per command than a generator."""

    __slots__ = ("_key", "_lock", "_owner")

    def __init__(self, owner: KeyedLocks, key: str) -> None:
        self._owner = owner
        self._key = key
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> None:
        locks = self._owner._locks
        lock, users = locks.get(self._key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        locks[self._key] = (lock, users + 1)
        self._lock = lock
        try:
            await lock.acquire()
        except BaseException:
            self._release_use()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._lock is not None
        self._lock.release()
        self._release_use()

    def _release_use(self) -> None:
        locks = self._owner._locks
        lock, users = locks[self._key]
        if users <= 1:
            del locks[self._key]
        else:
            locks[self._key] = (lock, users - 1)


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def hold(self, key: str) -> _Holding:
        """Hold ``key``'s lock for the ``async with`` block; waiters are served in order."""
        return _Holding(self, key)

    def __len__(self) -> int:
        return len(self._locks)
