"""What the store benchmarks share: a store for a run's processes, removing the PostgreSQL
schema a run made."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from worker.adapters.store import generate_key
from worker.settings import Settings

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def store_values(backend: str, directory: Path) -> dict[str, str]:
    """One store every process of a run opens: a PostgreSQL schema, or one SQLite file."""
    values = {"store_key": generate_key()}
    if backend == "postgresql":
        return {**values, "store_url": PG_URL, "store_schema": f"bench_{uuid.uuid4().hex[:12]}"}
    return {**values, "store_url": f"sqlite:///{directory / f'store-{uuid.uuid4().hex[:6]}.db'}"}


async def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` (and everything in it) from the PostgreSQL database at ``url``."""
    engine = create_async_engine(url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


async def drop_store_schema(settings: Settings) -> None:
    """Drop the schema of a PostgreSQL store; nothing for SQLite (its file goes with tmp)."""
    if settings.store_schema is None or settings.store_url is None:
        return
    await drop_schema(settings.store_url.get_secret_value(), settings.store_schema)
