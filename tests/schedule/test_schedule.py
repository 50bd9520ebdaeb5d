"""Scheduled sweeps against the real broker, the sandbox and both store backends: ticks fire
at the interval through the normal command path; two schedules (and a restart) keep one
pending tick per portal; a duplicated tick is dropped; a lost one is re-created; an added
portal is scheduled, a removed one stops; interval 0 is off."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import aio_pika
import aiohttp
import pytest
from pydantic import SecretStr

from tests.amqp_helpers import AMQP_URL, wait_for
from tests.schedule.conftest import PORTALS, Scene, scene
from tests.store.conftest import Backend
from worker.schedule.tick import SCHEDULE_SOURCE
from worker.store import PortalRecord

INTERVAL = 2.0


def _sweep_times(s: Scene, portal: str) -> list[float]:
    """When each scheduled sweep of ``portal`` was published (its command's time)."""
    return sorted(
        datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()
        for e in s.swept(portal)
        if e["causationid"].startswith("schedule:")
    )


def _scheduled_sweeps(s: Scene) -> Counter[str]:
    """portal → scheduled sweeps that ran, each command id once."""
    ids = {
        (e["portal"], e["causationid"])
        for e in s.swept()
        if e["causationid"].startswith("schedule:")
    }
    return Counter(portal for portal, _ in ids)


async def test_ticks_fire_at_the_interval_through_the_command_path(
    tmp_path: Path, backend: Backend
) -> None:
    async with scene(tmp_path, backend) as s:
        metrics = await s.start()
        started = time.monotonic()
        await wait_for(
            lambda: all(_scheduled_sweeps(s)[p] >= 3 for p in PORTALS),
            limit=20,
            what="three scheduled sweeps of every portal",
        )
        elapsed = time.monotonic() - started
        # three sweeps each need at least two whole intervals after the first slot
        assert elapsed >= 2 * INTERVAL - 0.5
        ticks = await s.ticks()
        for portal in PORTALS:
            record = ticks[portal]
            assert record.interval == INTERVAL
            assert record.due_at is not None
            sweeps = [e for e in s.swept(portal) if e["causationid"].startswith("schedule:")]
            generations = sorted(int(e["causationid"].split(":")[1]) for e in sweeps)
            assert generations == sorted(set(generations)), generations
        # every scheduled sweep went through the command queue as a portal.sweep from the
        # schedule: the commands the worker finished say so
        sample = metrics.registry.get_sample_value
        assert (sample("sipline_sweeps_scheduled_total") or 0) >= 9
        assert (sample("sipline_sweeps_run_total", {"trigger": "schedule"}) or 0) >= 9
        assert sample("sipline_sweeps_run_total", {"trigger": "command"}) is None
        # the status page and the JSON API show each portal's last sweep (the projection
        # follows the event log)
        url = s.running[0][0].http_url
        assert url is not None

        async def shown() -> dict[str, str | None]:
            async with aiohttp.ClientSession() as http, http.get(f"{url}/v1/portals") as r:
                return {p["portal"]: p["last_sweep"] for p in (await r.json())["portals"]}

        seen: dict[str, str | None] = {}
        deadline = time.monotonic() + 15
        while not (set(PORTALS) <= {p for p, when in seen.items() if when}):
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.2)
            seen = await shown()
        async with aiohttp.ClientSession() as http, http.get(f"{url}/") as r:
            page = await r.text()
        assert "<th>Last sweep</th>" in page
        # the portals' sweeps fall at different moments of the interval (a phase each)
        phases = {round(min(_sweep_times(s, p)) % INTERVAL, 1) for p in PORTALS}
        assert len(phases) > 1, phases


async def test_a_scheduled_sweep_reports_only_what_diverges(
    tmp_path: Path, backend: Backend
) -> None:
    async with scene(tmp_path, backend, portals=PORTALS[:1], sweep_interval=0) as s:
        await s.start()
        portal = PORTALS[0]
        create = {
            "specversion": "1.0",
            "id": "schedule-test-create",
            "type": "line.create",
            "source": "urn:test",
            "portal": portal,
            "data": {
                "title": "office",
                "server": "sip.sandbox.test",
                "login": "office",
                "password": "CANARY-schedule-pw",
            },
        }
        await s.broker.publish(create)
        await wait_for(
            lambda: any(
                e["type"] == "line.reconciled" and e["data"].get("verdict") != "pending"
                for e in s.broker.events.bodies()
            ),
            limit=20,
            what="the new line's verdict",
        )
        async with s.store.unit_of_work() as uow:
            await uow.portals.add(
                PortalRecord(
                    domain=portal,
                    auth="webhook",
                    webhook_url=SecretStr(
                        s.settings.portals[portal].webhook_url.get_secret_value()  # type: ignore[union-attr]
                    ),
                    sweep_interval=INTERVAL,
                )
            )
            await uow.commit()
        await wait_for(lambda: len(s.swept(portal)) >= 1, limit=15, what="a scheduled sweep")
        sweep = s.swept(portal)[0]
        assert sweep["causationid"].startswith("schedule:")
        assert sum(sweep["data"]["verdicts"].values()) == 1
        reconciled = [
            e
            for e in s.broker.events.of_type("line.reconciled")
            if e["causationid"] == sweep["causationid"]
        ]
        if sweep["data"]["verdicts"].get("in_sync") == 1:
            assert reconciled == []  # in sync: nothing but the summary
        assert all(e["data"]["verdict"] != "in_sync" for e in reconciled)


