"""Reading a store synchronously: ``sipline status`` without SQLAlchemy's asyncio layer.

The async engine reaches SQLite through aiosqlite, a thread that runs every call and hands
its answer back to the loop, and both backends through SQLAlchemy's asyncio layer, whose
package imports the ORM (0.05 s). For a process that opens the store, reads it once and
exits, that is pure cost (docs/performance.md, "Status reads"). :class:`ReadingStore`
runs the very same repositories, and so the very same queries, on a synchronous
connection: :class:`_SyncConnection` gives them the three things they use of an
``AsyncConnection`` (``execute``, ``stream``, ``dialect``). On SQLite that connection is
the standard library's ``sqlite3``, answered at once; on PostgreSQL it is SQLAlchemy's
synchronous engine over the same asyncpg dialect, each call made inside ``greenlet_spawn``
(what the asyncio layer itself does for every call, without importing the ORM).

It opens only a store that needs nothing done first: its schema at this code's head and
its key check recorded (or no key and no secret). Anything else (a store to upgrade, a key
to record) is for :func:`worker.adapters.store.open_store`, which
:func:`worker.adapters.store.open_reader` then uses instead.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Dialect, Engine, Executable, Row
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import ArgumentError, DBAPIError

from worker.adapters.store.crypto import Cipher
from worker.adapters.store.engine import (
    create_sync_postgres_engine,
    create_sync_sqlite_engine,
    readonly_options,
)
from worker.adapters.store.location import Location
from worker.adapters.store.migrate import code_head, stored_revision
from worker.adapters.store.repositories.base import Clock
from worker.adapters.store.store import KEY_CHECK_QUERY, SqlUnitOfWork, unavailable, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

logger = logging.getLogger(__name__)

# how a synchronous call reaches the database: at once (sqlite3), or inside
# ``greenlet_spawn``, where asyncpg's awaits are made from synchronous code
Run = Callable[..., Awaitable[Any]]


async def _at_once(call: Callable[..., Any], *args: Any) -> Any:
    return call(*args)


def _runner(location: Location) -> Run:
    if location.backend == "sqlite":
        return _at_once
    from sqlalchemy.util.concurrency import greenlet_spawn

    return greenlet_spawn


class _Streamed:
    """A synchronous result with the part of ``AsyncResult`` a repository streams with."""

    def __init__(self, result: Result[Any], run: Run) -> None:
        self._result = result
        self._run = run

    async def partitions(self, size: int | None = None) -> AsyncIterator[Sequence[Row[Any]]]:
        parts = self._result.partitions(size)
        while (rows := await self._run(next, parts, None)) is not None:
            yield rows

    async def close(self) -> None:
        await self._run(self._result.close)


class _SyncConnection:
    """A synchronous connection as the repositories use an ``AsyncConnection``."""

    def __init__(self, connection: Connection, run: Run) -> None:
        self._connection = connection
        self._run = run

    @property
    def dialect(self) -> Dialect:
        return self._connection.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        # asyncpg's adapter fetches a plain execute's rows at once: the result is read
        # synchronously afterwards, as sqlite3's is
        result: CursorResult[Any] = await self._run(self._connection.execute, statement, parameters)
        return result

    async def stream(self, statement: Executable) -> _Streamed:
        return _Streamed(await self._run(self._connection.execute, statement), self._run)


class ReadingStore:
    """A store that hands out read-only units of work on one synchronous engine."""

    def __init__(self, *, engine: Engine, location: Location, cipher: Cipher, now: Clock) -> None:
        self.engine = engine
        self.location = location
        self.cipher = cipher
        self._now = now
        self._run = _runner(location)
        self._readonly = readonly_options(location)

    @classmethod
    async def open(
        cls, location: Location, cipher: Cipher, now: Clock = utcnow
    ) -> ReadingStore | None:
        """The store at ``location``, when it is ready to read as it is: (SQLite) its file
        there, its schema at this code's head and its key checked; otherwise None. Raises
        :class:`~worker.store.StoreKeyError` for a key that is not the store's."""
        if location.backend == "sqlite":
            if location.path is None or not location.path.exists():
                return None
            engine = create_sync_sqlite_engine(location)
        else:
            try:
                engine = create_sync_postgres_engine(location)
            except (TypeError, ArgumentError):
                # the engine is made the way SQLAlchemy's asyncio layer makes its own (a
                # private flag); a release that makes it otherwise is read the async way
                logger.debug("the synchronous PostgreSQL reader is not available")
                return None
        store = cls(engine=engine, location=location, cipher=cipher, now=now)
        try:
            async with store._transaction() as connection:
                revision, check = await store._run(_revision_and_check, connection)
            if revision != code_head() or (check is None and cipher.has_key):
                # a schema to upgrade, or a first key to record (a write): for open_store
                await store.close()
                return None
            if check is not None:
                cipher.verify(check, where=location.display)
        except BaseException:
            await store.close()
            raise
        return store

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        """A read-only transaction, one snapshot (SQLite: plain ``BEGIN``; PostgreSQL:
        ``REPEATABLE READ``, read only), rolled back at the end; a database failure as the
        store's one line."""
        try:
            connection = await self._run(self._begin)
            try:
                yield connection
            finally:
                await self._run(_end, connection)
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise unavailable(self.location, exc) from None

    def _begin(self) -> Connection:
        connection = self.engine.connect()
        try:
            connection.execution_options(**self._readonly)  # in place
            connection.begin()
        except BaseException:
            connection.close()
            raise
        return connection

    @asynccontextmanager
    async def unit_of_work(self, *, readonly: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        if not readonly:
            raise ValueError("a reading store has read-only units of work only")
        async with self._transaction() as connection:
            # the repositories use only execute, stream and dialect (see _SyncConnection)
            facade = cast("AsyncConnection", _SyncConnection(connection, self._run))
            yield SqlUnitOfWork(facade, cipher=self.cipher, now=self._now)

    async def close(self) -> None:
        await self._run(self.engine.dispose)


def _revision_and_check(connection: Connection) -> tuple[str | None, str | None]:
    revision = stored_revision(connection)
    if revision != code_head():
        return revision, None  # (PostgreSQL: a missing table has ended the transaction)
    check: str | None = connection.execute(KEY_CHECK_QUERY).scalar_one_or_none()
    return revision, check


def _end(connection: Connection) -> None:
    try:
        connection.rollback()
    finally:
        connection.close()
