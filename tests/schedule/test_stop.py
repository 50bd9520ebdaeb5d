"""SIGTERM ends a real ``sipline run`` saturated with scheduled sweeps, at once and with exit
code 0 (docs/operations.md, "Stopping"), on both store backends.

Hundreds of portals swept every second keep the worker behind: 32 ticks in hand wait for
the store's write lock beside the projection. Closing the tick channel under them cancelled
them mid-transaction, and on SQLite the connections they left closing kept the process
alive for ever after the drain.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from benchmarks.schedule_idle import fill
from tests.amqp_helpers import AMQP_URL, broker, unique_prefix
from tests.lifecycle.processes import clean_env, sipline, spawn
from tests.schedule.conftest import remove_schedule
from tests.store.conftest import Backend
from worker.adapters.amqp.topology import Names
from worker.adapters.store import open_store
from worker.cli.common import load_settings
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.stack import Sandbox

PORTALS = 400
GRACE = 5.0


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_sigterm_ends_a_worker_saturated_with_scheduled_sweeps(
    tmp_path: Path, backend: Backend
) -> None:
    sandbox = Sandbox(
        directory=tmp_path / "sandbox",
        portals=[
            PortalOptions(domain="busy.bitrix24.test", bucket_capacity=10_000, drain_per_second=1e4)
        ],
    )
    async with sandbox:
        values: dict[str, str] = {
            "SIPLINE_AMQP_URL": AMQP_URL,
            "SIPLINE_TOPOLOGY_PREFIX": unique_prefix("schedule-stop"),
            "SIPLINE_SWEEP_INTERVAL": "1",
            "SIPLINE_SHUTDOWN_GRACE": str(GRACE),
            "SIPLINE_EVENTS_MAX_AGE": "1h",
            "SIPLINE_DATA_DIR": str(tmp_path / "data"),
            "SIPLINE_STORE_URL": backend.url,
            "SIPLINE_STORE_KEY": backend.key,
            **({"SIPLINE_STORE_SCHEMA": backend.schema} if backend.schema else {}),
        }
        env_file = tmp_path / "worker.env"
        env_file.write_text(
            sandbox.dotenv() + "".join(f"{name}={value}\n" for name, value in values.items())
        )
        env_file.chmod(0o600)
        settings = load_settings(env_file)
        webhook = next(iter(settings.portals.values())).webhook_url
        assert webhook is not None
        async with (
            open_store(settings) as store,
            broker(settings.topology_prefix, topology_spec(settings)),
        ):
            await fill(store, PORTALS, webhook.get_secret_value())
            try:
                async with spawn(
                    *sipline("run", "--env-file", str(env_file)), env=clean_env()
                ) as run:
                    await run.wait_for_line("sweep schedule: consuming ticks", limit=120)
                    # behind: ticks fire later than their tolerance, 32 in hand at a time
                    await run.wait_for_line("s late", limit=60)
                    run.signal(signal.SIGTERM)
                    code, took = await run.ends_within(GRACE + 30)
                assert code == 0, run.output()[-3000:]
                assert took < GRACE + 5, (took, run.output()[-3000:])
                assert "did not stop when cancelled" not in run.output()
            finally:
                await remove_schedule(Names(settings.topology_prefix))
