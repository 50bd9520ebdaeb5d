"""A connection the broker closes is restored, and the worker consumes again by itself."""

from __future__ import annotations

import asyncio
import subprocess

from tests.amqp_helpers import command, wait_for
from tests.runtime.conftest import RunWorker
from tests.runtime.fakes import ScriptedHandler


def _close_connections_named(name: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "-q"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    closed = 0
    for row in listed.splitlines()[1:]:
        pid, _, properties = row.partition("\t")
        if f'{{"connection_name","{name}"}}' in properties:
            subprocess.run(
                ["rabbitmqctl", "close_connection", pid, "test: broker closed it", "-q"],
                check=True,
                capture_output=True,
                timeout=30,
            )
            closed += 1
    return closed


async def test_worker_consumes_again_after_the_broker_closes_its_connection(
    run_worker: RunWorker,
) -> None:
    handler = ScriptedHandler()
    async with run_worker({"line.reconcile": handler}, reconnect_timeout=20.0) as (worker, b):
        await b.publish(command("line.reconcile", {"config_id": 1}))
        await wait_for(lambda: len(b.events.messages) == 1, what="first outcome")
        name = f"sipline-worker {b.spec.names.prefix}"
        closed = await asyncio.to_thread(_close_connections_named, name)
        assert closed == 1
        # The restore can be quicker than the watchdog's interval, so the worker is not
        # required to be seen "not consuming": the proof is an outcome on the new connection.
        await b.publish(command("line.reconcile", {"config_id": 2}))
        await wait_for(
            lambda: len(b.events.messages) == 2, limit=30, what="an outcome after reconnecting"
        )
        await wait_for(lambda: worker.consuming, limit=20, what="the consumer to be healthy")
