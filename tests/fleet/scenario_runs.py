"""The three fleet scenarios as functions of their sizes: real ``sipline run`` processes, the
real broker, the sandbox serving many portals on one port. Each returns its figures; the slow
tests assert on them (small sizes), benchmarks/fleet_failover.py prints them (full sizes)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from pydantic import SecretStr

from tests.amqp_helpers import AMQP_URL
from tests.fleet.procs import (
    ManyPortals,
    Members,
    fleet_tap,
    fleet_values,
    many_portals,
    members,
    shared_store,
)
from tests.fleet.scenario import (
    FINAL,
    Arrivals,
    FinalState,
    Workload,
    final_state,
    premake,
    publish_rounds,
    watching,
)
from tests.resilience.conftest import unique_prefix
from tests.resilience.ledger import Tally, Tap
from tests.resilience.processes import REPO, WorkerProcess, _clean_env, until, worker_env
from worker.adapters.store import open_store
from worker.fleet.shards import assign, portal_weights, shard_of
from worker.fleet.status import FleetStatus, read_status
from worker.fleet.topology import FleetNames
from worker.http.install import PATH as INSTALL_PATH
from worker.runtime.policy import REAUTHORIZATION_REQUIRED
from worker.settings import Settings


@dataclass(frozen=True)
class Sizes:
    portals: int = 30
    lines_per_portal: int = 2
    rounds: int = 6  # ≈ 3.6 commands per portal per round
    latency: float = 0.05
    shards: int = 16
    round_pause: float = 0.0  # between rounds, for runs that must last
    token_ttl: float = 3.0  # every second portal is an OAuth portal (sandbox --auth mixed)


@dataclass
class Figures:
    """What a run measured; ``problems`` is empty when every promise held."""

    commands: int = 0
    missing: list[str] = field(default_factory=list)  # commands without a final event
    several_outcomes: list[str] = field(default_factory=list)  # sweeps aside
    seconds: float = 0.0
    tally: Tally | None = None
    state: FinalState | None = None
    query_limit: int = 0
    oauth: dict[str, int] = field(default_factory=dict)  # the sandbox's OAuth counters
    portals_served: dict[str, int] = field(default_factory=dict)
    exits: dict[str, list[int]] = field(default_factory=dict)
    failover_seconds: float | None = None
    fair_share_seconds: float | None = None  # from its first beat to the fleet converged
    start_seconds: float | None = None  # from exec to its first beat (process start-up)
    longest_wait: float = 0.0
    longest_wait_restart: float | None = None
    restart_seconds: float | None = None
    orphaned: list[str] = field(default_factory=list)  # the killed process's portals
    stalled: str | None = None  # the portal whose refresh the kill was made to land in
    lost_pairs: dict[str, str] = field(default_factory=dict)  # portal → why (store's mark)
    parked: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (portal, reason)
    replayed: list[str] = field(default_factory=list)  # the parked commands replayed

    def summary(self) -> dict[str, Any]:
        tally = self.tally
        return {
            "commands": self.commands,
            "seconds": round(self.seconds, 1),
            "with an outcome": self.commands - len(self.missing),
            "missing": len(self.missing),
            "duplicate event copies": tally.duplicate_events if tally else None,
            "commands with duplicate events": tally.commands_with_duplicates if tally else None,
            "dead letters": tally.dead_letters if tally else None,
            "lines with a wrong final title": len(self.state.wrong_titles) if self.state else None,
            "duplicate lines": len(self.state.duplicate_titles) if self.state else None,
            "QUERY_LIMIT_EXCEEDED": self.query_limit,
            "OAuth expiries": self.oauth.get("expiries"),
            "OAuth refreshes": self.oauth.get("refreshes"),
            "OAuth refreshes before an expiry": self.oauth.get("early_refreshes"),
            "invalid_grant": self.oauth.get("invalid_grant"),
            "portals served per process": self.portals_served,
            "exit codes": self.exits,
            "failover seconds": _round(self.failover_seconds),
            "seconds to a fair share (from its first beat)": _round(self.fair_share_seconds),
            "joiner's start-up, exec to first beat (s)": _round(self.start_seconds),
            "longest wait of a command (s)": round(self.longest_wait, 1),
            "longest wait during the rolling restart (s)": _round(self.longest_wait_restart),
            "rolling restart seconds": _round(self.restart_seconds),
            "OAuth pairs lost in flight (installed again)": self.lost_pairs,
            "commands parked, then replayed": len(self.replayed),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass
class Run:
    values: dict[str, Any]
    sandbox: ManyPortals
    tapped: Tap
    group: Members
    session: aiohttp.ClientSession
    connection: aio_pika.abc.AbstractConnection

    def values_portals(self) -> dict[str, Any]:
        """The sandbox's portals as the members' settings name them (``SIPLINE_PORTALS``)."""
        portals: dict[str, Any] = self.sandbox.info["settings"]["portals"]
        return portals

    def store_settings(self) -> Settings:
        """Settings that open the store the members share."""
        v = self.values
        return Settings(
            _env_file=None,
            store_url=SecretStr(v["store_url"]),
            store_schema=v["store_schema"],
            store_key=SecretStr(v["store_key"]),
        )

    async def status(self) -> FleetStatus:
        return await read_status(
            self.connection, FleetNames(self.values["topology_prefix"]), listen=2.5
        )

    async def converged(self, count: int, limit: float = 60.0) -> FleetStatus:
        """Every running process beats and holds its share of the portals: the assignment
        every member computes (shares counted in portals)."""
        found: list[FleetStatus] = []
        weights = portal_weights(self.sandbox.portals, self.values["shards"])

        async def done() -> bool:
            status = await self.status()
            found[:] = [status]
            if len(status.members) != count or status.orphaned:
                return False
            want = assign(self.values["shards"], status.members, weights)
            return all(set(status.members[m]) == set(want[m]) for m in status.members)

        await until(done, limit=limit, what=f"{count} members to converge", every=0.5)
        return found[0]

    async def ready(self, workers: list[WorkerProcess]) -> None:
        await asyncio.gather(*(w.ready(self.session, limit=120) for w in workers))

    async def joined(self, worker: WorkerProcess, limit: float = 180.0) -> float:
        """When ``worker`` first beat (it is in the fleet): the start of its join, apart
        from the process's own start-up (interpreter, imports, store, connections)."""
        seen: list[float] = []

        async def beating() -> bool:
            assert worker.running(), worker.tail()
            status = await self.status()
            if any(f":{worker.pid}:" in member for member in status.members):
                seen.append(time.monotonic() - 2.5)  # heard during the 2.5 s listen
                return True
            return False

        await until(beating, limit=limit, what="the new member's first beat", every=0.2)
        return seen[0]

    def portals_of(self, status: FleetStatus, worker: WorkerProcess) -> list[str]:
        member = next(m for m in status.members if f":{worker.pid}:" in m)
        held = set(status.members[member])
        return [p for p in self.sandbox.portals if shard_of(p, self.values["shards"]) in held]

    async def finish(
        self, workload: Workload, arrivals: Arrivals, figures: Figures, limit: float
    ) -> None:
        """Wait for every outcome, then read the counts, the final state and the logs."""
        ids = workload.ids

        def outcomes() -> int:
            arrivals.poll()
            return sum(1 for i in ids if i in arrivals.finished)

        with contextlib.suppress(AssertionError):  # the figures say what is missing
            await until(lambda: outcomes() == len(ids), limit=limit, what="outcomes")
        await asyncio.sleep(2.0)  # late duplicates
        arrivals.poll()
        figures.commands = len(ids)
        figures.missing = [i for i in ids if i not in arrivals.finished]
        figures.tally = self.tapped.ledger.tally(ids)
        figures.several_outcomes = [
            i for i in figures.tally.several_outcomes if i not in workload.sweeps
        ]
        figures.state = await final_state(self.sandbox, self.session, workload)
        counters = await self.sandbox.counters(self.session)
        figures.query_limit = int(counters["totals"]["query_limit_rejections"])
        figures.oauth = {name: int(n) for name, n in counters["totals"]["oauth"].items()}
        served: dict[str, int] = {}
        for _, by in self.group.served().items():
            for name in by:
                served[name] = served.get(name, 0) + 1
        figures.portals_served = dict(sorted(served.items()))


