"""Shutdown, redelivery and ordering against the real RabbitMQ and real processes."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter

import aio_pika

from tests.amqp_helpers import AMQP_URL, broker, command, unique_prefix, wait_for
from tests.runtime.conftest import RunWorker, runtime_settings
from tests.runtime.fakes import ScriptedHandler
from worker.runtime.wiring import build_worker, topology_spec


async def _start_worker_process(prefix: str, delay: float) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.runtime.worker_proc",
        prefix,
        str(delay),
        "32",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_sigterm_in_a_burst_loses_nothing() -> None:
    prefix = unique_prefix("term")
    spec = topology_spec(runtime_settings(prefix))
    total = 400
    async with broker(prefix, spec) as b:
        for n in range(total):
            await b.publish(command("line.reconcile", {"config_id": n + 1}, id_=f"burst-{n}"))
        first = await _start_worker_process(prefix, 0.02)
        await wait_for(lambda: len(b.events.messages) >= 60, limit=30, what="work under way")
        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), timeout=30) == 0
        done_by_first = len(b.events.messages)
        assert done_by_first < total, "the burst finished before the signal; nothing was tested"

        second = await _start_worker_process(prefix, 0.0)
        try:
            await wait_for(lambda: len(b.events.messages) >= total, limit=60, what="all outcomes")
        finally:
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), timeout=30) == 0
        outcomes = Counter(e["causationid"] for e in b.events.bodies())
        assert set(outcomes) == {f"burst-{n}" for n in range(total)}
        assert max(outcomes.values()) == 1, "a graceful stop must not duplicate work"
        assert b.dead.messages == []


async def test_redelivery_after_a_consumer_dies() -> None:
    handler = ScriptedHandler()
    prefix = unique_prefix("redeliver")
    settings_spec = topology_spec(runtime_settings(prefix))
    async with broker(prefix, settings_spec) as b2:
        await b2.publish(command("line.reconcile", {"config_id": 77}, id_="again"))
        conn = await aio_pika.connect(AMQP_URL)
        channel = await conn.channel()
        queue = await channel.get_queue(settings_spec.names.commands_queue)
        await queue.get(timeout=5)
        await conn.close()  # dies without acking: the broker will redeliver

        worker2 = build_worker(runtime_settings(prefix), handlers={"line.reconcile": handler})
        task = asyncio.create_task(worker2.run())
        try:
            await wait_for(lambda: len(b2.events.messages) == 1, what="the redelivered outcome")
        finally:
            worker2.stop()
            await asyncio.wait_for(task, timeout=20)
        assert [e["causationid"] for e in b2.events.bodies()] == ["again"]
        assert handler.calls[77] == 1  # the broker's redelivery, handled once


async def test_commands_for_one_line_apply_in_arrival_order(run_worker: RunWorker) -> None:
    handler = ScriptedHandler(delay=0.01)
    async with run_worker({"line.reconcile": handler}, prefetch=64) as (_, b):
        for n in range(30):
            for line in (1, 2, 3):
                await b.publish(command("line.reconcile", {"config_id": line}, id_=f"{line}-{n}"))
        await wait_for(lambda: len(b.events.messages) == 90, what="90 outcomes")
    for line in (1, 2, 3):
        seen = [cid for config_id, cid in handler.order if config_id == line]
        assert seen == [f"{line}-{n}" for n in range(30)]
    assert handler.max_concurrent_per_line == 1
    assert handler.max_concurrent > 1, "different lines must run concurrently"