async def test_two_schedules_a_restart_and_a_duplicate_keep_one_tick_per_portal(
    tmp_path: Path, backend: Backend
) -> None:
    async with scene(tmp_path, backend) as s:
        await s.start()
        await s.start()  # a second worker: its own connection, scanner and tick consumer
        await wait_for(
            lambda: all(_scheduled_sweeps(s)[p] >= 2 for p in PORTALS),
            limit=20,
            what="two scheduled sweeps of every portal",
        )
        await s.stop(0)  # a restart of one of them
        await s.start()
        # a duplicate of a portal's current tick, straight into the tick queue
        record = (await s.ticks())[PORTALS[0]]
        assert record.due_at is not None
        body = {
            "portal": PORTALS[0],
            "generation": record.generation,
            "due": record.due_at.timestamp(),
        }
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            channel = await connection.channel()
            for _ in range(3):
                await channel.default_exchange.publish(
                    aio_pika.Message(json.dumps(body).encode()), routing_key=s.names.schedule_ticks
                )
        before = _scheduled_sweeps(s)
        await asyncio.sleep(3 * INTERVAL)
        after = _scheduled_sweeps(s)
        for portal in PORTALS:
            # one sweep per interval, not one per schedule or per copy of a tick
            assert 2 <= after[portal] - before[portal] <= 4, (portal, before, after)
        samples = []
        for _ in range(20):
            samples.append(await s.pending([INTERVAL]))
            await asyncio.sleep(0.1)
        assert max(samples) == len(PORTALS), samples
        times = {p: _sweep_times(s, p) for p in PORTALS}
        for portal, moments in times.items():
            gaps = [b - a for a, b in itertools.pairwise(moments)]
            assert all(gap >= INTERVAL / 2 for gap in gaps), (portal, gaps)


async def test_a_lost_tick_is_re_created_within_one_interval(
    tmp_path: Path, backend: Backend
) -> None:
    async with scene(tmp_path, backend, portals=PORTALS[:2]) as s:
        await s.start()
        await wait_for(lambda: len(s.swept()) >= 2, limit=15, what="the first sweeps")
        for _ in range(10):  # a tick in flight (being handled) can escape one purge
            await s.purge([INTERVAL])
            if await s.pending([INTERVAL]) == 0:
                break
            await asyncio.sleep(0.05)
        count = len(s.swept())
        # a lost tick is re-armed one grace after its due time, for the portal's next slot
        await wait_for(
            lambda: {e["portal"] for e in s.swept()[count:]} == set(PORTALS[:2]),
            limit=2 * INTERVAL + s.settings.sweep_grace + 3,
            what="sweeps of both portals after the purge",
        )


async def test_added_portal_is_scheduled_removed_stops_and_zero_is_off(
    tmp_path: Path, backend: Backend
) -> None:
    added, removed, off = PORTALS
    async with scene(tmp_path, backend, sweep_interval=0) as s:
        hooks = {d: p.webhook_url for d, p in s.settings.portals.items()}
        static = {d: p for d, p in s.settings.portals.items() if d == off}
        await s.start(portals=static)  # `off` is configured, but the default interval is 0
        async with s.store.unit_of_work() as uow:
            for domain in (added, removed):
                await uow.portals.add(
                    PortalRecord(
                        domain=domain,
                        auth="webhook",
                        webhook_url=hooks[domain],
                        sweep_interval=INTERVAL,
                    )
                )
            await uow.commit()
        await wait_for(
            lambda: {e["portal"] for e in s.swept()} >= {added, removed},
            limit=2 * INTERVAL + 3,
            what="the added portals' first sweeps",
        )
        async with s.store.unit_of_work() as uow:
            assert await uow.portals.remove(removed)
            await uow.commit()
        await asyncio.sleep(1.0)  # the registry is read every 0.3 s
        stopped = len(s.swept(removed))
        await asyncio.sleep(3 * INTERVAL)
        assert len(s.swept(removed)) - stopped <= 1  # at most one already on its way
        assert len(s.swept(added)) >= 3
        assert s.swept(off) == []
        ticks = await s.ticks()
        assert ticks[removed].due_at is None
        assert off not in ticks or ticks[off].due_at is None


@pytest.mark.parametrize("value", [0.5, -1])
def test_an_interval_below_one_second_is_refused(value: float) -> None:
    from pydantic import ValidationError

    from worker.settings import Settings

    with pytest.raises(ValidationError):
        Settings(_env_file=None, sweep_interval=value)


def test_the_schedule_source_is_a_constant() -> None:
    assert SCHEDULE_SOURCE == "urn:sipline:schedule"
