"""The sweep schedule of one process: a scanner and a tick consumer, on one channel.

There is no leader: every process runs both. The broker holds each portal's one pending
tick; the store says which tick that is; compare-and-set on the store decides every race
(docs/architecture.md, "The sweep schedule").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass

from aio_pika.abc import AbstractChannel, AbstractRobustConnection

from worker.adapters.amqp.topology import Names, declare_schedule
from worker.schedule.outbox import Outbox
from worker.schedule.scan import Cadences, Clock, Scanner
from worker.schedule.ticks import ScheduleObserver, TickHandler
from worker.store.ports import Store

logger = logging.getLogger(__name__)

PREFETCH = 32
RESTART = 10.0  # seconds before a schedule that failed starts again


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
        self._store, self._connection, self._names = store, connection, names
        self._config, self._observer, self._clock = config, observer, clock
        self.started = asyncio.Event()  # set once ticks are consumed

    @asynccontextmanager
    async def running(self, *, after: asyncio.Event | None = None) -> AsyncIterator[None]:
        """Run in the background until the block ends; start once ``after`` is set (the
        worker's topology, and so the command exchange, is declared by then)."""
        task = asyncio.create_task(self._guarded(after), name="sweep-schedule")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    async def _guarded(self, after: asyncio.Event | None) -> None:
        if after is not None:
            await after.wait()
        while True:
            try:
                await self._serve()
            except asyncio.CancelledError:
                raise
            except Exception:
                # the worker goes on serving commands meanwhile; other processes' schedules
                # (if any) arm and fire this one's portals too
                logger.exception("sweep schedule: stopped; starting again in %.0f s", RESTART)
            self.started.clear()
            await asyncio.sleep(RESTART)

    async def _serve(self) -> None:
        config = self._config
        async with AsyncExitStack() as stack:
            channel = await self._connection.channel(publisher_confirms=True)
            stack.push_async_callback(_close, channel)
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
            handler = TickHandler(
                store=self._store,
                outbox=outbox,
                cadences=cadences,
                clock=self._clock,
                refresh=scanner.look,
                observer=self._observer,
            )
            await ticks.consume(handler)
            self.started.set()
            logger.info("sweep schedule: consuming ticks")
            await scanner.run(config.scan_every)


async def _close(channel: AbstractChannel) -> None:
    with suppress(Exception):
        await channel.close()
