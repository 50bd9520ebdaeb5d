"""Change a stopped fleet's shard count in place: every copy waiting in a shard moves to the
shard its portal has under the new count, in order; no command is deleted or lost.

Only while no process runs (``sipline fleet reshard`` refuses when the command queue or any
shard queue has a consumer): a running member would take copies from a shard being
rewritten, and members with two counts would serve one portal in two shards at once.

Each shard queue is read once, from its head, as many copies as it held when its turn came
(one at a time: a maintenance step, about a broker round trip per copy);
each copy is published with confirm to the shard of its portal under the new count (its
own shard too: then to its tail) and only then acked. Copies of one portal all come from
one shard, in order, and arrive in one shard, in order, so each portal keeps its order;
the commands still in ``<p>.commands`` are routed later, behind them. With jump hashing,
growing from S to S' moves only portals into the new shards S … S'-1, and shrinking moves
only the portals of the shards that go. The shards beyond the new count are deleted once
empty. Stopped half-way (a lost connection), the fleet holds every copy at least once
(a copy published but not acked is there twice: at-least-once, as everywhere; commands are
idempotent); running the command again with the same count finishes the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractExchange,
    AbstractIncomingMessage,
    ExchangeType,
)

from worker.adapters.amqp.publisher import copy_message
from worker.errors import BadInput
from worker.fleet.shards import shard_of
from worker.fleet.topology import (
    ChannelFactory,
    FleetRefused,
    FleetSpec,
    queue_exists,
    route_headers,
    shard_arguments,
    shards_on_broker,
)
from worker.runtime.parse import parse_command

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Resharded:
    before: int
    after: int
    copies: int  # copies read from the shards and published again
    moved: int  # of those, copies now in another shard


async def reshard(
    connection: AbstractConnection, spec: FleetSpec, *, max_body_bytes: int = 65536
) -> Resharded:
    """Move the broker's shards to ``spec.shards``; refuses while any process consumes."""
    names = spec.names

    async def open_channel() -> AbstractChannel:
        return await connection.channel()

    before = await shards_on_broker(open_channel, names)
    if before == 0:
        raise FleetRefused(f"the broker has no shard queues ({names.shard_queue(0)} …)")
    if before == spec.shards:
        return Resharded(before=before, after=before, copies=0, moved=0)  # nothing moves
    await _refuse_if_consumed(open_channel, spec, max(before, spec.shards))
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    try:
        exchange = await channel.declare_exchange(
            names.shards_exchange, ExchangeType.HEADERS, durable=True
        )
        for shard in range(before, spec.shards):
            queue = await channel.declare_queue(
                names.shard_queue(shard), durable=True, arguments=shard_arguments(spec)
            )
            await queue.bind(exchange, arguments={"x-match": "all", **route_headers(shard)})
        copies = moved = 0
        # the old shards only, lowest first: jump hashing sends a growing count's movers
        # to the new shards, a shrinking count's to lower ones, so none is read twice
        for shard in range(before):
            read, changed = await _rewrite(connection, exchange, spec, shard, max_body_bytes)
            copies, moved = copies + read, moved + changed
        for shard in range(spec.shards, before):
            await _delete_empty(channel, names.shard_queue(shard))
    finally:
        with contextlib.suppress(Exception):
            await channel.close()
    log.info(
        "fleet resharded",
        extra={"before": before, "after": spec.shards, "copies": copies, "moved": moved},
    )
    return Resharded(before=before, after=spec.shards, copies=copies, moved=moved)


async def _delete_empty(channel: AbstractChannel, name: str) -> None:
    """Delete a shard that is empty now (quorum queues refuse ``if-empty``; nothing routes
    to a shard while the fleet is stopped, so the look and the delete agree)."""
    queue = await channel.declare_queue(name, passive=True)
    left = int(queue.declaration_result.message_count or 0)
    if left:
        raise FleetRefused(f"{name} still holds {left} copies; run the reshard again")
    await channel.queue_delete(name)


async def _refuse_if_consumed(open_channel: ChannelFactory, spec: FleetSpec, shards: int) -> None:
    names = spec.names
    for name in [names.base.commands_queue, *(names.shard_queue(s) for s in range(shards))]:
        if not await queue_exists(open_channel, name):
            continue
        channel = await open_channel()
        try:
            declared = await channel.declare_queue(name, passive=True)
        finally:
            await channel.close()
        consumers = int(declared.declaration_result.consumer_count or 0)
        if consumers:
            raise FleetRefused(
                f"{name} has {consumers} consumer(s): stop every sipline run of the fleet "
                "before changing the shard count"
            )


async def _rewrite(
    connection: AbstractConnection,
    exchange: AbstractExchange,
    spec: FleetSpec,
    shard: int,
    max_body_bytes: int,
) -> tuple[int, int]:
    """Publish every copy ``shard`` holds now to its shard under ``spec.shards``.

    A consumer, one copy at a time (a single-active-consumer quorum queue refuses
    ``basic.get``), cancelled before the last copy is acked, so it never receives the
    copies it put back at the tail."""
    channel = await connection.channel(publisher_confirms=False)
    try:
        await channel.set_qos(prefetch_count=1)
        queue = await channel.declare_queue(spec.names.shard_queue(shard), passive=True)
        waiting = int(queue.declaration_result.message_count or 0)
        if not waiting:
            return 0, 0
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        tag = await queue.consume(inbox.put, no_ack=False)
        moved = 0
        for left in range(waiting, 0, -1):
            message = await asyncio.wait_for(inbox.get(), timeout=30)
            target = _target(message, spec, shard, max_body_bytes)
            headers = {**(message.headers or {}), **route_headers(target)}
            await exchange.publish(
                copy_message(message, headers=headers),
                routing_key=message.routing_key or "",
                mandatory=True,
            )
            if left == 1:
                await queue.cancel(tag)
            await message.ack()
            moved += target != shard
        return waiting, moved
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


def _target(message: AbstractIncomingMessage, spec: FleetSpec, shard: int, limit: int) -> int:
    try:
        portal = parse_command(message.body, message.content_type, max_bytes=limit).portal
    except BadInput:  # the router lets none in; kept, in the first shard if its own goes
        return shard if shard < spec.shards else 0
    return shard_of(portal, spec.shards)
