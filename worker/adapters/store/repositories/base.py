"""What every repository shares: the connection of its unit of work, the cipher, a clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Table

from worker.adapters.store.crypto import Cipher

if TYPE_CHECKING:
    from sqlalchemy.dialects import postgresql, sqlite
    from sqlalchemy.ext.asyncio import AsyncConnection

Clock = Callable[[], datetime]


class Repository:
    def __init__(self, conn: AsyncConnection, *, cipher: Cipher, now: Clock) -> None:
        self._conn = conn
        self._cipher = cipher
        self._now = now

    def _insert(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """The dialect's INSERT, which has ``on_conflict_do_nothing/do_update``."""
        # imported here: a process on SQLite need not import PostgreSQL's dialect
        if self._conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            return postgresql_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
