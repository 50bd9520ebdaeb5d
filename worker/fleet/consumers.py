"""Take and give shards: one channel and one consumer per shard this process owns.

Every shard queue has ``x-single-active-consumer``: however many processes subscribe, the
broker delivers to one, so two processes never work on one shard at once, also while the
owners' views of the fleet disagree for a moment. Taking a shard is subscribing (the
subscription waits if the old owner is still active). Giving one away is, in order:

1. stop starting new work: deliveries that arrive from now on are held, not processed;
2. let the deliveries already started finish (they ack after their outcome is confirmed),
   within the grace period; anything still running after it is cancelled, unacked;
3. close the shard's channel: the held deliveries return to the head of the queue in order,
   and the broker activates the next subscriber only then.

Checked on RabbitMQ 3.10.8: a ``basic.cancel`` activates the next subscriber at once, while
the cancelled one still holds unacked deliveries (the two would overlap); closing the channel
hands over atomically, returned deliveries first, in order (each counted as a delivery).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from worker.fleet.observer import FleetObserver
from worker.fleet.topology import FleetNames
from worker.runtime.inflight import InFlight
from worker.runtime.service import MessageCallback

log = logging.getLogger(__name__)


class FifoGate:
    """At most ``size`` holders; waiters get in strictly in arrival order, so deliveries
    keep their order into the processor (whose per-line lock keeps it from there)."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def enter(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # the slot was handed over as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to the next in line
                return
        self._free += 1


@dataclass(slots=True)
class _Shard:
    number: int
    channel: AbstractChannel
    draining: bool = False
    in_flight: InFlight = field(default_factory=InFlight)


class ShardConsumers:
    """The shards this process subscribes to, and the work in flight on each."""

    def __init__(
        self,
        *,
        connection: AbstractConnection,
        names: FleetNames,
        callback: MessageCallback,
        prefetch: int,
        grace: float,
        observer: FleetObserver | None = None,
    ) -> None:
        """``prefetch`` is the process's budget of deliveries being processed, shared by the
        shards it owns; each shard may hold that many, the ones beyond wait their turn."""
        self._connection = connection
        self._names = names
        self._callback = callback
        self._prefetch = prefetch
        self._grace = grace
        self._observer = observer
        self._budget = FifoGate(prefetch)
        self._shards: dict[int, _Shard] = {}
        self._giving: dict[int, asyncio.Task[None]] = {}

    @property
    def held(self) -> frozenset[int]:
        return frozenset(self._shards)

    @property
    def in_flight(self) -> int:
        return sum(len(s.in_flight) for s in self._shards.values())

    async def apply(self, desired: Iterable[int]) -> None:
        """Subscribe to the shards in ``desired`` and give away the others."""
        want = frozenset(desired)
        for number, shard in list(self._shards.items()):
            if shard.channel.is_closed and number not in self._giving:
                log.warning("shard channel lost; subscribing again", extra={"shard": number})
                del self._shards[number]
        for number in sorted(set(self._shards) - want):
            if number not in self._giving:
                self._giving[number] = asyncio.create_task(self._give(number))
        for number in sorted(want - set(self._shards)):
            if number not in self._giving:
                await self._take(number)

    async def give_all(self) -> None:
        await self.apply(())
        await self.settled()

    async def settled(self) -> None:
        """Wait until every handover in progress has finished."""
        while self._giving:
            await asyncio.gather(*self._giving.values(), return_exceptions=True)

    async def _take(self, number: int) -> None:
        channel = await self._connection.channel(publisher_confirms=False)
        shard = _Shard(number=number, channel=channel)
        try:
            await channel.set_qos(prefetch_count=self._prefetch)
            queue = await channel.get_queue(self._names.shard_queue(number), ensure=False)
            await queue.consume(self._on_message(shard), no_ack=False)
        except BaseException:
            with contextlib.suppress(Exception):
                await channel.close()
            raise
        self._shards[number] = shard
        log.info("shard subscribed", extra={"shard": number})
        if self._observer is not None:
            self._observer.fleet_handover("took")

    def _on_message(self, shard: _Shard) -> MessageCallback:
        process = shard.in_flight.tracking(self._callback)

        async def on_message(message: AbstractIncomingMessage) -> None:
            if shard.draining:
                return  # held unacked: it goes back to the queue head when the channel closes
            # SIPLINE_PREFETCH bounds the work in progress per process, in a fleet as alone;
            # a shard's own prefetch is as large, so one busy portal does not block the rest
            await self._budget.enter()
            try:
                if shard.draining:
                    return  # not started: it goes back with the others
                await process(message)
            finally:
                self._budget.leave()

        return on_message

    async def _give(self, number: int) -> None:
        shard = self._shards[number]
        try:
            shard.draining = True
            cut_short = await shard.in_flight.finish(self._grace)
            if cut_short:
                log.warning(
                    "handover grace over; unfinished commands go back to the shard",
                    extra={"shard": number, "in_flight": cut_short},
                )
            with contextlib.suppress(Exception):
                await shard.channel.close()
            log.info("shard given away", extra={"shard": number})
            if self._observer is not None:
                self._observer.fleet_handover("gave")
        finally:
            self._shards.pop(number, None)
            self._giving.pop(number, None)
