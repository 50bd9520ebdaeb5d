"""End to end: the sandbox portal installs the application on a running worker
(``sipline sandbox-ctl install --url …``), the worker serves the portal within 5 s with the
tokens the install brought, and ``sandbox-ctl uninstall`` stops it (real broker, sandbox,
HTTP server and store; both backends)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from tests.amqp_helpers import broker, command, unique_prefix, wait_for
from tests.runtime.conftest import runtime_settings
from tests.store.conftest import Backend
from worker.adapters.store import open_store
from worker.bootstrap import application
from worker.http.install import PATH
from worker.observability.metrics import Metrics
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER
from worker.sandbox.stack import Sandbox

DOMAIN = "installed.bitrix24.test"
PICK_UP = 5.0


async def _sandbox_ctl(*args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker.cli.main",
        "sandbox-ctl",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    return proc.returncode or 0, out.decode()


async def test_a_portal_installed_from_the_sandbox_serves_a_command(
    tmp_path: Path, backend: Backend
) -> None:
    sandbox = Sandbox(
        directory=tmp_path / "sandbox",
        portals=[PortalOptions(domain=DOMAIN)],
        auth="oauth",
        wait_seconds=0.1,
        progress_seconds=0.2,
    )
    async with sandbox:
        env_file = tmp_path / "sandbox.env"
        env_file.write_text(sandbox.dotenv())
        values = sandbox.settings()
        values["portals"] = {}  # the worker learns of the portal by its install alone
        settings = runtime_settings(
            unique_prefix("install"),
            settle_intervals=[0.2, 0.5],
            settle_deadline=5.0,
            store_poll_interval=0.5,
            metrics_port=0,
            metrics_host="127.0.0.1",
            **values,
            **backend.settings().model_dump(include={"store_url", "store_schema", "store_key"}),
        )
        async with (
            broker(settings.topology_prefix, topology_spec(settings)) as b,
            open_store(settings) as store,
            application(settings, metrics=Metrics(), store=store) as app,
        ):
            task = asyncio.create_task(app.worker.run())
            await asyncio.wait_for(app.worker.ready.wait(), timeout=20)
            try:
                assert DOMAIN not in app.bitrix24.domains()
                url = f"{app.http_url}{PATH}"
                code, out = await _sandbox_ctl("install", "--env-file", str(env_file), "--url", url)
                assert code == 0, out
                assert "HTTP 200" in out
                started = time.monotonic()
                await wait_for(
                    lambda: DOMAIN in app.bitrix24.domains(), limit=PICK_UP, what="the install"
                )
                assert time.monotonic() - started < PICK_UP
                cmd = command(
                    "line.create",
                    {
                        "title": "installed",
                        "server": DEFAULT_SERVER,
                        "login": "user-installed",
                        "password": DEFAULT_PASSWORD,
                    },
                    portal=DOMAIN,
                )
                await b.publish(cmd)
                await wait_for(
                    lambda: any(
                        e.get("causationid") == cmd["id"] and e["type"] == "line.reconciled"
                        for e in b.events.bodies()
                    ),
                    limit=20,
                    what="line.reconciled on the installed portal",
                )
                assert [e["type"] for e in b.events.bodies()][:1] == ["line.created"]
                assert sandbox.portal(DOMAIN).state.counters.installs == 1
                code, out = await _sandbox_ctl(
                    "uninstall", "--env-file", str(env_file), "--url", url
                )
                assert code == 0, out
                await wait_for(
                    lambda: DOMAIN not in app.bitrix24.domains(),
                    limit=PICK_UP,
                    what="the uninstall",
                )
                async with store.unit_of_work(readonly=True) as uow:
                    portal = await uow.portals.get(DOMAIN)
                    assert portal is not None
                    assert not portal.enabled
                    assert await uow.tokens.get(DOMAIN) is None
            finally:
                app.worker.stop()
                await asyncio.wait_for(task, timeout=30)
