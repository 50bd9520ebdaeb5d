"""Two real ``sipline run`` processes on one store and broker, one killed (-9) and started
again, and copies of a tick put back by hand: every portal still has exactly one pending tick,
and is swept once per interval, not once per process or per copy."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest

from tests.amqp_helpers import AMQP_URL, broker, unique_prefix, wait_for
from tests.resilience.processes import WorkerProcess, free_port
from tests.schedule.conftest import PORTALS, queue_names, remove_schedule, ticks_pending
from tests.store.conftest import Backend
from worker.adapters.amqp.topology import Names
from worker.adapters.store import open_store
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.stack import Sandbox
from worker.settings import Settings

INTERVAL = 2.0


def _scheduled(events: list[dict[str, Any]]) -> Counter[str]:
    ids = {
        (e["portal"], e["causationid"])
        for e in events
        if e["type"] == "portal.swept" and e["causationid"].startswith("schedule:")
    }
    return Counter(portal for portal, _ in ids)


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_two_processes_a_kill_and_duplicates_keep_one_tick_per_portal(
    tmp_path: Path, backend: Backend
) -> None:
    sandbox = Sandbox(
        directory=tmp_path / "sandbox", portals=[PortalOptions(domain=d) for d in PORTALS]
    )
    async with sandbox:
        env_file = tmp_path / "worker.env"
        env_file.write_text(sandbox.dotenv())
        values: dict[str, Any] = {
            "amqp_url": AMQP_URL,
            "topology_prefix": unique_prefix("schedule-procs"),
            "sweep_interval": INTERVAL,
            "sweep_grace": 1.0,
            "store_poll_interval": 0.3,
            "events_max_age": "1h",
            "log_format": "json",
            "store_url": backend.url,
            "store_key": backend.key,
            **({"store_schema": backend.schema} if backend.schema else {}),
        }
        settings = Settings(_env_file=None, **values)
        names = Names(settings.topology_prefix)
        workers = [
            WorkerProcess(
                env_file=env_file,
                values={**values, "metrics_port": free_port()},
                logs=tmp_path / f"w{n}",
            )
            for n in range(2)
        ]
        async with (
            broker(settings.topology_prefix, topology_spec(settings)) as b,
            open_store(settings) as store,
            aiohttp.ClientSession() as http,
        ):
            try:
                for worker in workers:
                    worker.start()
                for worker in workers:
                    await worker.ready(http, limit=120)
                await wait_for(
                    lambda: all(_scheduled(b.events.bodies())[p] >= 2 for p in PORTALS),
                    limit=30,
                    what="two scheduled sweeps of every portal",
                )
                workers[0].kill()  # a crash, whatever it was doing
                workers[0].start()
                await workers[0].ready(http, limit=120)
                async with store.unit_of_work(readonly=True) as uow:
                    record = await uow.schedule.get(PORTALS[1])
                assert record is not None
                assert record.due_at is not None
                body = json.dumps(
                    {
                        "portal": PORTALS[1],
                        "generation": record.generation,
                        "due": record.due_at.timestamp(),
                    }
                ).encode()
                connection = await aio_pika.connect(AMQP_URL)
                async with connection:
                    channel = await connection.channel()
                    for _ in range(3):  # replayed copies of the current tick
                        await channel.default_exchange.publish(
                            aio_pika.Message(body), routing_key=names.schedule_ticks
                        )
                before = _scheduled(b.events.bodies())
                await asyncio.sleep(4 * INTERVAL)
                after = _scheduled(b.events.bodies())
                for portal in PORTALS:
                    assert 2 <= after[portal] - before[portal] <= 5, (portal, before, after)
                samples = []
                for _ in range(20):
                    samples.append(await ticks_pending(queue_names(names, [INTERVAL])))
                    await asyncio.sleep(0.1)
                assert max(samples) == len(PORTALS), samples
                assert all(w.running() for w in workers)
            finally:
                for worker in workers:
                    worker.stop(grace=20)
                await remove_schedule(names)
