"""The routing step: move each command from the command queue to its shard, in order per portal.

Every process runs a router; the command queue has ``x-single-active-consumer``, so exactly
one of them receives deliveries and the others wait to take over. Per delivery the active
router parses the command (the same parser the processor uses, so a portal is found exactly
as the processor would find it), publishes an unchanged copy with the ``sipline-shard``
header to ``<p>.shards`` with a publisher confirm and ``mandatory``, and acks the delivery
only once *its own* copy is confirmed: nothing is lost if the router dies at any point.

Pipelined, one lane per portal: copies of different portals are in flight together (up to
the router's prefetch), so the broker's confirm round trip (a quorum commit) is paid in
parallel rather than once per command; a portal's copies go one at a time, each published
only after the one before it was confirmed and acked. That keeps a portal's order in its
shard also when a copy fails: a copy that is not confirmed (nacked, returned, timed out) has
nothing of its portal behind it in the shard, since its successors were never published.

A delivery that does not parse is handed to ``reject`` (the processor itself), which
dead-letters it and publishes ``command.rejected`` exactly as the single-process worker does.

On a failed copy the router stops starting copies, lets the ones in flight finish (and acks
those confirmed), then closes its channel, so every delivery not acked goes back to the head
of the queue in order, and starts again after a pause; it never requeues one delivery alone,
which would put it behind later ones. Stopping works the same way: finish the copies in hand,
then close (a ``basic.cancel`` would hand the queue to the next router while this one still
holds deliveries).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from worker.adapters.amqp.publisher import copy_message
from worker.errors import BadInput
from worker.fleet.observer import FleetObserver
from worker.fleet.shards import shard_of
from worker.fleet.topology import FleetSpec, route_headers
from worker.runtime.parse import parse_command
from worker.runtime.service import MessageCallback

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouterConfig:
    prefetch: int = 256  # bounds the deliveries held: in flight plus waiting in lanes
    max_body_bytes: int = 65536
    publish_timeout: float = 30.0
    retry_pause: float = 1.0


@dataclass(slots=True)
class RouterStats:
    routed: int = 0
    rejected: int = 0
    failures: int = 0
    most_in_flight: int = 0  # the widest the pipeline got (copies awaiting confirms at once)


@dataclass(frozen=True, slots=True)
class _Arrival:
    message: AbstractIncomingMessage
    at: float  # monotonic, when the delivery reached the router


@dataclass(frozen=True, slots=True)
class _Copy:
    arrival: _Arrival
    shard: int


class _Lanes:
    """One lane per portal with copies to send; a lane sends its copies one at a time."""

    def __init__(
        self,
        *,
        shards: AbstractExchange,
        config: RouterConfig,
        stats: RouterStats,
        observer: FleetObserver | None,
    ) -> None:
        self._shards = shards
        self._config = config
        self._stats = stats
        self._observer = observer
        self._lanes: dict[str, collections.deque[_Copy]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.failed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    def add(self, portal: str, copy: _Copy) -> None:
        lane = self._lanes.get(portal)
        if lane is not None:
            lane.append(copy)  # behind its portal's copy in flight
            return
        self._lanes[portal] = collections.deque([copy])
        task = asyncio.create_task(self._run(portal), name="fleet-router-lane")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._stats.most_in_flight = max(self._stats.most_in_flight, len(self._lanes))

    async def settle(self) -> None:
        """Start no more copies; wait for those in flight (acking the confirmed ones)."""
        self._closing = True
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, portal: str) -> None:
        lane = self._lanes[portal]
        try:
            while lane and not self._closing:
                copy = lane[0]
                try:
                    await self._send(copy)
                except Exception as exc:
                    if not self.failed.done():
                        self.failed.set_result(exc)
                    self._closing = True
                    return
                lane.popleft()
        finally:
            # what is left was never published: it goes back to the queue, in order, with
            # the router's channel
            del self._lanes[portal]

    async def _send(self, copy: _Copy) -> None:
        message = copy.arrival.message
        await self._shards.publish(
            copy_message(message, headers={**(message.headers or {}), **route_headers(copy.shard)}),
            routing_key=message.routing_key or "",
            mandatory=True,
            timeout=self._config.publish_timeout,
        )
        await message.ack()
        self._stats.routed += 1
        if self._observer is not None:
            self._observer.fleet_routed("routed", time.monotonic() - copy.arrival.at)


class Router:
    """Runs until :meth:`stop`; survives failed confirms by returning what it holds."""

    def __init__(
        self,
        *,
        connection: AbstractConnection,
        spec: FleetSpec,
        reject: MessageCallback,
        config: RouterConfig,
        observer: FleetObserver | None = None,
    ) -> None:
        self._connection = connection
        self._spec = spec
        self._reject = reject
        self._config = config
        self._observer = observer
        self._stopping = asyncio.Event()
        self.stats = RouterStats()
        self.active = False  # True while this router has received at least one delivery

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.stats.failures += 1
                log.warning("router paused: a copy was not confirmed", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._config.retry_pause):
                        await self._stopping.wait()

    async def _session(self) -> None:
        inbox: asyncio.Queue[_Arrival] = asyncio.Queue()
        publish = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        consume = await self._connection.channel(publisher_confirms=False)
        try:
            shards = await publish.get_exchange(self._spec.names.shards_exchange, ensure=False)
            await consume.set_qos(prefetch_count=self._config.prefetch)
            queue = await consume.get_queue(self._spec.names.base.commands_queue, ensure=False)
            # put_nowait runs first in each delivery's task, and the tasks start in arrival
            # order: the inbox keeps the queue's order
            await queue.consume(_enqueue(inbox), no_ack=False)
            lanes = _Lanes(
                shards=shards, config=self._config, stats=self.stats, observer=self._observer
            )
            try:
                await self._loop(inbox, lanes, consume)
            finally:
                await lanes.settle()
            if lanes.failed.done():
                raise lanes.failed.result()
        finally:
            self.active = False
            await _close(consume)  # returns anything not yet acked, in order
            await _close(publish)

    async def _loop(
        self, inbox: asyncio.Queue[_Arrival], lanes: _Lanes, consume: AbstractChannel
    ) -> None:
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while True:
                getter = asyncio.ensure_future(inbox.get())
                waiting: set[asyncio.Future[Any]] = {getter, stopping, lanes.failed}
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if stopping.done() or lanes.failed.done():
                    getter.cancel()  # a delivery taken here stays unacked: it goes back
                    return
                if consume.is_closed:
                    raise ConnectionError("the router's channel closed")
                self.active = True
                await self._route(getter.result(), lanes)
        finally:
            stopping.cancel()

    async def _route(self, arrival: _Arrival, lanes: _Lanes) -> None:
        message = arrival.message
        try:
            command = parse_command(
                message.body, message.content_type, max_bytes=self._config.max_body_bytes
            )
        except BadInput:
            await self._reject(message)  # the processor's own rejection path (it acks)
            self.stats.rejected += 1
            if self._observer is not None:
                self._observer.fleet_routed("rejected", time.monotonic() - arrival.at)
            return
        lanes.add(command.portal, _Copy(arrival, shard_of(command.portal, self._spec.shards)))


def _enqueue(
    inbox: asyncio.Queue[_Arrival],
) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
    async def on_message(message: AbstractIncomingMessage) -> None:
        inbox.put_nowait(_Arrival(message, time.monotonic()))

    return on_message


async def _close(channel: AbstractChannel) -> None:
    with contextlib.suppress(Exception):
        if not channel.is_closed:
            await channel.close()
