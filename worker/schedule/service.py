"""The sweep schedule of one process: a scanner and a tick consumer, on one channel.

There is no leader: every process runs both. The broker holds each portal's one pending
tick; the store says which tick that is; compare-and-set on the store decides every race
(docs/architecture.md, "The sweep schedule").

Stopping is orderly, so a stop never cancels a store transaction: the tick consumer is
cancelled first (no new delivery), the batch of ticks being handled and the look under way
finish (within :data:`STOP_GRACE`; ticks collected for the next batch stay unacked), and
only then is the channel closed. A channel closed under
its consumer's callbacks cancels them, and a cancelled SQLite transaction that was waiting
for the write lock leaves a connection closing for ever behind it: with 32 ticks in hand
and the projection writing, that kept a stopped process from ending.

With the broker away nothing the schedule waits for on it (a declare, a cancel, a publish on
a robust channel waiting for the connection to come back) is worth waiting for: once no
store transaction of the schedule is open, it is cancelled at once, so a broker outage does
not add the stop grace to the process's shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass

from aio_pika.abc import (
    AbstractChannel,
    AbstractQueue,
    AbstractRobustConnection,
)

from worker.adapters.amqp.topology import Names, declare_schedule
from worker.schedule.outbox import Outbox
from worker.schedule.scan import Cadences, Clock, Scanner
from worker.schedule.ticks import BATCH_LIMIT, ScheduleObserver, TickBatches, TickHandler
from worker.store.ports import Store, UnitOfWork

logger = logging.getLogger(__name__)

PREFETCH = 2 * BATCH_LIMIT  # a batch is handled while the next one is collected
RESTART = 10.0  # seconds before a schedule that failed starts again
STOP_GRACE = 5.0  # seconds the ticks in hand and a look get to finish when stopping
CANCEL_TIMEOUT = 2.0  # for the consumer's cancel (a robust channel waits for a lost broker)
CLOSE_TIMEOUT = 2.0  # for the channel's close, likewise
STOP_POLL = 0.05  # seconds between two looks at the broker connection while stopping


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """``default_interval``: for portals that set none (0: only portals that set one);
    ``static``: the SIPLINE_PORTALS entries' own intervals (the store wins for a domain both
    name); ``grace``: how overdue a tick may be before it counts as lost; ``scan_every``:
    seconds between two looks."""

    default_interval: float
    grace: float
    scan_every: float
    static: Mapping[str, float | None]


class SweepSchedule:
    def __init__(
        self,
        *,
        store: Store,
        connection: AbstractRobustConnection,
        names: Names,
        config: ScheduleConfig,
        observer: ScheduleObserver | None = None,
        clock: Clock = time.time,
    ) -> None:
        self._store = _TrackedStore(store)
        self._connection, self._names = connection, names
        self._config, self._observer, self._clock = config, observer, clock
        self.started = asyncio.Event()  # set once ticks are consumed
        self._stopping = asyncio.Event()

    @asynccontextmanager
    async def running(self, *, after: asyncio.Event | None = None) -> AsyncIterator[None]:
        """Run in the background until the block ends; start once ``after`` is set (the
        worker's topology, and so the command exchange, is declared by then). On exit the
        schedule stops in order (see the module) and is cancelled only past the grace."""
        task = asyncio.create_task(self._guarded(after), name="sweep-schedule")
        try:
            yield
        finally:
            self.stop()
            current = asyncio.current_task()
            if current is None or not current.cancelling():  # a second signal: at once
                await self._stopped(task, STOP_GRACE + CANCEL_TIMEOUT + CLOSE_TIMEOUT + 1)
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _stopped(self, task: asyncio.Task[None], limit: float) -> None:
        """Wait for ``task`` to end, at most ``limit`` seconds; with the broker away, only
        until no store transaction of the schedule is open (see the module)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while not task.done():
            left = deadline - loop.time()
            if left <= 0:
                return
            if not self._connection.connected.is_set() and not self._store.open:
                return  # cancelled at once by the caller: between two transactions
            await asyncio.wait({task}, timeout=min(STOP_POLL, left))

    def stop(self) -> None:
        """Stop firing and looking (safe from a signal handler; the owner's exit waits)."""
        self._stopping.set()

    async def _guarded(self, after: asyncio.Event | None) -> None:
        if after is not None and not await _first(after, self._stopping):
            return
        while not self._stopping.is_set():
            try:
                await self._serve()
            except asyncio.CancelledError:
                raise
            except Exception:
                # the worker goes on serving commands meanwhile; other processes' schedules
                # (if any) arm and fire this one's portals too
                logger.exception("sweep schedule: stopped; starting again in %.0f s", RESTART)
            self.started.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=RESTART)

    async def _serve(self) -> None:
        config = self._config
        async with AsyncExitStack() as stack:
            channel = await self._connection.channel(publisher_confirms=True)
            stack.push_async_callback(_close, channel, self._connection)
            await channel.set_qos(prefetch_count=PREFETCH)
            ticks = await declare_schedule(channel, self._names)
            commands = await channel.get_exchange(self._names.commands_exchange)
            outbox = Outbox(channel=channel, names=self._names, commands=commands)
            cadences = Cadences(default=config.default_interval, static=config.static)
            scanner = Scanner(
                store=self._store,
                outbox=outbox,
                cadences=cadences,
                grace=config.grace,
                clock=self._clock,
            )
            await scanner.try_look()  # ticks need this process's view of the registry
            handler = TickBatches(
                TickHandler(
                    store=self._store,
                    outbox=outbox,
                    cadences=cadences,
                    clock=self._clock,
                    refresh=scanner.look,
                    observer=self._observer,
                )
            )
            tag = await ticks.consume(handler)
            stack.push_async_callback(handler.drain, STOP_GRACE)
            stack.push_async_callback(_cancel, ticks, tag, self._connection)
            self.started.set()
            logger.info("sweep schedule: consuming ticks")
            await scanner.run(config.scan_every, until=self._stopping)


async def _first(wanted: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait until ``wanted`` or ``stop`` is set; True if ``wanted`` came first."""
    waiters = {asyncio.ensure_future(wanted.wait()), asyncio.ensure_future(stop.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return not stop.is_set()


async def _cancel(queue: AbstractQueue, tag: str, connection: AbstractRobustConnection) -> None:
    if not connection.connected.is_set():
        return  # the consumer went with the connection; a robust channel would wait for it
    with suppress(Exception):
        await asyncio.wait_for(queue.cancel(tag), timeout=CANCEL_TIMEOUT)


async def _close(channel: AbstractChannel, connection: AbstractRobustConnection) -> None:
    # away from the broker, long enough to mark a robust channel closed (so that it is not
    # restored with its consumer when the connection comes back), not to wait for an answer
    timeout = CLOSE_TIMEOUT if connection.connected.is_set() else 0.5
    with suppress(Exception):
        await asyncio.wait_for(channel.close(), timeout=timeout)


class _TrackedStore:
    """The store, counting the units of work open on it: the stop must not cancel one."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.open = 0

    def unit_of_work(self, *, readonly: bool = False) -> AbstractAsyncContextManager[UnitOfWork]:
        return self._tracked(readonly)

    @asynccontextmanager
    async def _tracked(self, readonly: bool) -> AsyncIterator[UnitOfWork]:
        self.open += 1
        try:
            async with self._store.unit_of_work(readonly=readonly) as uow:
                yield uow
        finally:
            self.open -= 1

    async def close(self) -> None:
        await self._store.close()
