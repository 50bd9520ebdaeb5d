"""``sipline run`` with ``SIPLINE_FLEET=true``: real processes, the sandbox, the broker."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aio_pika
import aiohttp
import pytest

from tests.fleet.procs import create, fleet_tap, fleet_values, many_portals, members
from tests.resilience.conftest import unique_prefix
from tests.resilience.processes import _clean_env, until, worker_env
from worker.fleet.topology import FleetNames, FleetSpec, declare_fleet, shards_on_broker
from worker.sandbox.voximplant import ensure_service_account


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_two_processes_share_the_portals_and_stop_cleanly(tmp_path: Path) -> None:
    values = fleet_values(unique_prefix("fleet-run"))
    async with (
        aiohttp.ClientSession() as session,
        many_portals(tmp_path / "sandbox", 6) as sandbox,
        fleet_tap(values) as tapped,
    ):
        with members(sandbox.dotenv, values, tmp_path / "logs") as group:
            first = group.start("a")
            second = group.start("b")
            await first.ready(session)
            await second.ready(session)
            commands = [
                create(portal, f"{portal.split('.')[0]}-{n}", tag="run")
                for n in range(4)
                for portal in sandbox.portals
            ]
            await tapped.publish_many(commands)
            ids = [c["id"] for c in commands]
            ledger = tapped.ledger
            await until(lambda: ledger.completed(ids) == len(ids), limit=90, what="outcomes")

            # the fleet's metrics: the two hold every shard between them, the active router
            # routed every command (and the settle re-checks, which come back through it)
            # (each member's gauge follows its own handovers, a heartbeat apart: wait for the
            # two to agree rather than read them in the middle of one)
            owned: list[float] = []

            async def settled() -> bool:
                owned[:] = [
                    await w.metric(session, "sipline_fleet_shards_owned") for w in (first, second)
                ]
                return sum(owned) == 8

            deadline = asyncio.get_running_loop().time() + 30
            while not await settled():
                assert asyncio.get_running_loop().time() < deadline, owned
                await asyncio.sleep(0.5)
            assert all(held > 0 for held in owned)
            assert [await w.metric(session, "sipline_fleet_members") for w in (first, second)] == [
                2,
                2,
            ]
            routed = [
                await w.metric(session, "sipline_fleet_routed_total") for w in (first, second)
            ]
            assert sum(routed) >= len(ids)
            took = [
                await w.metric(session, "sipline_fleet_handovers_total") for w in (first, second)
            ]
            assert sum(took) >= 8

            status = await asyncio.create_subprocess_exec(
                *(
                    sys.executable,
                    "-m",
                    "worker.cli.main",
                    "fleet",
                    "status",
                    "--json",
                    "--listen",
                    "3",  # longer than the members' beat period (2 s)
                ),
                env={**_clean_env(), **worker_env(values)},
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(status.communicate(), 30)
            assert status.returncode == 0, (out.decode(), err.decode())
            shown = json.loads(out)
            assert len(shown["members"]) == 2
            assert shown["orphaned"] == []

            # a refusal at start: another shard count than the broker's
            odd = group.start("odd", shards=4, metrics_port="off")
            await until(lambda: odd.reap() is not None, limit=30, what="the refusal")
            assert odd.exits == [2]
            assert "the broker has 8 shard queues" in odd.tail()

            tally = ledger.tally(ids)
            assert tally.missing == []
            assert tally.by_type.get("line.created") == len(ids)
            counters = await sandbox.counters(session)
            assert counters["totals"]["query_limit_rejections"] == 0
            served = group.served()
            assert set(served) == set(sandbox.portals)
            assert all(len(by) == 1 for by in served.values()), served  # one owner each
            assert {m for by in served.values() for m in by} == {"a", "b"}
            assert first.stop() == 0
            assert second.stop() == 0


async def test_sipline_run_refuses_another_shard_count_with_exit_2(tmp_path: Path) -> None:
    values = fleet_values(unique_prefix("fleet-refuse"), metrics_port="off")
    async with fleet_tap(values) as tapped:
        channel = await tapped.connection.channel()

        async def open_channel() -> aio_pika.abc.AbstractChannel:
            return await tapped.connection.channel()

        await declare_fleet(
            channel,
            open_channel,
            FleetSpec(FleetNames(values["topology_prefix"]), shards=8, delivery_limit=5),
        )
        env_file = tmp_path / "empty.env"
        env_file.write_text("")
        credentials = ensure_service_account(
            tmp_path / "vox", account_id=1, account_email="ops@example.com"
        ).credentials_path
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "worker.cli.main", "run"),
            env={
                **_clean_env(),
                **worker_env({**values, "shards": 4}),
                "VOXIMPLANT_CREDENTIALS": str(credentials),
            },
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 40)
        assert process.returncode == 2
        assert "the broker has 8 shard queues" in err.decode()
        assert "configured for 4" in err.decode()
        # the way to the new count: with every process stopped, reshard, then start
        reshard = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "worker.cli.main", "fleet", "reshard", "--shards", "4"),
            env={**_clean_env(), **worker_env(values)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(reshard.communicate(), 40)
        assert reshard.returncode == 0, err.decode()
        assert "shards: 8 → 4; 0 waiting copies" in out.decode()
        assert await shards_on_broker(open_channel, FleetNames(values["topology_prefix"])) == 4
