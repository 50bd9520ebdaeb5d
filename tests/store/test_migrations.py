"""Migrations: reversible step by step, equal to the tables module, safe to race, and a
store newer than the code is refused with one line."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections import Counter

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from tests.store.conftest import Backend
from worker.adapters.store import inspect_schema, open_store, resolve
from worker.adapters.store.engine import create_engine
from worker.adapters.store.migrate import code_head, downgrade, head_revision, state, upgrade
from worker.adapters.store.tables import metadata
from worker.store import StoreSchemaError

STEPS = ["0001", "0002", "0003", "0004", "0005", "0006", "0007"]


def _tables(connection: Connection) -> set[str]:
    """Every table, and every column as ``table.column`` (a step may only add columns)."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    columns = {f"{t}.{c['name']}" for t in tables for c in inspector.get_columns(t)}
    return tables | columns


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_each_revision_goes_up_and_down(backend: Backend) -> None:
    location = resolve(backend.settings())
    engine = create_engine(location)
    try:
        seen: list[set[str]] = []
        for step in STEPS:
            await upgrade(engine, location, target=step)
            async with engine.connect() as conn:
                seen.append(await conn.run_sync(_tables))
        assert all(a < b for a, b in itertools.pairwise(seen))
        assert {name for name in seen[-1] if "." not in name} == set(metadata.tables)
        for step, expected in zip(
            reversed(["base", *STEPS[:-1]]), reversed([set(), *seen[:-1]]), strict=True
        ):
            await downgrade(engine, location, target=step)
            async with engine.connect() as conn:
                assert await conn.run_sync(_tables) == expected
        await upgrade(engine, location)
        assert (await state(engine, location)).status == "current"
    finally:
        await engine.dispose()


async def test_migrated_schema_equals_the_tables_module(backend: Backend) -> None:
    location = resolve(backend.settings())
    engine = create_engine(location)
    try:
        await upgrade(engine, location)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_several_processes_upgrading_at_once_agree(backend: Backend) -> None:
    location = resolve(backend.settings())
    engines = [create_engine(location) for _ in range(4)]
    try:
        results = await asyncio.gather(*(upgrade(e, location) for e in engines))
        head = head_revision()
        assert Counter(results) == Counter({(None, head): 1, (head, head): 3})
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_newer_schema_is_refused_with_one_line(backend: Backend) -> None:
    settings = backend.settings()
    async with open_store(settings) as store, store.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreSchemaError) as caught:
        async with open_store(settings):
            pass
    message = str(caught.value)
    assert "\n" not in message
    assert "9999" in message
    assert "newer than this sipline knows" in message


async def test_without_auto_upgrade_a_behind_store_asks_for_the_command(
    backend: Backend,
) -> None:
    with pytest.raises(StoreSchemaError, match="run `sipline store upgrade`"):
        async with open_store(backend.settings(store_auto_upgrade=False)):
            pass
    async with open_store(backend.settings()):
        pass
    async with open_store(backend.settings(store_auto_upgrade=False)):
        pass


def test_the_head_read_from_the_file_names_is_alembics() -> None:
    assert code_head() == head_revision() == STEPS[-1]


# Opens the store named by the environment and says whether Alembic was imported for it.
_OPEN_AND_REPORT = """
import asyncio, sys
from worker.adapters.store import open_store
from worker.settings import Settings

async def main():
    async with open_store(Settings.from_environment(None)):
        pass

asyncio.run(main())
print("alembic" in sys.modules)
"""


async def test_a_current_store_opens_without_alembic(backend: Backend) -> None:
    settings = backend.settings()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    env["SIPLINE_STORE_URL"] = backend.url
    env["SIPLINE_STORE_KEY"] = backend.key
    if backend.schema:
        env["SIPLINE_STORE_SCHEMA"] = backend.schema

    def open_in_a_process() -> str:
        done = subprocess.run(
            [sys.executable, "-c", _OPEN_AND_REPORT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout.strip()

    assert await asyncio.to_thread(open_in_a_process) == "True"  # a new store: migrated
    async with open_store(settings) as store:
        assert (await inspect_schema(settings)).status == "current"
        location = store.location
    assert await asyncio.to_thread(open_in_a_process) == "False"  # at the head already
    engine = create_engine(location)
    try:
        await downgrade(engine, location, target=STEPS[-2])
    finally:
        await engine.dispose()
    assert await asyncio.to_thread(open_in_a_process) == "True"  # behind: upgraded again
    assert (await inspect_schema(settings)).current == STEPS[-1]
