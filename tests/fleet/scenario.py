"""The fleet scenarios' workload and checks, shared by tests/fleet/test_scenarios.py (scaled
down, slow suite) and benchmarks/fleet_failover.py (full size, with figures).

The workload is what the issue asks for: mixed commands (creates, updates, reconciles,
sweeps) over many portals from one publisher, with interleaved updates to the same lines.
It is published in rounds, each confirmed before the next starts: round ``r`` sets every
line's title to ``…-v<r>``, so the order of one line's updates is the order of the rounds,
and the final Bitrix24 state of every line must be the last round's title, every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.fleet.procs import SIP_PASSWORD, SIP_SERVER, ManyPortals
from tests.resilience.ledger import TERMINAL, Ledger, Tap
from tests.resilience.processes import until

# a title-only line.update ends with line.updated (no settle re-check follows)
FINAL = TERMINAL | {"line.updated"}


def command(type_: str, portal: str, data: dict[str, Any], *, tag: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{tag}-{uuid.uuid4().hex}",
        "type": type_,
        "source": "urn:sipline:fleet-scenario",
        "portal": portal,
        "data": data,
    }


def _short(portal: str) -> str:
    return portal.split(".", maxsplit=1)[0]


def create(portal: str, title: str, *, tag: str) -> dict[str, Any]:
    data = {"title": title, "server": SIP_SERVER, "login": f"u-{title}", "password": SIP_PASSWORD}
    return command("line.create", portal, data, tag=tag)


@dataclass
class Arrivals:
    """When each command's first terminal event reached the tap (monotonic seconds), and
    when each command was published: a command's wait is the difference."""

    ledger: Ledger
    published: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    by_portal: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    _seen: int = 0

    def poll(self) -> None:
        events = self.ledger.events
        now = time.monotonic()
        for event in events[self._seen :]:
            cause = event.get("causationid")
            if event["type"] in FINAL and cause and cause not in self.finished:
                self.finished[cause] = now
                self.by_portal[str(event.get("portal"))].append(now)
        self._seen = len(events)

    def waits(self, ids: list[str]) -> list[float]:
        return [self.finished[i] - self.published[i] for i in ids if i in self.finished]

    def first_after(self, portal: str, moment: float) -> float | None:
        later = [t for t in self.by_portal.get(portal, []) if t > moment]
        return min(later) if later else None


@contextlib.asynccontextmanager
async def watching(ledger: Ledger) -> AsyncIterator[Arrivals]:
    arrivals = Arrivals(ledger)

    async def loop() -> None:
        while True:
            arrivals.poll()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(loop())
    try:
        yield arrivals
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        arrivals.poll()


@dataclass
class Workload:
    """The lines made before the run, and what the rounds set them to."""

    tag: str
    portals: list[str]
    lines: dict[tuple[str, int], int]  # (portal, k) → config_id
    expected: dict[tuple[str, int], str] = field(default_factory=dict)  # → final title
    created: list[tuple[str, str]] = field(default_factory=list)  # (portal, title) created
    ids: list[str] = field(default_factory=list)  # every command of the rounds
    sweeps: set[str] = field(default_factory=set)  # one line.reconciled per line each

    def title(self, portal: str, k: int, version: int) -> str:
        return f"{_short(portal)}-{self.tag}-L{k}-v{version}"

    def round(self, r: int) -> list[dict[str, Any]]:
        """Round ``r``: an update of every line, a reconcile per portal, and every third
        round a sweep per portal, every fourth a new line per portal."""
        out: list[dict[str, Any]] = []
        for portal in self.portals:
            for k in range(self.per_portal):
                title = self.title(portal, k, r)
                data = {"config_id": self.lines[(portal, k)], "title": title}
                out.append(command("line.update", portal, data, tag=self.tag))
                self.expected[(portal, k)] = title
            config_id = self.lines[(portal, r % self.per_portal)]
            out.append(command("line.reconcile", portal, {"config_id": config_id}, tag=self.tag))
            if r % 3 == 2:
                out.append(command("portal.sweep", portal, {}, tag=self.tag))
            if r % 4 == 3:
                title = f"{_short(portal)}-{self.tag}-new-{r}"
                self.created.append((portal, title))
                out.append(create(portal, title, tag=self.tag))
        self.ids.extend(c["id"] for c in out)
        self.sweeps.update(c["id"] for c in out if c["type"] == "portal.sweep")
        return out

    @property
    def per_portal(self) -> int:
        return len(self.lines) // len(self.portals)

    def round_size(self, r: int) -> int:
        return len(self.portals) * (
            self.per_portal + 1 + (1 if r % 3 == 2 else 0) + (1 if r % 4 == 3 else 0)
        )


