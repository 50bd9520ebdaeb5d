"""A worker with its store and the sandbox, in this process, for the schedule's tests; and
ways to look at what the broker holds for the schedule."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika

from tests.amqp_helpers import AMQP_URL, Broker, broker, unique_prefix
from tests.runtime.conftest import runtime_settings
from tests.store.conftest import Backend, backend, store  # noqa: F401
from worker.adapters.amqp.topology import Names
from worker.adapters.store import SqlStore, open_store
from worker.bootstrap import Application, application
from worker.observability.metrics import Metrics
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.stack import Sandbox
from worker.schedule.plan import HOP_BASE, HOP_MAX_EXPONENT
from worker.settings import Settings
from worker.store import TickRecord

PORTALS = ("one.bitrix24.test", "two.bitrix24.test", "three.bitrix24.test")


@dataclass
class Scene:
    """The sandbox, the settings every worker of the test shares, and the taps."""

    sandbox: Sandbox
    settings: Settings
    broker: Broker
    store: SqlStore
    running: list[tuple[Application, asyncio.Task[None], Metrics]] = field(default_factory=list)

    @property
    def names(self) -> Names:
        return Names(self.settings.topology_prefix)

    def swept(self, portal: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.broker.events.of_type("portal.swept")
            if portal is None or e["portal"] == portal
        ]

    async def ticks(self) -> dict[str, TickRecord]:
        async with self.store.unit_of_work(readonly=True) as uow:
            return {r.portal: r for r in await uow.schedule.all()}

    async def pending(self, intervals: Iterable[float]) -> int:
        """Ticks the broker holds now: ready in the tick queue and in every wait queue."""
        return await ticks_pending(queue_names(self.names, intervals))

    async def purge(self, intervals: Iterable[float]) -> None:
        """Lose every tick: empty the tick queue and every wait queue."""
        await _existing(queue_names(self.names, intervals), purge=True)

    async def start(self, **overrides: Any) -> Metrics:
        settings = self.settings.model_copy(update=overrides) if overrides else self.settings
        metrics = Metrics()
        stack = application(settings, store=self.store, metrics=metrics)
        app = await stack.__aenter__()
        task = asyncio.create_task(app.worker.run())
        task.add_done_callback(lambda _: None)
        self._stacks.append(stack)
        self.running.append((app, task, metrics))
        await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
        return metrics

    async def stop(self, index: int = -1) -> None:
        app, task, _ = self.running.pop(index)
        stack = self._stacks.pop(index)
        app.worker.stop()
        await asyncio.wait_for(task, timeout=30)
        await stack.__aexit__(None, None, None)

    _stacks: list[Any] = field(default_factory=list)


@contextlib.asynccontextmanager
async def scene(
    tmp_path: Path, store_backend: Backend, *, portals: Iterable[str] = PORTALS, **overrides: Any
) -> AsyncIterator[Scene]:
    sandbox = Sandbox(
        directory=tmp_path / "sandbox",
        portals=[PortalOptions(domain=d) for d in portals],
        wait_seconds=0.1,
        progress_seconds=0.2,
    )
    async with sandbox:
        values = {
            "settle_intervals": [0.2, 0.5],
            "settle_deadline": 5.0,
            "store_poll_interval": 0.3,
            "sweep_interval": 2.0,
            "sweep_grace": 1.0,
            "metrics_port": 0,
            **sandbox.settings(),
            **store_backend.settings().model_dump(
                include={"store_url", "store_schema", "store_key"}
            ),
            **overrides,
        }
        settings = runtime_settings(unique_prefix("schedule"), **values)
        async with (
            broker(settings.topology_prefix, topology_spec(settings)) as b,
            open_store(settings) as store,
        ):
            found = Scene(sandbox, settings, b, store)
            try:
                yield found
            finally:
                while found.running:
                    await found.stop()
                await remove_schedule(found.names)


def queue_names(names: Names, intervals: Iterable[float]) -> list[str]:
    """The tick queue, the interval queues of ``intervals`` and every hop queue."""
    found = [names.schedule_ticks]
    found += [names.schedule_wait(i) for i in intervals]
    found += [names.schedule_hop(HOP_BASE * 2**k) for k in range(HOP_MAX_EXPONENT + 1)]
    return found


async def ticks_pending(queues: Iterable[str]) -> int:
    """Messages ready in ``queues`` now."""
    return sum(q.declaration_result.message_count or 0 for q in await _existing(queues))


async def _existing(queues: Iterable[str], *, purge: bool = False) -> list[Any]:
    """Those of ``queues`` that exist (passively declared), emptied if asked."""
    found = []
    connection = await aio_pika.connect(AMQP_URL)
    try:
        for name in queues:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
                if purge:
                    await queue.purge()
            except aio_pika.exceptions.ChannelClosed:
                continue
            found.append(queue)
            with contextlib.suppress(Exception):
                await channel.close()
    finally:
        await connection.close()
    return found


async def remove_schedule(names: Names) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    try:
        channel = await connection.channel()
        for seconds in [0.5, 1.0, 2.0, 3.0, 4.0, 600.0, 300.0]:
            await channel.queue_delete(names.schedule_wait(seconds))
        for k in range(HOP_MAX_EXPONENT + 1):
            await channel.queue_delete(names.schedule_hop(HOP_BASE * 2**k))
        await channel.queue_delete(names.schedule_ticks)
        await channel.exchange_delete(names.schedule_exchange)
    finally:
        await connection.close()
