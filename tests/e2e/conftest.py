from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.amqp_helpers import Broker, broker, command, unique_prefix, wait_for
from tests.runtime.conftest import runtime_settings
from worker.bootstrap import Application, application
from worker.observability.metrics import Metrics
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER
from worker.sandbox.stack import Sandbox
from worker.settings import Settings
from worker.store import Store

PORTAL = "sandbox.bitrix24.test"


@dataclass
class Stack:
    sandbox: Sandbox
    app: Application
    broker: Broker

    async def send(self, type_: str, data: dict[str, Any], **kw: Any) -> str:
        cmd = command(type_, data, portal=kw.pop("portal", PORTAL), **kw)
        await self.broker.publish(cmd)
        return str(cmd["id"])

    def events_for(self, command_id: str) -> list[dict[str, Any]]:
        return [e for e in self.broker.events.bodies() if e.get("causationid") == command_id]

    async def outcome(
        self, command_id: str, event_type: str, *, count: int = 1, limit: float = 20.0
    ) -> list[dict[str, Any]]:
        def found() -> list[dict[str, Any]]:
            return [e for e in self.events_for(command_id) if e["type"] == event_type]

        await wait_for(lambda: len(found()) >= count, limit=limit, what=f"{event_type}")
        return found()

    async def create(
        self, title: str, *, password: str = DEFAULT_PASSWORD, **data: Any
    ) -> dict[str, Any]:
        body = {
            "title": title,
            "server": DEFAULT_SERVER,
            "login": f"user-{title}",
            "password": password,
        }
        body.update(data)
        cid = await self.send("line.create", body)
        created = (await self.outcome(cid, "line.created"))[0]["data"]
        return {"command_id": cid, **created}


def e2e_sandbox(directory: Path, *, cloud_pbx_limit: int | None = 50) -> Sandbox:
    """One roomy portal whose registrations settle in half a second (``cloud_pbx_limit``:
    None for the sandbox's default)."""
    limits = {} if cloud_pbx_limit is None else {"cloud_pbx_limit": cloud_pbx_limit}
    return Sandbox(
        directory=directory / "sandbox",
        portals=[
            PortalOptions(domain=PORTAL, bucket_capacity=500, drain_per_second=100.0, **limits)
        ],
        wait_seconds=0.2,
        progress_seconds=0.3,
    )


def e2e_settings(prefix: str, sandbox: Sandbox, **overrides: Any) -> Settings:
    """Settings for a worker against ``sandbox`` with short settle intervals."""
    return runtime_settings(
        unique_prefix(prefix),
        settle_intervals=[0.2, 0.5],
        settle_deadline=5.0,
        **overrides,
        **sandbox.settings(),
    )


@asynccontextmanager
async def serving_stack(
    sandbox: Sandbox,
    settings: Settings,
    *,
    tap_dead_letters: bool = True,
    **application_options: Any,
) -> AsyncIterator[Stack]:
    """The topology declared (and its dead letters tapped), and the worker consuming on a
    running ``sandbox``, until the block ends."""
    spec = topology_spec(settings)
    async with (
        broker(settings.topology_prefix, spec, tap_dead_letters=tap_dead_letters) as b,
        application(settings, **application_options) as app,
    ):
        task = asyncio.create_task(app.worker.run())
        await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
        try:
            yield Stack(sandbox=sandbox, app=app, broker=b)
        finally:
            app.worker.stop()
            await asyncio.wait_for(task, timeout=30)


@asynccontextmanager
async def running_stack(
    tmp_path: Path,
    prefix: str,
    *,
    store: Store | None = None,
    metrics: Metrics | None = None,
    tap_dead_letters: bool = True,
    cloud_pbx_limit: int | None = None,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    """A worker on the sandbox portal and account and the real broker, running until the
    block ends (``store``: with the line projection and the store's registry)."""
    async with e2e_sandbox(tmp_path, cloud_pbx_limit=cloud_pbx_limit) as sandbox:
        settings = e2e_settings(prefix, sandbox, **overrides)
        async with serving_stack(
            sandbox, settings, tap_dead_letters=tap_dead_letters, metrics=metrics, store=store
        ) as running:
            yield running


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running_stack(tmp_path, "e2e", cloud_pbx_limit=50) as running:
        yield running
