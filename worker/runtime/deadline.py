"""One timer for the deadlines of many tasks: how long a delivery's outcome may wait for the
broker's confirms.

A delivery is acked only once the broker has confirmed what it produced; a confirm that never
comes (a broker that lost its quorum, a connection that stalls without closing) must not hold
the delivery for ever, so the publishing has a deadline, after which the delivery goes back to
the queue. ``asyncio.timeout`` around every publish would schedule a timer per publish and
cancel it a millisecond later; the loop keeps a cancelled timer in its heap until its time
comes or the heap is rebuilt, and at full speed that is thousands of timers a second, all of
them cancelled. :class:`SharedDeadline` keeps one timer for every task it watches, which
wakes every ``resolution`` seconds while something is watched and not at all otherwise: a
deadline expires between ``seconds`` and ``seconds + resolution`` after it was set.

A task whose deadline expires is cancelled, as ``asyncio.timeout`` does it, and the section
that watched it turns that cancellation into :class:`TimeoutError` (see :meth:`expired`);
a cancellation from anyone else (a shutdown) stays a cancellation::

    deadline.watch(task)
    try:
        await publish()
    except asyncio.CancelledError:
        if deadline.expired(task):
            raise TimeoutError(...) from None
        raise
    finally:
        deadline.release(task)
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["SharedDeadline"]

Task = asyncio.Task[Any]


class SharedDeadline:
    """Deadlines of ``seconds`` for any number of tasks, on one timer."""

    def __init__(self, seconds: float, *, resolution: float = 1.0) -> None:
        if seconds <= 0 or resolution <= 0:
            raise ValueError("a deadline and its resolution are positive")
        self.seconds = seconds
        self.resolution = min(resolution, seconds)
        self._due: dict[Task, float] = {}  # task → when its deadline passes
        # a task's cancellations pending when it was first watched, when it had any (a
        # task being shut down): its deadline's cancellation is told apart from them
        self._cancelling: dict[Task, int] = {}
        self._expired: dict[Task, int] = {}  # cancelled for its deadline, not yet told
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        """How many tasks are watched."""
        return len(self._due)

    @property
    def armed(self) -> bool:
        """Whether the timer is set (it is only while a task is watched)."""
        return self._timer is not None

    def watch(self, task: Task) -> None:
        """Start ``task``'s deadline: ``seconds`` from now."""
        self._due[task] = time.monotonic() + self.seconds
        cancelling = task.cancelling()
        if cancelling:
            self._cancelling[task] = cancelling
        if self._timer is None:
            loop = task.get_loop()
            self._timer = loop.call_later(self.resolution, self._check, loop)

    def release(self, task: Task) -> None:
        """Stop watching ``task`` (its section ended, whichever way)."""
        self._due.pop(task, None)
        if self._cancelling:
            self._cancelling.pop(task, None)
        if self._expired:
            self._expired.pop(task, None)

    def expired(self, task: Task) -> bool:
        """Called with the cancellation ``task`` got: whether it was its deadline's, and no
        other cancellation is pending for it (a shutdown that came too is not swallowed)."""
        cancelling = self._expired.pop(task, None)
        if cancelling is None:
            return False
        return task.uncancel() <= cancelling

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = time.monotonic()
        late = [task for task, when in self._due.items() if when <= now]
        for task in late:
            del self._due[task]
            cancelling = self._cancelling.pop(task, 0)
            if task.done():
                continue
            self._expired[task] = cancelling
            task.cancel()
        if self._due:
            self._timer = loop.call_later(self.resolution, self._check, loop)
