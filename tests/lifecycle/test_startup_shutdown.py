"""Start-up and shutdown always end (issue 9, items 1 and 2), with real processes, real
signals, a port that never speaks AMQP, a closed port and a broker outage (a TCP proxy to
the real broker, cut)."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.amqp_helpers import Broker, broker, command
from tests.lifecycle.processes import (
    Process,
    clean_env,
    closed_port,
    proxy,
    silent_port,
    sipline,
    spawn,
)
from worker.runtime.wiring import topology_spec
from worker.sandbox.voximplant import ensure_service_account
from worker.settings import Settings

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> str:
    key = ensure_service_account(
        tmp_path_factory.mktemp("vox"), account_id=1, account_email="ops@example.com"
    )
    return str(key.credentials_path)


def run_env(credentials: str, url: str, **values: str) -> dict[str, str]:
    return clean_env(
        VOXIMPLANT_CREDENTIALS=credentials,
        SIPLINE_AMQP_URL=url,
        SIPLINE_TOPOLOGY_PREFIX=f"test-life-{uuid.uuid4().hex[:10]}",
        **values,
    )


async def test_a_port_that_never_speaks_amqp_ends_start_up_at_the_deadline(
    credentials: str,
) -> None:
    async with silent_port() as silent:
        url = f"amqp://guest:guest@127.0.0.1:{silent.port}/"
        env = run_env(credentials, url, SIPLINE_CONNECT_TIMEOUT="1.5")
        async with spawn(*sipline("run"), env=env) as run:
            code, _ = await run.ends_within(20)
    assert code == 1, run.output()
    assert silent.accepted >= 1
    assert "cannot reach the broker" in run.output()
    assert "SIPLINE_CONNECT_TIMEOUT" in run.output()
    assert "Traceback" not in run.output()


async def test_a_closed_port_is_retried_until_the_deadline(credentials: str) -> None:
    url = f"amqp://guest:guest@127.0.0.1:{closed_port()}/"
    env = run_env(credentials, url, SIPLINE_CONNECT_TIMEOUT="2")
    async with spawn(*sipline("run"), env=env) as run:
        code, _ = await run.ends_within(20)
    assert code == 1, run.output()
    assert "broker not reachable yet; retrying" in run.output()
    assert "cannot reach the broker" in run.output()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("amqp://guest:not-the-password@127.0.0.1:5672/", "refused the user name or password"),
        ("amqp://guest:guest@127.0.0.1:5672/no-such-vhost", "refused the virtual host"),
    ],
)
async def test_a_broker_refusal_is_a_configuration_error(
    credentials: str, url: str, expected: str
) -> None:
    env = run_env(credentials, url, SIPLINE_CONNECT_TIMEOUT="20")
    async with spawn(*sipline("run"), env=env) as run:
        code, _ = await run.ends_within(20)
    assert code == 2, run.output()
    assert f"sipline: SIPLINE_AMQP_URL: the broker {expected}" in run.output()
    assert "not-the-password" not in run.output()
    assert "Traceback" not in run.output()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
async def test_a_signal_while_connecting_ends_the_process_at_once(
    credentials: str, sig: signal.Signals
) -> None:
    async with silent_port() as silent:
        url = f"amqp://guest:guest@127.0.0.1:{silent.port}/"
        env = run_env(credentials, url, SIPLINE_CONNECT_TIMEOUT="120")
        async with spawn(*sipline("run"), env=env) as run:
            deadline = asyncio.get_running_loop().time() + 20
            while silent.accepted == 0:  # the handshake has begun and will never finish
                assert asyncio.get_running_loop().time() < deadline, run.output()
                await asyncio.sleep(0.05)
            run.signal(sig)
            code, took = await run.ends_within(10)
    assert code == 0, run.output()
    assert took < 5


@pytest.fixture
async def topology() -> AsyncIterator[tuple[dict[str, str], Broker]]:
    """Worker settings (as variables) and the tapped topology they describe."""
    values = {
        "SIPLINE_TOPOLOGY_PREFIX": f"test-life-{uuid.uuid4().hex[:10]}",
        "SIPLINE_RETRY_DELAYS": "[0.2, 0.4]",
        "SIPLINE_SETTLE_INTERVALS": "[0.2]",
        "SIPLINE_EVENTS_MAX_AGE": "1h",
        "SIPLINE_EVENTS_MAX_BYTES": "50000000",
    }
    parsed: dict[str, Any] = {
        k.removeprefix("SIPLINE_").lower(): json.loads(v) if v.startswith("[") else v
        for k, v in values.items()
    }
    spec = topology_spec(Settings(_env_file=None, **parsed))
    async with broker(values["SIPLINE_TOPOLOGY_PREFIX"], spec) as b:
        yield values, b


async def busy(worker: Process, b: Broker, *, published: int, in_flight: int) -> None:
    """Publish slow commands and wait until the worker process is handling ``in_flight``."""
    await worker.wait_for_line("consuming")
    for n in range(published):
        await b.publish(command("line.reconcile", {"config_id": n + 1}))
    deadline = asyncio.get_running_loop().time() + 20
    while worker.output().count("handling ") < in_flight:
        assert asyncio.get_running_loop().time() < deadline, worker.output()
        await asyncio.sleep(0.05)


async def test_sigterm_while_reconnecting_ends_the_process(
    credentials: str, topology: tuple[dict[str, str], Broker]
) -> None:
    values, _ = topology
    async with proxy() as cut_me:
        env = clean_env(
            VOXIMPLANT_CREDENTIALS=credentials,
            SIPLINE_AMQP_URL=cut_me.url(),
            SIPLINE_RECONNECT_TIMEOUT="120",
            SIPLINE_SHUTDOWN_GRACE="3",
            **values,
        )
        async with spawn(*sipline("run"), env=env) as run:
            await run.wait_for_line('"consuming"')
            await cut_me.cut()
            await run.wait_for_line("waiting for recovery", limit=15)
            run.signal(signal.SIGTERM)
            code, took = await run.ends_within(15)
    assert code == 0, run.output()
    assert took < 3 + 5  # the grace, and the connection's close timeout at most


async def test_sigterm_during_an_outage_with_work_in_flight_loses_nothing(
    topology: tuple[dict[str, str], Broker],
) -> None:
    """Issue 9, item 2: the drain does not wait for the broker, in-flight work gets the grace,
    and every delivery the worker held goes back to the queue by itself."""
    values, b = topology
    grace = 2.0
    async with proxy() as cut_me:
        env = clean_env(
            SIPLINE_AMQP_URL=cut_me.url(),
            SIPLINE_PREFETCH="4",
            SIPLINE_SHUTDOWN_GRACE=str(grace),
            SIPLINE_RECONNECT_TIMEOUT="120",
            **values,
        )
        async with spawn("-m", "tests.lifecycle.worker_proc", "30", env=env) as worker:
            await busy(worker, b, published=6, in_flight=4)  # prefetch 4: two stay ready
            await cut_me.cut()
            await worker.wait_for_line("waiting for recovery", limit=15)  # the outage is seen
            worker.signal(signal.SIGTERM)
            code, took = await worker.ends_within(15)
        assert code == 0, worker.output()
        assert took < grace + 5, worker.output()
    await b.wait_depth(b.spec.names.commands_queue, 6, what="the deliveries to come back")
    assert b.events.messages == []
    assert b.dead.messages == []


async def test_a_second_signal_during_the_drain_stops_at_once(
    topology: tuple[dict[str, str], Broker],
) -> None:
    values, b = topology
    env = clean_env(
        SIPLINE_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/",
        SIPLINE_PREFETCH="2",
        SIPLINE_SHUTDOWN_GRACE="60",
        **values,
    )
    async with spawn("-m", "tests.lifecycle.worker_proc", "30", env=env) as worker:
        await busy(worker, b, published=2, in_flight=2)
        worker.signal(signal.SIGTERM)
        await worker.wait_for_line("draining")
        worker.signal(signal.SIGTERM)
        code, took = await worker.ends_within(15)
    assert code == 0, worker.output()
    assert took < 5
    await b.wait_depth(b.spec.names.commands_queue, 2, what="the deliveries to come back")
    assert b.events.messages == []
