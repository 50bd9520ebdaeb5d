"""What a process does with a tick from ``<p>.schedule.ticks`` (any process may get it).

::

    not a tick / portal not scheduled ─▶ drop (ack)
    more than EARLY before its due time ─▶ next hop (publish, ack; the store is not asked)
    due ─▶ store: CAS generation g → g+1, next due ─▶ lost (not the expected tick)? drop
        ─▶ publish portal.sweep (confirmed) ─▶ publish tick g+1 (confirmed) ─▶ ack

Where a crash leaves it (written out in docs/architecture.md, "The sweep schedule"):

- before the CAS: the tick comes back (unacked) and is handled again;
- after the CAS, before both publishes are confirmed: the tick that comes back is no longer
  the expected one and is dropped; tick g+1 may be missing, so the store expects a tick the
  broker does not hold: a scan re-arms it one grace after its due time (that sweep may be
  lost; the next one is not);
- after both publishes, before the ack: the redelivered tick g is dropped.

A duplicate (a requeued copy, one published by hand, a replay) never fires twice: only one
delivery of generation g can win the CAS. A failure (store or broker) before the CAS requeues
the tick once, then drops it: the scan re-creates it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

from aio_pika.abc import AbstractIncomingMessage

from worker.schedule.outbox import Outbox
from worker.schedule.plan import EARLY, following, tolerance
from worker.schedule.scan import Cadences
from worker.schedule.tick import BadTick, Tick, parse
from worker.store.ports import Store

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


class ScheduleObserver(Protocol):
    def sweep_scheduled(self, *, late: bool) -> None:
        """A tick fired and its ``portal.sweep`` was published; ``late``: more than the
        interval's tolerance after its due time."""
        ...


class NoScheduleObserver:
    def sweep_scheduled(self, *, late: bool) -> None:
        pass


class TickHandler:
    """Handles one tick delivery at a time (several run at once, up to the prefetch)."""

    def __init__(
        self,
        *,
        store: Store,
        outbox: Outbox,
        cadences: Cadences,
        clock: Clock,
        refresh: Callable[[], Awaitable[object]],
        observer: ScheduleObserver | None = None,
    ) -> None:
        self._store, self._outbox, self._cadences = store, outbox, cadences
        self._refresh = refresh
        self._clock = clock
        self._observer = observer or NoScheduleObserver()

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        try:
            tick = parse(message.body)
        except BadTick as exc:
            logger.warning("sweep schedule: dropped a message that is not a tick (%s)", exc)
            await message.ack()
            return
        try:
            verdict = await self._handle(tick)
        except Exception as exc:
            requeue = not message.redelivered
            logger.warning(
                "sweep schedule: tick %d of %s %s (%s)",
                tick.generation,
                tick.portal,
                "requeued" if requeue else "dropped; the scan re-creates it",
                type(exc).__name__,
            )
            await message.reject(requeue=requeue)
            return
        logger.debug("sweep schedule: tick %d of %s: %s", tick.generation, tick.portal, verdict)
        await message.ack()

    async def _handle(self, tick: Tick) -> str:
        now = self._clock()
        if tick.due - now > EARLY:
            # not due yet: wait on without asking the store (most deliveries are hops); a
            # stale copy hops too and is dropped when it comes due. A portal this process
            # does not know yet (just added elsewhere) takes hops only.
            interval = self._cadences.interval(tick.portal)
            await self._outbox.tick(tick, now=now, interval=interval)
            return "waits on"
        return await self._due(tick, now)

    async def _due(self, tick: Tick, now: float) -> str:
        """One write transaction: the CAS on the tick's generation decides."""
        interval = self._cadences.interval(tick.portal)
        if interval is None:  # removed or stopped, or added since this process last looked
            await self._refresh()
            interval = self._cadences.interval(tick.portal)
        if interval is None:
            async with self._store.unit_of_work() as uow:
                await uow.schedule.stop(tick.portal, expected=tick.generation)
                await uow.commit()
            return "dropped (the portal is not scheduled)"
        next_due = following(tick.portal, interval, tick.due, now)
        async with self._store.unit_of_work() as uow:
            fired = await uow.schedule.fire(
                tick.portal,
                expected=tick.generation,
                due_at=datetime.fromtimestamp(next_due, UTC),
                interval=interval,
                fired_at=datetime.fromtimestamp(now, UTC),
            )
            await uow.commit()
        if fired is None:
            return "dropped (not the expected tick: a duplicate, or fired elsewhere)"
        await self._outbox.sweep(tick, now=now)
        await self._outbox.tick(
            Tick(fired.portal, fired.generation, next_due), now=self._clock(), interval=interval
        )
        late = now - tick.due > tolerance(interval)
        self._observer.sweep_scheduled(late=late)
        if late:
            logger.info("portal %s: scheduled sweep %.1f s late", tick.portal, now - tick.due)
        return "fired"
