"""Reading an SQLite store synchronously: ``sipline status`` without an event loop's driver.

The async engine reaches SQLite through aiosqlite, a thread that runs every call and hands
its answer back to the loop, and through SQLAlchemy's asyncio layer, whose package imports
the ORM. For a process that opens the store, reads it once and exits, both are pure cost
(a tenth of ``sipline status``'s 50,000 lines: docs/performance.md). :class:`ReadingStore`
runs the very same repositories, and so the very same queries, on a synchronous
connection of the standard library's ``sqlite3``: :class:`_SyncConnection` gives them the
three things they use of an ``AsyncConnection`` (``execute``, ``stream``, ``dialect``),
answered at once.

It opens only a store that needs nothing done first: its schema at this code's head and
its key check recorded (or no key and no secret). Anything else (a store to upgrade, a key
to record, PostgreSQL) is for :func:`worker.adapters.store.open_store`, which
:func:`worker.adapters.store.open_reader` then uses instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Dialect, Engine, Executable, Row
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.exc import DBAPIError

from worker.adapters.store.crypto import Cipher
from worker.adapters.store.engine import READONLY, create_sync_sqlite_engine
from worker.adapters.store.location import Location
from worker.adapters.store.migrate import code_head, stored_revision
from worker.adapters.store.repositories.base import Clock
from worker.adapters.store.store import KEY_CHECK_QUERY, SqlUnitOfWork, unavailable, utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


class _Streamed:
    """A synchronous result with the part of ``AsyncResult`` a repository streams with."""

    def __init__(self, result: Result[Any]) -> None:
        self._result = result

    async def partitions(self, size: int | None = None) -> AsyncIterator[Sequence[Row[Any]]]:
        for rows in self._result.partitions(size):
            yield rows

    async def close(self) -> None:
        self._result.close()


class _SyncConnection:
    """A synchronous connection as the repositories use an ``AsyncConnection``."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def dialect(self) -> Dialect:
        return self._connection.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return self._connection.execute(statement, parameters)

    async def stream(self, statement: Executable) -> _Streamed:
        return _Streamed(self._connection.execute(statement))


class ReadingStore:
    """A store that hands out read-only units of work on one synchronous SQLite engine."""

    def __init__(self, *, engine: Engine, location: Location, cipher: Cipher, now: Clock) -> None:
        self.engine = engine
        self.location = location
        self.cipher = cipher
        self._now = now

    @classmethod
    def open(cls, location: Location, cipher: Cipher, now: Clock = utcnow) -> ReadingStore | None:
        """The store at ``location``, when it is ready to read as it is: its file there, its
        schema at this code's head and its key checked; otherwise None. Raises
        :class:`~worker.store.StoreKeyError` for a key that is not the store's."""
        if location.backend != "sqlite" or location.path is None or not location.path.exists():
            return None
        engine = create_sync_sqlite_engine(location)
        store = cls(engine=engine, location=location, cipher=cipher, now=now)
        try:
            with store._transaction() as connection:
                if stored_revision(connection) != code_head():
                    engine.dispose()
                    return None
                check = connection.execute(KEY_CHECK_QUERY).scalar_one_or_none()
            if check is None:
                if cipher.has_key:  # a first key to record: a write, for open_store
                    engine.dispose()
                    return None
            else:
                cipher.verify(check, where=location.display)
        except BaseException:
            engine.dispose()
            raise
        return store

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A read-only transaction (a snapshot: plain ``BEGIN``), rolled back at the end;
        a database failure as the store's one line."""
        try:
            with self.engine.connect() as connection:
                connection.execution_options(**{READONLY: True})  # in place
                connection.begin()
                try:
                    yield connection
                finally:
                    connection.rollback()
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise unavailable(self.location, exc) from None

    @asynccontextmanager
    async def unit_of_work(self, *, readonly: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        if not readonly:
            raise ValueError("a reading store has read-only units of work only")
        with self._transaction() as connection:
            # the repositories use only execute, stream and dialect (see _SyncConnection)
            facade = cast("AsyncConnection", _SyncConnection(connection))
            yield SqlUnitOfWork(facade, cipher=self.cipher, now=self._now)

    async def close(self) -> None:
        self.engine.dispose()
