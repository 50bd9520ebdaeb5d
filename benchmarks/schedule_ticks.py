"""The sweep schedule's tick handling alone: CPU per fired tick, in this process.

``--ticks`` portals (webhook portals, every one on the schedule with ``--interval``) each
get one due tick; the ticks wait in the portals' interval queue with per-message TTLs spread
over ``--spread`` seconds, so they reach the tick queue at ``ticks / spread`` a second (the
rate a process sees at rest: 10,000 portals every 300 s are 33 a second), as they do in
production. The schedule of this process (:class:`SweepSchedule`, as ``sipline run`` wires
it, on its own channel and the real store) fires each one: compare-and-set in the store,
the ``portal.sweep`` published to the command exchange (nobody consumes it: the sweeps
themselves are not measured here), the next tick published to the interval queue, the ack.

CPU is this process's (``time.process_time``: the event loop and the store's driver
threads) from the first tick's due time until every tick has fired, less the same
process's CPU over an equal idle window before the ticks (the scanner's look and the
heartbeats), divided by the ticks fired: the schedule's own cost per tick. ``--spread 0``
puts every tick in the tick queue at once (the most a batch can take).

``--cycles 2 --interval 30 --spread 30``: the first cycle's ticks are published one message
each (as the scan arms them); the second cycle's are those the schedule published itself
when it fired the first (bundled where it bundles): the steady state.

    .venv/bin/python -m benchmarks.schedule_ticks [--ticks 2000] [--spread 60]
        [--interval 300] [--cycles 1] [--postgres] [--profile PATH] [--runs 1]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import tempfile
import time
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
from sqlalchemy import insert

from benchmarks._stack import AMQP_URL
from benchmarks._store import drop_store_schema, store_values
from benchmarks.schedule_idle import fill
from worker.adapters.amqp.topology import Names, declare, declare_tick_wait, delete_all
from worker.adapters.store import open_store
from worker.adapters.store.tables import sweep_schedule
from worker.runtime.wiring import topology_spec
from worker.schedule import ScheduleConfig, SweepSchedule
from worker.schedule.tick import Tick
from worker.settings import Settings

WEBHOOK = "https://ticks.bitrix24.test/rest/1/benchmarkcode/"


class Count:
    """Ticks fired; ``cycles[k]`` is set once ``(k + 1) · per_cycle`` have fired."""

    def __init__(self, per_cycle: int, cycles: int) -> None:
        self.fired = 0
        self.late = 0
        self.per_cycle = per_cycle
        self.cycles = [asyncio.Event() for _ in range(cycles)]

    def sweep_scheduled(self, *, late: bool) -> None:
        self.fired += 1
        self.late += late
        done = self.fired // self.per_cycle
        for event in self.cycles[:done]:
            event.set()


async def one_run(
    args: argparse.Namespace, directory: Path
) -> tuple[list[tuple[float, float]], int]:
    """Per cycle (CPU ms per tick, CPU % over the cycle); late ticks."""
    prefix = f"bench-ticks-{uuid.uuid4().hex[:10]}"
    backend = "postgresql" if args.postgres else "sqlite"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        amqp_url=AMQP_URL,
        topology_prefix=prefix,
        sweep_interval=args.interval,
        **store_values(backend, directory),  # type: ignore[arg-type]
    )
    names = Names(prefix)
    spec = topology_spec(settings)
    try:
        async with open_store(settings) as store:
            await fill(store, args.ticks, WEBHOOK)
            return await _measure(args, settings, store, names)
    finally:
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            await delete_all(await connection.channel(), spec, sweep_intervals=[args.interval])
        await drop_store_schema(settings)


async def _measure(
    args: argparse.Namespace, settings: Settings, store: object, names: Names
) -> tuple[list[tuple[float, float]], int]:
    from worker.adapters.store import SqlStore

    assert isinstance(store, SqlStore)
    n, interval = args.ticks, args.interval
    lead = 8.0  # seconds from now to the first tick: the schedule starts meanwhile
    first = time.time() + lead
    step = args.spread / n
    dues = [first + i * step for i in range(n)]
    portals_ = [f"idle-{i:05d}.bitrix24.test" for i in range(n)]
    async with store.engine.begin() as conn:
        await conn.execute(
            insert(sweep_schedule),
            [
                {
                    "portal": p,
                    "generation": 1,
                    "due_at": datetime.fromtimestamp(d, UTC),
                    "interval": interval,
                }
                for p, d in zip(portals_, dues, strict=True)
            ],
        )
    feeder = await aio_pika.connect(AMQP_URL)
    connection = await aio_pika.connect_robust(AMQP_URL)
    count = Count(n, args.cycles)
    try:
        channel = await feeder.channel(publisher_confirms=True)
        await declare(channel, topology_spec(settings))
        queue = await declare_tick_wait(channel, names, interval, per_message=True)
        now = time.time()
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    Tick(p, 1, d).message(expiration=d - now), routing_key=queue
                )
                for p, d in zip(portals_, dues, strict=True)
            )
        )
        schedule = SweepSchedule(
            store=store,
            connection=connection,
            names=names,
            config=ScheduleConfig(
                default_interval=interval, grace=3600.0, scan_every=3600.0, static={}
            ),
            observer=count,
        )
        async with schedule.running():
            await asyncio.wait_for(schedule.started.wait(), timeout=30)
            await asyncio.sleep(max(0.0, first - 1.0 - time.time()))
            idle = await _cpu_over(1.0)
            profile = cProfile.Profile() if args.profile else None
            if profile is not None:
                profile.enable()
            found = []
            for cycle in count.cycles:
                wall0, cpu0 = time.perf_counter(), time.process_time()
                with suppress(TimeoutError):
                    await asyncio.wait_for(cycle.wait(), timeout=args.spread + interval + 120)
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                if not cycle.is_set():
                    raise RuntimeError(f"only {count.fired} ticks fired")
                found.append((1000 * (cpu - idle * wall) / n, 100 * cpu / wall))
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
        return found, count.late
    finally:
        await connection.close()
        await feeder.close()


async def _cpu_over(seconds: float) -> float:
    """This process's CPU a second at rest, measured over ``seconds``."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


