"""Every process's part in keeping exactly one tick per portal: look, and re-arm.

Every ``interval`` seconds (cheaply: one indexed query for overdue ticks, and the whole
registry only when its revision moved) each process compares what should be scheduled
with what the store expects, and arms what is missing:

- a portal with no schedule row (newly added, or served for the first time), one whose
  interval changed, and one whose expected tick is overdue by more than ``grace`` (the
  tick was lost: a purged queue, a crash between the store and the broker) get a new
  tick, due at the portal's next slot;
- a portal no longer served (removed, disabled, interval 0) is stopped: the store expects
  no tick, so the one in flight is dropped when it arrives.

Arming is a compare-and-set on the generation the look saw, then a confirmed publish: of
several processes doing the same look, one wins each portal. A crash after the store's
commit and before the publish leaves a tick expected but absent: it is overdue one grace
after its due time, and the next look re-arms it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from worker.schedule.outbox import Outbox
from worker.schedule.plan import next_slot
from worker.schedule.tick import Tick
from worker.store.errors import StoreError, StoreUnavailable
from worker.store.ports import Store
from worker.store.records import TickRecord

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
PUBLISH_BATCH = 256  # ticks published at once when many portals are armed together
FULL_LOOK_EVERY = 600.0  # also look at the whole registry this often, moved or not


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(slots=True)
class Cadences:
    """portal → sweep interval (> 0) of every portal to schedule, as last read."""

    default: float
    static: Mapping[str, float | None] = field(default_factory=dict)
    wanted: dict[str, float] = field(default_factory=dict)

    def interval(self, portal: str) -> float | None:
        return self.wanted.get(portal)


class Scanner:
    """Arms missing, changed and lost ticks; stops unserved portals (see the module)."""

    def __init__(
        self,
        *,
        store: Store,
        outbox: Outbox,
        cadences: Cadences,
        grace: float,
        clock: Clock,
    ) -> None:
        self._store, self._outbox, self._cadences = store, outbox, cadences
        self._grace, self._clock = grace, clock
        self._revision: int | None = None
        self._full_at = 0.0

    async def look(self) -> int:
        """One look; returns how many ticks it armed."""
        now = self._clock()
        async with self._store.unit_of_work(readonly=True) as uow:
            revision = await uow.portals.revision()
            full = revision != self._revision or now - self._full_at >= FULL_LOOK_EVERY
            if full:
                cadences = await uow.schedule.cadences()
                rows = await uow.schedule.all()
            else:
                rows = await uow.schedule.overdue(_at(now - self._grace))
        if full:
            wanted = {p: i for p, i in self._cadences.static.items()}
            for cadence in cadences:
                wanted[cadence.portal] = cadence.interval if cadence.served else 0.0
            self._cadences.wanted = {
                p: self._cadences.default if i is None else i
                for p, i in wanted.items()
                if (self._cadences.default if i is None else i) > 0
            }
        armed = await self._settle(rows, now, every_portal=full)
        if full:
            self._revision, self._full_at = revision, now
        return armed

    async def _settle(self, rows: list[TickRecord], now: float, *, every_portal: bool) -> int:
        wanted = self._cadences.wanted
        by_portal = {row.portal: row for row in rows}
        arm: list[tuple[str, int | None, float, float]] = []  # portal, expected, due, interval
        stop: list[TickRecord] = []
        portals = set(by_portal) | (set(wanted) if every_portal else set())
        for portal in sorted(portals):
            row, interval = by_portal.get(portal), wanted.get(portal)
            if interval is None:
                if row is not None and row.due_at is not None:
                    stop.append(row)
                continue
            if row is None or self._needs_tick(row, interval, now):
                due = next_slot(portal, interval, now)
                arm.append((portal, None if row is None else row.generation, due, interval))
        if not arm and not stop:
            return 0
        ticks: list[tuple[Tick, float]] = []
        async with self._store.unit_of_work() as uow:
            for row in stop:
                await uow.schedule.stop(row.portal, expected=row.generation)
            for portal, expected, due, interval in arm:
                record = await uow.schedule.arm(
                    portal, expected=expected, due_at=_at(due), interval=interval
                )
                if record is not None:
                    ticks.append((Tick(portal, record.generation, due), interval))
            await uow.commit()
        for start in range(0, len(ticks), PUBLISH_BATCH):
            batch = ticks[start : start + PUBLISH_BATCH]
            await asyncio.gather(
                *(self._outbox.tick(t, now=self._clock(), interval=i) for t, i in batch)
            )
        for row in stop:
            logger.info("portal %s: no longer swept on a schedule", row.portal)
        if ticks:
            logger.info("sweep schedule: armed %d portal(s)", len(ticks))
        return len(ticks)

    def _needs_tick(self, row: TickRecord, interval: float, now: float) -> bool:
        if row.due_at is None or row.interval != interval:
            return True
        return row.due_at.timestamp() < now - self._grace

    async def run(self, every: float, *, until: asyncio.Event) -> None:
        """Look every ``every`` seconds until ``until`` is set (a look under way finishes
        first); a failed look is logged, not fatal."""
        while not until.is_set():
            with suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), timeout=every)
            if not until.is_set():
                await self.try_look()

    async def try_look(self) -> None:
        try:
            await self.look()
        except (StoreError, StoreUnavailable) as exc:
            logger.warning("sweep schedule: look skipped: %s", exc)
        except Exception:
            logger.exception("sweep schedule: look failed")
