"""``sipline fleet reshard`` on the real broker: a stopped fleet's waiting copies move to the
shards of the new count, each portal's in order, nothing lost; refused while consumed."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from tests.amqp_helpers import unique_prefix
from worker.fleet.reshard import reshard
from worker.fleet.shards import shard_of
from worker.fleet.topology import (
    FleetNames,
    FleetRefused,
    FleetSpec,
    declare_fleet,
    delete_fleet,
    route_headers,
    shards_on_broker,
)

PORTALS = [f"r{n:02d}.bitrix24.test" for n in range(24)]
ROUNDS = 3


def _command(portal: str, seq: int) -> bytes:
    body = {
        "specversion": "1.0",
        "id": f"{portal}-{seq}",
        "type": "line.reconcile",
        "source": "urn:test",
        "portal": portal,
        "data": {"config_id": 1},
    }
    return json.dumps(body).encode()


async def _fill(channel: AbstractChannel, spec: FleetSpec) -> None:
    """Copies waiting in the shards as the router leaves them: rounds of every portal."""
    exchange = await channel.get_exchange(spec.names.shards_exchange)
    for seq in range(ROUNDS):
        for portal in PORTALS:
            shard = shard_of(portal, spec.shards)
            await exchange.publish(
                aio_pika.Message(
                    _command(portal, seq),
                    content_type="application/cloudevents+json",
                    headers=route_headers(shard),
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key="line.reconcile",
                mandatory=True,
            )


async def _drain(channel: AbstractChannel, spec: FleetSpec) -> dict[int, list[str]]:
    """Shard → the command ids it holds, in queue order (taken off the queues)."""
    found: dict[int, list[str]] = defaultdict(list)
    for shard in range(spec.shards):  # consumed: these queues refuse basic.get
        queue = await channel.declare_queue(spec.names.shard_queue(shard), passive=True)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        tag = await queue.consume(inbox.put, no_ack=True)
        for _ in range(int(queue.declaration_result.message_count or 0)):
            message = await asyncio.wait_for(inbox.get(), timeout=10)
            found[shard].append(json.loads(message.body)["id"])
        await queue.cancel(tag)
    return found


def _check(found: dict[int, list[str]], shards: int) -> None:
    ids = [i for held in found.values() for i in held]
    assert sorted(ids) == sorted(f"{p}-{s}" for p in PORTALS for s in range(ROUNDS))
    for shard, held in found.items():
        by_portal: dict[str, list[int]] = defaultdict(list)
        for command_id in held:
            portal, _, seq = command_id.rpartition("-")
            assert shard_of(portal, shards) == shard, (command_id, shard)
            by_portal[portal].append(int(seq))
        assert all(seqs == list(range(ROUNDS)) for seqs in by_portal.values()), by_portal


@pytest.mark.parametrize(("before", "after"), [(4, 7), (7, 3)])
async def test_waiting_copies_move_to_their_new_shard_in_order(
    connection: AbstractConnection, before: int, after: int
) -> None:
    names = FleetNames(unique_prefix("fleet-reshard"))

    async def open_channel() -> AbstractChannel:
        return await connection.channel()

    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    old, new = (FleetSpec(names, shards=n, delivery_limit=5) for n in (before, after))
    try:
        await declare_fleet(channel, open_channel, old)
        await _fill(channel, old)
        same = await reshard(connection, old)  # the count it has: nothing is touched
        assert (same.before, same.after, same.copies) == (before, before, 0)
        done = await reshard(connection, new)
        assert (done.before, done.after, done.copies) == (before, after, len(PORTALS) * ROUNDS)
        should_move = sum(shard_of(p, before) != shard_of(p, after) for p in PORTALS)
        assert done.moved == should_move * ROUNDS
        assert await shards_on_broker(open_channel, names) == after
        # a process with the new count now starts; the old count is refused
        await declare_fleet(channel, open_channel, new)
        with pytest.raises(FleetRefused):
            await declare_fleet(channel, open_channel, old)
        _check(await _drain(channel, new), after)
    finally:
        await delete_fleet(await connection.channel(), names, max(before, after))


async def test_a_fleet_still_consuming_is_not_resharded(connection: AbstractConnection) -> None:
    names = FleetNames(unique_prefix("fleet-reshard"))

    async def open_channel() -> AbstractChannel:
        return await connection.channel()

    channel = await connection.channel(publisher_confirms=True)
    spec = FleetSpec(names, shards=4, delivery_limit=5)
    try:
        with pytest.raises(FleetRefused, match="no shard queues"):
            await reshard(connection, spec)
        await declare_fleet(channel, open_channel, spec)
        await _fill(channel, spec)
        member = await connection.channel()
        queue = await member.declare_queue(names.shard_queue(2), passive=True)
        await member.set_qos(prefetch_count=1)
        held: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(held.put)  # holds one copy unacked, as a running member would
        with pytest.raises(FleetRefused, match="consumer"):
            await reshard(connection, FleetSpec(names, shards=6, delivery_limit=5))
        assert await shards_on_broker(open_channel, names) == 4
        await member.close()  # the member stopped: its unacked copy goes back, in order
        done = await reshard(connection, FleetSpec(names, shards=6, delivery_limit=5))
        assert done.copies == len(PORTALS) * ROUNDS
        _check(await _drain(channel, FleetSpec(names, shards=6, delivery_limit=5)), 6)
    finally:
        await delete_fleet(await connection.channel(), names, 6)
