"""What a process does with the ticks from ``<p>.schedule.ticks`` (any process may get one).

Ticks are handled in batches: deliveries (a tick, or a bundle of ticks) are collected for
up to :data:`BATCH_WINDOW` (less for a portal whose interval's tolerance is short: see
:meth:`TickHandler.span`) or until :data:`BATCH_LIMIT` are in hand, then the batch is
handled as one, each tick of each delivery on its own::

    not a tick / portal not scheduled ─▶ drop
    more than its span before its due time ─▶ next hop (publish; the store is not asked)
    due ─▶ store, one transaction: CAS generation g → g+1 for every due tick at once
        ─▶ not the expected tick (a duplicate, one fired elsewhere)? drop
        ─▶ publish every fired tick's portal.sweep and its tick g+1 (all confirmed; the
           next ticks due within one span of each other in one bundle)
    ─▶ settle: a delivery with a failed tick rejected, then one multiple ack for the rest

One batch is handled at a time, and every delivery of a batch is settled before the next
batch starts, so the multiple ack covers exactly the batch's own deliveries. Where a crash
leaves a tick (written out in docs/architecture.md, "The sweep schedule"):

- before the commit: the tick comes back (unacked) and is handled again;
- after the commit, before its publishes are confirmed: the tick that comes back is no
  longer the expected one and is dropped; tick g+1 may be missing, so the store expects a
  tick the broker does not hold: a scan re-arms it one grace after its due time (that
  sweep may be lost; the next one is not);
- after the publishes, before the ack: the redelivered tick g is dropped.

A duplicate (a requeued copy, one published by hand, a replay, two copies in one batch)
never fires twice: only one delivery of generation g can win the CAS, and a pair named twice
in one statement moves the row once. A failure (store or broker) before the CAS requeues the
tick once, then drops it: the scan re-creates it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from aio_pika.abc import AbstractIncomingMessage

from worker.schedule.outbox import Outbox
from worker.schedule.plan import EARLY, following, tolerance
from worker.schedule.scan import Cadences
from worker.schedule.tick import BadTick, Tick, parse_all
from worker.store.ports import Store
from worker.store.records import Firing

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
BATCH_WINDOW = 1.0  # seconds a batch stays open for more ticks (at most; see TickHandler.span)
BATCH_LIMIT = 64  # ticks a batch takes at most


class ScheduleObserver(Protocol):
    def sweep_scheduled(self, *, late: bool) -> None:
        """A tick fired and its ``portal.sweep`` was published; ``late``: more than the
        interval's tolerance after its due time."""
        ...


class NoScheduleObserver:
    def sweep_scheduled(self, *, late: bool) -> None:
        pass


@dataclass(slots=True)
class Delivery:
    """A delivery of the tick queue, read: its ticks (one, or a bundle's), none when it is
    not a tick."""

    message: AbstractIncomingMessage
    ticks: tuple[Tick, ...]
    problem: str = ""


Entry = tuple[Delivery, Tick]


