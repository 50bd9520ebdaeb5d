"""A fleet member's own connection: opened by the process's exit stack (or by the member when
run alone), a short heartbeat, no recovery, and the broker's refusals as configuration errors
(exit 2) like the single-process worker's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.fleet.conftest import Fleet
from tests.lifecycle.processes import clean_env, sipline, spawn
from worker.adapters.amqp.connection import ConnectionConfig, plain_connection
from worker.errors import ConfigurationError
from worker.sandbox.voximplant import ensure_service_account

BAD_PASSWORD = "CANARY-fleet-not-the-password"
REFUSED = "amqp://guest:CANARY-fleet-not-the-password@127.0.0.1:5672/"


async def test_a_refused_member_is_a_configuration_error(fleet: Fleet) -> None:
    with pytest.raises(ConfigurationError, match="refused the user name or password") as caught:
        await asyncio.wait_for(fleet.member("refused", url=REFUSED).run(), 15)
    assert BAD_PASSWORD not in str(caught.value)


async def test_an_attached_connection_is_used_and_left_to_its_owner(fleet: Fleet) -> None:
    one = fleet.member("attached")
    config = one.connection_config()
    assert config.heartbeat == 2  # a lost member is noticed in seconds
    async with plain_connection(config) as connection:
        one.attach(connection)
        task = asyncio.create_task(one.run())
        await asyncio.wait_for(one.ready.wait(), 20)
        assert one.connection is connection
        assert one.held == frozenset(range(fleet.fleet.shards))
        one.stop()
        await asyncio.wait_for(task, 20)
        assert not connection.is_closed  # its owner (the exit stack) closes it
    assert connection.is_closed


async def test_plain_connection_refuses_a_missing_vhost(fleet: Fleet) -> None:
    config = ConnectionConfig(
        url="amqp://guest:guest@127.0.0.1:5672/no-such-vhost", name="t", connect_timeout=10
    )
    with pytest.raises(ConfigurationError, match="refused the virtual host"):
        async with plain_connection(config):
            pass


@pytest.mark.slow  # ~20 s on a loaded machine, mostly the start-up of sipline run
@pytest.mark.timeout(90)
async def test_sipline_run_in_a_fleet_refused_by_the_broker_exits_2(tmp_path: Path) -> None:
    key = ensure_service_account(tmp_path / "vox", account_id=1, account_email="ops@example.com")
    env = clean_env(
        VOXIMPLANT_CREDENTIALS=str(key.credentials_path),
        SIPLINE_AMQP_URL=REFUSED,
        SIPLINE_TOPOLOGY_PREFIX="test-fleet-refused",
        SIPLINE_FLEET="true",
        SIPLINE_CONNECT_TIMEOUT="20",
        SIPLINE_METRICS_PORT="off",
    )
    async with spawn(*sipline("run"), env=env) as run:
        code, _ = await run.ends_within(30)
    output = run.output()
    assert code == 2, output
    assert "sipline: SIPLINE_AMQP_URL: the broker refused the user name or password" in output
    assert BAD_PASSWORD not in output
    assert "Traceback" not in output
