"""Many portals on one port: each its own lines, bucket, tokens and counters."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.sandbox.conftest import ManyPortals
from worker.adapters.bitrix24 import Bitrix24Portals, Bitrix24Settings, TokenStore
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER
from worker.sandbox.stack import Sandbox, portal_domains
from worker.settings import Settings

CREDS = {"SERVER": DEFAULT_SERVER, "LOGIN": "100", "PASSWORD": DEFAULT_PASSWORD}


async def _post(
    session: aiohttp.ClientSession, url: str, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with session.post(url, **kwargs) as response:
        return response.status, await response.json()


async def test_portals_share_a_port_and_nothing_else(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with many(3, directory=tmp_path) as sandbox:
        first, second, third = sandbox.portals
        origins = {p.base_url.split("/p/")[0] for p in sandbox.portals}
        assert len(origins) == 1
        assert first.webhook_url.startswith(f"{first.base_url}/rest/1/")
        assert "/p/p0001.bitrix24.test/" in first.webhook_url
        status, made = await _post(
            session, first.webhook_url + "voximplant.sip.add", json={"TITLE": "A", **CREDS}
        )
        assert status == 200
        _, listed = await _post(session, second.webhook_url + "voximplant.sip.get", json={})
        assert listed["total"] == 0  # the line is the first portal's alone
        _, listed = await _post(session, first.webhook_url + "voximplant.sip.get", json={})
        assert [r["CONFIG_ID"] for r in listed["result"]] == [str(made["result"]["CONFIG_ID"])]
        # another portal's webhook code does not open this one
        foreign = third.webhook_url.replace(third.options.webhook_code, first.options.webhook_code)
        status, body = await _post(session, foreign + "scope", json={})
        assert (status, body["error"]) == (403, "INVALID_CREDENTIALS")
        status, body = await _post(
            session, first.base_url.replace("p0001", "nobody") + "/rest/1/x/scope", json={}
        )
        assert (status, body["error"]) == (404, "PORTAL_NOT_FOUND")
        counters = sandbox.portal_counters()
        assert counters["portals"]["p0001.bitrix24.test"]["requests"] == 2
        assert counters["portals"]["p0001.bitrix24.test"]["by_method"] == {
            "voximplant.sip.add": 1,
            "voximplant.sip.get": 1,
        }
        assert counters["portals"]["p0003.bitrix24.test"]["requests"] == 1
        assert counters["totals"]["requests"] == 4


async def test_each_portal_has_its_own_leaky_bucket(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with many(2, directory=tmp_path, bucket=(5, 0.5)) as sandbox:
        busy, idle = sandbox.portals
        statuses = []
        for _ in range(7):
            status, _ = await _post(session, busy.webhook_url + "scope", json={})
            statuses.append(status)
        assert statuses == [200] * 5 + [503] * 2
        status, _ = await _post(session, idle.webhook_url + "scope", json={})
        assert status == 200
        async with session.get(sandbox.host.admin_url + "counters") as response:  # type: ignore[union-attr]
            body = await response.json()
        assert body["portals"][busy.domain]["query_limit_rejections"] == 2
        assert body["portals"][idle.domain]["query_limit_rejections"] == 0
        assert body["totals"]["query_limit_rejections"] == 2


async def test_plans_and_latency(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with many(2, directory=tmp_path, plan="enterprise", latency=0.05) as sandbox:
        portal = sandbox.portals[1]
        assert (portal.bucket.capacity, portal.bucket.drain_per_second) == (250, 5.0)
        started = time.perf_counter()
        await asyncio.gather(
            *(_post(session, portal.webhook_url + "scope", json={}) for _ in range(10))
        )
        elapsed = time.perf_counter() - started
        assert 0.05 <= elapsed < 1.0  # latency per request, requests in parallel
    async with many(1, directory=tmp_path) as sandbox:
        portal = sandbox.portals[0]
        assert (portal.bucket.capacity, portal.bucket.drain_per_second) == (50, 2.0)


@pytest.mark.parametrize("auth", ["webhook", "oauth"])
async def test_the_worker_client_works_unchanged(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession, auth: str
) -> None:
    async with many(4, directory=tmp_path, auth=auth) as sandbox:
        settings = Settings(_env_file=None, **sandbox.settings())
        assert set(settings.portals) == set(portal_domains(4))
        portals = Bitrix24Portals(
            session=session,
            token_store=TokenStore(settings.bitrix24_token_store),
            settings=Bitrix24Settings(query_limit_retries=0),
            portals=settings.portals,
        )
        for domain in portal_domains(4)[1:3]:
            client = portals.get(domain).client
            made = await client.sip_add(
                title=f"line of {domain}",
                server=DEFAULT_SERVER,
                login="100",
                password=DEFAULT_PASSWORD,
            )
            assert [line.config_id for line in await client.sip_get()] == [made.config_id]
        if auth == "oauth":
            sandbox.portals[2].expire_access_tokens()
            assert len(await portals.get(sandbox.portals[2].domain).client.sip_get()) == 1
            counters = sandbox.portal_counters()["portals"][sandbox.portals[2].domain]
            assert counters["oauth"]["expired_token"] == 1
            assert counters["oauth"]["refreshes"] == 1
        totals = sandbox.portal_counters()["totals"]
        assert totals["by_method"]["voximplant.sip.add"] == 2


async def test_mixed_auth_gives_every_second_portal_oauth(
    many: ManyPortals, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    async with many(4, directory=tmp_path, auth="mixed", token_ttl=60) as sandbox:
        settings = Settings(_env_file=None, **sandbox.settings())
        kinds = {d: p.oauth is not None for d, p in settings.portals.items()}
        assert kinds == dict(zip(portal_domains(4), [False, True, False, True], strict=True))
        portals = Bitrix24Portals(
            session=session,
            token_store=TokenStore(settings.bitrix24_token_store),
            settings=Bitrix24Settings(query_limit_retries=0),
            portals=settings.portals,
        )
        webhook, oauth = sandbox.portals[:2]
        for portal in (webhook, oauth):
            await portals.get(portal.domain).client.sip_add(
                title=f"line of {portal.domain}",
                server=DEFAULT_SERVER,
                login="100",
                password=DEFAULT_PASSWORD,
            )
        oauth.expire_access_tokens()
        assert len(await portals.get(oauth.domain).client.sip_get()) == 1
        assert sandbox.portal_counters()["totals"]["oauth"]["refreshes"] == 1
        # the admin route lists a portal's lines whoever made them (a webhook sees only its own)
        _, by_webhook = await _post(session, oauth.webhook_url + "voximplant.sip.get", json={})
        assert by_webhook["result"] == []
        async with session.get(oauth.admin_url + "lines") as response:
            listed = (await response.json())["lines"]
        assert [(r["TITLE"], r["APP"]) for r in listed] == [
            (f"line of {oauth.domain}", oauth.options.oauth_client_id)
        ]
        assert "PASSWORD" not in listed[0]
        async with session.get(webhook.admin_url + "lines") as response:
            assert [r["APP"] for r in (await response.json())["lines"]] == [""]
        assert sandbox.portal_counters()["portals"][oauth.domain]["by_method"] == {
            "voximplant.sip.add": 1,
            "voximplant.sip.get": 3,  # the expired call, its retry and the webhook's
        }


async def test_a_single_portal_sandbox_is_served_as_before(tmp_path: Path) -> None:
    async with Sandbox(directory=tmp_path) as sandbox:
        portal = sandbox.portal()
        assert sandbox.host is None
        assert "/p/" not in portal.webhook_url
        assert portal.webhook_url.startswith(portal.base_url + "/rest/1/")


async def test_describe_is_json_for_another_process(many: ManyPortals, tmp_path: Path) -> None:
    async with many(2, directory=tmp_path, auth="oauth") as sandbox:
        described = sandbox.describe()
        assert set(described["portals"]) == set(portal_domains(2))
        assert described["portal_host_admin_url"].endswith("/_sandbox/host/")
        assert described["settings"]["portals"] == sandbox.settings()["portals"]
        Settings(_env_file=None, **described["settings"])