async def main(args: argparse.Namespace) -> None:
    backend = "PostgreSQL" if args.postgres else "SQLite"
    results: list[list[float]] = [[] for _ in range(args.cycles)]
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            cycles, late = await one_run(args, Path(tmp))
            for k, (per_tick, _) in enumerate(cycles):
                results[k].append(per_tick)
            shown = ", ".join(
                f"cycle {k + 1}: {per_tick:.3f} ms/tick ({percent:.1f} % CPU)"
                for k, (per_tick, percent) in enumerate(cycles)
            )
            load = os.getloadavg()
            print(
                f"  run {run + 1}: {shown}; {late} late; load average {load[0]:.2f} {load[1]:.2f}",
                flush=True,
            )
    rate = "all at once" if args.spread == 0 else f"{args.ticks / args.spread:.1f}/s"
    print(f"{backend}: {args.ticks} ticks ({rate}), interval {args.interval:g} s")
    for k, values in enumerate(results):
        middle = sorted(values)[len(values) // 2]
        print(
            f"  cycle {k + 1}: {min(values):.3f}-{max(values):.3f} ms CPU per tick "
            f"(median {middle:.3f}); at 10,000 portals / 300 s: {middle * 10_000 / 300 / 10:.2f} % "
            "CPU"
        )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ticks", type=int, default=2000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=300.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--cycles",
        type=int,
        default=1,
        help="measure this many intervals in a row (the first: ticks as armed, one message "
        "each; the later ones: as the schedule publishes them, bundled)",
    )
    parser.add_argument("--profile", default=None, help="cProfile the firing window into PATH")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
