"""A running worker serves a portal added to the store, a change, and stops serving a
removed one, within 5 s and without a restart (real broker, sandbox portals, real store)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from pydantic import SecretStr

from tests.amqp_helpers import broker, command, unique_prefix, wait_for
from tests.runtime.conftest import runtime_settings
from tests.store.conftest import Backend
from worker.adapters.store import open_store
from worker.bootstrap import application
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER
from worker.sandbox.stack import Sandbox
from worker.store import PortalRecord

CONFIGURED = "configured.bitrix24.test"
ADDED = "added.bitrix24.test"
PICK_UP = 5.0


async def _within(limit: float, predicate: Callable[[], bool], what: str) -> float:
    started = time.monotonic()
    await wait_for(predicate, limit=limit, what=what)
    return time.monotonic() - started


async def test_a_running_worker_follows_the_registry(tmp_path: Path, backend: Backend) -> None:
    sandbox = Sandbox(
        directory=tmp_path / "sandbox",
        portals=[PortalOptions(domain=CONFIGURED), PortalOptions(domain=ADDED)],
        wait_seconds=0.1,
        progress_seconds=0.2,
    )
    async with sandbox:
        values = sandbox.settings()
        added_hook = values["portals"].pop(ADDED)["webhook_url"]
        settings = runtime_settings(
            unique_prefix("registry"),
            settle_intervals=[0.2, 0.5],
            settle_deadline=5.0,
            store_poll_interval=0.5,
            **values,
            **backend.settings().model_dump(include={"store_url", "store_schema", "store_key"}),
        )
        async with (
            broker(settings.topology_prefix, topology_spec(settings)) as b,
            open_store(settings) as store,
            application(settings, store=store) as app,
        ):
            task = asyncio.create_task(app.worker.run())
            await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
            try:
                assert list(app.bitrix24.domains()) == [CONFIGURED]
                async with store.unit_of_work() as uow:
                    await uow.portals.add(
                        PortalRecord(
                            domain=ADDED, auth="webhook", webhook_url=SecretStr(added_hook)
                        )
                    )
                    await uow.commit()
                took = await _within(
                    PICK_UP, lambda: ADDED in app.bitrix24.domains(), "the added portal"
                )
                cmd = command(
                    "line.create",
                    {
                        "title": "via the registry",
                        "server": DEFAULT_SERVER,
                        "login": "user-registry",
                        "password": DEFAULT_PASSWORD,
                    },
                    portal=ADDED,
                )
                await b.publish(cmd)
                await wait_for(
                    lambda: any(
                        e.get("causationid") == cmd["id"] and e["type"] == "line.created"
                        for e in b.events.bodies()
                    ),
                    limit=20,
                    what="line.created on the added portal",
                )
                async with store.unit_of_work() as uow:
                    entry = await uow.portals.get(ADDED)
                    assert entry is not None
                    await uow.portals.update(replace(entry, enabled=False))
                    await uow.commit()
                await _within(
                    PICK_UP, lambda: ADDED not in app.bitrix24.domains(), "the disabled portal"
                )
                assert took < PICK_UP
            finally:
                app.worker.stop()
                await asyncio.wait_for(task, timeout=30)
