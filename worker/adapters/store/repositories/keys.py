"""Small de-duplication records: create command ids → lines, inbound callback ids (and
the time of the last callback per portal)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from worker.adapters.store.repositories.base import Repository
from worker.adapters.store.tables import callbacks, create_commands, portal_callbacks


class SqlCreates(Repository):
    async def record(self, command_id: str, *, portal: str, config_id: int) -> bool:
        query = (
            self._insert(create_commands)
            .values(
                command_id=command_id,
                portal=portal.lower(),
                config_id=config_id,
                recorded_at=self._now(),
            )
            .on_conflict_do_nothing(index_elements=["command_id"])
            .returning(create_commands.c.command_id)
        )
        return (await self._conn.execute(query)).first() is not None

    async def record_many(self, records: Sequence[tuple[str, str, int]]) -> int:
        if not records:
            return 0
        now = self._now()
        query = (
            self._insert(create_commands)
            .values(
                [
                    {"command_id": c, "portal": p.lower(), "config_id": i, "recorded_at": now}
                    for c, p, i in dict((r[0], r) for r in reversed(records)).values()
                ]
            )
            .on_conflict_do_nothing(index_elements=["command_id"])
            .returning(create_commands.c.command_id)
        )
        return len((await self._conn.execute(query)).all())

    async def find(self, command_id: str) -> tuple[str, int] | None:
        query = select(create_commands.c.portal, create_commands.c.config_id).where(
            create_commands.c.command_id == command_id
        )
        row = (await self._conn.execute(query)).first()
        return None if row is None else (str(row[0]), int(row[1]))


class SqlCallbacks(Repository):
    async def remember(self, account_id: int, callback_id: str) -> bool:
        query = (
            self._insert(callbacks)
            .values(account_id=account_id, callback_id=callback_id, received_at=self._now())
            .on_conflict_do_nothing(index_elements=["account_id", "callback_id"])
            .returning(callbacks.c.account_id)
        )
        return (await self._conn.execute(query)).first() is not None

    async def seen(self, account_id: int, callback_ids: Sequence[str]) -> set[str]:
        if not callback_ids:
            return set()
        query = select(callbacks.c.callback_id).where(
            callbacks.c.account_id == account_id,
            callbacks.c.callback_id.in_(sorted(set(callback_ids))),
        )
        return {str(row[0]) for row in await self._conn.execute(query)}

    async def note_portal(self, portal: str, at: datetime) -> None:
        insert = self._insert(portal_callbacks).values(portal=portal.lower(), last_at=at)
        await self._conn.execute(
            insert.on_conflict_do_update(
                index_elements=["portal"],
                set_={"last_at": insert.excluded.last_at},
                where=portal_callbacks.c.last_at < insert.excluded.last_at,
            )
        )

    async def last_by_portal(
        self, *, after: str | None = None, limit: int | None = None
    ) -> dict[str, datetime]:
        t = portal_callbacks
        query = select(t.c.portal, t.c.last_at).order_by(t.c.portal).limit(limit)
        if after is not None:
            query = query.where(t.c.portal > after)
        return {str(portal): at for portal, at in await self._conn.execute(query)}
