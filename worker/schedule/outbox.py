"""What the schedule publishes, each with publisher confirms and ``mandatory``: ticks into
their wait queues, and the ``portal.sweep`` a fired tick stands for."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

from aio_pika.abc import AbstractChannel, AbstractExchange

from contracts import PortalSweep
from worker.adapters.amqp.publisher import envelope_message
from worker.adapters.amqp.topology import Names, declare_tick_wait
from worker.schedule.plan import wait_for
from worker.schedule.tick import SCHEDULE_SOURCE, Tick


class Outbox:
    """Publishes on one channel opened with publisher confirms; its owner closes it."""

    def __init__(
        self,
        *,
        channel: AbstractChannel,
        names: Names,
        commands: AbstractExchange,
        timeout: float = 30.0,
    ) -> None:
        self._channel, self._names, self._commands = channel, names, commands
        self._timeout = timeout
        self._declared: dict[tuple[float, bool], asyncio.Task[str]] = {}

    async def tick(self, tick: Tick, *, now: float, interval: float | None) -> None:
        """Put ``tick`` to wait until its due time (a hop, or its interval queue; hops only
        when the portal's interval is not known here)."""
        wait = wait_for(tick.due - now, math.inf if interval is None else interval)
        queue = await self._queue(wait.queue_seconds, wait.per_message)
        await self._channel.default_exchange.publish(
            tick.message(expiration=wait.expiration),
            routing_key=queue,
            mandatory=True,
            timeout=self._timeout,
        )

    async def sweep(self, tick: Tick, *, now: float) -> None:
        """The scheduled ``portal.sweep``, through the command exchange like any command (in
        a fleet the router shards it by portal)."""
        command = PortalSweep(
            type="portal.sweep",
            id=tick.sweep_id(),
            source=SCHEDULE_SOURCE,
            portal=tick.portal,
            time=datetime.fromtimestamp(now, UTC),
        )
        await self._commands.publish(
            envelope_message(command),
            routing_key=PortalSweep.MESSAGE_TYPE,
            mandatory=True,
            timeout=self._timeout,
        )

    async def _queue(self, seconds: float, per_message: bool) -> str:
        """Declare a wait queue once per process (concurrent callers share the declare)."""
        key = (seconds, per_message)
        task = self._declared.get(key)
        if task is not None and task.done() and task.exception() is None:
            return task.result()
        if task is None or (task.done() and task.exception() is not None):
            task = asyncio.ensure_future(
                declare_tick_wait(self._channel, self._names, seconds, per_message=per_message)
            )
            self._declared[key] = task
        return await asyncio.shield(task)
