"""The sweep schedule at rest: 10,000 portals registered, one ``sipline run``, no commands.

The worker runs alone in a child process (``sipline run`` itself), so the CPU time read
from ``/proc/PID/stat`` is its own; this process serves the sandbox every portal's webhook
points at (one sandbox portal with no lines: a sweep costs one ``voximplant.sip.get``) and
holds the store (SQLite, or PostgreSQL with ``--postgres``) with ``--portals`` portals.

For each ``--intervals`` value (``SIPLINE_SWEEP_INTERVAL``; every portal takes the default):

* ``0``: no schedule: the worker with the same registry, at rest: the baseline;
* a long interval (3600 s): measured right after every portal's first tick is armed, while
  the ticks are still taking their hops towards their first slot: the schedule's own cost
  (hops, the scan, the few sweeps that fall due);
* the default (300 s): measured after ``--warmup`` (one interval): every tick waits in its
  interval queue, and 1/300 of the portals are swept every second: the schedule's steady
  state, sweeps included.

Each row: CPU % of the worker over ``--seconds`` (60), ticks fired and sweeps run in that
window (from its ``/metrics``), and the time the first arming of every portal took.

``--commanded R``: the ``0`` row instead publishes R ``portal.sweep`` commands a second by
hand (round-robin over the portals, no schedule): the sweep's own cost, to subtract from a
scheduled row of the same rate (``--portals 600 --intervals 0,60 --commanded 10``) to get
what the schedule adds per tick.

    .venv/bin/python -m benchmarks.schedule_idle [--portals 10000] [--seconds 60]
        [--intervals 0,3600,300] [--warmup 300] [--postgres postgresql://…/test]
        [--commanded 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import aiohttp
from pydantic import SecretStr
from sqlalchemy import insert, update

from benchmarks._stack import AMQP_URL, GENEROUS_BUCKET
from benchmarks._store import drop_store_schema
from benchmarks.worker_cost import child_env, cpu_seconds, free_port
from contracts import PortalSweep
from worker.adapters.amqp.publisher import envelope_message
from worker.adapters.amqp.topology import Names, declare, delete_all
from worker.adapters.store import SqlStore, generate_key, open_store
from worker.adapters.store.tables import counters, portals
from worker.cli.common import load_settings
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.stack import Sandbox
from worker.settings import Settings
from worker.store.records import DEFAULT_OAUTH_SERVER

REPO = Path(__file__).resolve().parent.parent
GOAL_PERCENT = 1.0


@dataclass(frozen=True)
class Row:
    interval: float
    cpu_percent: float
    fired: float
    swept: float
    armed_seconds: float | None


async def fill(store: SqlStore, count: int, webhook: str) -> None:
    """``count`` webhook portals in one statement (``portals.add`` one by one takes minutes
    for 10,000: it encrypts, bumps the revision and reads each back)."""
    secret = store.cipher.encrypt(SecretStr(webhook))
    now = datetime.now(UTC)
    rows = [
        {
            "domain": f"idle-{n:05d}.bitrix24.test",
            "auth": "webhook",
            "webhook_url_enc": secret,
            "oauth_server_url": DEFAULT_OAUTH_SERVER,
            "plan": "standard",
            "enabled": True,
            "repair_policy": "observe",
            "owns_voximplant_account": False,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for n in range(count)
    ]
    async with store.engine.begin() as conn:
        await conn.execute(insert(portals), rows)
        await conn.execute(update(counters).values(value=counters.c.value + 1))


async def until_ready(url: str, child: asyncio.subprocess.Process, limit: float = 600) -> None:
    """Until the worker's /readyz answers 200 (10,000 portals take a while to load)."""
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if child.returncode is not None:
                raise RuntimeError("the worker exited during start-up")
            try:
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the worker was not ready within {limit:g} s")


async def scheduled(store: SqlStore) -> int:
    async with store.unit_of_work(readonly=True) as uow:
        return sum(1 for r in await uow.schedule.all() if r.due_at is not None)


