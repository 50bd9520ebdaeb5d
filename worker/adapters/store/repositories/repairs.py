"""Each line's repair ledger: its recent repairs and the repair awaiting its re-check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select, update

from worker.adapters.store.repositories.base import Repository
from worker.adapters.store.tables import repairs
from worker.store.records import RepairRecord

CHUNK = 500


class SqlRepairs(Repository):
    async def lock(self, portal: str, config_id: int) -> RepairRecord:
        domain = portal.lower()
        await self._conn.execute(
            self._insert(repairs)
            .values(portal=domain, config_id=config_id, history=[], updated_at=self._now())
            .on_conflict_do_nothing(index_elements=["portal", "config_id"])
        )
        query = (
            select(repairs.c.history, repairs.c.note)
            .where(and_(repairs.c.portal == domain, repairs.c.config_id == config_id))
            .with_for_update()
        )
        row = (await self._conn.execute(query)).one()
        history = tuple(float(at) for at in row.history or [])
        return RepairRecord(domain, config_id, history, dict(row.note) if row.note else None)

    async def put(self, record: RepairRecord) -> None:
        values = {
            "history": list(record.history),
            "note": record.note,
            "updated_at": self._now(),
        }
        query = (
            self._insert(repairs)
            .values(portal=record.portal.lower(), config_id=record.config_id, **values)
            .on_conflict_do_update(index_elements=["portal", "config_id"], set_=values)
        )
        await self._conn.execute(query)

    async def notes(self, portal: str, config_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(config_ids):
            query = select(repairs.c.config_id, repairs.c.note).where(
                and_(
                    repairs.c.portal == portal.lower(),
                    repairs.c.config_id.in_(chunk),
                    repairs.c.note.is_not(None),
                )
            )
            rows = (await self._conn.execute(query)).all()
            found.update((int(row.config_id), dict(row.note)) for row in rows if row.note)
        return found

    async def clear_notes(self, portal: str, config_ids: Sequence[int]) -> None:
        for chunk in _chunks(config_ids):
            await self._conn.execute(
                update(repairs)
                .where(and_(repairs.c.portal == portal.lower(), repairs.c.config_id.in_(chunk)))
                .values(note=None, updated_at=self._now())
            )


def _chunks(config_ids: Sequence[int]) -> list[list[int]]:
    """The ids in groups small enough for any SQLite's limit on bound parameters (999)."""
    ids = list(config_ids)
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
