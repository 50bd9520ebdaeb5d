"""Dead letters survive any number of inspections; an earlier version's DLQ is migrated.

Reading returns every message to the queue, and a quorum queue counts each return as a
delivery: RabbitMQ 4.x drops a message after 20 unless the queue sets its own limit. The
scratch-queue test shows the drop happens with a small limit on this very broker, so the
fifty reads of the real DLQ prove the DLQ's own limit is what keeps them.
"""

from __future__ import annotations

import asyncio
import logging

import aio_pika
import pytest

from tests.amqp_helpers import AMQP_URL, spec_for, unique_prefix
from tests.ops.dlq.conftest import DlqEnv
from tests.ops.dlq.test_transfer import snapshot
from worker.adapters.amqp import dead_letter_queue as dlq
from worker.adapters.amqp.dead_letter_queue import DELIVERY_LIMIT, DlqState
from worker.adapters.amqp.topology import declare, delete_all
from worker.ops.dlq import operations
from worker.ops.dlq.broker import broker_major, refuse_unprotected
from worker.ops.dlq.errors import DlqError
from worker.ops.dlq.filters import Filter
from worker.ops.dlq.migrate import migrate, temporary_name
from worker.ops.dlq.store import visit

READS = 50


async def test_the_dlq_is_declared_with_its_own_delivery_limit(env: DlqEnv) -> None:
    assert await dlq.probe(env.channel, env.names.dead_letter_queue) is DlqState.PROTECTED
    assert dlq.arguments()["x-delivery-limit"] == DELIVERY_LIMIT


async def test_dead_letters_survive_fifty_reads(env: DlqEnv) -> None:
    ids = {await env.dead_letter(), await env.transient_dead_letter(), await env.poison()}
    async with env.open() as broker:
        for _ in range(READS):
            assert {letter.id for letter in await operations.read(broker, Filter())} == ids
        assert (await operations.find(broker, sorted(ids)[0])) is not None
    messages = await env.peek_all(env.names.dead_letter_queue)
    assert {str(m.message_id) for m in messages} == ids
    # every read was counted as a delivery, so only the DLQ's own limit kept them
    assert min(int(m.headers["x-delivery-count"]) for m in messages) >= READS


async def test_with_a_small_delivery_limit_reading_drops_messages() -> None:
    """The mechanism matters: the same reads on a queue with limit 3 lose its messages."""
    name = unique_prefix("scratch-limit")
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.declare_queue(
            name, durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 3}
        )
        for n in range(2):
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", message_id=f"m{n}"), routing_key=name
            )
        counts = []
        for _ in range(6):
            counts.append(await visit(connection, name, lambda letter: None))
            await asyncio.sleep(0.05)
        assert counts[0] == 2
        assert counts[-1] == 0, f"messages survived a limit of 3: {counts}"
        declared = await channel.declare_queue(name, passive=True)
        assert declared.declaration_result.message_count == 0
        await queue.delete(if_unused=False, if_empty=False)
    finally:
        await connection.close()


def test_an_unprotected_dlq_is_refused_on_rabbitmq_4_and_warned_about_on_3() -> None:
    assert broker_major({"version": "4.1.0"}) == 4
    assert broker_major({"version": b"3.10.8"}) == 3
    assert broker_major({}) is None
    with pytest.raises(DlqError, match="sipline dlq migrate"):
        refuse_unprotected(DlqState.LEGACY, 4, "p.commands.dlq")
    with pytest.raises(DlqError):
        refuse_unprotected(DlqState.LEGACY, None, "p.commands.dlq")
    refuse_unprotected(DlqState.LEGACY, 3, "p.commands.dlq")
    refuse_unprotected(DlqState.PROTECTED, 4, "p.commands.dlq")


async def _legacy_topology(prefix: str) -> tuple[aio_pika.abc.AbstractConnection, object]:
    """A topology as an earlier version declared it: the DLQ without a delivery limit."""
    spec = spec_for(prefix, delivery_limit=1)
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    await channel.declare_queue(
        spec.names.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    return connection, spec


async def test_the_worker_starts_on_an_earlier_dlq_and_says_how_to_migrate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connection, spec = await _legacy_topology(unique_prefix("legacy"))
    try:
        channel = await connection.channel()
        with caplog.at_level(logging.WARNING):
            await declare(channel, spec)  # type: ignore[arg-type]
        assert "sipline dlq migrate" in caplog.text
        names = spec.names  # type: ignore[attr-defined]
        assert await dlq.probe(channel, names.dead_letter_queue) is DlqState.LEGACY
    finally:
        await delete_all(await connection.channel(), spec)  # type: ignore[arg-type]
        await connection.close()


async def test_migrate_moves_every_dead_letter_byte_for_byte_and_can_resume() -> None:
    prefix = unique_prefix("migrate")
    connection, spec = await _legacy_topology(prefix)
    env = DlqEnv(spec, connection, await connection.channel(publisher_confirms=True), None)  # type: ignore[arg-type]
    try:
        await declare(await connection.channel(), spec)  # type: ignore[arg-type]
        await env.dead_letter()
        await env.dead_letter(extra_headers={"x-producer-bytes": bytearray(b"\xff\x00")})
        await env.transient_dead_letter(type_="line.delete")
        await env.poison()
        before = snapshot(await env.peek_all(env.names.dead_letter_queue))
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        report = await migrate(channel, env.names)
        assert (report.before, report.moved_out, report.moved_back) == (DlqState.LEGACY, 4, 4)
        assert await dlq.probe(channel, env.names.dead_letter_queue) is DlqState.PROTECTED
        assert snapshot(await env.peek_all(env.names.dead_letter_queue)) == before
        again = await migrate(channel, env.names)
        assert not again.changed
        # a new dead letter reaches the new DLQ through the dead-letter exchange
        await env.dead_letter(type_="line.update")
        await env.wait_depth(env.names.dead_letter_queue, 5)
        # a run stopped after the old DLQ was deleted: the holding queue is emptied next time
        holding = await channel.declare_queue(
            temporary_name(env.names), durable=True, arguments=dlq.arguments()
        )
        moved = await env.take_all(env.names.dead_letter_queue)
        await channel.queue_delete(env.names.dead_letter_queue)
        for message in moved:
            await channel.default_exchange.publish(
                aio_pika.Message(message.body, headers=message.headers), routing_key=holding.name
            )
        resumed = await migrate(channel, env.names)
        assert (resumed.before, resumed.moved_back) == (DlqState.MISSING, 5)
        await env.wait_depth(env.names.dead_letter_queue, 5)
    finally:
        cleanup = await connection.channel()
        await cleanup.queue_delete(temporary_name(spec.names))  # type: ignore[attr-defined]
        await delete_all(cleanup, spec)  # type: ignore[arg-type]
        await connection.close()
