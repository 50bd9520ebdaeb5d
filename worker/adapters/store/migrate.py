"""Schema migrations: apply them once, safely, however many processes start at once.

The upgrade runs in one transaction that first takes a lock every starting process
competes for: ``pg_advisory_xact_lock`` on PostgreSQL (per schema), the write lock
(``BEGIN IMMEDIATE``) on SQLite. The first process migrates; the others wait, then find
nothing left to do. PostgreSQL and SQLite both run DDL inside transactions, so a failed
upgrade leaves the schema as it was.

A store whose revision this code does not know (written by a newer sipline) is refused
with one line rather than touched.

Alembic is imported only when there is something to do: every store opens with a look at
its revision, and one already at this code's head (:func:`code_head`, read from the
revision files' names) needs neither Alembic nor the upgrade lock. Importing and running
Alembic took half a second of every ``sipline status`` (docs/performance.md).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Connection, column, func, select, table, text
from sqlalchemy.exc import DBAPIError

from worker.adapters.store.location import Location
from worker.store.errors import StoreSchemaError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).with_name("migrations")
# Alembic's own table of the revision a schema is at
_VERSION = table("alembic_version", column("version_num"))
LOCK_NAMESPACE = "sipline-store-upgrade"


@dataclass(frozen=True, slots=True)
class SchemaState:
    """Where a store's schema stands against this code's migrations."""

    current: str | None
    head: str
    status: Literal["current", "behind"]


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision, as Alembic finds it (equal to :func:`code_head`; a test says so)."""
    head = _script().get_current_head()
    assert head is not None
    return head


def code_head() -> str:
    """The newest revision, without Alembic: each revision file is named after its id
    (``0005_repairs.py`` is revision ``0005``), one after the other."""
    names = (path.name for path in (SCRIPT_LOCATION / "versions").glob("*.py"))
    return max(name.split("_", 1)[0] for name in names if name[0].isdigit())


def stored_revision(connection: Connection) -> str | None:
    """The revision the schema is at, by a plain read of Alembic's table; None when the
    table is missing, empty or holds more than one revision (Alembic then decides)."""
    try:
        rows = connection.execute(select(_VERSION.c.version_num)).all()
    except DBAPIError:
        return None
    return rows[0][0] if len(rows) == 1 else None


async def _stored(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        await conn.execution_options(sipline_readonly=True)  # in place
        revision = await conn.run_sync(stored_revision)
        await conn.rollback()
    return revision


def _state(connection: Connection, where: str) -> SchemaState:
    from alembic.runtime.migration import MigrationContext

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
    head = code_head()
    if await _stored(engine) == head:
        return SchemaState(current=head, head=head, status="current")
    async with engine.connect() as conn:
        await conn.execution_options(sipline_readonly=True)  # in place
        result = await conn.run_sync(_state, location.display)
        await conn.rollback()
        return result


async def upgrade(
    engine: AsyncEngine, location: Location, *, target: str = "head"
) -> tuple[str | None, str | None]:
    """Apply pending revisions under the upgrade lock; (revision before, revision after).

    A schema already at the head is left alone without taking the lock."""
    if target == "head":
        head = code_head()
        if await _stored(engine) == head:
            return head, head
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
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    if direction == "upgrade":
        command.upgrade(config, target)
    else:
        command.downgrade(config, target)
