"""``/healthz`` means something (issue 9, item 13): the event loop responds and the consumer
is attached or within its phase's deadline; otherwise 503 with the reason. Served by the
process's one HTTP server (worker/http/), routes per concern."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from worker.http import http_server
from worker.http.health import HealthRoutes, LoopLag
from worker.http.metrics import MetricsRoutes
from worker.observability.metrics import Metrics
from worker.runtime.service import Phase, WorkerStatus


@dataclass
class FakeWorker:
    """The worker's status, as a test sets it."""

    phase: Phase = Phase.CONSUMING
    since: float = 0.0
    deadline: float | None = None
    in_flight: int = 0

    def status(self) -> WorkerStatus:
        return WorkerStatus(self.phase, self.since, self.deadline, self.in_flight)

    def enter(self, phase: Phase, *, ago: float, deadline: float | None) -> None:
        self.phase, self.since, self.deadline = phase, time.monotonic() - ago, deadline


@dataclass
class Served:
    worker: FakeWorker
    url: str
    session: aiohttp.ClientSession

    async def get(self, path: str) -> tuple[int, dict[str, object]]:
        async with self.session.get(self.url + path) as response:
            return response.status, await response.json(content_type=None)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    worker = FakeWorker(since=time.monotonic())
    routes = [
        HealthRoutes(worker, max_lag=0.3, probe=LoopLag(interval=0.05)),
        MetricsRoutes(Metrics()),
    ]
    async with (
        http_server(routes, host="127.0.0.1", port=0) as url,
        aiohttp.ClientSession() as session,
    ):
        assert url is not None
        yield Served(worker, url, session)


async def test_alive_and_ready_while_consuming(served: Served) -> None:
    status, body = await served.get("/healthz")
    assert status == 200
    assert body["status"] == "alive"
    assert body["phase"] == "consuming"
    status, body = await served.get("/readyz")
    assert (status, body["status"]) == (200, "ready")


async def test_reconnecting_is_alive_within_its_deadline_and_not_after(served: Served) -> None:
    served.worker.enter(Phase.RECONNECTING, ago=5, deadline=60)
    status, body = await served.get("/healthz")
    assert (status, body["status"], body["phase"]) == (200, "alive", "reconnecting")
    status, _ = await served.get("/readyz")
    assert status == 503

    served.worker.enter(Phase.RECONNECTING, ago=75, deadline=60)
    status, body = await served.get("/healthz")
    assert status == 503
    assert body["status"] == "unhealthy"
    assert body["reason"] == "reconnecting for 75 s (limit 60 s)"


@pytest.mark.parametrize("phase", [Phase.STARTING, Phase.DRAINING, Phase.STOPPED])
async def test_every_phase_with_a_deadline_is_held_to_it(served: Served, phase: Phase) -> None:
    served.worker.enter(phase, ago=31, deadline=30)
    status, body = await served.get("/healthz")
    assert status == 503
    assert str(body["reason"]).startswith(f"{phase} for 31 s")


async def test_a_blocked_event_loop_is_unhealthy_until_it_recovers(served: Served) -> None:
    await asyncio.sleep(0.2)  # the probe has ticked
    time.sleep(0.8)  # noqa: ASYNC251 - the point: a synchronous call blocks the loop
    status, body = await served.get("/healthz")
    assert status == 503
    assert str(body["reason"]).startswith("event loop lag")
    assert float(str(body["loop_lag_seconds"])) >= 0.5

    deadline = time.monotonic() + 5
    while (await served.get("/healthz"))[0] != 200:
        assert time.monotonic() < deadline, "never healthy again"
        await asyncio.sleep(0.05)


async def test_metrics_are_served_beside_health(served: Served) -> None:
    async with served.session.get(served.url + "/metrics") as response:
        assert response.status == 200
        assert "sipline_in_flight" in await response.text()


async def test_the_real_worker_reports_its_phases() -> None:
    from tests.runtime.conftest import runtime_settings
    from worker.runtime.wiring import build_worker

    worker = build_worker(runtime_settings("test-health-unused"), handlers={})
    status = worker.status()
    assert status.phase is Phase.STARTING
    assert status.deadline == runtime_settings("x").connect_timeout
    worker.stop()
    await asyncio.wait_for(worker.run(), timeout=5)  # stopped before it started: no I/O
    assert worker.status().phase is Phase.STOPPED
