"""OAuth: refresh once on expiry, one refresh however many callers, tokens persisted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from tests.bitrix24.conftest import DOMAIN, SettingsFactory
from worker.adapters.bitrix24 import Bitrix24Client
from worker.adapters.bitrix24.client import MAX_REFRESHES
from worker.bootstrap import bitrix24_portals
from worker.errors import AuthorizationError
from worker.sandbox.portal import SandboxPortal


@pytest.fixture
def oauth_client(session: aiohttp.ClientSession, make_settings: SettingsFactory) -> Bitrix24Client:
    return bitrix24_portals(make_settings("oauth"), session=session).get(DOMAIN).client


async def test_calls_with_an_access_token(oauth_client: Bitrix24Client) -> None:
    assert (await oauth_client.connector_status()).paid
    assert oauth_client.refreshes == 0


async def test_expired_token_refreshes_and_retries(
    oauth_client: Bitrix24Client, portal: SandboxPortal, tmp_path: Path
) -> None:
    await oauth_client.connector_status()
    portal.expire_access_tokens()
    assert (await oauth_client.connector_status()).paid
    assert oauth_client.refreshes == 1
    assert portal.counters.token_refreshes == 1
    stored = json.loads((tmp_path / "tokens.json").read_text())
    assert set(stored[DOMAIN]) >= {"access_token", "refresh_token"}


async def test_twenty_concurrent_calls_cause_one_refresh(
    oauth_client: Bitrix24Client, portal: SandboxPortal
) -> None:
    await oauth_client.connector_status()
    portal.expire_access_tokens()
    results = await asyncio.gather(*(oauth_client.connector_status() for _ in range(20)))
    assert all(status.paid for status in results)
    assert portal.counters.token_refreshes == 1
    assert oauth_client.refreshes == 1


async def test_restart_uses_the_stored_refresh_token(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    settings = make_settings("oauth")
    first = bitrix24_portals(settings, session=session).get(DOMAIN).client
    portal.expire_access_tokens()
    await first.connector_status()  # refreshes: the configured refresh token is now spent
    portal.expire_access_tokens()
    second = bitrix24_portals(settings, session=session).get(DOMAIN).client
    assert (await second.connector_status()).paid  # refreshed from the stored token
    assert portal.counters.token_refreshes == 2


async def test_invalid_grant_says_authorise_again(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    settings = make_settings("oauth")
    assert settings.portals[DOMAIN].oauth is not None
    portal.expire_access_tokens()
    # spend the refresh token behind the client's back
    await bitrix24_portals(settings, session=session).get(DOMAIN).client.sip_get()
    stale = settings.model_copy(
        update={"bitrix24_token_store": settings.bitrix24_token_store.with_name("other.json")}
    )
    portal.expire_access_tokens()
    client = bitrix24_portals(stale, session=session).get(DOMAIN).client
    with pytest.raises(AuthorizationError) as caught:
        await client.connector_status()
    assert caught.value.code == "invalid_grant"
    assert "authorised again" in str(caught.value)


async def test_wrong_client_secret(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    entry = portal.portal_settings(auth="oauth")
    entry["oauth"]["client_secret"] = "not-the-secret"
    client = bitrix24_portals(make_settings(entry=entry), session=session).get(DOMAIN).client
    portal.expire_access_tokens()
    with pytest.raises(AuthorizationError) as caught:
        await client.connector_status()
    assert caught.value.code == "invalid_client"


async def test_invalid_token_is_permanent(
    session: aiohttp.ClientSession, make_settings: SettingsFactory, portal: SandboxPortal
) -> None:
    entry = portal.portal_settings(auth="oauth")
    entry["oauth"]["access_token"] = "forged"
    client = bitrix24_portals(make_settings(entry=entry), session=session).get(DOMAIN).client
    with pytest.raises(AuthorizationError) as caught:
        await client.connector_status()
    assert caught.value.code == "invalid_token"


async def test_lines_belong_to_their_application(
    oauth_client: Bitrix24Client, client: Bitrix24Client
) -> None:
    made = await oauth_client.sip_add(title="app line", server="s.test", login="1", password="p")
    assert [line.config_id for line in await oauth_client.sip_get()] == [made.config_id]
    assert await client.sip_get() == []  # the webhook is not that application


async def test_each_new_expired_token_is_refreshed_up_to_the_bound(
    oauth_client: Bitrix24Client, portal: SandboxPortal
) -> None:
    """A pair can expire before it is used (another process refreshed it a while ago, a
    slow loop): a new expired token is refreshed again, but a call never loops."""
    portal.expire_access_tokens()
    portal.state.oauth.access_token_ttl = 0.05  # every pair expires before it arrives
    portal.set_faults(latency=0.2)
    with pytest.raises(AuthorizationError) as caught:
        await oauth_client.connector_status()
    assert caught.value.code == "expired_token"
    assert oauth_client.refreshes == portal.counters.token_refreshes == MAX_REFRESHES
    portal.state.oauth.access_token_ttl = 3600
    portal.expire_access_tokens()
    portal.set_faults(latency=0.0)
    assert (await oauth_client.connector_status()).paid  # one more refresh, and it works
    assert portal.counters.auth_rejections["invalid_grant"] == 0
