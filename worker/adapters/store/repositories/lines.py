"""The line projection: one row per (portal, config_id), applied once per event id."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    RowMapping,
    and_,
    bindparam,
    cast,
    delete,
    func,
    or_,
    select,
    tuple_,
    update,
)

from worker.adapters.store.repositories.line_reads import COLUMNS, SqlLineReads, record_of
from worker.adapters.store.tables import lines, processed_events, store_meta
from worker.store.records import LineChange, LineRecord


class SqlLines(SqlLineReads):
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

    async def apply_many(self, changes: Sequence[LineChange]) -> int:
        """:meth:`apply` for many events in a few statements, with the same outcome as
        applying them one by one in order; returns how many changed a row."""
        fresh = await self._mark_new(changes)
        if not fresh:
            return 0
        keys = sorted({(c.portal.lower(), c.config_id) for c in fresh})
        found = select(lines).where(tuple_(lines.c.portal, lines.c.config_id).in_(keys))
        rows = (await self._conn.execute(found.with_for_update())).mappings().all()
        current: dict[tuple[str, int], dict[str, Any]] = {
            (row["portal"], int(row["config_id"])): dict(row) for row in rows
        }
        existed = set(current)
        changed = 0
        for change in fresh:
            key = (change.portal.lower(), change.config_id)
            row = current.get(key)
            if row is not None and change.occurred_at < row["last_event_at"]:
                continue  # older than what the row already reflects
            base = row or {"portal": key[0], "config_id": key[1], "findings": [], "deleted": False}
            current[key] = {**_EMPTY_ROW, **base, **_changes(change, row)}
            changed += 1
        await self._write(current, existed)
        return changed

    async def _mark_new(self, changes: Sequence[LineChange]) -> list[LineChange]:
        """Mark the events applied; those marked before (or twice in ``changes``) drop out."""
        unique: dict[str, LineChange] = {}
        for change in changes:
            unique.setdefault(change.event_id, change)
        if not unique:
            return []
        now = self._now()
        marker = (
            self._insert(processed_events)
            .values([{"event_id": event_id, "applied_at": now} for event_id in unique])
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(processed_events.c.event_id)
        )
        new = {row[0] for row in await self._conn.execute(marker)}
        return [change for event_id, change in unique.items() if event_id in new]

    async def _write(self, rows: dict[tuple[str, int], dict[str, Any]], existed: set[Any]) -> None:
        inserts = [row for key, row in rows.items() if key not in existed]
        updates = [
            {**{f"v_{k}": v for k, v in row.items()}, "k_portal": key[0], "k_config": key[1]}
            for key, row in rows.items()
            if key in existed
        ]
        if inserts:
            await self._conn.execute(lines.insert(), inserts)
        if updates:
            columns = [c.name for c in lines.columns if c.name not in ("portal", "config_id")]
            statement = (
                update(lines)
                .where(
                    lines.c.portal == bindparam("k_portal"),
                    lines.c.config_id == bindparam("k_config"),
                )
                .values({name: bindparam(f"v_{name}") for name in columns})
            )
            await self._conn.execute(statement, updates)

    async def get(self, portal: str, config_id: int) -> LineRecord | None:
        query = select(*COLUMNS).where(
            lines.c.portal == portal.lower(), lines.c.config_id == config_id
        )
        row = (await self._conn.execute(query)).first()
        return None if row is None else record_of(row)

    async def by_reg_ids(self, reg_ids: Sequence[int]) -> list[LineRecord]:
        if not reg_ids:
            return []
        query = (
            select(*COLUMNS)
            .where(lines.c.reg_id.in_(sorted(set(reg_ids))), lines.c.deleted.is_(False))
            .order_by(lines.c.portal, lines.c.config_id)
        )
        rows = (await self._conn.execute(query)).all()
        return [record_of(row) for row in rows]

    async def list(
        self,
        *,
        portal: str | None = None,
        verdicts: Sequence[str] | None = None,
        include_deleted: bool = False,
    ) -> list[LineRecord]:
        query = select(*COLUMNS).order_by(lines.c.portal, lines.c.config_id)
        if portal is not None:
            query = query.where(lines.c.portal == portal.lower())
        if verdicts is not None:
            query = query.where(lines.c.verdict.in_(list(verdicts)))
        if not include_deleted:
            query = query.where(lines.c.deleted.is_(False))
        rows = (await self._conn.execute(query)).all()
        return [record_of(row) for row in rows]

    async def counts(
        self, *, after: str | None = None, through: str | None = None
    ) -> dict[tuple[str, str | None], int]:
        query = (
            select(lines.c.portal, lines.c.verdict, func.count())
            .where(lines.c.deleted.is_(False), *_portal_range(after, through))
            .group_by(lines.c.portal, lines.c.verdict)
        )
        rows = (await self._conn.execute(query)).all()
        return {(str(portal), verdict): int(n) for portal, verdict, n in rows}

    async def portals(self, *, after: str | None = None, limit: int) -> Sequence[str]:
        query = (
            select(lines.c.portal)
            .where(lines.c.deleted.is_(False), *_portal_range(after, None))
            .group_by(lines.c.portal)
            .order_by(lines.c.portal)
            .limit(limit)
        )
        return [str(portal) for (portal,) in (await self._conn.execute(query)).all()]

    async def clear(self) -> None:
        await self._conn.execute(delete(lines))
        await self._conn.execute(delete(processed_events))
        await self._conn.execute(
            delete(store_meta).where(
                or_(store_meta.c.key == SWEEP_KEY, store_meta.c.key.startswith(_POSITION))
            )
        )

    async def position(self, stream: str) -> int | None:
        value = await self._meta(_position_key(stream))
        return None if value is None else int(value)

    async def advance(self, stream: str, offset: int) -> None:
        current = cast(store_meta.c.value, BigInteger)
        await self._keep_larger(_position_key(stream), str(offset), current < offset)

    async def note_sweep(self, portal: str, at: datetime) -> None:
        # "<fixed-width UTC time> <portal>": a later time sorts after as plain text
        value = f"{at.astimezone(UTC).strftime(_SWEEP_TIME)} {portal.lower()}"
        await self._keep_larger(SWEEP_KEY, value, store_meta.c.value < value)

    async def last_sweep(self) -> tuple[str, datetime] | None:
        value = await self._meta(SWEEP_KEY)
        if value is None:
            return None
        moment, _, portal = value.partition(" ")
        return portal, datetime.strptime(moment, _SWEEP_TIME).replace(tzinfo=UTC)

    async def _meta(self, key: str) -> str | None:
        query = select(store_meta.c.value).where(store_meta.c.key == key)
        value = (await self._conn.execute(query)).scalar()
        return None if value is None else str(value)

    async def _keep_larger(self, key: str, value: str, smaller: Any) -> None:
        """Insert, or replace the stored value where ``smaller`` (the stored one is less)."""
        insert = self._insert(store_meta).values(key=key, value=value)
        await self._conn.execute(
            insert.on_conflict_do_update(
                index_elements=["key"], set_={"value": insert.excluded.value}, where=smaller
            )
        )


_EMPTY_ROW: dict[str, Any] = {
    "title": None,
    "line_type": None,
    "reg_id": None,
    "verdict": None,
    "verdict_since": None,
    "last_checked": None,
    "last_command_id": None,
}
_POSITION = "lines.position:"  # + the stream: the offset the projection applied up to
SWEEP_KEY = "lines.last_sweep"
_SWEEP_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def _portal_range(after: str | None, through: str | None) -> list[ColumnElement[bool]]:
    """The portals past ``after`` and up to ``through`` (None: no bound), on the primary
    key's leading column."""
    clauses: list[ColumnElement[bool]] = []
    if after is not None:
        clauses.append(lines.c.portal > after)
    if through is not None:
        clauses.append(lines.c.portal <= through)
    return clauses


def _position_key(stream: str) -> str:
    """The meta key of a stream's position; a name too long for the key column is hashed."""
    key = _POSITION + stream
    if len(key) <= store_meta.c.key.type.length:  # type: ignore[attr-defined]
        return key
    return _POSITION + hashlib.sha256(stream.encode()).hexdigest()[:32]


def _changes(change: LineChange, current: Mapping[str, Any] | RowMapping | None) -> dict[str, Any]:
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
