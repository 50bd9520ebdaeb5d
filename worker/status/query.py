"""The store questions behind ``sipline status``, ``/v1/*`` and the status page.

Each answer is read in one read-only unit of work (a consistent snapshot on PostgreSQL;
no write lock on SQLite, so reading never holds up the projector). The store filters,
orders and limits; nothing here loads every line to pick some of them (50,000 lines and
10,000 portals are the size this is written for: docs/performance.md, "Status").
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from worker.status.views import (
    OUT_OF_SYNC,
    UNCHECKED,
    VERDICT_ORDER,
    Activity,
    Overview,
    PortalView,
    counts_by_portal,
    group,
    iso,
    portal_json,
    portal_view,
    portal_views,
    reauthorization_json,
)
from worker.store import LineFilter, LineKey, LineRecord, Store, TokenRecord, UnitOfWork

# the reading order the store sorts by: worst verdict first, None for unchecked
ORDER: tuple[str | None, ...] = tuple(None if v == UNCHECKED else v for v in VERDICT_ORDER)
_RANK = {verdict: rank for rank, verdict in enumerate(ORDER)}


def key_of(line: LineRecord) -> LineKey:
    """Where ``line`` stands in the reading order (what a page after it starts past)."""
    return LineKey(line.portal, _RANK.get(line.verdict, len(ORDER)), line.config_id)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which lines to show; the empty selection shows every live line."""

    portal: str | None = None
    verdicts: frozenset[str] = frozenset()
    out_of_sync: bool = False
    include_deleted: bool = False

    def verdict_filter(self) -> list[str] | None:
        """The verdicts to ask the store for, or None for all."""
        wanted: set[str] | None = set(self.verdicts) if self.verdicts else None
        if self.out_of_sync:
            wanted = set(OUT_OF_SYNC) if wanted is None else wanted & OUT_OF_SYNC
        return None if wanted is None else sorted(wanted)

    def line_filter(self) -> LineFilter:
        """The store's filter (``verdicts`` empty when nothing can match, e.g.
        ``--verdict in_sync --out-of-sync``)."""
        verdicts = self.verdict_filter()
        return LineFilter(
            portal=self.portal,
            verdicts=None if verdicts is None else tuple(verdicts),
            include_deleted=self.include_deleted,
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of lines in the reading order; ``after`` continues it (None: the last)."""

    lines: list[LineRecord]
    after: LineKey | None
    last_sweep: tuple[str, datetime] | None


@dataclass(frozen=True, slots=True)
class PortalPage:
    """One page of portals by domain; ``after`` continues it (None: the last)."""

    portals: list[dict[str, Any]]
    after: str | None


@dataclass(frozen=True, slots=True)
class Listing:
    """Every selected line, portal after portal, read as it is shown (see
    :meth:`StatusQuery.listing`)."""

    counts: dict[str, dict[str, int]]
    last_sweep: tuple[str, datetime] | None
    _batches: AsyncIterator[list[LineRecord]]
    reauthorization: list[TokenRecord] = field(default_factory=list)

    async def portals(self) -> AsyncIterator[PortalView]:
        """The selected lines grouped per portal, one portal at a time."""
        async for view in portal_views(self._batches, self.counts):
            yield view


class StatusQuery:
    """Read-only questions over the store; one unit of work each."""

    def __init__(self, *, store: Store) -> None:
        self._store = store

    async def page(self, selection: Selection, *, after: LineKey | None, limit: int) -> Page:
        """Up to ``limit`` selected lines past ``after``, by portal, worst verdict first."""
        async with self._store.unit_of_work(readonly=True) as uow:
            found = [
                line
                async for batch in uow.lines.read(
                    selection.line_filter(), order=ORDER, after=after, limit=limit + 1
                )
                for line in batch
            ]
            sweep = await uow.lines.last_sweep()
        more = len(found) > limit
        shown = found[:limit]
        return Page(shown, key_of(shown[-1]) if more else None, sweep)

    @asynccontextmanager
    async def listing(self, selection: Selection, *, batch: int = 1000) -> AsyncIterator[Listing]:
        """Every selected line, streamed from the store for as long as the block lasts:
        portals with out-of-sync lines first, then by name; worst lines first in each.

        Each portal's counts are its live lines by verdict. Where no verdict is filtered
        out, its streamed lines are all of them and are counted as they pass; only a
        selection by verdict asks the store to count (a tenth of a second at 50,000)."""
        async with self._store.unit_of_work(readonly=True) as uow:
            counts = (
                {}
                if selection.verdict_filter() is None
                else counts_by_portal(await uow.lines.counts())
            )
            sweep = await uow.lines.last_sweep()
            marked = await uow.tokens.needing_reauth()
            read = uow.lines.read(
                selection.line_filter(), order=ORDER, first_with=OUT_OF_SYNC, batch=batch
            )
            async with aclosing(read) as batches:  # however the block ends (`| head`)
                yield Listing(counts, sweep, batches, marked)

    async def overview(
        self,
        selection: Selection = Selection(),
        *,
        every_portal: bool = False,
        limit: int | None = None,
    ) -> Overview:
        """The selected lines (the first ``limit`` in the reading order) grouped per
        portal, with their portals' full counts (``every_portal``: every portal with
        lines, selected or not)."""
        async with self._store.unit_of_work(readonly=True) as uow:
            lines = await _lines(uow, selection, limit)
            counts = counts_by_portal(await uow.lines.counts())
            sweep = await uow.lines.last_sweep()
            activity = await _activity(uow)
            marked = await uow.tokens.needing_reauth()
        overview = group(lines, counts, sweep, every_portal=every_portal, activity=activity)
        return replace(overview, reauthorization=marked)

    async def counts(self) -> dict[str, dict[str, int]]:
        """portal → verdict → live lines (``unchecked`` for lines without a verdict)."""
        async with self._store.unit_of_work(readonly=True) as uow:
            return counts_by_portal(await uow.lines.counts())

    async def portals(self, *, after: str | None, limit: int) -> PortalPage:
        """Up to ``limit`` portals past the domain ``after``, by domain: every registered
        portal and every portal with lines, a sweep or a callback, each with its line
        counts and the times of its last sweep and its last callback.

        Keyset paging over the four sources: the first ``limit + 1`` of each past
        ``after`` hold the first ``limit + 1`` of their union (and, for a shown portal, its
        sweep and callback); the counts are grouped for this page's range of domains only,
        and no secret is read."""
        async with self._store.unit_of_work(readonly=True) as uow:
            registered = {
                s.domain: s for s in await uow.portals.states(after=after, limit=limit + 1)
            }
            with_lines = await uow.lines.portals(after=after, limit=limit + 1)
            activity = await _activity(uow, after=after, limit=limit + 1)
            union = registered.keys() | set(with_lines) | activity.portals()
            domains = sorted(union)[: limit + 1]
            shown = domains[:limit]
            counts = (
                counts_by_portal(await uow.lines.counts(after=after, through=shown[-1]))
                if shown
                else {}
            )
            marked = {t.portal: t for t in await uow.tokens.needing_reauth()}
        answer = []
        for domain in shown:
            view = portal_view(domain, counts, activity)
            item = portal_json(view)
            state = registered.get(domain)
            item["registered"] = state is not None
            item["enabled"] = None if state is None else state.enabled
            item["auth"] = None if state is None else state.auth
            item["last_sweep"] = iso(view.last_sweep)
            item["last_callback"] = iso(view.last_callback)
            item["reauthorization"] = reauthorization_json(marked.get(domain))
            answer.append(item)
        return PortalPage(answer, shown[-1] if len(domains) > limit else None)


async def _activity(
    uow: UnitOfWork, *, after: str | None = None, limit: int | None = None
) -> Activity:
    """Each portal's last sweep and last callback: every portal's, or the first ``limit``
    of each past the domain ``after``."""
    return Activity(
        await uow.schedule.swept(after=after, limit=limit),
        await uow.callbacks.last_by_portal(after=after, limit=limit),
    )


async def _lines(uow: UnitOfWork, selection: Selection, limit: int | None) -> list[LineRecord]:
    read = uow.lines.read(selection.line_filter(), order=ORDER, limit=limit)
    return [line async for batch in read for line in batch]


async def load_overview(store: Store, selection: Selection = Selection()) -> Overview:
    return await StatusQuery(store=store).overview(selection)