async def premake(
    tapped: Tap, portals: list[str], per_portal: int, *, tag: str, limit: float = 240
) -> Workload:
    """Create ``per_portal`` lines on every portal and wait for their config ids."""
    creates = {
        (portal, k): create(portal, f"{_short(portal)}-{tag}-L{k}-v0", tag=tag)
        for portal in portals
        for k in range(per_portal)
    }
    await tapped.publish_many(list(creates.values()))
    ids = [c["id"] for c in creates.values()]
    ledger = tapped.ledger
    await until(lambda: ledger.completed(ids) == len(ids), limit=limit, what="the lines")
    config_ids = {
        e["causationid"]: e["data"]["config_id"]
        for e in ledger.events
        if e["type"] == "line.created"
    }
    lines = {key: config_ids[c["id"]] for key, c in creates.items()}
    workload = Workload(tag=tag, portals=portals, lines=lines)
    for (portal, k), _ in lines.items():
        workload.expected[(portal, k)] = workload.title(portal, k, 0)
    return workload


async def publish_rounds(
    tapped: Tap,
    workload: Workload,
    arrivals: Arrivals,
    rounds: Iterable[int],
    *,
    pause: float = 0.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Each round confirmed before the next is published (the order of a line's updates);
    with ``stop``, no round starts once it is set."""
    for r in rounds:
        if stop is not None and stop.is_set():
            return
        batch = workload.round(r)
        now = time.monotonic()
        for c in batch:
            arrivals.published[c["id"]] = now
        # a publisher retries what the broker did not confirm in time (a loaded machine)
        await asyncio.gather(*(tapped.publish_json(c, retry_for=120) for c in batch))
        if pause:
            await asyncio.sleep(pause)


@dataclass(frozen=True)
class FinalState:
    wrong_titles: list[tuple[str, int, str, str | None]]  # portal, config id, want, found
    duplicate_titles: list[tuple[str, str, int]]  # portal, title, copies
    missing_created: list[tuple[str, str]]

    @property
    def ok(self) -> bool:
        return not (self.wrong_titles or self.duplicate_titles or self.missing_created)


async def final_state(
    sandbox: ManyPortals, session: aiohttp.ClientSession, workload: Workload
) -> FinalState:
    wrong: list[tuple[str, int, str, str | None]] = []
    duplicates: list[tuple[str, str, int]] = []
    missing: list[tuple[str, str]] = []
    created = defaultdict(set)
    for portal, title in workload.created:
        created[portal].add(title)
    for portal in workload.portals:
        rows = await sandbox.lines(session, portal)
        titles = {int(row["CONFIG_ID"]): str(row["TITLE"]) for row in rows}
        for k in range(workload.per_portal):
            config_id = workload.lines[(portal, k)]
            want = workload.expected[(portal, k)]
            if titles.get(config_id) != want:
                wrong.append((portal, config_id, want, titles.get(config_id)))
        copies = Counter(str(row["TITLE"]) for row in rows)
        duplicates += [(portal, t, n) for t, n in copies.items() if n > 1]
        missing += [(portal, t) for t in sorted(created[portal]) if copies[t] == 0]
    return FinalState(wrong, duplicates, missing)
