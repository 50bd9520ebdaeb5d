"""``sipline_lines{portal,verdict}``: live lines per portal and last verdict, from the store.

The gauge is set from one grouped count (:meth:`LineRepository.counts`), not from events,
so every process of a fleet exports the same figures whichever events it projected itself;
aggregate with ``max by (portal, verdict)``, not ``sum``. Label values: portals come from
the store (bounded by the registry and the lines it has seen), verdicts from the contract
plus ``unchecked``. A (portal, verdict) pair that no longer has lines is removed rather
than left at its last value.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry, Gauge

from worker.errors import SiplineError
from worker.status.query import StatusQuery

log = logging.getLogger(__name__)


class LinesGauge:
    def __init__(self, *, registry: CollectorRegistry, query: StatusQuery) -> None:
        self._query = query
        self._gauge = Gauge(
            "sipline_lines",
            "Live lines by portal and last verdict (unchecked: no verdict yet).",
            ["portal", "verdict"],
            registry=registry,
        )
        self._labels: set[tuple[str, str]] = set()
        self.dirty = asyncio.Event()
        self.dirty.set()

    async def refresh(self) -> None:
        counts = await self._query.counts()
        seen: set[tuple[str, str]] = set()
        for portal, verdicts in counts.items():
            for verdict, n in verdicts.items():
                self._gauge.labels(portal, verdict).set(n)
                seen.add((portal, verdict))
        for gone in self._labels - seen:
            self._gauge.remove(*gone)
        self._labels = seen

    async def run(self, *, interval: float = 5.0) -> None:
        """Refresh when the projection changed something, at most every ``interval`` s."""
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            try:
                await self.refresh()
            except SiplineError as exc:
                log.warning("sipline_lines not refreshed", extra={"error": type(exc).__name__})
                self.dirty.set()
            await asyncio.sleep(interval)
