"""Per-key mutual exclusion that keeps arrival order.

Deliveries arrive in queue order and each gets its own task; the first thing a task awaits is
its key's turn. The holder hands the key straight to the oldest waiter when it leaves, so
commands for one line run one at a time in the order they arrived. An uncontended key costs
one dict entry and no lock object (most commands name a line nobody else is touching); keys
are dropped when nobody holds or waits for them, so memory stays flat however many lines pass
through.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class _Holding:
    """``async with locks.hold(key)``: a plain class, cheaper per command than a generator."""

    __slots__ = ("_key", "_owner")

    def __init__(self, owner: KeyedLocks, key: str) -> None:
        self._owner = owner
        self._key = key

    async def __aenter__(self) -> None:
        if not self._owner.take(self._key):
            await self._owner.wait(self._key)

    async def __aexit__(self, *exc_info: object) -> None:
        self._owner.release(self._key)


class KeyedLocks:
    def __init__(self) -> None:
        # key -> None (held, no waiters) or the waiters' futures, oldest first
        self._keys: dict[str, deque[asyncio.Future[None]] | None] = {}

    def hold(self, key: str) -> _Holding:
        """Hold ``key`` for the ``async with`` block; waiters are served in arrival order."""
        return _Holding(self, key)

    def take(self, key: str) -> bool:
        """Hold ``key`` at once if nobody holds it (no await, no allocation: the usual case);
        False if it is held: then :meth:`wait` for it."""
        keys = self._keys
        if key in keys:
            return False
        keys[key] = None  # held, nobody waiting
        return True

    async def wait(self, key: str) -> None:
        """Queue for ``key`` (held by someone else) and hold it when its turn comes."""
        waiters = self._keys[key]
        if waiters is None:
            waiters = self._keys[key] = deque()
        turn = asyncio.get_running_loop().create_future()
        waiters.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release(key)  # handed over as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # already skipped by the holder
                    waiters.remove(turn)
            raise

    def release(self, key: str) -> None:
        """Hand ``key`` to its oldest live waiter, or drop it when nobody waits."""
        waiters = self._keys[key]
        while waiters:
            turn = waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the key stays held, now by that waiter
                return
        del self._keys[key]

    def __len__(self) -> int:
        return len(self._keys)