class TickHandler:
    """Handles a batch of deliveries at a time (see the module)."""

    def __init__(
        self,
        *,
        store: Store,
        outbox: Outbox,
        cadences: Cadences,
        clock: Clock,
        refresh: Callable[[], Awaitable[object]],
        observer: ScheduleObserver | None = None,
        window: float = BATCH_WINDOW,
    ) -> None:
        self._store, self._outbox, self._cadences = store, outbox, cadences
        self._refresh = refresh
        self._clock = clock
        self._observer = observer or NoScheduleObserver()
        self._window = window

    def span(self, interval: float) -> float:
        """How close together the ticks of a portal swept every ``interval`` are handled
        as one: the batch window, or half the interval's tolerance if that is shorter (so a
        tick fired that early or that late is still on time). Ticks due within it of each
        other wait in one bundle, and a tick that comes within it of its due time fires."""
        return min(self._window, tolerance(interval) / 2)

    def read(self, message: AbstractIncomingMessage) -> tuple[Delivery, float]:
        """The delivery, read, and how long it may wait for its batch (its shortest span)."""
        try:
            ticks = tuple(parse_all(message.body))
        except BadTick as exc:
            return Delivery(message, (), str(exc)), 0.0
        wait = self._window
        for tick in ticks:
            interval = self._cadences.interval(tick.portal)
            if interval is not None:
                wait = min(wait, self.span(interval))
        return Delivery(message, ticks), wait

    def _fires_now(self, tick: Tick, now: float) -> bool:
        interval = self._cadences.interval(tick.portal)
        early = EARLY if interval is None else max(EARLY, self.span(interval))
        return tick.due - now <= early

    async def handle(self, batch: Sequence[Delivery]) -> None:
        """Handle ``batch``; every delivery in it is settled on return (unless the channel
        is gone): acked, or rejected if one of its ticks failed."""
        settle = _Settlement()
        now = self._clock()
        waiting: list[Entry] = []
        due: list[Entry] = []
        for delivery in batch:
            settle.ack(delivery)
            if not delivery.ticks:
                logger.warning(
                    "sweep schedule: dropped a message that is not a tick (%s)", delivery.problem
                )
            for tick in delivery.ticks:
                (due if self._fires_now(tick, now) else waiting).append((delivery, tick))
        await asyncio.gather(self._wait_on(waiting, now, settle), self._fire(due, now, settle))
        await settle.send()

    async def _wait_on(self, waiting: list[Entry], now: float, settle: _Settlement) -> None:
        """Not due yet: wait on without asking the store (most deliveries are hops); a stale
        copy hops too and is dropped when it comes due. A portal this process does not know
        yet (just added elsewhere) takes hops only."""
        if not waiting:
            return
        results = await self._outbox.ticks(
            [(tick, self._cadences.interval(tick.portal)) for _, tick in waiting],
            now=now,
            span=self.span,
        )
        for (delivery, tick), result in zip(waiting, results, strict=True):
            if result is not None:
                settle.failed(delivery, tick, result)

    async def _fire(self, due: list[Entry], now: float, settle: _Settlement) -> None:
        """One write transaction for the whole batch: the CAS on each tick's generation
        decides."""
        if not due:
            return
        plan = self._plan(await self._looked_up(due, settle), now)
        if not plan.stops and not plan.fires:
            return
        try:
            async with self._store.unit_of_work() as uow:
                for _, tick in plan.stops:
                    await uow.schedule.stop(tick.portal, expected=tick.generation)
                fired = await uow.schedule.fire_many(
                    [f.firing for f in plan.fires.values()], fired_at=_at(now)
                )
                await uow.commit()
        except Exception as exc:
            for delivery, tick in plan.entries():
                settle.failed(delivery, tick, exc)
            return
        for _, tick in plan.stops:
            logger.debug(
                "sweep schedule: tick %d of %s: not scheduled", tick.generation, tick.portal
            )
        # a tick that was not the expected one (a duplicate, one fired elsewhere, a copy of
        # one in this batch) is dropped: nothing to do
        await self._announce([f for k, f in plan.fires.items() if k in fired], now, settle)

    async def _looked_up(self, due: list[Entry], settle: _Settlement) -> list[Entry]:
        """The due ticks, once this process knows every portal among them (it looks at the
        registry again if one is unknown: removed or stopped, or added since it last looked);
        those it could not look up are failed."""
        if all(self._cadences.interval(t.portal) is not None for _, t in due):
            return due
        try:
            await self._refresh()
        except Exception as exc:
            known = []
            for delivery, tick in due:
                if self._cadences.interval(tick.portal) is None:
                    settle.failed(delivery, tick, exc)
                else:
                    known.append((delivery, tick))
            return known
        return due

    async def _announce(self, won: list[_Fire], now: float, settle: _Settlement) -> None:
        """Publish every fired tick's sweep and its next tick (those due together in one
        bundle); a tick whose publishes are not all confirmed fails its delivery."""
        if not won:
            return
        sweeps, nexts = await asyncio.gather(
            asyncio.gather(
                *(self._outbox.sweep(f.tick, now=now) for f in won), return_exceptions=True
            ),
            self._outbox.ticks(
                [(f.after, f.interval) for f in won], now=self._clock(), span=self.span
            ),
        )
        for fire, swept, after in zip(won, sweeps, nexts, strict=True):
            failure = swept if isinstance(swept, BaseException) else after
            if failure is not None:
                settle.failed(fire.delivery, fire.tick, failure)
                continue
            late = now - fire.tick.due > tolerance(fire.interval)
            self._observer.sweep_scheduled(late=late)
            if late:
                logger.info(
                    "portal %s: scheduled sweep %.1f s late", fire.tick.portal, now - fire.tick.due
                )

    def _plan(self, due: list[Entry], now: float) -> _Plan:
        """What the transaction does: stop the portals no longer scheduled, fire each
        distinct ``(portal, generation)`` once (its other copies are dropped)."""
        plan = _Plan()
        for delivery, tick in due:
            interval = self._cadences.interval(tick.portal)
            if interval is None:
                plan.stops.append((delivery, tick))
                continue
            key = (tick.portal.lower(), tick.generation)
            fire = plan.fires.get(key)
            if fire is not None:
                fire.copies.append(delivery)
                continue
            next_due = following(tick.portal, interval, tick.due, now)
            plan.fires[key] = _Fire(
                delivery=delivery,
                tick=tick,
                interval=interval,
                after=Tick(tick.portal, tick.generation + 1, next_due),
                firing=Firing(tick.portal, tick.generation, _at(next_due), interval),
            )
        return plan


