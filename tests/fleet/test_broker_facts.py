"""The RabbitMQ behaviours the fleet's design rests on, checked on the broker in use.

If a broker upgrade changes one of them, this file says which and the design must be
looked at again (docs/architecture.md, "What the broker does").
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import aiormq
import pytest
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage
from pamqp.common import FieldTable

from tests.amqp_helpers import AMQP_URL, wait_for

SAC_QUORUM: FieldTable = {"x-queue-type": "quorum", "x-single-active-consumer": True}


@pytest.fixture
async def two() -> AsyncIterator[tuple[AbstractConnection, AbstractConnection]]:
    first = await aio_pika.connect(AMQP_URL)
    second = await aio_pika.connect(AMQP_URL)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _sac_queue_with(connection: AbstractConnection, count: int) -> str:
    name = f"test-facts-{uuid.uuid4().hex[:10]}"
    channel = await connection.channel(publisher_confirms=True)
    await channel.declare_queue(name, durable=True, arguments=SAC_QUORUM)
    for i in range(count):
        await channel.default_exchange.publish(aio_pika.Message(str(i).encode()), routing_key=name)
    return name


def _keep(into: list[AbstractIncomingMessage]) -> Any:
    async def on_message(message: AbstractIncomingMessage) -> None:
        into.append(message)

    return on_message


async def _two_consumers(
    two: tuple[AbstractConnection, AbstractConnection], name: str
) -> tuple[
    aio_pika.abc.AbstractChannel, list[AbstractIncomingMessage], list[AbstractIncomingMessage]
]:
    first_channel = await two[0].channel()
    await first_channel.set_qos(prefetch_count=4)
    second_channel = await two[1].channel()
    await second_channel.set_qos(prefetch_count=4)
    first: list[AbstractIncomingMessage] = []
    second: list[AbstractIncomingMessage] = []
    await (await first_channel.get_queue(name)).consume(_keep(first))
    await wait_for(lambda: len(first) == 4, 5, "the active consumer's deliveries")
    await (await second_channel.get_queue(name)).consume(_keep(second))
    return first_channel, first, second


async def test_cancel_hands_a_sac_queue_over_while_deliveries_are_unacked(
    two: tuple[AbstractConnection, AbstractConnection],
) -> None:
    name = await _sac_queue_with(two[0], 10)
    try:
        first_channel, _first, second = await _two_consumers(two, name)
        await asyncio.sleep(0.3)
        assert second == []  # waiting
        underlay: Any = await first_channel.get_underlay_channel()
        await underlay.basic_cancel(next(iter(underlay.consumers)))
        # the next consumer runs while the first still holds 0-3 unacked: an overlap
        await wait_for(lambda: len(second) >= 4, 5, "the second consumer to start at once")
        assert [m.body for m in second[:4]] == [b"4", b"5", b"6", b"7"]
    finally:
        await (await two[1].channel()).queue_delete(name)


async def test_closing_the_channel_returns_unacked_in_order_then_hands_over(
    two: tuple[AbstractConnection, AbstractConnection],
) -> None:
    name = await _sac_queue_with(two[0], 10)
    try:
        first_channel, first, second = await _two_consumers(two, name)
        await first[0].ack()
        await first[1].ack()
        await wait_for(lambda: len(first) == 6, 5, "the freed window refilled")
        await asyncio.sleep(0.3)
        assert second == []
        await first_channel.close()
        await wait_for(lambda: len(second) >= 4, 5, "the second consumer")
        assert [m.body for m in second[:4]] == [b"2", b"3", b"4", b"5"]
        assert all(m.redelivered for m in second[:4])
        assert (second[0].headers or {}).get("x-delivery-count") == 1
    finally:
        await (await two[1].channel()).queue_delete(name)


async def test_consistent_hash_routing_depends_on_binding_order(
    two: tuple[AbstractConnection, AbstractConnection],
) -> None:
    connection = two[0]
    channel = await connection.channel(publisher_confirms=True)
    prefix = f"test-facts-{uuid.uuid4().hex[:10]}"
    queues = [
        await channel.declare_queue(f"{prefix}.q{i}", exclusive=True, auto_delete=True)
        for i in range(4)
    ]
    args: FieldTable = {"hash-header": "sipline-portal"}
    try:
        forward = await channel.declare_exchange(f"{prefix}.a", "x-consistent-hash", arguments=args)
    except (aiormq.exceptions.ChannelClosed, aiormq.exceptions.ConnectionClosed) as exc:
        # 3.10.8 answers an unknown exchange type by closing the connection (COMMAND_INVALID)
        pytest.skip(f"the consistent-hash exchange plugin is not enabled: {exc}")
    backward = await channel.declare_exchange(f"{prefix}.b", "x-consistent-hash", arguments=args)
    try:
        for queue in queues:
            await queue.bind(forward, routing_key="1")
        for queue in reversed(queues):
            await queue.bind(backward, routing_key="1")
        where: dict[tuple[str, str], int] = {}
        portals = [f"p{i}.bitrix24.ru" for i in range(20)]
        for exchange, tag in ((forward, "a"), (backward, "b")):
            for portal in portals:
                await exchange.publish(
                    aio_pika.Message(portal.encode(), headers={"sipline-portal": portal}),
                    routing_key="",
                    mandatory=True,
                )
            for index, queue in enumerate(queues):
                while (message := await queue.get(fail=False, no_ack=True)) is not None:
                    where[(tag, message.body.decode())] = index
        same = sum(where[("a", p)] == where[("b", p)] for p in portals)
        assert same < len(portals) // 2  # most portals moved with the binding order alone
    finally:
        await forward.delete()
        await backward.delete()
