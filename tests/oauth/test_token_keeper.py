"""``sipline run`` keeps OAuth pairs in the store: a token file is moved there once, and a
store that could not keep a refreshed pair stops the start (both backends, for real)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from pydantic import AnyHttpUrl, SecretStr

from tests.store.conftest import Backend
from worker.adapters.bitrix24.tokens import SharedTokens, TokenStore, migrate_token_file
from worker.adapters.store import SqlStore, open_store
from worker.bootstrap import token_keeper
from worker.errors import ConfigurationError
from worker.settings import OAuthApp, PortalSettings, Settings
from worker.store import PortalRecord

PORTAL = "app.bitrix24.test"
OTHER = "other.bitrix24.test"


def _file(path: Path, entries: dict[str, tuple[str, str]]) -> Path:
    path.write_text(
        json.dumps(
            {
                domain: {"access_token": a, "refresh_token": r, "updated_at": 1}
                for domain, (a, r) in entries.items()
            }
        )
    )
    return path


async def _pair(store: SqlStore, portal: str) -> tuple[str, str] | None:
    async with store.unit_of_work(readonly=True) as uow:
        record = await uow.tokens.get(portal)
    if record is None:
        return None
    return record.access_token.get_secret_value(), record.refresh_token.get_secret_value()


async def test_a_token_file_moves_into_the_store_once(
    store: SqlStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with store.unit_of_work() as uow:  # another process refreshed OTHER already
        await uow.tokens.put(
            OTHER, access_token=SecretStr("a9"), refresh_token=SecretStr("r9"), expires_at=None
        )
        await uow.commit()
    path = _file(tmp_path / "tokens.json", {PORTAL: ("a1", "r1"), OTHER: ("a0", "r0")})
    with caplog.at_level(logging.INFO):
        assert await migrate_token_file(path, store) == 1
    assert await _pair(store, PORTAL) == ("a1", "r1")
    assert await _pair(store, OTHER) == ("a9", "r9")  # the store's pair is the live one
    assert not path.exists()
    assert (tmp_path / "tokens.json.migrated").exists()
    assert "r1" not in caplog.text
    assert "a9" not in caplog.text
    # the next start finds nothing to move; nor does a start with no file at all
    assert await migrate_token_file(path, store) == 0
    assert await _pair(store, PORTAL) == ("a1", "r1")


async def test_the_keeper_with_a_store_is_shared_and_takes_the_file(
    backend: Backend, tmp_path: Path
) -> None:
    path = _file(tmp_path / "tokens.json", {PORTAL: ("a1", "r1")})
    settings = backend.settings(bitrix24_token_store=path)
    async with open_store(settings) as store:
        keeper = await token_keeper(settings, store)
        assert isinstance(keeper, SharedTokens)
        loaded = await keeper.load(PORTAL)
        assert loaded is not None
        assert loaded.refresh_token.get_secret_value() == "r1"
    without_store = await token_keeper(settings, None)
    assert isinstance(without_store, TokenStore)  # a store-less run keeps the file


def _oauth_portal() -> PortalSettings:
    return PortalSettings(
        oauth=OAuthApp(
            client_id="local.app",
            client_secret=SecretStr("secret"),
            access_token=SecretStr("a0"),
            refresh_token=SecretStr("r0"),
            rest_url=AnyHttpUrl(f"https://{PORTAL}/rest/"),
        )
    )


async def test_a_store_without_a_key_stops_the_start_only_when_oauth_is_used(
    backend: Backend, tmp_path: Path
) -> None:
    keyless = Settings(
        store_url=SecretStr(backend.url),
        store_schema=backend.schema,
        bitrix24_token_store=tmp_path / "none.json",
    )
    async with open_store(keyless) as store:
        await token_keeper(keyless, store)  # webhooks only: no key needed
        oauth = keyless.model_copy(update={"portals": {PORTAL: _oauth_portal()}})
        with pytest.raises(ConfigurationError, match="SIPLINE_STORE_KEY"):
            await token_keeper(oauth, store)
        app = keyless.model_copy(
            update={"app_client_id": "app", "app_client_secret": SecretStr("s")}
        )
        with pytest.raises(ConfigurationError, match="cannot keep OAuth tokens"):
            await token_keeper(app, store)


async def test_an_oauth_portal_in_the_registry_needs_a_writable_store(
    backend: Backend, tmp_path: Path
) -> None:
    async with open_store(backend.settings()) as store, store.unit_of_work() as uow:
        await uow.portals.add(
            PortalRecord(domain=PORTAL, auth="oauth", client_id="c", client_secret=SecretStr("s"))
        )
        await uow.commit()
    keyless = Settings(
        store_url=SecretStr(backend.url),
        store_schema=backend.schema,
        bitrix24_token_store=tmp_path / "none.json",
    )
    with pytest.raises(ConfigurationError):  # the registry holds secrets: no key, no open
        async with open_store(keyless) as store:
            await token_keeper(keyless, store)
    async with open_store(backend.settings()) as store:
        keeper = await token_keeper(backend.settings(), store)
        await keeper.check_writable()
        async with store.unit_of_work(readonly=True) as uow:  # the probe left nothing
            assert [p.domain for p in await uow.portals.list()] == [PORTAL]
            assert await uow.tokens.get(PORTAL) is None
