"""What the schedule publishes, each with publisher confirms and ``mandatory``: ticks into
their wait queues (several due together in one bundle), and the ``portal.sweep`` a fired
tick stands for."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aio_pika.abc import AbstractChannel, AbstractExchange

from contracts import PortalSweep
from worker.adapters.amqp.publisher import envelope_message
from worker.adapters.amqp.topology import Names, declare_tick_wait
from worker.schedule.plan import EARLY, wait_for
from worker.schedule.tick import MAX_BUNDLE, SCHEDULE_SOURCE, Tick, message


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
        await self._put([tick], wait.queue_seconds, wait.per_message, now)

    async def ticks(
        self,
        items: Sequence[tuple[Tick, float | None]],
        *,
        now: float,
        span: Callable[[float], float],
    ) -> list[BaseException | None]:
        """Put every tick of ``items`` (each with its portal's interval, None when not known
        here) to wait as :meth:`tick` does; ticks bound for the same queue, of the same
        interval and due within ``span(interval)`` of the first of them go in one bundle
        (none when the span is no more than EARLY). One result per item: None, or what
        failed the publish that carried it."""
        groups: dict[tuple[float, bool, float | None], list[int]] = {}
        for n, (tick, interval) in enumerate(items):
            wait = wait_for(tick.due - now, math.inf if interval is None else interval)
            groups.setdefault((wait.queue_seconds, wait.per_message, interval), []).append(n)
        chunks: list[tuple[float, bool, list[int]]] = []
        for (seconds, per_message, interval), members in groups.items():
            width = 0.0 if interval is None else span(interval)
            members.sort(key=lambda n: items[n][0].due)
            chunk: list[int] = []
            for n in members:
                if chunk and (
                    width <= EARLY
                    or items[n][0].due - items[chunk[0]][0].due > width
                    or len(chunk) >= MAX_BUNDLE
                ):
                    chunks.append((seconds, per_message, chunk))
                    chunk = []
                chunk.append(n)
            chunks.append((seconds, per_message, chunk))
        results = await asyncio.gather(
            *(
                self._put([items[n][0] for n in chunk], seconds, per_message, now)
                for seconds, per_message, chunk in chunks
            ),
            return_exceptions=True,
        )
        found: list[BaseException | None] = [None] * len(items)
        for (_, _, chunk), result in zip(chunks, results, strict=True):
            if isinstance(result, BaseException):
                for n in chunk:
                    found[n] = result
        return found

    async def _put(self, ticks: list[Tick], seconds: float, per_message: bool, now: float) -> None:
        queue = await self._queue(seconds, per_message)
        expiration = max(ticks[0].due - now, 0.001) if per_message else None
        await self._channel.default_exchange.publish(
            message(ticks, expiration=expiration),
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
