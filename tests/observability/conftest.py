"""The e2e stack with everything observability adds: a :class:`Metrics` wired in as both
observers and served over loopback HTTP, and every logger captured as JSON at DEBUG."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.amqp_helpers import broker, unique_prefix
from tests.e2e.conftest import PORTAL, Stack
from tests.runtime.conftest import runtime_settings
from worker.bootstrap import application
from worker.observability import logs
from worker.observability.metrics import Metrics
from worker.observability.upstream import UpstreamObserver
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER, AcceptRule
from worker.sandbox.stack import Sandbox

# Logins the sandbox's SIP side treats specially: with the canary password, CANARY_OK
# registers; any other login (CANARY_BAD) is refused with 401.
CANARY_OK = "canary-ok"
CANARY_BAD = "canary-bad"


@dataclass
class Observed:
    stack: Stack
    metrics: Metrics
    url: str
    logs: StringIO
    canary: str
    task: asyncio.Task[None]

    @property
    def webhook_code(self) -> str:
        return self.stack.sandbox.portal().options.webhook_code

    async def get(self, path: str) -> tuple[int, str]:
        async with (
            aiohttp.ClientSession(trust_env=False) as session,
            session.get(self.url + path) as resp,
        ):
            return resp.status, await resp.text()

    async def scrape(self) -> Samples:
        status, text = await self.get("/metrics")
        assert status == 200
        return Samples(text)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value straight from the registry (0 when absent)."""
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    async def stop_worker(self) -> None:
        self.stack.app.worker.stop()
        await asyncio.wait_for(asyncio.shield(self.task), timeout=30)

    def log_lines(self) -> list[dict[str, Any]]:
        """Every line written so far, each parsed as JSON (a line that is not fails)."""
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line]


class Samples:
    """A scraped exposition, parsed with prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum over samples named ``name`` whose labels include ``labels``."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def label_values(self) -> set[str]:
        return {v for s in self.samples for v in s.labels.values()}


@pytest.fixture
def captured_logs() -> Iterator[StringIO]:
    """Every logger, at DEBUG, as JSON lines into a buffer, as ``sipline run`` configures
    them, but without the known secrets: the tests prove the code never writes them."""
    root = logging.getLogger()
    quiet = [logging.getLogger(name) for name in ("aiormq", "aio_pika")]
    saved = (list(root.handlers), root.level, [q.level for q in quiet])
    buffer = StringIO()
    logs.configure(level="DEBUG", fmt="json", stream=buffer, secrets=())
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handlers, level, levels = saved
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for q, old in zip(quiet, levels, strict=True):
            q.setLevel(old)


@pytest.fixture
async def observed(tmp_path: Path, captured_logs: StringIO) -> AsyncIterator[Observed]:
    canary = f"CANARY-pw-{uuid.uuid4()}"
    sandbox = Sandbox(
        directory=tmp_path / "sandbox",
        portals=[
            PortalOptions(
                domain=PORTAL, cloud_pbx_limit=50, bucket_capacity=500, drain_per_second=100.0
            )
        ],
        rules=[
            AcceptRule(DEFAULT_SERVER, "*", DEFAULT_PASSWORD),
            AcceptRule(DEFAULT_SERVER, CANARY_OK, canary),
        ],
        wait_seconds=0.2,
        progress_seconds=0.3,
    )
    async with sandbox:
        values = sandbox.settings()
        # The worker's own bucket is far smaller than the sandbox portal's, so its limiter
        # makes calls wait (and the histogram fills) without the portal ever refusing one.
        values["portals"][PORTAL].update(bucket_capacity=4, drain_per_second=20.0)
        settings = runtime_settings(
            unique_prefix("obs"),
            settle_intervals=[0.2, 0.5],
            settle_deadline=5.0,
            metrics_host="127.0.0.1",
            metrics_port=0,
            **values,
        )
        metrics = Metrics()
        async with (
            broker(settings.topology_prefix, topology_spec(settings)) as b,
            application(
                settings,
                upstream_observer=UpstreamObserver(metrics=metrics),
                message_observer=metrics,
                metrics=metrics,
            ) as app,
        ):
            url = app.http_url
            assert url is not None
            task = asyncio.create_task(app.worker.run())
            await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
            try:
                yield Observed(
                    stack=Stack(sandbox=sandbox, app=app, broker=b),
                    metrics=metrics,
                    url=url,
                    logs=captured_logs,
                    canary=canary,
                    task=task,
                )
            finally:
                app.worker.stop()
                await asyncio.wait_for(task, timeout=30)
