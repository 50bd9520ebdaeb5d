"""The sweep schedule: one row per portal, changed only by compare-and-set on its generation."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, and_, bindparam, case, exists, or_, select, update

from worker.adapters.store.repositories.base import Repository
from worker.adapters.store.tables import oauth_tokens, portals, sweep_schedule
from worker.store.records import Cadence, Firing, TickRecord

_t = sweep_schedule
FIRE_CHUNK = 256  # pairs one statement fires at most (4 parameters each)


class SqlSchedule(Repository):
    async def get(self, portal: str) -> TickRecord | None:
        query = select(_t).where(_t.c.portal == portal.lower())
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else _record(row)

    async def all(self) -> list[TickRecord]:
        rows = (await self._conn.execute(select(_t).order_by(_t.c.portal))).mappings().all()
        return [_record(row) for row in rows]

    async def overdue(self, before: datetime) -> list[TickRecord]:
        query = select(_t).where(_t.c.due_at.is_not(None), _t.c.due_at < before)
        rows = (await self._conn.execute(query.order_by(_t.c.due_at))).mappings().all()
        return [_record(row) for row in rows]

    async def arm(
        self, portal: str, *, expected: int | None, due_at: datetime, interval: float
    ) -> TickRecord | None:
        portal = portal.lower()
        if expected is None:
            values = {"portal": portal, "generation": 1, "due_at": due_at, "interval": interval}
            insert = self._insert(_t).values(**values).on_conflict_do_nothing().returning(*_t.c)
            row = (await self._conn.execute(insert)).mappings().first()
            return None if row is None else _record(row)
        return await self._swap(portal, expected, {"due_at": due_at, "interval": interval})

    async def fire(
        self, portal: str, *, expected: int, due_at: datetime, interval: float, fired_at: datetime
    ) -> TickRecord | None:
        values = {"due_at": due_at, "interval": interval, "fired_at": fired_at}
        return await self._swap(portal.lower(), expected, values)

    async def fire_many(
        self, firings: Sequence[Firing], *, fired_at: datetime
    ) -> set[tuple[str, int]]:
        """One statement for every :data:`FIRE_CHUNK` pairs (its size rounded up to a power
        of two with pairs that match no row, so the few statements there are compile once):
        each ``(portal, expected)`` pair that is the stored one moves to ``expected + 1``
        with its own due time and interval."""
        wanted: dict[tuple[str, int], Firing] = {}
        for firing in firings:
            wanted.setdefault((firing.portal.lower(), firing.expected), firing)
        pairs = list(wanted.items())
        fired: set[tuple[str, int]] = set()
        for start in range(0, len(pairs), FIRE_CHUNK):
            chunk = pairs[start : start + FIRE_CHUNK]
            size = 1 << (len(chunk) - 1).bit_length()
            params: dict[str, Any] = {"fired_at": fired_at}
            for n in range(size):
                if n < len(chunk):
                    (portal, expected), firing = chunk[n]
                    due_at, interval = firing.due_at, firing.interval
                else:  # no row has generation 0
                    portal, expected, due_at, interval = "", 0, fired_at, 0.0
                params[f"p{n}"], params[f"g{n}"] = portal, expected
                params[f"d{n}"], params[f"i{n}"] = due_at, interval
            rows = (await self._conn.execute(_fire_statement(size), params)).all()
            fired |= {(row[0], int(row[1]) - 1) for row in rows}
        return fired

    async def cadences(self) -> list[Cadence]:
        has_tokens = exists().where(oauth_tokens.c.portal == portals.c.domain)
        served = portals.c.enabled & ((portals.c.auth == "webhook") | has_tokens)
        query = select(portals.c.domain, portals.c.sweep_interval, served.label("served"))
        rows = (await self._conn.execute(query.order_by(portals.c.domain))).all()
        return [Cadence(row[0], row[1], bool(row[2])) for row in rows]

    async def stop(self, portal: str, *, expected: int) -> bool:
        return await self._swap(portal.lower(), expected, {"due_at": None}) is not None

    async def note_swept(self, portal: str, at: datetime) -> None:
        insert = self._insert(_t).values(
            portal=portal.lower(), generation=0, due_at=None, interval=0.0, swept_at=at
        )
        later = _t.c.swept_at.is_(None) | (_t.c.swept_at < insert.excluded.swept_at)
        await self._conn.execute(
            insert.on_conflict_do_update(
                index_elements=["portal"], set_={"swept_at": insert.excluded.swept_at}, where=later
            )
        )

    async def swept(
        self, *, after: str | None = None, limit: int | None = None
    ) -> dict[str, datetime]:
        query = (
            select(_t.c.portal, _t.c.swept_at)
            .where(_t.c.swept_at.is_not(None))
            .order_by(_t.c.portal)
            .limit(limit)
        )
        if after is not None:
            query = query.where(_t.c.portal > after)
        return {row[0]: row[1] for row in (await self._conn.execute(query)).all()}

    async def _swap(self, portal: str, expected: int, values: dict[str, Any]) -> TickRecord | None:
        """generation: expected → expected + 1 with ``values``; None when it was not expected."""
        query = (
            update(_t)
            .where(_t.c.portal == portal, _t.c.generation == expected)
            .values(generation=expected + 1, **values)
            .returning(*_t.c)
        )
        row = (await self._conn.execute(query)).mappings().first()
        return None if row is None else _record(row)


@functools.cache
def _fire_statement(size: int) -> Any:
    """``UPDATE … WHERE (portal = :p0 AND generation = :g0) OR …`` with the new due time and
    interval of each pair picked by ``CASE``: the same statement object for every batch of
    ``size`` pairs."""
    matches = [
        and_(_t.c.portal == bindparam(f"p{n}"), _t.c.generation == bindparam(f"g{n}"))
        for n in range(size)
    ]

    def picked(column: str) -> Any:
        values = [bindparam(f"{column[0]}{n}", type_=_t.c[column].type) for n in range(size)]
        if size == 1:
            return values[0]
        return case(*zip(matches, values, strict=True), else_=_t.c[column])

    return (
        update(_t)
        .where(or_(*matches))
        .values(
            generation=_t.c.generation + 1,
            due_at=picked("due_at"),
            interval=picked("interval"),
            fired_at=bindparam("fired_at", type_=_t.c.fired_at.type),
        )
        .returning(_t.c.portal, _t.c.generation)
    )


def _record(row: RowMapping) -> TickRecord:
    return TickRecord(
        portal=row["portal"],
        generation=int(row["generation"]),
        due_at=row["due_at"],
        interval=float(row["interval"]),
        fired_at=row["fired_at"],
        swept_at=row["swept_at"],
    )
