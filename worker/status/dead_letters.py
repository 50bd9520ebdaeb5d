"""Dead letters by reason for the status page: looked at rarely, answered from a cache.

Reading the dead-letter queue means taking its messages and handing them back
(:mod:`worker.ops.dlq.store`), so the page never does it per request: :class:`DeadLetterCache`
refreshes at most every ``ttl`` seconds, in the background, reading at most ``sample``
letters, and a request waits at most ``wait`` seconds for a refresh it started before
answering with what the cache holds (marked with its time). The depth comes from a passive
declare, which counts every message without touching one.

A letter the summary holds for that moment is invisible to a concurrent ``sipline dlq``
scan; the sample is small and held for milliseconds, and a replay reports what it moved,
so an operator who raced it runs the replay again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from worker.adapters.amqp.topology import Names
from worker.ops.dlq.broker import open_broker
from worker.ops.dlq.filters import Filter
from worker.ops.dlq.operations import read
from worker.ops.dlq.summary import summarize
from worker.status.html import DeadLetterGroup, DeadLetterView

log = logging.getLogger(__name__)


class DeadLetterCache:
    """A summary of the DLQ, refreshed in the background, never in the caller's way."""

    def __init__(
        self,
        *,
        amqp_url: str,
        names: Names,
        ttl: float = 30.0,
        wait: float = 0.5,
        sample: int = 500,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._url = amqp_url
        self._names = names
        self._ttl = ttl
        self._wait = wait
        self._sample = sample
        self._timeout = timeout
        self._clock = clock
        self._view: DeadLetterView | None = None
        self._task: asyncio.Task[None] | None = None

    async def summary(self) -> DeadLetterView | None:
        """The cached summary; starts a refresh when stale and waits for it briefly."""
        if self._stale() and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._refresh(), name="sipline-dlq-summary")
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task}, timeout=self._wait)
        return self._view

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _stale(self) -> bool:
        if self._view is None or self._view.as_of is None:
            return True
        return (self._clock() - self._view.as_of).total_seconds() >= self._ttl

    async def _refresh(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                self._view = await self._look()
        except Exception as exc:  # the page shows the problem; the worker carries on
            log.warning("dead-letter summary failed", extra={"error": type(exc).__name__})
            previous = self._view
            self._view = DeadLetterView(
                depth=None if previous is None else previous.depth,
                groups=[] if previous is None else previous.groups,
                sampled=0 if previous is None else previous.sampled,
                as_of=self._clock(),
                problem=f"could not read the dead-letter queue ({type(exc).__name__})",
            )

    async def _look(self) -> DeadLetterView:
        async with open_broker(self._url, self._names) as broker:
            declared = await broker.channel.declare_queue(
                self._names.dead_letter_queue, passive=True
            )
            result = declared.declaration_result
            depth = None if result is None else int(result.message_count or 0)
            letters = await read(broker, Filter(), limit=self._sample) if depth != 0 else []
        groups = [DeadLetterGroup(g.reason, g.type, g.count) for g in summarize(letters)]
        return DeadLetterView(depth=depth, groups=groups, sampled=len(letters), as_of=self._clock())
