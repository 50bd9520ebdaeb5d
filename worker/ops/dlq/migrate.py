"""``sipline dlq migrate``: give a DLQ declared by an earlier version its own delivery limit.

A queue's arguments cannot change once declared, so the DLQ is moved, not altered. Every
step can be repeated, and a run that stops anywhere is finished by running it again::

    1. legacy DLQ:  declare <dlq>.migrating (new arguments), bind it to the DLX,
                    unbind the DLQ, move every message DLQ → DLX → <dlq>.migrating,
                    delete the (now empty) DLQ
    2. no DLQ:      declare the DLQ with the new arguments, bind it to the DLX
    3. <dlq>.migrating exists: unbind it, move every message back → DLX → DLQ, delete it

Nothing is lost: at every moment the DLX routes to at least one queue (the new binding is
made before the old one is removed), and each message is acked only after its copy is
confirmed. What can be duplicated: a dead letter routed in the instant both queues are
bound, and the one message in flight when a run is killed. Copies keep body, properties,
headers (less the broker's ``x-delivery-count``) and routing key: they go through the DLX
with the routing key they were dead-lettered with.

The one precondition: no other ``sipline dlq`` command may run meanwhile. Quorum queues
cannot be deleted "if empty", so the emptied queue is deleted only when it has no ready
message and no consumer; a replay that still holds dead letters it selected earlier cannot
be seen from here, hence the precondition (docs/operations.md).
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from dataclasses import dataclass

from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
)
from aiormq.exceptions import ChannelClosed

from worker.adapters.amqp import dead_letter_queue as dlq
from worker.adapters.amqp.dead_letter_queue import DlqState
from worker.adapters.amqp.topology import Names
from worker.ops.dlq.errors import DlqError
from worker.ops.dlq.reading import deliveries
from worker.ops.dlq.sinks import message_from
from worker.ops.dlq.store import raw_of

TEMPORARY_SUFFIX = ".migrating"
BATCH = 200
IDLE_WAIT = 5.0  # seconds to wait for an emptied queue to show no reader


@dataclass(frozen=True, slots=True)
class Migration:
    """What a run found and did."""

    before: DlqState
    moved_out: int
    moved_back: int

    @property
    def changed(self) -> bool:
        return self.before is not DlqState.PROTECTED or bool(self.moved_back)


def temporary_name(names: Names) -> str:
    return names.dead_letter_queue + TEMPORARY_SUFFIX


async def _exists(channel: AbstractChannel, name: str) -> bool:
    scratch = await (await channel.get_underlay_channel()).connection.channel()
    try:
        await scratch.queue_declare(name, passive=True)
    except ChannelClosed:
        return False
    finally:
        if not scratch.is_closed:
            await scratch.close()
    return True


async def _move(channel: AbstractChannel, source: AbstractQueue, dlx: AbstractExchange) -> int:
    """Copy every message of ``source`` through the DLX (confirmed), then ack it."""
    moved = 0
    batch: list[AbstractIncomingMessage] = []
    async with aclosing(deliveries(channel, source, window=BATCH)) as messages:
        async for message in messages:
            batch.append(message)
            if len(batch) == BATCH:
                moved += await _copy(batch, dlx)
                batch = []
    return moved + await _copy(batch, dlx)


async def _copy(batch: list[AbstractIncomingMessage], dlx: AbstractExchange) -> int:
    raws = [raw_of(message) for message in batch]
    await asyncio.gather(
        *(
            dlx.publish(
                message_from(raw, headers=raw.headers),
                routing_key=raw.routing_key,
                mandatory=True,
            )
            for raw in raws
        )
    )
    for message in batch:
        await message.ack()
    return len(batch)


async def _delete_if_idle(channel: AbstractChannel, name: str) -> None:
    """Delete a queue this run has emptied, unless someone else is reading it.

    Quorum queues refuse ``if-empty`` deletes, so the check is made just before: no ready
    message and no consumer (every ``sipline dlq`` read consumes while it reads).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + IDLE_WAIT
    while True:  # the broker's count of our own cancelled consumers can lag a moment
        declared = await channel.declare_queue(name, passive=True)
        ready = declared.declaration_result.message_count or 0
        consumers = declared.declaration_result.consumer_count or 0
        if not (ready or consumers) or loop.time() > deadline:
            break
        await asyncio.sleep(0.1)
    if ready or consumers:
        raise DlqError(
            f"{name} still has {ready} message(s) and {consumers} reader(s): is another "
            "`sipline dlq` command running? Run `sipline dlq migrate` again when it has ended"
        )
    await channel.queue_delete(name)


async def migrate(channel: AbstractChannel, names: Names) -> Migration:
    """Bring ``names``' DLQ to this version's arguments (see the module docstring)."""
    dlx = await channel.get_exchange(names.dead_letter_exchange, ensure=True)
    before = await dlq.probe(channel, names.dead_letter_queue)
    temporary = temporary_name(names)
    moved_out = moved_back = 0
    if before is DlqState.LEGACY:
        holding = await channel.declare_queue(temporary, durable=True, arguments=dlq.arguments())
        await holding.bind(dlx, routing_key="#")
        old = await channel.get_queue(names.dead_letter_queue, ensure=True)
        await old.unbind(dlx, routing_key="#")
        moved_out = await _move(channel, old, dlx)
        await _delete_if_idle(channel, names.dead_letter_queue)
    if before is not DlqState.PROTECTED:
        queue = await dlq.declare(channel, names.dead_letter_queue)
        await queue.bind(dlx, routing_key="#")
    if await _exists(channel, temporary):
        holding = await channel.get_queue(temporary, ensure=True)
        await holding.unbind(dlx, routing_key="#")
        moved_back = await _move(channel, holding, dlx)
        await _delete_if_idle(channel, temporary)
    return Migration(before=before, moved_out=moved_out, moved_back=moved_back)
