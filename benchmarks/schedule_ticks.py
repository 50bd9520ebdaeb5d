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

    .venv/bin/python -m benchmarks.schedule_ticks [--ticks 2000] [--spread 60]
        [--interval 300] [--postgres] [--profile PATH] [--runs 1]
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
    def __init__(self, expected: int) -> None:
        self.fired = 0
        self.late = 0
        self.expected = expected
        self.all_fired = asyncio.Event()

    def sweep_scheduled(self, *, late: bool) -> None:
        self.fired += 1
        self.late += late
        if self.fired >= self.expected:
            self.all_fired.set()


async def one_run(args: argparse.Namespace, directory: Path) -> tuple[float, float, int]:
    """(CPU ms per tick, CPU % over the window, late ticks)."""
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
) -> tuple[float, float, int]:
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
    count = Count(n)
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
            wall0, cpu0 = time.perf_counter(), time.process_time()
            if profile is not None:
                profile.enable()
            with suppress(TimeoutError):
                await asyncio.wait_for(count.all_fired.wait(), timeout=args.spread + 120)
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if count.fired < n:
            raise RuntimeError(f"only {count.fired} of {n} ticks fired")
        own = cpu - idle * wall
        return 1000 * own / n, 100 * cpu / wall, count.late
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
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            per_tick, percent, late = await one_run(args, Path(tmp))
            results.append(per_tick)
            print(
                f"  run {run + 1}: {per_tick:.3f} ms CPU per tick; {percent:.1f} % CPU while "
                f"firing; {late} late; load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
    rate = "all at once" if args.spread == 0 else f"{args.ticks / args.spread:.1f}/s"
    print(
        f"{backend}: {args.ticks} ticks ({rate}), interval {args.interval:g} s: "
        f"{min(results):.3f}-{max(results):.3f} ms CPU per tick "
        f"(median {sorted(results)[len(results) // 2]:.3f})"
    )


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ticks", type=int, default=2000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=300.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", default=None, help="cProfile the firing window into PATH")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
