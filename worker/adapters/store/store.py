"""The SQL store: a unit of work per transaction, over SQLite or PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from worker.adapters.store.crypto import Cipher
from worker.adapters.store.engine import readonly_options
from worker.adapters.store.location import Location
from worker.adapters.store.repositories.base import Clock
from worker.adapters.store.repositories.keys import SqlCallbacks, SqlCreates
from worker.adapters.store.repositories.lines import SqlLines
from worker.adapters.store.repositories.portals import SqlPortals
from worker.adapters.store.repositories.repairs import SqlRepairs
from worker.adapters.store.repositories.schedule import SqlSchedule
from worker.adapters.store.repositories.tokens import SqlTokens
from worker.adapters.store.tables import (
    KEY_CHECK,
    callbacks,
    oauth_tokens,
    portals,
    processed_events,
    store_meta,
)
from worker.store.errors import StoreUnavailable

if TYPE_CHECKING:
    # the asyncio layer (which imports SQLAlchemy's ORM) only where an engine is made
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger(__name__)

# the check value of the key the store's secrets are encrypted with (none: no secret yet)
KEY_CHECK_QUERY = select(store_meta.c.value).where(store_meta.c.key == KEY_CHECK)


def unavailable(location: Location, exc: BaseException) -> StoreUnavailable:
    """The one-line error for a database that failed; never the driver's own text."""
    return StoreUnavailable(f"store {location.display} unavailable ({type(exc).__name__})")


def utcnow() -> datetime:
    return datetime.now(UTC)


class SqlUnitOfWork:
    """Every repository over one connection and its one transaction."""

    def __init__(self, conn: AsyncConnection, *, cipher: Cipher, now: Clock) -> None:
        self._conn = conn
        self.portals = SqlPortals(conn, cipher=cipher, now=now)
        self.tokens = SqlTokens(conn, cipher=cipher, now=now)
        self.lines = SqlLines(conn, cipher=cipher, now=now)
        self.creates = SqlCreates(conn, cipher=cipher, now=now)
        self.callbacks = SqlCallbacks(conn, cipher=cipher, now=now)
        self.repairs = SqlRepairs(conn, cipher=cipher, now=now)
        self.schedule = SqlSchedule(conn, cipher=cipher, now=now)

    @property
    def connection(self) -> AsyncConnection:
        """For the adapter's own maintenance (key check, rotation); not for callers."""
        return self._conn

    async def commit(self) -> None:
        await self._conn.commit()

    async def rollback(self) -> None:
        await self._conn.rollback()


class SqlStore:
    """Owns the engine; ``close`` disposes of it (twice is harmless)."""

    def __init__(
        self, *, engine: AsyncEngine, location: Location, cipher: Cipher, now: Clock = utcnow
    ) -> None:
        self.engine = engine
        self.location = location
        self.cipher = cipher
        self._now = now
        self._closed = False
        self._readonly = readonly_options(location)

    @asynccontextmanager
    async def unit_of_work(self, *, readonly: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        try:
            async with self.engine.connect() as conn:
                if readonly:
                    await conn.execution_options(**self._readonly)  # in place
                await conn.begin()
                try:
                    yield SqlUnitOfWork(conn, cipher=self.cipher, now=self._now)
                finally:
                    if conn.in_transaction():
                        await conn.rollback()
        except IntegrityError:
            raise
        except (DBAPIError, OSError, TimeoutError) as exc:
            # never chain: the driver's message may quote statements and their parameters
            raise unavailable(self.location, exc) from None

    async def verify_key(self) -> None:
        """Fail with one line unless the configured key opens this store.

        A store that has never held a secret records the key's check value the first time
        it is opened with a key; from then on it refuses every other key. Processes opening
        a new store at once race to record it: a loser (the row's key taken meanwhile)
        checks its key against the winner's value.
        """
        try:
            await self._verify_key()
        except IntegrityError:
            await self._verify_key()

    async def _verify_key(self) -> None:
        async with self.unit_of_work(readonly=not self.cipher.has_key) as uow:
            conn = uow.connection
            check = (await conn.execute(KEY_CHECK_QUERY)).scalar_one_or_none()
            if check is not None:
                self.cipher.verify(check, where=self.location.display)
                return
            if self.cipher.has_key:
                await conn.execute(
                    store_meta.insert().values(key=KEY_CHECK, value=self.cipher.key_check())
                )
                await conn.commit()

    async def rotate_key(self) -> int:
        """Re-encrypt every secret under the first key, in one transaction; values rotated."""
        rotated = 0
        async with self.unit_of_work() as uow:
            conn = uow.connection
            for table, key, columns in (
                (
                    portals,
                    portals.c.domain,
                    ("webhook_url_enc", "client_secret_enc", "application_token_enc"),
                ),
                (oauth_tokens, oauth_tokens.c.portal, ("access_token_enc", "refresh_token_enc")),
                (store_meta, store_meta.c.key, ("value",)),
            ):
                rows = (await conn.execute(select(table).with_for_update())).mappings().all()
                for row in rows:
                    if table is store_meta and row["key"] != KEY_CHECK:
                        continue
                    values = {c: self.cipher.rotate(row[c]) for c in columns if row[c] is not None}
                    if values:
                        await conn.execute(
                            update(table).where(key == row[key.name]).values(**values)
                        )
                        rotated += len(values)
            await conn.commit()
        return rotated

    async def prune(self, *, before: datetime) -> dict[str, int]:
        """Forget applied event ids and callback ids recorded before ``before``.

        Safe for the projection: an event that old is older than its row's last event and
        is skipped on a redelivery anyway (the row's own last event re-applies as a no-op).
        """
        async with self.unit_of_work() as uow:
            conn = uow.connection
            events = await conn.execute(
                delete(processed_events).where(processed_events.c.applied_at < before)
            )
            seen = await conn.execute(delete(callbacks).where(callbacks.c.received_at < before))
            await conn.commit()
        return {"events": events.rowcount, "callbacks": seen.rowcount}

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.engine.dispose()
