"""Both backends, for real: an SQLite file under the test's tmp dir, and the local
PostgreSQL (127.0.0.1:5432, user postgres, database ``test``) with one schema per test,
dropped afterwards.

Where no PostgreSQL answers, its half of each test is skipped, unless
``SIPLINE_TEST_REQUIRE_POSTGRES=1`` (CI sets it): then a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from worker.adapters.store import SqlStore, generate_key, open_store
from worker.settings import Settings

# Read once and removed from the environment: they are no settings, and a process the tests
# start (``sipline …``) must not see SIPLINE_* names it does not know.
PG_URL = (
    os.environ.pop("SIPLINE_TEST_POSTGRES_URL", None) or "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.pop("SIPLINE_TEST_REQUIRE_POSTGRES", None) == "1"
BACKENDS = ["sqlite", "postgresql"]

_pg_state: dict[str, str | None] = {}


async def _postgres_problem() -> str | None:
    """None when PostgreSQL answers, else why not (checked once per session)."""
    if "problem" not in _pg_state:
        engine = create_async_engine(PG_URL.replace("postgresql://", "postgresql+asyncpg://"))
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            _pg_state["problem"] = None
        except Exception as exc:
            _pg_state["problem"] = f"{type(exc).__name__}: {exc}"
        finally:
            await engine.dispose()
    return _pg_state["problem"]


@dataclass
class Backend:
    """One backend for one test: build settings (and so stores) that all share it."""

    name: str
    url: str
    schema: str | None
    key: str

    def settings(self, **overrides: object) -> Settings:
        values: dict[str, object] = {
            "store_url": SecretStr(self.url),
            "store_schema": self.schema,
            "store_key": SecretStr(self.key),
        }
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]


async def _drop_schema(schema: str) -> None:
    engine = create_async_engine(PG_URL.replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'store.db'}", None, generate_key())
        return
    async with postgres_schema("t") as schema:
        yield Backend("postgresql", PG_URL, schema, generate_key())


@asynccontextmanager
async def postgres_schema(prefix: str) -> AsyncIterator[str]:
    """A schema name of the test's own in the local PostgreSQL, dropped afterwards; the
    test is skipped where no PostgreSQL answers (failed where CI requires one)."""
    problem = await _postgres_problem()
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required (SIPLINE_TEST_REQUIRE_POSTGRES=1): {problem}")
        pytest.skip(f"no PostgreSQL at {PG_URL}: {problem}")
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    try:
        yield schema
    finally:
        await _drop_schema(schema)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[SqlStore]:
    async with open_store(backend.settings()) as opened:
        yield opened
