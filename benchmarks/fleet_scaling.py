"""A fleet of 1, 2 and 3 ``sipline run`` processes against the single-process worker.

Two measurements, each with real processes and the real broker:

* ``scaling``: ``--commands`` ``line.create`` spread over ``--portals`` sandbox portals (all
  on one port), every upstream request delayed ``--latency`` (200 ms), buckets generous,
  ``SIPLINE_PREFETCH`` ``--prefetch`` (16) per process. Throughput is commands with a
  terminal event per second, from the first publish to the last event, after every process
  is ready (and, for a fleet, holds its shards). The sandbox counts ``QUERY_LIMIT_EXCEEDED``.
  Each run has a sandbox and a store of its own (``--store``: a PostgreSQL schema, as a
  fleet runs, or one SQLite file), and prints the CPU the sandbox and the broker used (a
  share of one core) and the load average: on a small machine they say what else bounds it.
* ``routing``: the routing step's cost: ``--noop-commands`` ``line.reconcile`` with a
  trivial handler (``benchmarks._worker_proc --handlers noop``), one process, fleet off and
  on: CPU per command of the worker process (``/proc``) and commands per second.

    .venv/bin/python -m benchmarks.fleet_scaling [--modes scaling,routing] [--processes 1,3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aio_pika.abc import AbstractIncomingMessage
from prometheus_client.parser import text_string_to_metric_families

from benchmarks._store import drop_schema, store_values
from benchmarks.worker_cost import cpu_seconds
from contracts import CONTENT_TYPE
from worker.adapters.amqp.topology import TopologySpec, declare, delete_all
from worker.cli.common import load_settings
from worker.fleet.status import read_status
from worker.fleet.topology import FleetNames, delete_fleet
from worker.runtime.wiring import topology_spec

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
REPO = Path(__file__).resolve().parent.parent
SIP = ("sip.bench.test", "bench-sip-password")
TERMINAL = {"line.created", "line.reconciled", "command.failed", "command.rejected"}
SHARDS = 16


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sandbox:
    proc: subprocess.Popen[bytes]
    dotenv: Path
    info: dict[str, Any]

    async def counters(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(f"{self.info['portal_host_admin_url']}counters") as r:
            body: dict[str, Any] = await r.json()
            return body


@contextlib.asynccontextmanager
async def sandbox(
    directory: Path, portals: int, latency: float, *, extra: tuple[str, ...] = ()
) -> AsyncIterator[Sandbox]:
    """``sipline sandbox`` in a process of its own; ``extra``: more of its options."""
    info = directory / "info.json"
    args = [
        *extra,
        *("--portals", str(portals), "--state-dir", str(directory / "state")),
        *("--env-file", str(directory / "sandbox.env"), "--json-file", str(info)),
        *("--latency", str(latency), "--bucket", "100000/100000", "--cloud-pbx-limit", "100000"),
        *("--wait-seconds", "0.1", "--progress-seconds", "0.1", "--log-level", "WARNING"),
        *("--accept", f"{SIP[0]}:*:{SIP[1]}"),
    ]
    proc = _spawn([sys.executable, "-m", "worker.cli.main", "sandbox", *args])
    try:
        for _ in range(600):
            if info.exists() or proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert proc.poll() is None, "the sandbox did not start"
        yield Sandbox(proc, directory / "sandbox.env", json.loads(info.read_text()))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def _spawn(
    argv: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    with open(log or os.devnull, "ab") as sink:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sink)


def env_file(directory: Path, base: Path | None, values: dict[str, Any]) -> Path:
    lines = base.read_text().splitlines() if base is not None else []
    lines += [f"SIPLINE_{k.upper()}={v}" for k, v in values.items()]
    path = directory / f"worker-{uuid.uuid4().hex[:6]}.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def start_worker(env: Path, *, noop: bool) -> subprocess.Popen[bytes]:
    module = (
        ["-m", "benchmarks._worker_proc", "--handlers", "noop"]
        if noop
        else [
            "-m",
            "worker.cli.main",
            "run",
        ]
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    log = env.with_suffix(f".{uuid.uuid4().hex[:4]}.log")
    return _spawn([sys.executable, *module, "--env-file", str(env)], clean, log)


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class Tap:
    want: int
    seen: set[str] = dataclasses.field(default_factory=set)
    last: float = 0.0
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        body = json.loads(message.body)
        cause = body.get("causationid")
        if body["type"] in TERMINAL and cause and cause not in self.seen:
            self.seen.add(cause)
            self.last = time.perf_counter()
            if len(self.seen) >= self.want:
                self.done.set()
        await message.ack()


@dataclass(frozen=True)
class Timings:
    """Means over every process's ``/metrics``: where a command's time goes."""

    command: float = 0.0  # delivery to ack (sipline_command_duration_seconds)
    bitrix24: float = 0.0  # one Bitrix24 request, as the worker timed it
    voximplant: float = 0.0  # one Voximplant request
    routing: float = 0.0  # arrival at the router to the copy's ack (fleet only)


async def scrape(session: aiohttp.ClientSession, ports: list[int]) -> Timings:
    sums: dict[str, list[float]] = {}
    for port in ports:
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                text = await response.text()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    key = sample.name
                    if sample.name.startswith("sipline_upstream_request_duration_seconds_"):
                        key += ":" + sample.labels.get("upstream", "")
                    if key.endswith(("_sum", "_count")) or ":" in key:
                        sums.setdefault(key, [0.0])[0] += sample.value

    def mean(name: str, upstream: str = "") -> float:
        suffix = f":{upstream}" if upstream else ""
        count = sums.get(f"{name}_count{suffix}", [0.0])[0]
        return sums.get(f"{name}_sum{suffix}", [0.0])[0] / count if count else 0.0

    upstream = "sipline_upstream_request_duration_seconds"
    return Timings(
        command=mean("sipline_command_duration_seconds"),
        bitrix24=mean(upstream, "bitrix24"),
        voximplant=mean(upstream, "voximplant"),
        routing=mean("sipline_fleet_routing_duration_seconds"),
    )


@dataclass(frozen=True)
class Result:
    label: str
    processes: int
    commands: int
    seconds: float
    query_limit: int
    cpu_ms: float | None = None
    sandbox_cpu: float | None = None  # CPU seconds of the sandbox process during the run
    broker_cpu: float | None = None  # CPU seconds of the broker (beam.smp), if readable
    load: float | None = None  # the 1-minute load average at the end of the run
    requests: int = 0  # Bitrix24 requests the sandbox answered (a portal's reads included)
    timings: Timings = dataclasses.field(default_factory=Timings)

    @property
    def rate(self) -> float:
        return self.commands / self.seconds

    def share(self, cpu: float | None) -> str:
        """CPU seconds as a share of one core over the run."""
        return "-" if cpu is None else f"{cpu / self.seconds:.0%}"


def broker_pid() -> int | None:
    """The local RabbitMQ node's process (beam.smp), to read its CPU time; None if not found."""
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if b"beam.smp" in stat.read_bytes().split(b"\0")[0]:
                return int(stat.parent.name)
    return None


