"""The store questions behind ``sipline status``, ``/v1/*`` and the status page.

Each answer is read in one read-only unit of work (a consistent snapshot on PostgreSQL;
no write lock on SQLite, so reading never holds up the projector).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.status.views import (
    OUT_OF_SYNC,
    Overview,
    PortalView,
    counts_by_portal,
    group,
    portal_json,
)
from worker.store import LineRecord, Store, UnitOfWork


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


class StatusQuery:
    """Read-only questions over the store; one unit of work each."""

    def __init__(self, *, store: Store) -> None:
        self._store = store

    async def lines(self, selection: Selection) -> list[LineRecord]:
        async with self._store.unit_of_work(readonly=True) as uow:
            return await _lines(uow, selection)

    async def overview(
        self, selection: Selection = Selection(), *, every_portal: bool = False
    ) -> Overview:
        """The selected lines grouped per portal, with their portals' full counts
        (``every_portal``: every portal with lines, selected or not)."""
        async with self._store.unit_of_work(readonly=True) as uow:
            lines = await _lines(uow, selection)
            counts = counts_by_portal(await uow.lines.counts())
            sweep = await uow.lines.last_sweep()
        return group(lines, counts, sweep, every_portal=every_portal)

    async def counts(self) -> dict[str, dict[str, int]]:
        """portal → verdict → live lines (``unchecked`` for lines without a verdict)."""
        async with self._store.unit_of_work(readonly=True) as uow:
            return counts_by_portal(await uow.lines.counts())

    async def portals(self) -> list[dict[str, Any]]:
        """Every registered portal and every portal with lines, with its line counts."""
        async with self._store.unit_of_work(readonly=True) as uow:
            registered = {p.domain: p for p in await uow.portals.list()}
            counts = counts_by_portal(await uow.lines.counts())
        answer = []
        for domain in sorted(registered.keys() | counts.keys()):
            item = portal_json(PortalView(domain, [], counts.get(domain, {})))
            record = registered.get(domain)
            item["registered"] = record is not None
            item["enabled"] = None if record is None else record.enabled
            item["auth"] = None if record is None else record.auth
            answer.append(item)
        return answer


async def _lines(uow: UnitOfWork, selection: Selection) -> list[LineRecord]:
    verdicts = selection.verdict_filter()
    if verdicts == []:
        return []  # e.g. --verdict in_sync --out-of-sync: nothing can match
    return await uow.lines.list(
        portal=selection.portal, verdicts=verdicts, include_deleted=selection.include_deleted
    )


async def load_overview(store: Store, selection: Selection = Selection()) -> Overview:
    return await StatusQuery(store=store).overview(selection)
