"""The Bitrix24 OAuth adapter over the store: several processes' OAuthAuth for one portal
(each with its own store connection pool) refresh once per expiry, against a real server."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import aiohttp
from pydantic import AnyHttpUrl, SecretStr

from tests.store.conftest import Backend
from tests.store.oauth_server import token_server
from worker.adapters.bitrix24.auth import OAuthAuth
from worker.adapters.bitrix24.redact import Redactor
from worker.adapters.bitrix24.tokens import SharedTokens
from worker.adapters.store import open_store
from worker.settings import OAuthApp

PORTAL = "app.bitrix24.test"


class Quiet:
    def on_request(self, **_: object) -> None:
        return None

    def on_limiter_wait(self, **_: object) -> None:
        return None


async def test_processes_sharing_the_store_refresh_once_per_expiry(backend: Backend) -> None:
    async with AsyncExitStack() as stack, token_server() as server:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        app = OAuthApp(
            client_id="local.app",
            client_secret=SecretStr("secret"),
            access_token=SecretStr("a0"),  # as configured in SIPLINE_PORTALS: not yet stored
            refresh_token=SecretStr("r0"),
            rest_url=AnyHttpUrl(f"https://{PORTAL}/rest/"),
            server_url=AnyHttpUrl(server.url),
        )
        auths = []
        for _ in range(4):
            store = await stack.enter_async_context(open_store(backend.settings()))
            auths.append(
                OAuthAuth(
                    portal=PORTAL,
                    app=app,
                    session=session,
                    store=SharedTokens(store),
                    timeout=aiohttp.ClientTimeout(total=10),
                    redactor=Redactor(),
                    observer=Quiet(),
                )
            )
        for expiry, stale in enumerate(["a0", "a1", "a2"], start=1):
            assert {await auth.token() for auth in auths} <= {stale}
            await asyncio.gather(*(auth.refresh(stale) for auth in auths))
            assert {await auth.token() for auth in auths} == {f"a{expiry}"}
            assert (server.refreshes, server.invalid_grants) == (expiry, 0)
        assert sum(auth.refreshes for auth in auths) == 3
        async with open_store(backend.settings()) as store, store.unit_of_work() as uow:
            stored = await uow.tokens.get(PORTAL)
        assert stored is not None
        assert (stored.refresh_token.get_secret_value(), stored.generation) == ("r3", 4)
