"""The shard count is recorded on the broker and a different one is refused."""

from __future__ import annotations

import asyncio

import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection

from tests.amqp_helpers import AMQP_URL, spec_for, unique_prefix
from worker.adapters.amqp.topology import declare, delete_all
from worker.fleet.member import FleetConfig, FleetMember
from worker.fleet.topology import (
    FleetNames,
    FleetRefused,
    FleetSpec,
    check_shard_count,
    declare_fleet,
    delete_fleet,
    shard_arguments,
    shards_on_broker,
)


async def test_the_shard_count_is_recorded_and_a_different_one_refused(
    connection: AbstractConnection,
) -> None:
    names = FleetNames(unique_prefix("fleet-topo"))

    async def open_channel() -> AbstractChannel:
        return await connection.channel()

    channel = await connection.channel()
    try:
        assert await shards_on_broker(open_channel, names) == 0
        await declare_fleet(channel, open_channel, FleetSpec(names, shards=6, delivery_limit=5))
        assert await shards_on_broker(open_channel, names) == 6
        # the same count again: fine (idempotent)
        await declare_fleet(channel, open_channel, FleetSpec(names, shards=6, delivery_limit=5))
        for other in (4, 7):
            with pytest.raises(FleetRefused) as refused:
                await declare_fleet(
                    channel, open_channel, FleetSpec(names, shards=other, delivery_limit=5)
                )
            text = str(refused.value)
            assert "6 shard queues" in text
            assert f"configured for {other}" in text
            assert "Changing the shard count" in text
        assert await shards_on_broker(open_channel, names) == 6
    finally:
        await delete_fleet(await connection.channel(), names, 7)


async def test_shards_being_declared_by_a_peer_are_waited_for_not_refused(
    connection: AbstractConnection,
) -> None:
    # seen with three processes starting at once: one found 9 of 16 queues and refused
    names = FleetNames(unique_prefix("fleet-topo"))
    spec = FleetSpec(names, shards=8, delivery_limit=5)

    async def open_channel() -> AbstractChannel:
        return await connection.channel()

    channel = await connection.channel()
    try:
        for shard in range(3):  # a peer half-way through its declarations
            await channel.declare_queue(
                names.shard_queue(shard), durable=True, arguments=shard_arguments(spec)
            )
        checking = asyncio.create_task(check_shard_count(open_channel, spec, settle=2.0))
        for shard in range(3, 8):
            await asyncio.sleep(0.3)
            await channel.declare_queue(
                names.shard_queue(shard), durable=True, arguments=shard_arguments(spec)
            )
        await asyncio.wait_for(checking, 20)  # no refusal
        # a smaller fleet that stays smaller is refused once its count stands still
        with pytest.raises(FleetRefused, match="8 shard queues"):
            await check_shard_count(
                open_channel, FleetSpec(names, shards=12, delivery_limit=5), settle=0.5
            )
    finally:
        await delete_fleet(await connection.channel(), names, 8)


async def test_a_command_queue_declared_without_fleet_mode_is_refused_clearly(
    connection: AbstractConnection,
) -> None:
    spec = spec_for(unique_prefix("fleet-legacy"))
    channel = await connection.channel()
    await declare(channel, spec)  # as a worker not in fleet mode declares it
    member = FleetMember(
        config=FleetConfig(amqp_url=AMQP_URL, prefetch=4, shutdown_grace=1.0, max_body_bytes=65536),
        topology=spec,
        fleet=FleetSpec(FleetNames(spec.names.prefix), shards=4, delivery_limit=5),
        processor_factory=lambda publisher, declared: _never,
    )
    try:
        with pytest.raises(FleetRefused, match="declared by a worker not in fleet mode"):
            await member.run()
    finally:
        cleanup = await connection.channel()
        await delete_all(cleanup, spec)


async def _never(message: object) -> None:
    raise AssertionError("nothing should be consumed")
