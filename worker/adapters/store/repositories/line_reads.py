"""Reading the line projection at fleet size: filtered, ordered and paged by the database.

``sipline status``, ``GET /v1/lines`` and the status page read 50,000 lines or more; here
the database filters (the ``(verdict, portal)`` index), orders and limits them, and the
rows come back in batches from a streaming cursor, so a reader holds one batch at a time
and never pays for rows it will not show.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    case,
    cast,
    false,
    literal,
    or_,
    select,
    tuple_,
    type_coerce,
)

from worker.adapters.store.repositories.base import Repository
from worker.adapters.store.tables import lines
from worker.store.records import LineFilter, LineKey, LineRecord

_RAW = ("verdict_since", "last_checked", "last_event_at")
# the columns a LineRecord is made of, in its field order. The times and the findings come
# as the driver gives them (SQLite: text; PostgreSQL: aware datetimes) and :func:`record_of`
# converts them: SQLAlchemy's per-value type processing took two thirds of the time to read
# 50,000 lines. The findings are read as text (``CAST … AS TEXT``) on both: asyncpg would
# otherwise decode every row's JSON with ``json.loads`` (a tenth of a second for 50,000
# lines), where most are ``[]`` and need no decoding at all.
COLUMNS = tuple(
    type_coerce(c, Text).label(c.name)
    if c.name in _RAW
    else cast(c, Text).label(c.name)
    if c.name == "findings"
    else c
    for c in lines.columns
)
assert tuple(c.name for c in lines.columns) == LineRecord._fields


def verdict_rank(order: Sequence[str | None]) -> ColumnElement[int]:
    """A line's verdict's place in ``order`` (None: no verdict yet); not in it: last."""
    whens: list[tuple[ColumnElement[bool], int]] = [
        (lines.c.verdict.is_(None) if verdict is None else lines.c.verdict == verdict, rank)
        for rank, verdict in enumerate(order)
    ]
    return case(*whens, else_=literal(len(order)))


def selected(where: LineFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a :class:`LineFilter`."""
    clauses: list[ColumnElement[bool]] = []
    if where.portal is not None:
        clauses.append(lines.c.portal == where.portal.lower())
    if where.verdicts is not None:
        named = [v for v in where.verdicts if v is not None]
        either = [lines.c.verdict.in_(named)] if named else []
        if None in where.verdicts:
            either.append(lines.c.verdict.is_(None))
        clauses.append(or_(*either) if either else false())
    if not where.include_deleted:
        clauses.append(lines.c.deleted.is_(False))
    return clauses


def _past(key: LineKey, rank: ColumnElement[int]) -> ColumnElement[bool]:
    # written so that the portal part can use the primary key's range
    return and_(
        lines.c.portal >= key.portal,
        or_(
            lines.c.portal > key.portal,
            tuple_(rank, lines.c.config_id) > tuple_(literal(key.rank), literal(key.config_id)),
        ),
    )


_fromiso = datetime.fromisoformat


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    if value.__class__ is str:  # SQLite: "YYYY-MM-DD HH:MM:SS.ffffff", always UTC
        # parsed with its zone: several times faster than .replace(tzinfo=UTC)
        return datetime.fromisoformat(value + "+00:00")
    assert isinstance(value, datetime)
    if value.tzinfo is UTC:
        return value
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


_JSON = json.JSONDecoder()


def _findings(value: Any) -> list[str]:
    if value is None or value == "[]":
        return []
    if value.__class__ is not str:
        return list(value)
    # raw_decode: the stored text is json.dumps's (no leading space), and json.loads's
    # own checks made it three times as slow
    found: list[str] = _JSON.raw_decode(value)[0]
    return found


def record_of(row: Sequence[Any]) -> LineRecord:
    """One row of :data:`COLUMNS` as a :class:`LineRecord`, by position (50,000 of these
    are made for one ``sipline status``: both drivers give the integers as ``int``)."""
    since, checked, at = row[6], row[7], row[12]
    if at.__class__ is str:  # SQLite: every time is UTC text; parsed inline, no call each
        return LineRecord(
            row[0],  # portal
            row[1],  # config_id
            row[2],  # title
            row[3],  # line_type
            row[4],  # reg_id
            row[5],  # verdict
            None if since is None else _fromiso(since + "+00:00"),
            None if checked is None else _fromiso(checked + "+00:00"),
            _findings(row[8]),
            row[9],  # last_command_id
            bool(row[10]),  # deleted
            row[11],  # last_event_id
            _fromiso(at + "+00:00"),
        )
    # PostgreSQL: asyncpg gives every timestamptz aware, in UTC; checked inline, no call each
    last_event_at = at if at.tzinfo is UTC else _moment(at)
    assert last_event_at is not None  # NOT NULL
    return LineRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        since if since is None or since.tzinfo is UTC else _moment(since),
        checked if checked is None or checked.tzinfo is UTC else _moment(checked),
        _findings(row[8]),
        row[9],
        bool(row[10]),
        row[11],
        last_event_at,
    )


class SqlLineReads(Repository):
    async def read(
        self,
        where: LineFilter,
        *,
        order: Sequence[str | None],
        after: LineKey | None = None,
        limit: int | None = None,
        first_with: Collection[str] = (),
        batch: int = 1000,
    ) -> AsyncGenerator[list[LineRecord], None]:
        # with ``first_with``: two reads, the portals that have such a line, then the
        # others, each in the order an index serves (see _ordered); one snapshot holds both
        parts = [True, False] if first_with else [None]
        left = limit
        for troubled in parts:
            query = self._ordered(
                where, order=order, after=after, first_with=first_with, troubled=troubled
            )
            if left is not None:
                query = query.limit(left)
            result = await self._conn.stream(query.execution_options(yield_per=batch))
            try:
                async for rows in result.partitions(batch):
                    if left is not None:
                        left -= len(rows)
                    yield [record_of(row) for row in rows]
            finally:
                await result.close()
            if left is not None and left <= 0:
                return

    def _ordered(
        self,
        where: LineFilter,
        *,
        order: Sequence[str | None],
        after: LineKey | None,
        first_with: Collection[str],
        troubled: bool | None,
    ) -> Select[Any]:
        """The lines ``where`` selects past ``after``, by portal, rank and config id;
        ``troubled`` True: only those of the portals with a live line whose verdict is in
        ``first_with``; False: only those of the other portals; None: all.

        No sort of the whole selection: the primary key (portal, config id) gives the
        rows by portal, and the database sorts each portal's few lines by rank as they
        pass (PostgreSQL's incremental sort, SQLite's "right part of ORDER BY"), so the
        first rows come at once. Putting the troubled portals first in the same ORDER BY
        (a per-portal flag before the portal) made PostgreSQL sort all 50,000 rows before
        the first came back (a tenth of a second: docs/performance.md, "Status reads")."""
        rank = verdict_rank(order)
        clauses = selected(where)
        if after is not None:
            clauses.append(_past(after, rank))
        if troubled is not None:
            portals = select(lines.c.portal).where(
                lines.c.verdict.in_(sorted(first_with)), lines.c.deleted.is_(False)
            )
            clauses.append(
                lines.c.portal.in_(portals) if troubled else lines.c.portal.not_in(portals)
            )
        return select(*COLUMNS).where(*clauses).order_by(lines.c.portal, rank, lines.c.config_id)