@contextlib.asynccontextmanager
async def fleet_run(directory: Path, sizes: Sizes, tag: str) -> AsyncIterator[Run]:
    """The sandbox (half its portals OAuth, access tokens living ``sizes.token_ttl`` s),
    the taps and the members' settings: one PostgreSQL store shared by every member, as
    the runbook says for several processes (their OAuth pairs live there)."""
    extra = ("--latency", str(sizes.latency), "--auth", "mixed")
    extra += ("--token-ttl", str(sizes.token_ttl))
    async with (
        aiohttp.ClientSession() as session,
        shared_store() as store,
        many_portals(directory / "sandbox", sizes.portals, *extra) as sandbox,
    ):
        # the production SIPLINE_SHUTDOWN_GRACE: a handover on SIGTERM finishes what is in hand
        values = fleet_values(
            unique_prefix(tag), shards=sizes.shards, prefetch=16, shutdown_grace=30.0, **store
        )
        async with fleet_tap(values) as tapped:
            connection = await aio_pika.connect(AMQP_URL)
            try:
                with members(sandbox.dotenv, values, directory / "logs") as group:
                    yield Run(values, sandbox, tapped, group, session, connection)
            finally:
                await connection.close()


def _exits(group: Members) -> dict[str, list[int]]:
    return {name: list(worker.exits) for name, worker in group.workers.items()}


