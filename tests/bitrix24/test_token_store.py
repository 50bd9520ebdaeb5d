"""A refresh token is never spent unless the new pair can be kept (issue 9, item 6)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import pytest

from tests.bitrix24.conftest import DOMAIN, SettingsFactory
from worker.adapters.bitrix24 import Bitrix24Client, TokenPair, TokenStore
from worker.bootstrap import bitrix24_portals, check_token_store
from worker.errors import AuthorizationError, ConfigurationError
from worker.sandbox.portal import SandboxPortal


def unwritable(tmp_path: Path) -> Path:
    """A store path whose directory cannot be made: its parent is a file (root or not)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    return blocker / "tokens.json"


async def test_an_unwritable_store_refuses_the_refresh_and_keeps_the_token_valid(
    session: aiohttp.ClientSession,
    make_settings: SettingsFactory,
    portal: SandboxPortal,
    tmp_path: Path,
) -> None:
    path = unwritable(tmp_path)
    settings = make_settings("oauth").model_copy(update={"bitrix24_token_store": path})
    client = bitrix24_portals(settings, session=session).get(DOMAIN).client
    portal.expire_access_tokens()
    with pytest.raises(AuthorizationError) as caught:
        await client.connector_status()
    assert caught.value.code == "TOKEN_STORE_UNWRITABLE"
    assert "SIPLINE_BITRIX24_TOKEN_STORE" in str(caught.value)
    assert portal.counters.token_refreshes == 0, "the refresh token was spent"

    path.parent.unlink()  # the operator fixes the store
    assert (await client.connector_status()).paid  # the configured refresh token still works
    assert portal.counters.token_refreshes == 1
    assert set(json.loads(path.read_text())[DOMAIN]) >= {"access_token", "refresh_token"}


class SaveFails(TokenStore):
    """The file store, whose saves fail while ``broken`` (a disk that filled up)."""

    broken = True
    saves = 0

    async def save(self, portal: str, pair: TokenPair) -> None:
        self.saves += 1
        if self.broken:
            raise OSError(28, "No space left on device")
        await super().save(portal, pair)


async def test_a_save_that_fails_after_the_refresh_keeps_the_pair_and_says_so(
    session: aiohttp.ClientSession,
    make_settings: SettingsFactory,
    portal: SandboxPortal,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings("oauth")
    store = SaveFails(settings.bitrix24_token_store)
    client = Bitrix24Client(
        session=session, portal=DOMAIN, config=settings.portals[DOMAIN], token_store=store
    )
    portal.expire_access_tokens()
    with caplog.at_level(logging.CRITICAL, logger="worker.adapters.bitrix24.auth"):
        assert (await client.connector_status()).paid  # the command is not failed for it
    assert portal.counters.token_refreshes == 1
    auth = client._auth  # the degraded flag is the point of this test
    assert getattr(auth, "degraded", False)
    assert any("portal degraded" in r.getMessage() for r in caplog.records)
    assert not settings.bitrix24_token_store.exists()

    # still degraded, the portal keeps working on the in-memory pair, and refreshes again
    portal.expire_access_tokens()
    assert (await client.connector_status()).paid
    assert portal.counters.token_refreshes == 2

    # the store is fixed: the next use saves the live pair
    store.broken = False
    monkeypatch.setattr("worker.adapters.bitrix24.auth.RESAVE_INTERVAL", 0.0)
    assert (await client.connector_status()).paid
    assert not getattr(auth, "degraded", True)
    stored = json.loads(settings.bitrix24_token_store.read_text())[DOMAIN]
    restarted = bitrix24_portals(settings, session=session).get(DOMAIN).client
    portal.expire_access_tokens()
    assert (await restarted.connector_status()).paid  # refreshes with the saved token
    assert stored["refresh_token"]


async def test_start_up_refuses_an_unwritable_store_for_oauth_portals(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    broken = {"bitrix24_token_store": unwritable(tmp_path)}
    with pytest.raises(ConfigurationError, match="SIPLINE_BITRIX24_TOKEN_STORE"):
        await check_token_store(make_settings("oauth").model_copy(update=broken))
    await check_token_store(make_settings("webhook").model_copy(update=broken))  # not needed
    await check_token_store(make_settings("oauth"))
