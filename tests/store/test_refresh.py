"""OAuth refresh under the store's lock: one refresh per expiry however many processes
see the same stale token, the others read the fresh pair; against a real token server."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from tests.store.cli_helpers import store_env
from tests.store.conftest import Backend
from tests.store.oauth_server import HttpRefresher, token_server
from worker.adapters.store import SqlStore, open_store
from worker.store import (
    IssuedTokens,
    NoTokens,
    StoreUnavailable,
    TokenRecord,
    UnitOfWork,
    refresh_under_lock,
)

PORTAL = "app.bitrix24.test"
PROCESSES = 6


async def _seed(backend: Backend) -> None:
    async with open_store(backend.settings()) as store, store.unit_of_work() as uow:
        await uow.tokens.put(
            PORTAL, access_token=SecretStr("a0"), refresh_token=SecretStr("r0"), expires_at=None
        )
        await uow.commit()


async def test_many_stores_one_refresh_per_expiry(backend: Backend) -> None:
    await _seed(backend)
    async with AsyncExitStack() as stack, token_server() as server:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        refresher = HttpRefresher(session, server.url)
        # one store (engine, connection pool) per simulated process
        stores = [
            await stack.enter_async_context(open_store(backend.settings()))
            for _ in range(PROCESSES)
        ]
        for round_, stale in enumerate(["a0", "a1"], start=1):
            results = await asyncio.gather(
                *(
                    refresh_under_lock(s, PORTAL, stale_access=stale, refresh=refresher)
                    for s in stores
                )
            )
            assert server.refreshes == round_
            assert server.invalid_grants == 0
            assert {r.access_token.get_secret_value() for r in results} == {f"a{round_}"}
            assert {r.generation for r in results} == {round_ + 1}
        async with stores[0].unit_of_work(readonly=True) as uow:
            stored = await uow.tokens.get(PORTAL)
        assert stored is not None
        assert stored.refresh_token.get_secret_value() == "r2"
        assert server.live_refresh == {"r2"}


async def test_a_failed_refresh_stores_nothing(backend: Backend) -> None:
    await _seed(backend)

    async def refused(current: TokenRecord) -> IssuedTokens:
        raise RuntimeError("invalid_grant")

    async with open_store(backend.settings()) as store:
        with pytest.raises(RuntimeError):
            await refresh_under_lock(store, PORTAL, stale_access="a0", refresh=refused)
        with pytest.raises(NoTokens):
            await refresh_under_lock(store, "other.test", stale_access="x", refresh=refused)
        async with store.unit_of_work(readonly=True) as uow:
            kept = await uow.tokens.get(PORTAL)
    assert kept is not None
    assert (kept.access_token.get_secret_value(), kept.generation) == ("a0", 1)


class CommitFailsOnce:
    """The real store, except that one commit raises as a dropped connection would: the
    second, by default (the first records the refresh in flight, the second stores the
    pair the OAuth server issued)."""

    def __init__(self, store: SqlStore, *, fail_at: int = 2) -> None:
        self._store = store
        self._fail_at = fail_at
        self.commits = 0
        self.failed = False

    @asynccontextmanager
    async def unit_of_work(self, *, readonly: bool = False) -> AsyncIterator[UnitOfWork]:
        async with self._store.unit_of_work(readonly=readonly) as uow:
            outer, real_commit = self, uow.commit

            async def commit() -> None:
                outer.commits += 1
                if outer.commits == outer._fail_at:
                    outer.failed = True
                    raise StoreUnavailable("connection lost at commit")
                await real_commit()

            uow.commit = commit  # type: ignore[method-assign]
            yield uow

    async def close(self) -> None:
        await self._store.close()


async def test_a_pair_whose_commit_failed_is_written_again(backend: Backend) -> None:
    await _seed(backend)
    async with token_server() as server, aiohttp.ClientSession() as session:
        async with open_store(backend.settings()) as real:
            flaky = CommitFailsOnce(real)
            fresh = await refresh_under_lock(
                flaky, PORTAL, stale_access="a0", refresh=HttpRefresher(session, server.url)
            )
            async with real.unit_of_work(readonly=True) as uow:
                stored = await uow.tokens.get(PORTAL)
    assert flaky.failed
    assert server.refreshes == 1
    assert fresh.access_token.get_secret_value() == "a1"
    assert stored is not None
    assert (stored.refresh_token.get_secret_value(), stored.generation) == ("r1", 2)


WORKER = """
import asyncio, sys
import aiohttp
from tests.store.oauth_server import HttpRefresher
from worker.adapters.store import open_store
from worker.cli.common import load_settings
from worker.store import refresh_under_lock

async def main(url: str) -> None:
    async with open_store(load_settings()) as store, aiohttp.ClientSession() as session:
        sys.stdin.readline()  # start together
        record = await refresh_under_lock(
            store, "app.bitrix24.test", stale_access="a0", refresh=HttpRefresher(session, url)
        )
        print(record.access_token.get_secret_value(), record.generation, flush=True)

asyncio.run(main(sys.argv[1]))
"""


@pytest.mark.slow
async def test_three_processes_one_refresh(backend: Backend) -> None:
    await _seed(backend)
    async with token_server() as server:
        env: dict[str, Any] = store_env(backend)
        env["PYTHONPATH"] = os.getcwd()
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                WORKER,
                server.url,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(3)
        ]
        outputs = await asyncio.gather(*(p.communicate(b"go\n") for p in procs))
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert {out.decode().strip() for out, _ in outputs} == {"a1 2"}
    assert (server.refreshes, server.invalid_grants) == (1, 0)
