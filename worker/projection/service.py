"""The projection inside ``sipline run``: the projector and the ``sipline_lines`` gauge as
two background tasks that live exactly as long as the block (one owner: the exit stack)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aio_pika.abc import AbstractConnection
from prometheus_client import CollectorRegistry

from worker.projection.projector import Batch, Projector
from worker.status.gauge import LinesGauge
from worker.status.query import StatusQuery
from worker.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Projection:
    projector: Projector
    gauge: LinesGauge | None


@asynccontextmanager
async def running_projection(
    *,
    store: Store,
    connection: AbstractConnection,
    stream: str,
    registry: CollectorRegistry | None = None,
    gauge_interval: float = 5.0,
) -> AsyncIterator[Projection]:
    """Follow the event log into ``store`` while the block runs; export the gauge to
    ``registry`` when one is given. Both tasks are cancelled and awaited on exit."""
    gauge = None
    if registry is not None:
        gauge = LinesGauge(registry=registry, query=StatusQuery(store=store))

    def changed(batch: Batch) -> None:
        if gauge is not None and batch.changed:
            gauge.dirty.set()

    projector = Projector(store=store, connection=connection, stream=stream, on_batch=changed)
    tasks = [asyncio.create_task(projector.run(), name="sipline-projection")]
    if gauge is not None:
        tasks.append(
            asyncio.create_task(gauge.run(interval=gauge_interval), name="sipline-lines-gauge")
        )
    try:
        yield Projection(projector, gauge)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
