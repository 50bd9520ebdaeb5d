"""When the consumer is lost and not restored, the worker gives up instead of idling."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest

from tests.amqp_helpers import AMQP_URL, unique_prefix
from tests.runtime.conftest import runtime_settings
from tests.runtime.fakes import ScriptedHandler
from worker.adapters.amqp.topology import delete_all
from worker.runtime.service import SupervisionError
from worker.runtime.wiring import build_worker, topology_spec


async def test_losing_the_queue_ends_run_with_supervision_error() -> None:
    settings = runtime_settings(unique_prefix("sup"), reconnect_timeout=1.0)
    worker = build_worker(settings, handlers={"line.reconcile": ScriptedHandler()})
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(worker.ready.wait(), timeout=20)
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        await channel.queue_delete(settings.topology_prefix + ".commands")
        with pytest.raises(SupervisionError, match="no broker connection or consumer"):
            await asyncio.wait_for(task, timeout=30)
        assert not worker.consuming
    finally:
        if not task.done():
            worker.stop()
            await asyncio.gather(task, return_exceptions=True)
        await delete_all(await connection.channel(), topology_spec(settings))
        await connection.close()
