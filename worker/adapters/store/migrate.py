"""Schema migrations: apply them once, safely, however many processes start at once.

The upgrade runs in one transaction that first takes a lock every starting process
competes for: ``pg_advisory_xact_lock`` on PostgreSQL (per schema), the write lock
(``BEGIN IMMEDIATE``) on SQLite. The first process migrates; the others wait, then find
nothing left to do. PostgreSQL and SQLite both run DDL inside transactions, so a failed
upgrade leaves the schema as it was.

A store whose revision this code does not know (written by a newer sipline) is refused
with one line rather than touched.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from worker.adapters.store.location import Location
from worker.store.errors import StoreSchemaError

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).with_name("migrations")
LOCK_NAMESPACE = "sipline-store-upgrade"


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a store's schema stands against this code's migrations."""

    current: str | None
    head: str
    status: Literal["current", "behind"]


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _script().get_current_head()
    assert head is not None
    return head


def _state(connection: Connection, where: str) -> SchemaState:
    script = _script()
    head = head_revision()
    heads = MigrationContext.configure(connection).get_current_heads()
    known = {rev.revision for rev in script.walk_revisions()}
    unknown = [rev for rev in heads if rev not in known]
    if unknown:
        raise StoreSchemaError(
            f"the store at {where} has schema revision {unknown[0]}, newer than this "
            f"sipline knows (head {head}): run a newer sipline, or point it at another store"
        )
    current = heads[0] if heads else None
    return SchemaState(
        current=current, head=head, status="current" if current == head else "behind"
    )


def _lock_key(location: Location) -> int:
    """A signed 64-bit advisory lock key, one per schema."""
    digest = zlib.crc32(f"{LOCK_NAMESPACE}:{location.schema or ''}".encode())
    return digest - (1 << 31)


async def state(engine: AsyncEngine, location: Location) -> SchemaState:
    """The schema's revision, without changing anything."""
    async with engine.connect() as conn:
        await conn.execution_options(sipline_readonly=True)  # in place
        result = await conn.run_sync(_state, location.display)
        await conn.rollback()
        return result


async def upgrade(
    engine: AsyncEngine, location: Location, *, target: str = "head"
) -> tuple[str | None, str | None]:
    """Apply pending revisions under the upgrade lock; (revision before, revision after)."""
    async with engine.connect() as conn:
        if location.backend == "postgresql":
            await conn.execute(select(func.pg_advisory_xact_lock(_lock_key(location))))
            if location.schema:  # validated by the settings: [a-z_][a-z0-9_]*
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{location.schema}"'))
        before = (await conn.run_sync(_state, location.display)).current
        await conn.run_sync(_run, "upgrade", target)
        after = (await conn.run_sync(_state, location.display)).current
        await conn.commit()
    if before != after:
        logger.info("store %s: schema upgraded from %s to %s", location.display, before, after)
    return before, after


async def downgrade(engine: AsyncEngine, location: Location, *, target: str) -> None:
    """Revert to ``target`` (``base`` removes every table): for tests and rollbacks."""
    async with engine.connect() as conn:
        if location.backend == "postgresql":
            await conn.execute(select(func.pg_advisory_xact_lock(_lock_key(location))))
        await conn.run_sync(_run, "downgrade", target)
        await conn.commit()


def _run(connection: Connection, direction: Literal["upgrade", "downgrade"], target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    if direction == "upgrade":
        command.upgrade(config, target)
    else:
        command.downgrade(config, target)
