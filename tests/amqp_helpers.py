"""Helpers for tests that talk to the real RabbitMQ on 127.0.0.1:5672."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue

from worker.adapters.amqp.topology import Names, TopologySpec, delete_all

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def unique_prefix(tag: str = "t") -> str:
    return f"test-{tag}-{uuid.uuid4().hex[:10]}"


def spec_for(
    prefix: str, *, tiers: tuple[float, ...] = (0.2, 0.5, 1.0), delivery_limit: int = 5
) -> TopologySpec:
    return TopologySpec(
        names=Names(prefix),
        delay_tiers=tiers,
        delivery_limit=delivery_limit,
        events_max_bytes=50_000_000,
        events_max_age="1h",
    )


async def wait_for(
    predicate: Callable[[], bool], limit: float = 20.0, what: str = "condition"
) -> None:
    """Poll ``predicate`` until true; fail with ``what`` after ``limit`` seconds."""
    deadline = asyncio.get_running_loop().time() + limit
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await asyncio.sleep(0.02)


@dataclass
class Collector:
    """Collects messages from a queue into a list."""

    messages: list[AbstractIncomingMessage] = field(default_factory=list)

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        self.messages.append(message)
        await message.ack()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.messages]

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies() if b.get("type") == event_type]


@dataclass
class Broker:
    connection: aio_pika.abc.AbstractRobustConnection
    channel: AbstractChannel
    spec: TopologySpec
    events: Collector
    dead: Collector

    async def publish_raw(
        self,
        body: bytes,
        *,
        routing_key: str,
        content_type: str | None = "application/cloudevents+json",
        headers: Mapping[str, Any] | None = None,
        message_id: str | None = None,
    ) -> None:
        exchange = await self.channel.get_exchange(self.spec.names.commands_exchange)
        await exchange.publish(
            aio_pika.Message(
                body,
                content_type=content_type,
                headers=dict(headers or {}),
                message_id=message_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
        )

    async def publish(self, command: dict[str, Any], **kw: Any) -> None:
        await self.publish_raw(json.dumps(command).encode(), routing_key=command["type"], **kw)

    async def queue_depth(self, name: str) -> int:
        # on the AMQP channel itself: a robust channel answers a passive declare of a queue it
        # declared before from its cache, with that first declaration's count
        underlay = await self.channel.get_underlay_channel()
        declared = await underlay.queue_declare(name, passive=True)
        return declared.message_count or 0

    async def wait_depth(
        self, name: str, expected: int, *, limit: float = 20.0, what: str = "the queue's depth"
    ) -> None:
        """Poll until queue ``name`` holds ``expected`` messages: what a closed channel held
        unacked, or a requeue, is back in the queue a moment after the client is done."""
        deadline = asyncio.get_running_loop().time() + limit
        while await self.queue_depth(name) != expected:
            assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def broker(
    prefix: str, spec: TopologySpec, *, tap_dead_letters: bool = True
) -> AsyncIterator[Broker]:
    """Declares the topology, taps the events exchange and (unless told not to: a test that
    reads the DLQ itself) the DLQ, and cleans up."""
    from worker.adapters.amqp.topology import declare

    connection = await aio_pika.connect_robust(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    declared = await declare(channel, spec)
    events = Collector()
    dead = Collector()
    tap: AbstractQueue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await tap.bind(declared.events_exchange, routing_key="#")
    await tap.consume(events)
    if tap_dead_letters:
        dlq = await channel.get_queue(spec.names.dead_letter_queue)
        await dlq.consume(dead)
    try:
        yield Broker(connection, channel, spec, events, dead)
    finally:
        await connection.close()
        await remove_topology(AMQP_URL, spec)


async def remove_topology(url: str, spec: TopologySpec, *, queues: Sequence[str] = ()) -> None:
    """Delete a test's topology over a plain connection.

    Close the test's robust connection first: a robust channel whose consumer is cancelled by
    a queue deletion reconnects and declares its queues again, leaving them behind.
    """
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        await delete_all(channel, spec)
    finally:
        await connection.close()


async def remove_worker_topology(prefix: str) -> None:
    """Delete the topology a ``sipline run`` process declared under ``prefix`` with the
    default settings (its delay tiers, its schedule's queues), once it has stopped."""
    from worker.runtime.wiring import topology_spec
    from worker.settings import Settings

    await remove_topology(AMQP_URL, topology_spec(Settings(_env_file=None, topology_prefix=prefix)))


Handler = Callable[[Any, Any], Awaitable[Any]]


def command(
    type_: str, data: dict[str, Any], *, portal: str = "example.bitrix24.ru", id_: str | None = None
) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": id_ or uuid.uuid4().hex,
        "type": type_,
        "source": "urn:test",
        "portal": portal,
        "data": data,
    }
