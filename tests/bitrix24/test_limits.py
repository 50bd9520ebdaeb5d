"""The client-side leaky bucket keeps concurrent work under the portal's bucket."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.bitrix24.conftest import DOMAIN, SettingsFactory, portals_for
from worker.adapters.bitrix24 import PortalLimiter
from worker.sandbox.portal import PortalOptions, SandboxPortal
from worker.settings import PortalSettings


def test_plans_select_their_bucket() -> None:
    hook = "http://127.0.0.1/rest/1/x/"
    assert PortalSettings(webhook_url=hook).bucket() == (50, 2.0)  # type: ignore[arg-type]
    assert PortalSettings(webhook_url=hook, plan="enterprise").bucket() == (250, 5.0)  # type: ignore[arg-type]
    assert PortalOptions.enterprise().bucket_capacity == 250


async def test_concurrent_commands_share_the_bucket(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    portal.bucket.configure(10, 20.0)
    settings = make_settings(portal={"bucket_capacity": 10, "drain_per_second": 20.0})
    # the portal shares this event loop (and a busy CI box): allow it 200 ms of lag
    portals = portals_for(session, settings, bucket_headroom=4)
    # two "commands" asking for the portal separately still share one bucket
    a, b = portals.get(DOMAIN).client, portals.get(DOMAIN).client
    started = time.monotonic()
    await asyncio.gather(*(c.connector_status() for c in [a, b] * 15))
    elapsed = time.monotonic() - started
    assert portal.counters.query_limit_rejections == 0
    assert portal.counters.requests == 30
    assert elapsed >= (30 - 6) / 20.0 * 0.9  # the drain, not the network, set the pace


async def test_the_portal_bucket_rejects_a_raw_burst(
    session: aiohttp.ClientSession, portal: SandboxPortal
) -> None:
    portal.bucket.configure(5, 0.5)
    url = portal.webhook_url + "scope.json"
    statuses = []
    for _ in range(7):
        async with session.post(url, json={}) as resp:
            statuses.append((resp.status, (await resp.json()).get("error")))
    assert statuses[:5] == [(200, None)] * 5
    assert statuses[5:] == [(503, "QUERY_LIMIT_EXCEEDED")] * 2
    assert portal.counters.query_limit_rejections == 2


async def test_limiter_pause_and_backoff() -> None:
    now = [1000.0]
    limiter = PortalLimiter(
        portal="p", capacity=5, drain_per_second=100.0, headroom=0, wall_clock=lambda: now[0]
    )
    limiter.pause("voximplant.sip.get", 1010.0)
    assert limiter.paused_for("voximplant.sip.get") == pytest.approx(10.0)
    assert limiter.paused_for("voximplant.sip.status") == 0.0
    now[0] = 1011.0
    limiter.check("voximplant.sip.get")  # pause over
    limiter.back_off(0.05)
    started = time.monotonic()
    assert await limiter.acquire("scope") >= 0.04
    assert time.monotonic() - started >= 0.04
