"""The whole path in one process: the sandbox (portal + account pushing callbacks), the
worker (``application``: consumer, projection, HTTP server with the callback route), the
real broker and a real store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from tests.amqp_helpers import wait_for
from tests.e2e.conftest import Stack, e2e_sandbox, e2e_settings, serving_stack
from worker.http.callbacks import PATH
from worker.observability.metrics import Metrics
from worker.observability.upstream import UpstreamObserver
from worker.sandbox.stack import Sandbox
from worker.sandbox.voximplant import admin
from worker.store import Store

SALT = "salt-CANARY-e2e-51c9"  # ≤ 40 characters, as Voximplant allows


@dataclass
class Pushed:
    stack: Stack
    store: Store
    metrics: Metrics
    session: aiohttp.ClientSession

    @property
    def sandbox(self) -> Sandbox:
        return self.stack.sandbox

    @property
    def api_key(self) -> str:
        return self.sandbox.account.api_key

    async def line(self, title: str) -> dict[str, Any]:
        """A line created, reconciled in_sync, and known to the store by its reg_id."""
        created = await self.stack.create(title)
        checked = await self.stack.outcome(created["command_id"], "line.reconciled")
        assert checked[0]["data"]["verdict"] == "in_sync"
        reg_id = created["reg_id"]

        async def projected() -> bool:
            async with self.store.unit_of_work(readonly=True) as uow:
                return bool(await uow.lines.by_reg_ids([reg_id]))

        deadline = time.monotonic() + 10
        while not await projected():
            assert time.monotonic() < deadline, "the projection never recorded the line"
            await asyncio.sleep(0.02)
        return created

    async def refuse(self, reg_id: int) -> None:
        await admin.refuse(self.session, self.sandbox.account.admin_url, reg_id)

    async def admit(self, reg_id: int) -> None:
        await admin.admit(self.session, self.sandbox.account.admin_url, reg_id)

    def reconciled(self, config_id: int, verdict: str, *, after: int = 0) -> list[dict[str, Any]]:
        """``line.reconciled`` events of the line with ``verdict``, from the ``after``-th."""
        return [
            e
            for e in self.stack.broker.events.bodies()[after:]
            if e["type"] == "line.reconciled"
            and e["data"]["config_id"] == config_id
            and e["data"]["verdict"] == verdict
        ]

    async def wait_reconciled(
        self, config_id: int, verdict: str, *, after: int, limit: float = 10.0
    ) -> dict[str, Any]:
        await wait_for(
            lambda: bool(self.reconciled(config_id, verdict, after=after)),
            limit=limit,
            what=f"line.reconciled {verdict} for line {config_id}",
        )
        return self.reconciled(config_id, verdict, after=after)[0]


@asynccontextmanager
async def pushed_stack(directory: Path, store: Store) -> AsyncIterator[Pushed]:
    metrics = Metrics()
    async with e2e_sandbox(directory) as sandbox, aiohttp.ClientSession(trust_env=False) as session:
        settings = e2e_settings(
            "cb-e2e",
            sandbox,
            metrics_host="127.0.0.1",
            metrics_port=0,
            voximplant_callback_salt=SecretStr(SALT),
            voximplant_api_key=SecretStr(sandbox.account.api_key),
        )
        async with serving_stack(
            sandbox,
            settings,
            upstream_observer=UpstreamObserver(metrics=metrics),
            message_observer=metrics,
            metrics=metrics,
            store=store,
        ) as stack:
            assert stack.app.http_url is not None
            sandbox.account.set_callback(stack.app.http_url + PATH, SALT)
            yield Pushed(stack=stack, store=store, metrics=metrics, session=session)
