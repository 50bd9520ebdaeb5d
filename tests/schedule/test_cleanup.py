"""Removing a topology removes the schedule's queues too: the hops and interval queues are
declared as ticks need them, so a clean-up that forgot them would leave quorum queues on the
broker for good (they piled up by the hundred on a shared broker)."""

from __future__ import annotations

import aio_pika
from aio_pika.exceptions import ChannelNotFoundEntity

from tests.amqp_helpers import AMQP_URL, spec_for, unique_prefix
from worker.adapters.amqp.topology import declare, declare_tick_wait, delete_all
from worker.schedule.plan import HOP_BASE, HOP_MAX_EXPONENT


async def _exists(connection: aio_pika.abc.AbstractConnection, queue: str) -> bool:
    channel = await connection.channel()
    try:
        await channel.declare_queue(queue, passive=True)
    except ChannelNotFoundEntity:
        return False
    await channel.close()
    return True


async def test_delete_all_removes_every_hop_and_the_interval_queues_used() -> None:
    spec = spec_for(unique_prefix("schedule-cleanup"))
    names = spec.names
    hops = [HOP_BASE, HOP_BASE * 2**7, HOP_BASE * 2**HOP_MAX_EXPONENT]
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await declare(channel, spec)
        declared = [await declare_tick_wait(channel, names, s, per_message=False) for s in hops]
        declared += [await declare_tick_wait(channel, names, s, per_message=True) for s in (300, 7)]
        assert [await _exists(connection, q) for q in declared] == [True] * len(declared)

        await delete_all(channel, spec, sweep_intervals=[7])

        left = [q for q in declared if await _exists(connection, q)]
        # the default interval's queue (300 s) goes only when named; 7 s was named
        assert left == [names.schedule_wait(300)]
        await delete_all(channel, spec)  # None: the default interval
        assert not await _exists(connection, names.schedule_wait(300))
        assert not await _exists(connection, names.schedule_ticks)