@dataclass
class Scene:
    """Three converged processes with lines made; :meth:`conclude` stops them and records."""

    run: Run
    workers: list[WorkerProcess]
    workload: Workload
    started: float = field(default_factory=time.monotonic)

    def conclude(self, arrivals: Arrivals, figures: Figures) -> None:
        figures.seconds = max(arrivals.finished.values(), default=self.started) - self.started
        figures.longest_wait = max(arrivals.waits(self.workload.ids), default=0.0)
        for worker in self.workers:
            worker.stop()
        figures.exits = _exits(self.run.group)


@contextlib.asynccontextmanager
async def three(directory: Path, sizes: Sizes, tag: str) -> AsyncIterator[Scene]:
    async with fleet_run(directory, sizes, f"fleet-{tag}") as run:
        workers = [run.group.start(name) for name in ("a", "b", "c")]
        await run.ready(workers)
        await run.converged(3)
        workload = await premake(run.tapped, run.sandbox.portals, sizes.lines_per_portal, tag=tag)
        yield Scene(run, workers, workload)


async def burst(directory: Path, sizes: Sizes, limit: float = 300) -> Figures:
    """Scenario 1: three processes, one burst of mixed commands."""
    figures = Figures()
    async with three(directory, sizes, "s1") as scene, watching(scene.run.tapped.ledger) as got:
        await publish_rounds(scene.run.tapped, scene.workload, got, range(1, sizes.rounds + 1))
        await scene.run.finish(scene.workload, got, figures, limit=limit)
        scene.conclude(got, figures)
    return figures


def _publishing(
    run: Run, workload: Workload, arrivals: Arrivals, sizes: Sizes, stop: asyncio.Event
) -> asyncio.Task[None]:
    """Rounds every ``round_pause`` seconds until ``stop``, at least ``sizes.rounds``."""

    async def publish() -> None:
        await publish_rounds(
            run.tapped, workload, arrivals, range(1, sizes.rounds + 1), pause=sizes.round_pause
        )
        await publish_rounds(
            run.tapped,
            workload,
            arrivals,
            itertools.count(sizes.rounds + 1),
            pause=sizes.round_pause,
            stop=stop,
        )

    return asyncio.create_task(publish())


