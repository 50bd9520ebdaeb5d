"""The line projection: one row per (portal, config_id), applied once per event id."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import RowMapping, and_, delete, func, select, update

from worker.adapters.store.repositories.base import Repository
from worker.adapters.store.tables import lines, processed_events
from worker.store.records import LineChange, LineRecord


class SqlLines(Repository):
    async def apply(self, change: LineChange) -> bool:
        marker = (
            self._insert(processed_events)
            .values(event_id=change.event_id, applied_at=self._now())
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(processed_events.c.event_id)
        )
        if (await self._conn.execute(marker)).first() is None:
            return False  # applied before: a redelivery or a replay
        key = and_(lines.c.portal == change.portal.lower(), lines.c.config_id == change.config_id)
        current = (
            (await self._conn.execute(select(lines).where(key).with_for_update()))
            .mappings()
            .first()
        )
        if current is not None and change.occurred_at < current["last_event_at"]:
            return False  # older than what the row already reflects
        values = _changes(change, current)
        if current is None:
            await self._conn.execute(
                lines.insert().values(
                    portal=change.portal.lower(),
                    config_id=change.config_id,
                    **({"findings": [], "deleted": False} | values),
                )
            )
        else:
            await self._conn.execute(update(lines).where(key).values(**values))
        return True

    async def get(self, portal: str, config_id: int) -> LineRecord | None:
        query = select(lines).where(
            lines.c.portal == portal.lower(), lines.c.config_id == config_id
        )
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else _record(row)

    async def list(
        self,
        *,
        portal: str | None = None,
        verdicts: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> list[LineRecord]:
        query = select(lines).order_by(lines.c.portal, lines.c.config_id)
        if portal is not None:
            query = query.where(lines.c.portal == portal.lower())
        if verdicts is not None:
            query = query.where(lines.c.verdict.in_(list(verdicts)))
        if not include_deleted:
            query = query.where(lines.c.deleted.is_(False))
        rows = (await self._conn.execute(query)).mappings().all()
        return [_record(row) for row in rows]

    async def counts(self) -> dict[tuple[str, str | None], int]:
        query = (
            select(lines.c.portal, lines.c.verdict, func.count())
            .where(lines.c.deleted.is_(False))
            .group_by(lines.c.portal, lines.c.verdict)
        )
        rows = (await self._conn.execute(query)).all()
        return {(str(portal), verdict): int(n) for portal, verdict, n in rows}

    async def clear(self) -> None:
        await self._conn.execute(delete(lines))
        await self._conn.execute(delete(processed_events))


def _changes(change: LineChange, current: RowMapping | None) -> dict[str, Any]:
    """The columns this event sets, given the row as it stands (None: no row yet)."""
    values: dict[str, Any] = {
        "last_event_id": change.event_id,
        "last_event_at": change.occurred_at,
    }
    if change.command_id is not None:
        values["last_command_id"] = change.command_id
    for name in ("title", "line_type", "reg_id"):
        if getattr(change, name) is not None:
            values[name] = getattr(change, name)
    if change.kind == "created":
        values["deleted"] = False
    elif change.kind == "deleted":
        values["deleted"] = True
    elif change.kind == "reconciled":
        values["last_checked"] = change.occurred_at
        values["findings"] = list(change.findings)
        if change.verdict is not None:
            values["verdict"] = change.verdict
            if current is None or current["verdict"] != change.verdict:
                values["verdict_since"] = change.occurred_at
    return values


def _record(row: RowMapping) -> LineRecord:
    return LineRecord(
        portal=row["portal"],
        config_id=int(row["config_id"]),
        title=row["title"],
        line_type=row["line_type"],
        reg_id=None if row["reg_id"] is None else int(row["reg_id"]),
        verdict=row["verdict"],
        verdict_since=row["verdict_since"],
        last_checked=row["last_checked"],
        findings=list(row["findings"] or []),
        last_command_id=row["last_command_id"],
        deleted=bool(row["deleted"]),
        last_event_id=row["last_event_id"],
        last_event_at=row["last_event_at"],
    )