def cpu_of(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return sum(cpu_seconds(pid))
    except OSError:
        return None


def _spent(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def one_run(
    label: str,
    *,
    processes: int,
    fleet: bool,
    commands: list[dict[str, Any]],
    base_env: Path | None,
    directory: Path,
    prefetch: int,
    noop: bool = False,
    session: aiohttp.ClientSession | None = None,
    box: Sandbox | None = None,
    store: dict[str, str] | None = None,
) -> Result:
    prefix = f"bench-fleet-{uuid.uuid4().hex[:8]}"
    values: dict[str, Any] = {
        "amqp_url": AMQP_URL,
        "topology_prefix": prefix,
        "prefetch": prefetch,
        "settle_intervals": "[0.05]",
        "events_max_age": "1h",
        "events_max_bytes": "500000000",
        "log_level": "INFO",
        "log_format": "json",
        "metrics_port": "off",
        "fleet": str(fleet).lower(),
        "shards": SHARDS,
    }
    values.update(store or {})
    settings = load_settings(env_file(directory, base_env, {**values, "metrics_port": 0}))
    spec: TopologySpec = dataclasses.replace(topology_spec(settings), single_active_commands=fleet)
    connection = await aio_pika.connect(AMQP_URL)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        channel = await connection.channel(publisher_confirms=True)
        declared = await declare(channel, spec)
        tap = Tap(want=len(commands))
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(declared.events_exchange, routing_key="#")
        await queue.consume(tap)
        if session is not None and box is not None:
            await session.post(f"{box.info['portal_host_admin_url']}counters/reset")
        ports = [free_port() if box is not None else None for _ in range(processes)]
        procs = [
            start_worker(
                env_file(directory, base_env, {**values, "metrics_port": port or "off"}),
                noop=noop,
            )
            for port in ports
        ]
        await ready(connection, prefix, processes, fleet)
        cpu_before = [sum(cpu_seconds(p.pid)) for p in procs]
        broker = broker_pid()
        sandbox_before = cpu_of(box.proc.pid if box is not None else None)
        broker_before = cpu_of(broker)
        started = time.perf_counter()
        exchange = declared.commands_exchange
        for first in range(0, len(commands), 200):  # confirms in windows, not one by one
            await asyncio.gather(*(publish(exchange, c) for c in commands[first : first + 200]))
        await asyncio.wait_for(tap.done.wait(), timeout=900)
        seconds = tap.last - started
        cpu = sum(sum(cpu_seconds(p.pid)) for p in procs) - sum(cpu_before)
        sandbox_cpu = _spent(sandbox_before, cpu_of(box.proc.pid if box is not None else None))
        broker_cpu = _spent(broker_before, cpu_of(broker))
        limits, requests, timings = 0, 0, Timings()
        if session is not None and box is not None:
            timings = await scrape(session, [port for port in ports if port is not None])
            totals = (await box.counters(session))["totals"]
            limits, requests = totals["query_limit_rejections"], totals["requests"]
        return Result(
            label,
            processes,
            len(commands),
            seconds,
            limits,
            cpu_ms=cpu / len(commands) * 1000,
            sandbox_cpu=sandbox_cpu,
            broker_cpu=broker_cpu,
            load=os.getloadavg()[0],
            requests=requests,
            timings=timings,
        )
    finally:
        stop(procs)
        cleanup = await connection.channel()
        with contextlib.suppress(Exception):
            await delete_all(cleanup, spec)
        with contextlib.suppress(Exception):
            await delete_fleet(await connection.channel(), FleetNames(prefix), SHARDS)
        await connection.close()


async def publish(exchange: Any, command: dict[str, Any]) -> None:
    await exchange.publish(
        aio_pika.Message(
            json.dumps(command).encode(),
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key=command["type"],
    )


async def ready(connection: Any, prefix: str, processes: int, fleet: bool) -> None:
    """Every process consuming: the command queue has a consumer (alone), or every member
    beats and every shard has an owner (fleet)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        if not fleet:
            with contextlib.suppress(Exception):
                channel = await connection.channel()
                q = await channel.declare_queue(f"{prefix}.commands", passive=True)
                await channel.close()
                if q.declaration_result.consumer_count >= processes:
                    return
            continue
        with contextlib.suppress(Exception):
            found = await read_status(connection, FleetNames(prefix), listen=2.5)
            if len(found.members) == processes and not found.orphaned:
                return
    raise RuntimeError("the workers did not become ready")


def creates(portals: list[str], total: int) -> list[dict[str, Any]]:
    out = []
    for n in range(total):
        portal = portals[n % len(portals)]
        title = f"bench-{n}"
        out.append(
            {
                "specversion": "1.0",
                "id": f"bench-{uuid.uuid4().hex}",
                "type": "line.create",
                "source": "urn:sipline:bench",
                "portal": portal,
                "data": {"title": title, "server": SIP[0], "login": f"u{n}", "password": SIP[1]},
            }
        )
    return out


def reconciles(total: int) -> list[dict[str, Any]]:
    return [
        {
            "specversion": "1.0",
            "id": f"noop-{n}",
            "type": "line.reconcile",
            "source": "urn:sipline:bench",
            "portal": f"p{n % 30:04d}.bitrix24.test",
            "data": {"config_id": n + 1},
        }
        for n in range(total)
    ]


async def scaling(args: argparse.Namespace, directory: Path) -> list[Result]:
    """Each run on a sandbox of its own, so every run starts with no lines (the lines and
    registrations of earlier runs would make the later runs' lookups longer) and a store
    of its own (``--store``: a PostgreSQL schema, as a fleet runs, or one SQLite file)."""
    results = []
    plan = [("alone", 1, False), ("fleet", 1, True), ("fleet", 2, True), ("fleet", 3, True)]
    wanted = {int(n) for n in args.processes.split(",")}
    for label, processes, fleet in plan:
        if processes not in wanted:
            continue
        print(f"  scaling: {label} × {processes} …", flush=True)
        run_dir = directory / f"{label}-{processes}"
        run_dir.mkdir(parents=True, exist_ok=True)
        store = store_values(args.store, run_dir)
        try:
            async with (
                aiohttp.ClientSession() as session,
                sandbox(run_dir / "sandbox", args.portals, args.latency) as box,
            ):
                results.append(
                    await one_run(
                        label,
                        processes=processes,
                        fleet=fleet,
                        commands=creates(sorted(box.info["portals"]), args.commands),
                        base_env=box.dotenv,
                        directory=run_dir,
                        prefetch=args.prefetch,
                        session=session,
                        box=box,
                        store=store,
                    )
                )
        finally:
            if "store_schema" in store:
                await drop_schema(store["store_url"], store["store_schema"])
    return results


async def routing(args: argparse.Namespace, directory: Path) -> list[Result]:
    results = []
    for label, fleet in (("alone", False), ("fleet", True)):
        print(f"  routing: {label} …", flush=True)
        results.append(
            await one_run(
                label,
                processes=1,
                fleet=fleet,
                commands=reconciles(args.noop_commands),
                base_env=None,
                directory=directory,
                prefetch=64,
                noop=True,
            )
        )
    return results


def report(scaled: list[Result], routed: list[Result], args: argparse.Namespace) -> None:
    if scaled:
        print(
            f"\nline.create × {args.commands} over {args.portals} portals, upstream latency "
            f"{args.latency * 1000:.0f} ms, prefetch {args.prefetch} per process"
        )
        base = next((r for r in scaled if r.processes == 1), scaled[0])
        alone = next((r for r in scaled if r.label == "alone"), base)
        print(
            "mode   processes  seconds  commands/s  vs 1 process  vs alone  CPU ms/cmd  QLE  "
            "requests/cmd  sandbox CPU  broker CPU  load"
        )
        for r in scaled:
            print(
                f"{r.label:<6} {r.processes:>9}  {r.seconds:>7.1f}  {r.rate:>10.1f}  "
                f"{r.rate / base.rate:>11.2f}×  {r.rate / alone.rate:>7.2f}×  "
                f"{r.cpu_ms or 0:>10.2f}  {r.query_limit:>3}  "
                f"{r.requests / r.commands:>12.1f}  {r.share(r.sandbox_cpu):>11}  "
                f"{r.share(r.broker_cpu):>10}  {r.load or 0:>4.1f}"
            )
        print("(sandbox and broker CPU: share of one core during the run; load: 1-minute)")
        print("\nwhere a command's time goes (means over the processes' /metrics, ms)")
        print("mode   processes  command  bitrix24 request  voximplant request  routing")
        for r in scaled:
            t = r.timings
            print(
                f"{r.label:<6} {r.processes:>9}  {t.command * 1000:>7.0f}  "
                f"{t.bitrix24 * 1000:>16.0f}  {t.voximplant * 1000:>18.0f}  "
                f"{t.routing * 1000:>7.0f}"
            )
    if routed:
        alone, fleet = routed
        print(
            f"\nrouting step, {args.noop_commands} line.reconcile with a no-op handler, 1 process"
        )
        print("mode    seconds  commands/s  CPU ms/cmd")
        for r in routed:
            print(f"{r.label:<6}  {r.seconds:>7.1f}  {r.rate:>10.0f}  {r.cpu_ms or 0:>10.3f}")
        print(
            f"fleet/alone: CPU per command {(fleet.cpu_ms or 0) / (alone.cpu_ms or 1):.2f}×, "
            f"throughput {fleet.rate / alone.rate:.2f}×; broker round trips per command: "
            "alone 1 (the event's confirm), fleet 2 (the copy's confirm, then the event's; "
            "the router overlaps the copies' confirms across portals, one lane per portal)"
        )


async def main_async(args: argparse.Namespace) -> None:
    modes = {m.strip() for m in args.modes.split(",")}
    with tempfile.TemporaryDirectory(prefix="sipline-fleet-bench-") as tmp:
        directory = Path(args.keep) if args.keep else Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        routed = await routing(args, directory) if "routing" in modes else []
        scaled = await scaling(args, directory) if "scaling" in modes else []
    report(scaled, routed, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--modes", default="routing,scaling")
    parser.add_argument("--commands", type=int, default=600)
    parser.add_argument("--portals", type=int, default=30)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--prefetch", type=int, default=16)
    parser.add_argument("--noop-commands", type=int, default=10_000)
    parser.add_argument(
        "--processes", default="1,2,3", help="fleet sizes to measure (1 also runs 'alone')"
    )
    parser.add_argument("--store", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--keep", default=None, help="keep the workers' logs in this folder")
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(main_async(args))
    one, five, fifteen = os.getloadavg()
    print(
        f"\ntook {time.perf_counter() - started:.0f} s; load average at the end "
        f"{one:.1f} {five:.1f} {fifteen:.1f} (1, 5, 15 min)"
    )


if __name__ == "__main__":
    main()
