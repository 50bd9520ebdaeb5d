"""The projection as ``sipline run`` runs it: projector and gauge tasks, ended with the block."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from contracts.events import Verdict
from tests.amqp_helpers import Broker, wait_for
from tests.projection.conftest import publish
from tests.projection.events import created, later, reconciled
from worker.adapters.store import SqlStore
from worker.projection.service import running_projection


async def test_running_projection_follows_the_log_and_exports_the_gauge(
    log_broker: Broker, store: SqlStore
) -> None:
    registry = CollectorRegistry()
    async with running_projection(
        store=store,
        connection=log_broker.connection,
        stream=log_broker.spec.names.events_log,
        registry=registry,
        gauge_interval=0.1,
    ) as projection:
        await asyncio.wait_for(projection.projector.attached.wait(), 10)
        await publish(
            log_broker,
            created("s.test", 1, "one"),
            reconciled("s.test", 1, Verdict.CONFIG_DRIFT, at=later(1), findings=["x"]),
        )

        def drift() -> float | None:
            labels = {"portal": "s.test", "verdict": "config_drift"}
            return registry.get_sample_value("sipline_lines", labels)

        await wait_for(lambda: drift() == 1.0, limit=10, what="the gauge to show the drift")
    tasks = [t for t in asyncio.all_tasks() if t.get_name().startswith("sipline-")]
    assert not [t for t in tasks if t.get_name() in {"sipline-projection", "sipline-lines-gauge"}]
