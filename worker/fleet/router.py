"""The routing step: move each command, in arrival order, from the command queue to its shard.

Every process runs a router; the command queue has ``x-single-active-consumer``, so exactly
one of them receives deliveries and the others wait to take over. Per delivery the active
router parses the command (the same parser the processor uses, so a portal is found exactly
as the processor would find it), publishes an unchanged copy with the ``sipline-shard``
header to ``<p>.shards`` with a publisher confirm and ``mandatory``, and only then acks.

A delivery that does not parse is handed to ``reject`` (the processor itself), which
dead-letters it and publishes ``command.rejected`` exactly as the single-process worker does.

Order: deliveries are routed one at a time in the order they arrive. If a copy cannot be
confirmed the router closes its channel, so every delivery it holds goes back to the head of
the queue in order, and starts again after a pause; it never requeues one delivery alone,
which would put it behind later ones. Stopping works the same way: finish the copy in hand,
then close (a ``basic.cancel`` would hand the queue to the next router while this one still
holds deliveries).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
)

from worker.adapters.amqp.publisher import copy_message
from worker.errors import BadInput
from worker.fleet.shards import shard_of
from worker.fleet.topology import FleetSpec, route_headers
from worker.runtime.parse import parse_command
from worker.runtime.service import MessageCallback

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouterConfig:
    prefetch: int = 64
    max_body_bytes: int = 65536
    publish_timeout: float = 30.0
    retry_pause: float = 1.0


@dataclass(slots=True)
class RouterStats:
    routed: int = 0
    rejected: int = 0
    failures: int = 0


class Router:
    """Runs until :meth:`stop`; survives failed confirms by returning what it holds."""

    def __init__(
        self,
        *,
        connection: AbstractConnection,
        spec: FleetSpec,
        reject: MessageCallback,
        config: RouterConfig,
    ) -> None:
        self._connection = connection
        self._spec = spec
        self._reject = reject
        self._config = config
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
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        publish = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        consume = await self._connection.channel(publisher_confirms=False)
        try:
            shards = await publish.get_exchange(self._spec.names.shards_exchange, ensure=False)
            await consume.set_qos(prefetch_count=self._config.prefetch)
            queue = await consume.get_queue(self._spec.names.base.commands_queue, ensure=False)
            # put_nowait runs first in each delivery's task, and the tasks start in arrival
            # order: the inbox keeps the queue's order
            await queue.consume(_enqueue(inbox), no_ack=False)
            await self._loop(inbox, shards, consume)
        finally:
            self.active = False
            await _close(consume)  # returns anything not yet acked, in order
            await _close(publish)

    async def _loop(
        self,
        inbox: asyncio.Queue[AbstractIncomingMessage],
        shards: AbstractExchange,
        consume: AbstractChannel,
    ) -> None:
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while True:
                getter = asyncio.ensure_future(inbox.get())
                await asyncio.wait({getter, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    return
                if consume.is_closed:
                    raise ConnectionError("the router's channel closed")
                self.active = True
                await self._route(getter.result(), shards)
        finally:
            stopping.cancel()

    async def _route(self, message: AbstractIncomingMessage, shards: AbstractExchange) -> None:
        try:
            command = parse_command(
                message.body, message.content_type, max_bytes=self._config.max_body_bytes
            )
        except BadInput:
            await self._reject(message)  # the processor's own rejection path (it acks)
            self.stats.rejected += 1
            return
        shard = shard_of(command.portal, self._spec.shards)
        copy = copy_message(message, headers={**(message.headers or {}), **route_headers(shard)})
        await shards.publish(
            copy,
            routing_key=message.routing_key or "",
            mandatory=True,
            timeout=self._config.publish_timeout,
        )
        await message.ack()
        self.stats.routed += 1


def _enqueue(
    inbox: asyncio.Queue[AbstractIncomingMessage],
) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
    async def on_message(message: AbstractIncomingMessage) -> None:
        inbox.put_nowait(message)

    return on_message


async def _close(channel: AbstractChannel) -> None:
    with contextlib.suppress(Exception):
        if not channel.is_closed:
            await channel.close()
