"""SIGTERM ends a real ``sipline run`` saturated with scheduled sweeps, at once and with exit
code 0 (docs/operations.md, "Stopping"), on both store backends.

Hundreds of portals swept every second keep the worker behind: 32 ticks in hand wait for
the store's write lock beside the projection. Closing the tick channel under them cancelled
them mid-transaction, and on SQLite the connections they left closing kept the process
alive for ever after the drain.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from benchmarks.schedule_idle import fill
from tests.amqp_helpers import AMQP_URL, broker, unique_prefix
from tests.lifecycle.processes import clean_env, proxy, sipline, spawn
from tests.runtime.conftest import runtime_settings
from tests.schedule.conftest import remove_schedule
from tests.store.conftest import Backend
from worker.adapters.amqp.connection import ConnectionConfig, robust_connection
from worker.adapters.amqp.topology import Names
from worker.adapters.store import SqlStore, open_store
from worker.bootstrap import sweep_schedule
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


@pytest.mark.timeout(60)
async def test_the_schedule_stops_at_once_while_the_broker_is_away(store: SqlStore) -> None:
    """Issue 9, item 2, for the schedule: with the broker gone, nothing it would wait for
    there (the consumer's cancel, the channel's close, a robust channel's declare) is waited
    for; only a store transaction under way would be. It once added up to 8 s to a worker's
    shutdown (the CI run that timed ``sipline run`` ending 8.26 s after SIGTERM)."""
    prefix = unique_prefix("schedule-away")
    settings = runtime_settings(prefix)
    names = Names(prefix)
    async with broker(prefix, topology_spec(settings)), proxy() as cut_me:
        config = ConnectionConfig(url=cut_me.url(), name="test", connect_timeout=10)
        try:
            async with robust_connection(config) as connection:
                schedule = sweep_schedule(settings, store=store, connection=connection)
                running = schedule.running()
                await running.__aenter__()
                await asyncio.wait_for(schedule.started.wait(), timeout=20)
                lost = asyncio.Event()
                connection.close_callbacks.add(lambda *_: lost.set())
                await cut_me.cut()
                await asyncio.wait_for(lost.wait(), timeout=10)
                assert not connection.connected.is_set()
                started = time.monotonic()
                await running.__aexit__(None, None, None)
                took = time.monotonic() - started
        finally:
            await remove_schedule(names)
    assert took < 1.0, took
