from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from tests.amqp_helpers import AMQP_URL, Broker, broker, unique_prefix
from worker.runtime.handler import CommandHandler
from worker.runtime.service import Worker
from worker.runtime.wiring import build_worker, topology_spec
from worker.settings import Settings

RunWorker = Callable[..., AbstractAsyncContextManager[tuple[Worker, Broker]]]


def runtime_settings(prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "amqp_url": AMQP_URL,
        "topology_prefix": prefix,
        "retry_delays": [0.2, 0.4],
        "settle_intervals": [0.2],
        "max_attempts": 3,
        "metrics_port": None,
        "shutdown_grace": 5.0,
        "reconnect_timeout": 5.0,
        "events_max_age": "1h",
        "events_max_bytes": 50_000_000,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def run_worker() -> RunWorker:
    @asynccontextmanager
    async def _run(
        handlers: Mapping[str, CommandHandler], **overrides: Any
    ) -> AsyncIterator[tuple[Worker, Broker]]:
        settings = runtime_settings(unique_prefix("rt"), **overrides)
        spec = topology_spec(settings)
        async with broker(settings.topology_prefix, spec) as b:
            worker = build_worker(settings, handlers=handlers)
            task = asyncio.create_task(worker.run())
            ready = asyncio.create_task(worker.ready.wait())
            done, _ = await asyncio.wait(
                {task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED
            )
            if task in done:
                task.result()
            assert ready in done, "worker did not become ready"
            try:
                yield worker, b
            finally:
                worker.stop()
                await asyncio.wait_for(task, timeout=30)

    return _run