async def scraped(url: str) -> tuple[float, float]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/metrics") as response:
        text = await response.text()

    def value(pattern: str) -> float:
        found = re.search(pattern, text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    return (
        value(r"^sipline_sweeps_scheduled_total (\S+)$"),
        value(r'^sipline_sweeps_run_total\{trigger="schedule"\} (\S+)$')
        + value(r'^sipline_sweeps_run_total\{trigger="command"\} (\S+)$'),
    )


async def send_sweeps(settings: Settings, portals: int, rate: float) -> None:
    """``rate`` portal.sweep commands a second, round-robin over the portals, until
    cancelled (each confirmed, as any publisher should)."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(Names(settings.topology_prefix).commands_exchange)
        started, n = time.monotonic(), 0
        while True:
            command = PortalSweep(
                type="portal.sweep",
                id=f"bench-{uuid.uuid4().hex}",
                source="urn:sipline:benchmark",
                portal=f"idle-{n % portals:05d}.bitrix24.test",
                time=datetime.now(UTC),
            )
            await exchange.publish(envelope_message(command), routing_key="portal.sweep")
            n += 1
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))


async def measure(interval: float, args: argparse.Namespace, sandbox: Sandbox, tmp: Path) -> Row:
    prefix = f"bench-schedule-{uuid.uuid4().hex[:10]}"
    port = free_port()
    directory = tmp / prefix
    directory.mkdir()
    store_lines = [f"SIPLINE_DATA_DIR={directory}", f"SIPLINE_STORE_KEY={generate_key()}"]
    if args.postgres:
        store_lines += [
            f"SIPLINE_STORE_URL={args.postgres}",
            f"SIPLINE_STORE_SCHEMA=b_{uuid.uuid4().hex[:12]}",
        ]
    env_file = directory / "worker.env"
    env_file.write_text(
        "\n".join(
            [
                *sandbox.dotenv().splitlines(),
                *store_lines,
                f"SIPLINE_AMQP_URL={AMQP_URL}",
                f"SIPLINE_TOPOLOGY_PREFIX={prefix}",
                f"SIPLINE_METRICS_PORT={port}",
                f"SIPLINE_SWEEP_INTERVAL={interval:g}",
                "SIPLINE_SWEEP_REPORT_ONLY_DIVERGENT=true",
                "SIPLINE_EVENTS_MAX_AGE=1h",
                "SIPLINE_LOG_LEVEL=WARNING",
                "SIPLINE_LOG_FORMAT=json",
            ]
        )
        + "\n"
    )
    env_file.chmod(0o600)
    settings = load_settings(env_file)
    webhook = next(iter(settings.portals.values())).webhook_url
    assert webhook is not None
    async with open_store(settings) as store:
        await fill(store, args.portals, webhook.get_secret_value())
        try:
            return await _run(interval, args, settings, store, env_file, port)
        finally:
            await _remove(settings, interval)
            await drop_store_schema(settings)


async def _run(
    interval: float,
    args: argparse.Namespace,
    settings: Settings,
    store: SqlStore,
    env_file: Path,
    port: int,
) -> Row:
    log = env_file.with_name("worker.log")
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        await declare(await connection.channel(), topology_spec(settings))
    with log.open("wb") as stderr:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            *(["-m", "cProfile", "-o", f"{args.profile}.{interval:g}"] if args.profile else []),
            "-m", "worker.cli.main", "run", "--env-file", str(env_file),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
            env=child_env(), cwd=REPO,
        )  # fmt: skip
    try:
        await until_ready(f"http://127.0.0.1:{port}", child)
        started = time.monotonic()
        armed = None
        if interval > 0:
            while await scheduled(store) < args.portals:
                if time.monotonic() - started > 300:
                    raise RuntimeError("the portals were not all armed within 300 s")
                await asyncio.sleep(0.5)
            armed = time.monotonic() - started
            if interval <= args.warmup:
                print(
                    f"  interval {interval:g} s: armed in {armed:.1f} s; warming up {interval:g} s"
                )
                await asyncio.sleep(interval)
        url = f"http://127.0.0.1:{port}"
        fired0, swept0 = await scraped(url)
        user0, system0 = cpu_seconds(child.pid)
        sender = None
        if interval == 0 and args.commanded:
            sender = asyncio.create_task(send_sweeps(settings, args.portals, args.commanded))
        t0 = time.perf_counter()
        await asyncio.sleep(args.seconds)
        user1, system1 = cpu_seconds(child.pid)
        elapsed = time.perf_counter() - t0
        fired1, swept1 = await scraped(url)
        percent = 100 * ((user1 - user0) + (system1 - system0)) / elapsed
        if sender is not None:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        child.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        code = await asyncio.wait_for(child.wait(), timeout=180)
        print(
            f"  interval {interval:g} s: the worker stopped "
            f"{time.monotonic() - stopping:.1f} s after SIGTERM"
        )
        if code != 0:
            raise RuntimeError(f"the worker exited with {code}; see {log}")
        warnings = Counter(
            json.loads(line).get("message", "?")
            for line in log.read_text(errors="replace").splitlines()
            if line.startswith("{")
        )
        for message, n in warnings.most_common(5):
            print(f"  worker log: {n} × {message[:100]}")
        return Row(interval, percent, fired1 - fired0, swept1 - swept0, armed)
    except BaseException:
        if child.returncode is None:
            child.kill()
            await child.wait()
        print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
        raise


async def _remove(settings: Settings, interval: float) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        intervals = [interval] if interval > 0 else []
        await delete_all(channel, topology_spec(settings), sweep_intervals=intervals)


async def main(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(
            directory=Path(tmp) / "sandbox",
            portals=[
                PortalOptions(
                    domain="idle.bitrix24.test",
                    bucket_capacity=GENEROUS_BUCKET[0],
                    drain_per_second=GENEROUS_BUCKET[1],
                )
            ],
        )
        async with sandbox:
            for interval in args.intervals:
                row = await measure(interval, args, sandbox, Path(tmp))
                rows.append(row)
                print(
                    f"  interval {row.interval:g} s: worker CPU {row.cpu_percent:.2f} % over "
                    f"{args.seconds:g} s; ticks fired {row.fired:g}, sweeps run "
                    f"{row.swept:g}"
                    + (
                        ""
                        if row.armed_seconds is None
                        else f"; all armed in {row.armed_seconds:.1f} s"
                    )
                )
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"\n{args.portals} portals, {backend} store, one worker, {os.cpu_count()} cores")
    print("| SIPLINE_SWEEP_INTERVAL | worker CPU | ticks fired | sweeps run | first arming |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        arming = "-" if row.armed_seconds is None else f"{row.armed_seconds:.1f} s"
        cells = [f"{row.interval:g} s", f"{row.cpu_percent:.2f} %", f"{row.fired:g}"]
        print("| " + " | ".join([*cells, f"{row.swept:g}", arming]) + " |")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--portals", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--intervals", type=lambda s: [float(x) for x in s.split(",")], default=[0.0, 3600.0, 300.0]
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=300.0,
        help="intervals up to this are measured after one interval",
    )
    parser.add_argument("--postgres", default=None)
    parser.add_argument(
        "--commanded", type=float, default=0.0, help="sweeps a second sent by hand in the 0 row"
    )
    parser.add_argument("--profile", default=None, help="cProfile the worker into PATH.<interval>")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
