"""The store adapter: SQLAlchemy Core over SQLite (aiosqlite) or PostgreSQL (asyncpg).

Entry points for the CLI and the bootstrap::

    async with open_store(settings) as store:      # upgrade (unless disabled) + key check
        async with store.unit_of_work() as uow: ...

    await upgrade(settings)                          # ``sipline store upgrade``

    async with open_reader(settings) as store:     # a read: on SQLite, without asyncio's
        ...                                          # driver when nothing needs doing first

Everything else sees :mod:`worker.store`'s protocols only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import DBAPIError

from worker.adapters.store.crypto import Cipher, generate_key
from worker.adapters.store.engine import create_engine
from worker.adapters.store.location import Location, resolve
from worker.adapters.store.migrate import SchemaState, head_revision
from worker.adapters.store.migrate import state as schema_state
from worker.adapters.store.migrate import upgrade as upgrade_schema
from worker.adapters.store.reading import ReadingStore
from worker.adapters.store.repositories.base import Clock
from worker.adapters.store.store import SqlStore, SqlUnitOfWork, unavailable, utcnow
from worker.settings import Settings
from worker.store import Store
from worker.store.errors import StoreSchemaError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

__all__ = [
    "Location",
    "SchemaState",
    "SqlStore",
    "SqlUnitOfWork",
    "generate_key",
    "head_revision",
    "inspect_schema",
    "open_reader",
    "open_store",
    "resolve",
    "upgrade",
]


@asynccontextmanager
async def open_store(
    settings: Settings,
    *,
    location: Location | None = None,
    auto_upgrade: bool | None = None,
    check_key: bool = True,
    now: Clock = utcnow,
) -> AsyncIterator[SqlStore]:
    """An open, migrated store whose key has been checked; closed on exit.

    Raises :class:`~worker.store.StoreSchemaError` (schema newer than the code, or behind
    it with automatic upgrades off) and :class:`~worker.store.StoreKeyError` (no key, or
    not its key): both one-line :class:`~worker.errors.ConfigurationError`.
    """
    location = location or resolve(settings)
    cipher = Cipher(settings.store_key)
    engine = create_engine(location)
    store = SqlStore(engine=engine, location=location, cipher=cipher, now=now)
    try:
        try:
            await _prepare(store, settings, auto_upgrade=auto_upgrade)
            if check_key:
                await store.verify_key()
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise unavailable(location, exc) from None
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def open_reader(settings: Settings) -> AsyncIterator[Store]:
    """A store to read (read-only units of work only), closed on exit.

    A store that is ready as it stands (schema at the head, key checked) is read
    synchronously (:class:`~worker.adapters.store.reading.ReadingStore`: the same
    repositories and queries, without SQLAlchemy's asyncio layer); anything else is
    :func:`open_store`'s, with its upgrade, key recording and errors."""
    location = resolve(settings)
    reading = await ReadingStore.open(location, Cipher(settings.store_key))
    if reading is None:
        async with open_store(settings, location=location) as store:
            yield store
        return
    try:
        yield reading
    finally:
        await reading.close()


async def _prepare(store: SqlStore, settings: Settings, *, auto_upgrade: bool | None) -> None:
    engine, location = store.engine, store.location
    if settings.store_auto_upgrade if auto_upgrade is None else auto_upgrade:
        await upgrade_schema(engine, location)
        return
    state = await schema_state(engine, location)
    if state.status != "current":
        raise StoreSchemaError(
            f"the store at {location.display} is at schema revision "
            f"{state.current or 'none'}, this sipline needs {state.head}: "
            "run `sipline store upgrade`"
        )


async def inspect_schema(settings: Settings, *, location: Location | None = None) -> SchemaState:
    """Where the store's schema stands, without changing it (``sipline store info``)."""
    return await _on_engine(settings, location, schema_state)


async def upgrade(
    settings: Settings, *, location: Location | None = None
) -> tuple[str | None, str | None]:
    """Apply pending migrations (safe to run from many processes at once)."""
    return await _on_engine(settings, location, upgrade_schema)


async def _on_engine(
    settings: Settings,
    location: Location | None,
    work: Callable[[AsyncEngine, Location], Awaitable[T]],
) -> T:
    """Run one schema operation on an engine of its own; database failures in one line."""
    location = location or resolve(settings)
    engine = create_engine(location)
    try:
        return await work(engine, location)
    except (DBAPIError, OSError, TimeoutError) as exc:
        raise unavailable(location, exc) from None
    finally:
        await engine.dispose()
