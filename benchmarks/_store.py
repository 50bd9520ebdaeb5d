"""What the store benchmarks share: removing the PostgreSQL schema a run made."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from worker.settings import Settings


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
