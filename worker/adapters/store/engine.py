"""The async engine for a :class:`~.location.Location`, with each backend's locking rules.

SQLite: WAL journal (readers do not block the writer), a busy timeout instead of instant
``database is locked``, and transactions we begin ourselves: ``BEGIN IMMEDIATE`` for a
writing unit of work (it takes the write lock up front, so two writers queue instead of
deadlocking on a lock upgrade), plain ``BEGIN`` for a read-only one.

PostgreSQL: asyncpg, the schema as the connection's ``search_path``, a pre-ping so a
connection the server dropped is replaced rather than failing a unit of work.

:func:`create_sync_sqlite_engine` is the same SQLite set-up over the standard library's
driver, with no event loop or thread in between: ``sipline status`` reads through it
(:mod:`worker.adapters.store.reading`). SQLAlchemy's asyncio layer, which imports its ORM,
is imported only when an async engine is made.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Engine, event
from sqlalchemy import create_engine as create_sync_engine

from worker.adapters.store.location import Location
from worker.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

READONLY = "sipline_readonly"
# the execution options of a PostgreSQL read-only unit of work: one snapshot for all of its
# statements (REPEATABLE READ is taken at the first; a read-only transaction at that level
# never fails to serialise), as an SQLite read transaction is
SNAPSHOT = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
BUSY_TIMEOUT_MS = 15_000
CONNECT_TIMEOUT = 10.0


def readonly_options(location: Location) -> dict[str, object]:
    """The execution options of a read-only unit of work at ``location``: it reads one
    snapshot, whatever commits meanwhile (SQLite's read transaction is one; PostgreSQL's:
    :data:`SNAPSHOT`), so that ``sipline status``'s two reads of its lines agree."""
    if location.backend == "postgresql":
        return {READONLY: True, **SNAPSHOT}
    return {READONLY: True}


def create_engine(location: Location) -> AsyncEngine:
    from sqlalchemy.ext.asyncio import create_async_engine

    if location.backend == "sqlite":
        engine = create_async_engine(
            _sqlite_file(location), connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}
        )
        _sqlite_rules(engine.sync_engine)
        return engine
    return create_async_engine(
        location.url,
        connect_args=_postgres_connect_args(location),
        pool_pre_ping=True,
        pool_size=5,
    )


def _postgres_connect_args(location: Location) -> dict[str, Any]:
    connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT}
    if location.schema:
        connect_args["server_settings"] = {"search_path": location.schema}
    return connect_args


def create_sync_postgres_engine(location: Location) -> Engine:
    """A synchronous engine over the asyncpg dialect, for
    :class:`~worker.adapters.store.reading.ReadingStore`: every call on it is made inside
    ``sqlalchemy.util.concurrency.greenlet_spawn``. It is the engine an ``AsyncEngine``
    wraps (``create_async_engine`` makes it with the same ``_is_async`` flag), without the
    asyncio layer's package, which imports the ORM."""
    return create_sync_engine(
        location.url, connect_args=_postgres_connect_args(location), _is_async=True
    )


def create_sync_sqlite_engine(location: Location) -> Engine:
    """An engine over the standard library's ``sqlite3`` for the SQLite store at
    ``location``, with the same rules as the async one."""
    url = _sqlite_file(location).set(drivername="sqlite+pysqlite")
    engine = create_sync_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    _sqlite_rules(engine)
    return engine


def _sqlite_file(location: Location) -> URL:
    """The store's URL, its file (and directory) created if missing, owner-only."""
    path = location.path
    assert path is not None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.touch(mode=0o600)  # SQLite gives its -wal and -shm files the same mode
    except OSError as exc:
        raise ConfigurationError(
            f"the store file {path} cannot be created ({exc.strerror or type(exc).__name__}); "
            "set SIPLINE_DATA_DIR or SIPLINE_STORE_URL"
        ) from None
    return location.url


def _sqlite_rules(engine: Engine) -> None:
    """WAL, the busy timeout, foreign keys, and transactions we begin ourselves."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _enter_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        readonly = connection.get_execution_options().get(READONLY, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _enter_wal(cursor: Any) -> None:
    """Switch the file to WAL. SQLite does not call the busy handler for this switch, so
    when several processes open a new store at once it can answer "database is locked" at
    once: wait and try again, within the same busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # the driver's OperationalError, as the adapter re-raises it
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            # a connect hook is synchronous: this short pause happens only while another
            # process holds the new file's lock, at connection time
            time.sleep(0.05)