@dataclass(slots=True)
class _Fire:
    """A due tick of the batch: its first delivery, its next tick, its CAS; ``copies``: the
    other deliveries of the same tick in the batch."""

    delivery: Delivery
    tick: Tick
    interval: float
    after: Tick
    firing: Firing
    copies: list[Delivery] = field(default_factory=list)


@dataclass(slots=True)
class _Plan:
    stops: list[Entry] = field(default_factory=list)
    fires: dict[tuple[str, int], _Fire] = field(default_factory=dict)

    def entries(self) -> list[Entry]:
        found = list(self.stops)
        for fire in self.fires.values():
            found += [(d, fire.tick) for d in (fire.delivery, *fire.copies)]
        return found


class _Settlement:
    """A batch's acks and rejects, sent together: a delivery one of whose ticks failed is
    rejected (requeued unless it was redelivered), first; then one multiple ack per channel
    for the rest (a robust channel that came back is a new one, with tags of its own)."""

    def __init__(self) -> None:
        self._all: dict[int, AbstractIncomingMessage] = {}
        self._rejects: dict[int, tuple[AbstractIncomingMessage, bool]] = {}

    def ack(self, delivery: Delivery) -> None:
        self._all[id(delivery.message)] = delivery.message

    def failed(self, delivery: Delivery, tick: Tick, exc: BaseException) -> None:
        message = delivery.message
        requeue = not message.redelivered
        logger.warning(
            "sweep schedule: tick %d of %s %s (%s)",
            tick.generation,
            tick.portal,
            "requeued" if requeue else "dropped; the scan re-creates it",
            type(exc).__name__,
        )
        self._all[id(message)] = message
        self._rejects[id(message)] = (message, requeue)

    async def send(self) -> None:
        """Every settlement is tried: one on a channel that is gone (a robust channel that
        came back meanwhile) fails alone, and the broker returns those deliveries itself."""
        for message, requeue in self._rejects.values():
            try:
                await message.reject(requeue=requeue)
            except Exception as exc:
                logger.debug("sweep schedule: a reject was not sent (%s)", type(exc).__name__)
        last: dict[int, AbstractIncomingMessage] = {}
        for key, message in self._all.items():
            if key in self._rejects:
                continue
            channel = id(message.channel)
            held = last.get(channel)
            if held is None or (message.delivery_tag or 0) > (held.delivery_tag or 0):
                last[channel] = message
        for message in last.values():
            try:
                await message.ack(multiple=True)
            except Exception as exc:
                logger.debug("sweep schedule: an ack was not sent (%s)", type(exc).__name__)


class TickBatches:
    """The tick consumer's callback: collects deliveries and hands them to ``handler`` in
    batches, one batch at a time. Stopping (:meth:`drain`) starts no more batches and waits
    for the one under way: a delivery collected but not handled stays unacked and goes back
    to the queue when the channel closes."""

    def __init__(self, handler: TickHandler, *, limit: int = BATCH_LIMIT) -> None:
        self._handler, self._limit = handler, limit
        self._pending: list[Delivery] = []
        self._by: float | None = None  # loop time by which the open batch must be handled
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy = False
        self._draining = False

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        if self._draining:
            return  # held unacked: it goes back to the queue when the channel closes
        delivery, wait = self._handler.read(message)
        by = asyncio.get_running_loop().time() + wait
        self._pending.append(delivery)
        if self._by is None or by < self._by:
            self._by = by
            self._wake.set()
        if len(self._pending) >= self._limit:
            self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sweep-schedule-ticks")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._draining:
            if not self._pending or self._by is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            left = self._by - loop.time()
            if left > 0 and len(self._pending) < self._limit:
                self._wake.clear()
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=left)
                continue
            batch, self._pending = self._pending[: self._limit], self._pending[self._limit :]
            self._by = loop.time() if self._pending else None  # the rest is overdue too
            self._busy = True
            try:
                await self._handler.handle(batch)
            except Exception:
                logger.exception("sweep schedule: a batch of %d tick(s) failed", len(batch))
            finally:
                self._busy = False

    async def drain(self, grace: float) -> None:
        """Start no more batches; wait until the one under way has finished, at most
        ``grace`` seconds (then it is cancelled)."""
        self._draining = True
        self._wake.set()
        task = self._task
        if task is None:
            return
        if self._busy:
            await asyncio.wait({task}, timeout=grace)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