async def kill_one(
    directory: Path, sizes: Sizes, limit: float = 300, *, inside_a_refresh: bool = False
) -> Figures:
    """Scenario 2: kill -9 one of three while commands flow; ``inside_a_refresh``: while it
    waits for the answer of a refresh the OAuth server has made (the pair is then lost)."""
    figures = Figures()
    async with three(directory, sizes, "s2") as scene, watching(scene.run.tapped.ledger) as got:
        run, victim = scene.run, scene.workers[1]
        orphaned = run.portals_of(await run.status(), victim)
        figures.orphaned = orphaned
        stop = asyncio.Event()
        publishing = _publishing(run, scene.workload, got, sizes, stop)
        third = len(run.sandbox.portals) * sizes.lines_per_portal * max(1, sizes.rounds // 3)
        await until(lambda: len(got.finished) >= third, limit=300, what="a third of the work")
        stalled = None
        if inside_a_refresh:
            stalled = await _stall_a_refresh(run, orphaned)
        victim.kill()
        killed_at = time.monotonic()
        if stalled is not None:
            await _token_stall(run, stalled, 0)
            figures.stalled = stalled

        def resumed() -> bool:
            return all(got.first_after(p, killed_at) is not None for p in orphaned)

        await until(resumed, limit=120, what="the victim's portals to continue")
        firsts = [got.first_after(p, killed_at) for p in orphaned]
        figures.failover_seconds = max(t for t in firsts if t is not None) - killed_at
        stop.set()
        await publishing
        await run.finish(scene.workload, got, figures, limit=limit)
        await recover_lost_pairs(run, scene, got, figures, limit=limit)
        scene.conclude(got, figures)
    return figures


def _oauth_portals(run: Run) -> set[str]:
    return {p for p, entry in run.values_portals().items() if "oauth" in entry}


async def _token_stall(run: Run, portal: str, seconds: float) -> None:
    url = f"{run.sandbox.info['portals'][portal]['admin_url']}faults"
    async with run.session.post(url, json={"token_stall_seconds": seconds}) as response:
        assert response.status == 200, await response.text()


async def _refreshes(run: Run, portal: str) -> int:
    url = f"{run.sandbox.info['portals'][portal]['admin_url']}counters"
    async with run.session.get(url) as response:
        assert response.status == 200, await response.text()
        return int((await response.json())["token_refreshes"])


async def _stall_a_refresh(run: Run, orphaned: list[str]) -> str:
    """An OAuth portal of the victim whose token endpoint now holds every answer after the
    rotation; returns once the victim's refresh of it has been made (and hangs)."""
    portal = sorted(set(orphaned) & _oauth_portals(run))[0]
    before = await _refreshes(run, portal)
    await _token_stall(run, portal, 60)

    async def hanging() -> bool:
        """Rotated since, and a refresh recorded in flight that stays so (it waits for the
        held answer; one that began before the stall would have completed)."""
        if await _refreshes(run, portal) <= before:
            return False
        first = await _in_flight(run, portal)
        await asyncio.sleep(0.5)
        return first is not None and first == await _in_flight(run, portal)

    await until(hanging, limit=60, what=f"a refresh of {portal}'s token to hang", every=0.05)
    return portal


async def _in_flight(run: Run, portal: str) -> object:
    async with open_store(run.store_settings()) as store, store.unit_of_work(readonly=True) as uow:
        tokens = await uow.tokens.get(portal)
    return None if tokens is None else tokens.in_flight


async def _lost_pairs(run: Run) -> dict[str, str]:
    """portal → reason, for every portal the store marks as needing authorising again."""
    async with open_store(run.store_settings()) as store, store.unit_of_work(readonly=True) as uow:
        marked = await uow.tokens.needing_reauth()
    return {t.portal: t.reauth.reason for t in marked if t.reauth is not None}


async def recover_lost_pairs(
    run: Run, scene: Scene, got: Arrivals, figures: Figures, *, limit: float
) -> None:
    """What the runbook says for a pair lost in flight: the portals the store marks are
    installed again (the sandbox's install flow, against a running member), then the
    parked dead letters are replayed (``sipline dlq replay --reason
    reauthorization_required``); waits until each replayed command has its outcome."""
    figures.lost_pairs = await _lost_pairs(run)
    ledger = run.tapped.ledger
    for seen in ledger.dead:
        body = json.loads(seen.body)
        figures.parked[str(body.get("id"))] = (
            str(body.get("portal")),
            str(seen.headers.get("x-sipline-reason")),
        )
    if not figures.lost_pairs:
        return
    receiver = next(w for w in scene.workers if w.running())
    for portal in figures.lost_pairs:
        done = await _cli(
            run, "sandbox-ctl", "install", "--env-file", str(run.sandbox.dotenv),
            "--portal", portal, "--url", f"{receiver.metrics_url}{INSTALL_PATH}",
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr

    async def installed() -> bool:
        return not set(await _lost_pairs(run)) & set(figures.lost_pairs)

    await until(installed, limit=30, what="the installs to clear the marks", every=0.2)
    replay = await _cli(run, "dlq", "replay", "--reason", REAUTHORIZATION_REQUIRED)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    figures.replayed = [
        cid for cid, (_, reason) in figures.parked.items() if reason == REAUTHORIZATION_REQUIRED
    ]

    def applied() -> bool:
        done = {
            e.get("causationid")
            for e in ledger.events
            if e["type"] in FINAL and e["type"] != "command.failed"
        }
        return all(cid in done for cid in figures.replayed)

    await until(applied, limit=limit, what="the replayed commands' outcomes", every=0.2)
    await asyncio.sleep(2.0)  # late duplicates
    figures.state = await final_state(run.sandbox, run.session, scene.workload)
    figures.tally = ledger.tally(scene.workload.ids)
    figures.several_outcomes = [
        i
        for i in figures.tally.several_outcomes
        if i not in scene.workload.sweeps and i not in figures.replayed
    ]
    counters = await run.sandbox.counters(run.session)
    figures.oauth = {name: int(n) for name, n in counters["totals"]["oauth"].items()}


async def _cli(run: Run, *args: str) -> subprocess.CompletedProcess[str]:
    """``sipline ARGS`` with the members' settings (their broker, prefix and store)."""
    env = {**_clean_env(), **worker_env(run.values)}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "worker.cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def join_and_restart(directory: Path, sizes: Sizes, limit: float = 300) -> Figures:
    """Scenario 3: a fourth process joins while commands flow; then all four restart, one at
    a time (SIGTERM, wait for exit 0, start again, wait until it holds its share)."""
    figures = Figures()
    async with three(directory, sizes, "s3") as scene, watching(scene.run.tapped.ledger) as got:
        run, workers = scene.run, scene.workers
        stop = asyncio.Event()
        publishing = _publishing(run, scene.workload, got, sizes, stop)
        await until(lambda: len(got.finished) >= 30, limit=300, what="work under way")
        spawned_at = time.monotonic()
        workers.append(run.group.start("d"))
        joined_at = await run.joined(workers[-1])
        await run.converged(4, limit=120)
        figures.fair_share_seconds = time.monotonic() - joined_at
        figures.start_seconds = joined_at - spawned_at
        restart_from = time.monotonic()
        for worker in workers:
            assert worker.stop(grace=60) == 0, worker.tail()
            worker.start()
            await run.ready([worker])
            await run.converged(4, limit=120)
        restart_to = time.monotonic()
        figures.restart_seconds = restart_to - restart_from
        stop.set()
        await publishing
        await run.finish(scene.workload, got, figures, limit=limit)
        during = [cid for cid, at in got.published.items() if restart_from <= at <= restart_to]
        figures.longest_wait_restart = max(got.waits(during), default=None)
        scene.conclude(got, figures)
    return figures
