"""A re-check dead-lettered during an outage and replayed later starts a fresh settle window
(real broker, real worker, the real ``sipline dlq replay`` operation)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika

from tests.amqp_helpers import AMQP_URL, Collector, command, remove_topology, unique_prefix
from tests.runtime.conftest import runtime_settings
from tests.runtime.fakes import Registrations, SettlingLines, reconcile_handler
from worker.adapters.amqp.topology import TopologySpec, declare
from worker.ops.dlq import operations
from worker.ops.dlq.broker import open_broker
from worker.ops.dlq.filters import Filter
from worker.runtime import headers
from worker.runtime.handler import CommandHandler
from worker.runtime.wiring import build_worker, topology_spec

HOUR = 3600.0


@asynccontextmanager
async def worker_keeping_dead_letters(
    handlers: dict[str, CommandHandler], spec: TopologySpec, **settings: object
) -> AsyncIterator[tuple[aio_pika.abc.AbstractChannel, Collector]]:
    """A running worker; the test taps the events but leaves the DLQ alone."""
    config = runtime_settings(spec.names.prefix, **settings)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel(publisher_confirms=True)
        declared = await declare(channel, spec)
        events = Collector()
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        await tap.bind(declared.events_exchange, routing_key="#")
        await tap.consume(events)
        worker = build_worker(config, handlers=handlers)
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(worker.ready.wait(), timeout=20)
        try:
            yield channel, events
        finally:
            worker.stop()
            await asyncio.wait_for(task, timeout=30)
    finally:
        await connection.close()
        await remove_topology(AMQP_URL, spec)


async def depth(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    return declared.declaration_result.message_count or 0


async def until(channel: aio_pika.abc.AbstractChannel, queue: str, n: int) -> None:
    deadline = time.monotonic() + 20
    while await depth(channel, queue) != n:
        assert time.monotonic() < deadline, f"{queue} never held {n}"
        await asyncio.sleep(0.05)


async def test_a_replayed_recheck_does_not_time_out_at_once() -> None:
    spec = topology_spec(runtime_settings(unique_prefix("replay")))
    lines, registrations = SettlingLines(pending_checks=0), Registrations(down=True)
    handler = reconcile_handler(lines, registrations, deadline=30.0)
    async with worker_keeping_dead_letters({"line.reconcile": handler}, spec, max_attempts=2) as (
        channel,
        events,
    ):
        # a re-check whose settle window opened an hour ago, dead-lettered in an outage
        recheck = command("line.reconcile", {"config_id": 21}, id_="recheck-21")
        exchange = await channel.get_exchange(spec.names.commands_exchange)
        await exchange.publish(
            aio_pika.Message(
                json.dumps(recheck).encode(),
                content_type="application/cloudevents+json",
                message_id="recheck-21",
                headers={
                    headers.SETTLE_STARTED: repr(time.time() - HOUR),
                    headers.SETTLE_ATTEMPT: 3,
                },
            ),
            routing_key="line.reconcile",
        )
        await until(channel, spec.names.dead_letter_queue, 1)
        assert registrations.calls == 2
        assert events.of_type("line.reconciled") == []

        # the outage is over; the line is still registering for one more check
        registrations.down = False
        lines.pending_checks = lines.status_calls + 1
        async with open_broker(AMQP_URL, spec.names) as dlq:
            report = await operations.replay(dlq, Filter())
        assert [letter.id for letter in report.replayed] == ["recheck-21"]

        deadline = time.monotonic() + 20
        while not events.of_type("line.reconciled"):
            assert time.monotonic() < deadline, "no verdict after the replay"
            await asyncio.sleep(0.05)
        data = events.of_type("line.reconciled")[0]["data"]
        assert data["verdict"] == "in_sync", "a fresh settle window, not pending_timeout"
        assert data["attempts"] == 2
        assert data["settle_seconds"] < 60
