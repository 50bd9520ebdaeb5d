"""The store-backed keeper under the Bitrix24 OAuth adapter, against a real token server and
both backends: a pair that expired while a caller waited for the lock is refreshed (not
handed out), the OAuth server's ``expires_in`` is what the store keeps, and a refreshed pair
the store cannot take leaves the portal degraded, its pair saved once the store is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from pydantic import AnyHttpUrl, SecretStr

from tests.store.conftest import Backend
from tests.store.oauth_server import HttpRefresher, token_server
from tests.store.test_shared_tokens import Quiet
from worker.adapters.bitrix24 import auth as auth_module
from worker.adapters.bitrix24.auth import OAuthAuth
from worker.adapters.bitrix24.redact import Redactor
from worker.adapters.bitrix24.tokens import SharedTokens
from worker.adapters.store import SqlStore, open_store
from worker.settings import OAuthApp
from worker.store import StoreUnavailable, UnitOfWork, refresh_under_lock

PORTAL = "app.bitrix24.test"


async def _seed(store: SqlStore, access: str, refresh: str, expires_at: datetime | None) -> None:
    async with store.unit_of_work() as uow:
        await uow.tokens.put(
            PORTAL,
            access_token=SecretStr(access),
            refresh_token=SecretStr(refresh),
            expires_at=expires_at,
        )
        await uow.commit()


async def test_a_pair_that_expired_while_waiting_is_refreshed_not_handed_out(
    store: SqlStore,
) -> None:
    async with token_server() as server, aiohttp.ClientSession() as session:
        refresher = HttpRefresher(session, server.url)
        # someone refreshed a0 long ago; the pair they stored has expired since
        await _seed(store, "a0", "r0", datetime.now(UTC) - timedelta(seconds=5))
        fresh = await refresh_under_lock(store, PORTAL, stale_access="stale", refresh=refresher)
        assert (fresh.access_token.get_secret_value(), server.refreshes) == ("a1", 1)
        assert fresh.expires_at is not None
        assert fresh.expires_at > datetime.now(UTC) + timedelta(seconds=3000)  # expires_in
        # a live pair is handed out as before: no request
        again = await refresh_under_lock(store, PORTAL, stale_access="a0", refresh=refresher)
        assert (again.access_token.get_secret_value(), server.refreshes) == ("a1", 1)
        assert server.invalid_grants == 0


def _auth(store: object, url: str, session: aiohttp.ClientSession) -> OAuthAuth:
    app = OAuthApp(
        client_id="local.app",
        client_secret=SecretStr("secret"),
        access_token=SecretStr("a0"),
        refresh_token=SecretStr("r0"),
        rest_url=AnyHttpUrl(f"https://{PORTAL}/rest/"),
        server_url=AnyHttpUrl(url),
    )
    return OAuthAuth(
        portal=PORTAL,
        app=app,
        session=session,
        store=SharedTokens(store),  # type: ignore[arg-type]
        timeout=aiohttp.ClientTimeout(total=10),
        redactor=Redactor(),
        observer=Quiet(),
    )


async def test_the_keeper_stores_the_servers_expiry(store: SqlStore) -> None:
    async with token_server() as server, aiohttp.ClientSession() as session:
        auth = _auth(store, server.url, session)
        assert await auth.token() == "a0"  # configured, not yet stored
        await auth.refresh("a0")
        assert await auth.token() == "a1"
        async with store.unit_of_work(readonly=True) as uow:
            stored = await uow.tokens.get(PORTAL)
        assert stored is not None
        assert stored.refresh_token.get_secret_value() == "r1"
        assert stored.expires_at is not None
        left = stored.expires_at - datetime.now(UTC)
        assert timedelta(seconds=3500) < left <= timedelta(seconds=3600)


async def _outlive(auth: OAuthAuth) -> None:
    """Wait (with a deadline) until the live pair of ``auth`` is past its expiry."""
    deadline = asyncio.get_running_loop().time() + 5
    while datetime.now(UTC) <= (auth._pair.expires_at or datetime.max.replace(tzinfo=UTC)):
        assert asyncio.get_running_loop().time() < deadline, "the pair did not expire"
        await asyncio.sleep(0.05)


async def test_a_pair_past_its_expiry_is_read_from_the_store_before_it_is_used(
    store: SqlStore,
) -> None:
    """Two processes, one portal moving between them (a fleet): the one it comes back to
    takes the pair the other refreshed meanwhile instead of presenting its own expired one
    (a 401 and a retry per return), and reads the store once per expired pair."""
    async with token_server() as server, aiohttp.ClientSession() as session:
        server.expires_in = 0.3
        first, second = _auth(store, server.url, session), _auth(store, server.url, session)
        assert await first.token() == "a0"
        await first.refresh("a0")
        assert await first.token() == "a1"
        await _outlive(first)
        assert await second.token() == "a1"  # the portal moved: second serves it now
        await second.refresh("a1")  # a1 expired there
        assert await second.token() == "a2"
        assert await first.token() == "a2"  # back to first: a1 outlived, the store has a2
        await _outlive(first)
        assert await first.token() == "a2"  # nobody refreshed: used, and refreshed on its 401
        assert (server.refreshes, server.invalid_grants) == (2, 0)


class CommitsFail:
    """The real store, except that commits fail (a dropped connection) while ``broken``,
    once ``spare`` more have gone through (a refresh's first commit records it in flight)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.broken = False
        self.spare = 0

    @asynccontextmanager
    async def unit_of_work(self, *, readonly: bool = False) -> AsyncIterator[UnitOfWork]:
        async with self._store.unit_of_work(readonly=readonly) as uow:
            if self.broken:
                outer, real_commit = self, uow.commit

                async def commit() -> None:
                    if outer.spare > 0:
                        outer.spare -= 1
                        await real_commit()
                        return
                    raise StoreUnavailable("connection lost at commit")

                uow.commit = commit  # type: ignore[method-assign]
            yield uow

    async def close(self) -> None:
        await self._store.close()


async def test_a_pair_the_store_cannot_take_degrades_the_portal_until_saved(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("worker.store.tokens.PERSIST_BACKOFF", 0.01)
    async with (
        token_server() as server,
        aiohttp.ClientSession() as session,
        open_store(backend.settings()) as real,
    ):
        await _seed(real, "a0", "r0", None)
        flaky = CommitsFail(real)
        auth = _auth(flaky, server.url, session)
        assert await auth.token() == "a0"
        flaky.broken, flaky.spare = True, 1
        await auth.refresh("a0")
        assert server.refreshes == 1
        assert auth.degraded  # the new pair lives in this process only
        assert await auth.token() == "a1"
        flaky.broken = False
        monkeypatch.setattr(auth_module, "RESAVE_INTERVAL", 0.0)
        assert await auth.token() == "a1"  # the next use saves it
        assert not auth.degraded
        async with real.unit_of_work(readonly=True) as uow:
            stored = await uow.tokens.get(PORTAL)
        assert stored is not None
        assert stored.refresh_token.get_secret_value() == "r1"
        assert server.invalid_grants == 0
