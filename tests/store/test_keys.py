"""Secrets at rest: encrypted under SIPLINE_STORE_KEY, never in clear in the database,
a store opened without its key (or with another) refused in one line, and rotation."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import replace

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from tests.store.conftest import Backend
from worker.adapters.store import SqlStore, generate_key, open_store
from worker.adapters.store.tables import oauth_tokens, portals, store_meta
from worker.store import PortalRecord, StoreKeyError

CANARY = f"canary{uuid.uuid4().hex}"


async def _fill(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        await uow.portals.add(
            PortalRecord(
                domain="hook.test",
                auth="webhook",
                webhook_url=SecretStr(f"https://hook.test/rest/1/{CANARY}w/"),
            )
        )
        await uow.portals.add(
            PortalRecord(
                domain="app.test",
                auth="oauth",
                client_id="local.1",
                client_secret=SecretStr(f"{CANARY}s"),
                application_token=SecretStr(f"{CANARY}t"),
            )
        )
        await uow.tokens.put(
            "app.test",
            access_token=SecretStr(f"{CANARY}a"),
            refresh_token=SecretStr(f"{CANARY}r"),
            expires_at=None,
        )
        await uow.commit()


async def _raw_rows(store: SqlStore) -> list[str]:
    async with store.engine.connect() as conn:
        texts: list[str] = []
        for table in (portals, oauth_tokens, store_meta):
            rows = (await conn.execute(select(table))).all()
            texts.extend(str(tuple(row)) for row in rows)
        return texts


@pytest.fixture
async def filled(backend: Backend) -> Backend:
    async with open_store(backend.settings()) as store:
        await _fill(store)
    return backend


async def test_no_secret_is_stored_in_clear(filled: Backend, tmp_path: object) -> None:
    async with open_store(filled.settings()) as store:
        rows = await _raw_rows(store)
        path = store.location.path
        async with store.unit_of_work(readonly=True) as uow:
            portal = await uow.portals.get("hook.test")
    assert rows
    assert not any(CANARY in row for row in rows)
    assert portal is not None
    assert portal.webhook_url is not None
    assert CANARY in portal.webhook_url.get_secret_value()  # and yet it reads back
    assert CANARY not in repr(portal)
    if path is not None:  # the SQLite file and its WAL, byte for byte
        for file in path.parent.glob(path.name + "*"):
            assert CANARY.encode() not in file.read_bytes()


async def test_opening_without_the_key_fails_in_one_line(filled: Backend) -> None:
    with pytest.raises(StoreKeyError) as caught:
        async with open_store(filled.settings(store_key=None)):
            pass
    assert str(caught.value).count("\n") == 0
    assert "set SIPLINE_STORE_KEY" in str(caught.value)


async def test_opening_with_another_key_fails_in_one_line(filled: Backend) -> None:
    with pytest.raises(StoreKeyError, match="does not open the store"):
        async with open_store(filled.settings(store_key=SecretStr(generate_key()))):
            pass


async def test_a_store_without_a_key_keeps_no_secret(backend: Backend) -> None:
    async with open_store(backend.settings(store_key=None)) as store:
        async with store.unit_of_work() as uow:
            with pytest.raises(StoreKeyError, match="SIPLINE_STORE_KEY is not set"):
                await uow.portals.add(
                    PortalRecord(domain="x.test", auth="webhook", webhook_url=SecretStr("u"))
                )


async def test_rotation_moves_everything_to_the_new_key(filled: Backend) -> None:
    old, new = filled.key, generate_key()
    async with open_store(filled.settings(store_key=SecretStr(f"{new},{old}"))) as store:
        before = await _raw_rows(store)
        assert await store.rotate_key() == 6  # 3 portal secrets, 2 tokens, the key check
        after = await _raw_rows(store)
    assert before != after
    with pytest.raises(StoreKeyError):
        async with open_store(filled.settings(store_key=SecretStr(old))):
            pass
    async with open_store(filled.settings(store_key=SecretStr(new))) as store:
        async with store.unit_of_work(readonly=True) as uow:
            app = await uow.portals.get("app.test")
            tokens = await uow.tokens.get("app.test")
    assert app is not None
    assert app.client_secret is not None
    assert app.client_secret.get_secret_value() == f"{CANARY}s"
    assert tokens is not None
    assert tokens.refresh_token.get_secret_value() == f"{CANARY}r"


async def test_a_key_that_is_not_a_fernet_key_is_named_not_echoed(backend: Backend) -> None:
    bad = f"{CANARY}-not-a-key"
    with pytest.raises(StoreKeyError) as caught:
        async with open_store(backend.settings(store_key=SecretStr(f"{generate_key()},{bad}"))):
            pass
    assert "key 2 is not a Fernet key" in str(caught.value)
    assert CANARY not in str(caught.value)


def test_records_do_not_show_secrets() -> None:
    record = PortalRecord(domain="r.test", auth="webhook", webhook_url=SecretStr(CANARY))
    assert CANARY not in repr(record)
    assert CANARY not in str(replace(record, enabled=False))


async def test_processes_opening_a_new_store_at_once_agree_on_its_key(backend: Backend) -> None:
    """Every process of a fleet starts on a fresh store at the same time: one records the
    key's check value, the others find it and check their key against it (on PostgreSQL
    they once lost the race with an IntegrityError: "cannot open the store")."""
    assert await _verified_at_once(backend, [backend.key] * 8) == ["opened"] * 8
    with pytest.raises(StoreKeyError, match="does not open the store"):
        async with open_store(backend.settings(store_key=SecretStr(generate_key()))):
            pass


async def test_of_two_keys_checked_on_a_new_store_at_once_one_wins(backend: Backend) -> None:
    results = await _verified_at_once(backend, [backend.key, generate_key()] * 4)
    assert results.count("refused") == 4
    assert results.count("opened") == 4


async def _verified_at_once(backend: Backend, keys: list[str]) -> list[str]:
    """Open a store per key (migrated, key not checked yet), then check every key at once."""
    async with contextlib.AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(
                open_store(backend.settings(store_key=SecretStr(key)), check_key=False)
            )
            for key in keys
        ]

        async def verified(store: SqlStore) -> str:
            try:
                await store.verify_key()
            except StoreKeyError as exc:
                return "refused" if "\n" not in str(exc) else str(exc)
            return "opened"

        return list(await asyncio.gather(*(verified(store) for store in stores)))
