"""Per-key mutual exclusion that keeps arrival order.

Deliveries arrive in queue order and each gets its own task; the first thing a task awaits is
its key's lock, and ``asyncio.Lock`` wakes waiters first-in first-out, so commands for one
line run one at a time in the order they arrived. Locks are dropped when nobody holds or
waits for them, so memory stays flat however many lines pass through.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            current_lock, current_users = self._locks[key]
            if current_users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (current_lock, current_users - 1)

    def __len__(self) -> int:
        return len(self._locks)
