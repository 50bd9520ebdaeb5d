"""The calls of a consumer callback under way, and how a stop waits for them.

Every consumer that stops while it holds deliveries (the worker at shutdown, a fleet member
giving a shard away, the sweep schedule) does the same: it starts no new call, lets those
under way finish within a grace period, and cancels whatever is still running after it,
unacknowledged, so that its delivery goes back to the queue when the channel closes. This
module is that rule, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

M = TypeVar("M")


class InFlight:
    """The tasks running a tracked callback; :meth:`finish` waits for them, then cuts short."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def tracking(self, callback: Callable[[M], Awaitable[None]]) -> Callable[[M], Awaitable[None]]:
        """``callback``, its calls counted while they run (each runs in a task of its own:
        aio-pika starts one per delivery)."""
        tasks = self._tasks

        async def tracked(message: M) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await callback(message)
            finally:
                tasks.discard(task)

        return tracked

    async def finish(self, grace: float, *, cancel: bool = True) -> int:
        """Wait for the calls under way, at most ``grace`` seconds; then cancel those still
        running (unless ``cancel`` is false: their owner cuts them short another way) and
        wait for them to end. Returns how many outlived the grace. Cancelled itself (a
        second signal: stop now), it cancels every call and ends at once."""
        pending = set(self._tasks)
        if not pending:
            return 0
        try:
            _, still = await asyncio.wait(pending, timeout=max(0.0, grace))
        except asyncio.CancelledError:
            await _cancel_all(pending)
            raise
        if still and cancel:
            await _cancel_all(still)
        return len(still)


async def _cancel_all(tasks: set[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
