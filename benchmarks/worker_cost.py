"""The worker's CPU time per command and its resident memory over a long run.

The worker runs alone in a child process (``benchmarks._worker_proc``: ``sipline run``'s
own wiring, metrics and JSON log lines included), so the CPU time (utime + stime from
``/proc/PID/stat``) and the RSS (``VmRSS`` from ``/proc/PID/status``) are its own.  This
process plays everything else: it serves the sandbox (portal and Voximplant account, with
registrations settled), publishes the commands through RabbitMQ at most ``--window`` ahead
of the events, and counts the ``line.reconciled`` events.  Memory is sampled when the worker
is ready, every ``--sample-every`` commands (at least ten times a run) and at the end.

Two runs, because a real command costs HTTP round trips that 2 cores cannot do 100,000
times in a few minutes next to the sandbox serving them:

* ``noop``: ``--commands`` (100,000) ``line.reconcile`` through the whole runtime (parse,
  per-line ordering, dispatch, event publish with confirms, ack, metrics, log line) with a
  trivial handler; every command names its own line;
* ``real``: ``--real-commands`` ``line.reconcile`` with every real handler and adapter, over
  ``--lines`` cloud lines of the sandbox portal: per command one filtered ``sip.get``, one
  ``voximplant.sip.status`` and one ``GetSipRegistrations``.

    .venv/bin/python -m benchmarks.worker_cost [--commands 100000] [--real-commands 10000]
                                               [--modes noop,real] [--sample-every 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from benchmarks._stack import AMQP_URL, GENEROUS_BUCKET
from benchmarks.sweep_requests import populate
from contracts import CONTENT_TYPE
from worker.adapters.amqp.topology import declare, delete_all
from worker.cli.common import load_settings
from worker.runtime.wiring import topology_spec
from worker.sandbox.portal import PortalOptions
from worker.sandbox.stack import Sandbox

DOMAIN = "cost.bitrix24.test"
CPU_TARGET_MS = 1.0
GROWTH_FLAG = 0.10
TICK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sample:
    commands: int
    seconds: float
    rss_kib: int
    user: float
    system: float

    @property
    def cpu(self) -> float:
        return self.user + self.system


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK  # utime, stime


@dataclass
class Run:
    mode: str
    commands: int
    samples: list[Sample] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)
    log_lines: int = 0

    @property
    def wall(self) -> float:
        return self.samples[-1].seconds - self.samples[0].seconds

    def cpu_ms(self, first: Sample | None = None) -> float:
        first = first or self.samples[0]
        last = self.samples[-1]
        return (last.cpu - first.cpu) / max(1, last.commands - first.commands) * 1000

    def growth(self, first: Sample) -> float:
        return self.samples[-1].rss_kib / first.rss_kib - 1


@dataclass
class Counting:
    """Counts events; samples the worker at every ``every``-th and at the ``n``-th."""

    n: int
    every: int
    sample: Callable[[int], None]
    count: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    moved: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        self.count += 1
        self.verdicts[str(json.loads(message.body)["data"].get("verdict"))] += 1
        if self.count % self.every == 0 or self.count == self.n:
            self.sample(self.count)
        if self.count >= self.n:
            self.done.set()
        self.moved.set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_file(directory: Path, sandbox: Sandbox | None, prefetch: int) -> Path:
    lines = sandbox.dotenv().splitlines() if sandbox is not None else []
    lines += [
        f"SIPLINE_AMQP_URL={AMQP_URL}",
        f"SIPLINE_TOPOLOGY_PREFIX=bench-cost-{uuid.uuid4().hex[:10]}",
        f"SIPLINE_PREFETCH={prefetch}",
        f"SIPLINE_METRICS_PORT={free_port()}",
        "SIPLINE_SETTLE_INTERVALS=[0.05]",
        "SIPLINE_EVENTS_MAX_AGE=1h",
        "SIPLINE_EVENTS_MAX_BYTES=200000000",
        "SIPLINE_LOG_LEVEL=INFO",
        "SIPLINE_LOG_FORMAT=json",
    ]
    path = directory / "worker.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def child_env() -> dict[str, str]:
    """This environment without settings of its own (they would beat the env file)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SIPLINE_") and k != "VOXIMPLANT_CREDENTIALS"
    }


async def wait_consuming(channel: aio_pika.abc.AbstractChannel, queue: str, child: object) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if getattr(child, "returncode", None) is not None:
            raise RuntimeError("the worker process exited during start-up")
        declared = await channel.declare_queue(queue, passive=True)
        if (declared.declaration_result.consumer_count or 0) >= 1:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the worker did not start consuming within 30 s")


def command_body(portal: str, config_id: int) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": uuid.uuid4().hex,
            "type": "line.reconcile",
            "source": "urn:sipline:benchmark",
            "portal": portal,
            "data": {"config_id": config_id},
        }
    ).encode()


async def feed(
    exchange: aio_pika.abc.AbstractExchange,
    counting: Counting,
    portal: str,
    config_ids: Callable[[int], int],
    window: int,
) -> None:
    """Publish ``counting.n`` commands, never more than ``window`` ahead of the events."""
    sent, batch = 0, 250
    while sent < counting.n:
        if sent - counting.count >= window:
            counting.moved.clear()
            await asyncio.wait_for(counting.moved.wait(), timeout=60)
            continue
        upto = min(counting.n, sent + batch)
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        command_body(portal, config_ids(i)),
                        content_type=CONTENT_TYPE,
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key="line.reconcile",
                )
                for i in range(sent, upto)
            )
        )
        sent = upto


async def one_run(mode: str, n: int, args: argparse.Namespace) -> Run:
    with tempfile.TemporaryDirectory(prefix="sipline-bench-") as tmp:
        directory = Path(tmp)
        sandbox: Sandbox | None = None
        config_ids: Callable[[int], int] = lambda i: i + 1  # noqa: E731 - each its own line
        portal = DOMAIN
        if mode == "real":
            capacity, drain = GENEROUS_BUCKET
            options = PortalOptions(
                domain=DOMAIN,
                cloud_pbx_limit=args.lines,
                bucket_capacity=capacity,
                drain_per_second=drain,
            )
            sandbox = Sandbox(
                directory=directory / "sandbox",
                portals=[options],
                wait_seconds=0,
                progress_seconds=0,
            )
            await sandbox.start()
            populate(sandbox.portal(), args.lines)
            ids = sorted(sandbox.portal().lines.lines)
            config_ids = lambda i: ids[i % len(ids)]  # noqa: E731
        try:
            return await _drive(mode, n, args, directory, sandbox, portal, config_ids)
        finally:
            if sandbox is not None:
                await sandbox.stop()


async def _drive(
    mode: str,
    n: int,
    args: argparse.Namespace,
    directory: Path,
    sandbox: Sandbox | None,
    portal: str,
    config_ids: Callable[[int], int],
) -> Run:
    path = env_file(directory, sandbox, args.prefetch)
    settings = load_settings(path)
    spec = topology_spec(settings)
    run = Run(mode, n)
    log_path = directory / "worker.log"
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        declared = await declare(channel, spec)
        child = None
        try:
            with log_path.open("wb") as log:
                child = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "benchmarks._worker_proc",
                    "--env-file",
                    str(path),
                    "--handlers",
                    mode,
                    *(["--profile", str(args.profile / f"{mode}.prof")] if args.profile else []),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=log,
                    env=child_env(),
                    cwd=REPO,
                )
            pid = child.pid
            await wait_consuming(await connection.channel(), spec.names.commands_queue, child)
            started = time.perf_counter()

            def sample(count: int) -> None:
                user, system = cpu_seconds(pid)
                run.samples.append(
                    Sample(count, time.perf_counter() - started, rss_kib(pid), user, system)
                )

            sample(0)
            every = max(1, min(args.sample_every, n // 10))  # at least ten samples a run
            counting = Counting(n=n, every=every, sample=sample)
            tap = await channel.declare_queue(exclusive=True, auto_delete=True)
            await tap.bind(declared.events_exchange, routing_key="line.reconciled")
            await tap.consume(counting, no_ack=True)
            exchange = await channel.get_exchange(spec.names.commands_exchange)
            await feed(exchange, counting, portal, config_ids, args.window)
            await asyncio.wait_for(counting.done.wait(), timeout=120)
            run.verdicts = counting.verdicts
            child.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(child.wait(), timeout=30)
            if code != 0:
                raise RuntimeError(f"the worker exited with {code}; see {log_path}")
        except BaseException:
            if child is not None and child.returncode is None:
                child.kill()
                await child.wait()
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            print(f"worker log tail:\n{tail}", file=sys.stderr)
            raise
        finally:
            await delete_all(await connection.channel(), spec)
        run.log_lines = sum(1 for _ in log_path.open("rb"))
    return run


def report(runs: list[Run]) -> None:
    for run in runs:
        first, warm, last = (
            run.samples[0],
            run.samples[min(1, len(run.samples) - 1)],
            run.samples[-1],
        )
        print()
        print(
            f"{run.mode}: {run.commands:,} line.reconcile in {run.wall:.1f} s "
            f"({run.commands / run.wall:.0f}/s), verdicts {dict(run.verdicts)}, "
            f"{run.log_lines:,} log lines"
        )
        print("| commands | RSS MiB | worker CPU s | CPU ms/command in the interval |")
        print("|---:|---:|---:|---:|")
        previous: Sample | None = None
        for s in run.samples:
            interval = "–"
            if previous is not None and s.commands > previous.commands:
                interval = f"{(s.cpu - previous.cpu) / (s.commands - previous.commands) * 1000:.3f}"
            print(f"| {s.commands:,} | {s.rss_kib / 1024:.1f} | {s.cpu:.2f} | {interval} |")
            previous = s
        cpu = run.cpu_ms()
        user = (last.user - first.user) / run.commands * 1000
        system = (last.system - first.system) / run.commands * 1000
        verdict = "met" if cpu < CPU_TARGET_MS else "NOT met"
        print(
            f"CPU: {last.cpu - first.cpu:.2f} s for {run.commands:,} = {cpu:.3f} ms/command "
            f"(after the first {warm.commands:,}: {run.cpu_ms(warm):.3f}); "
            f"target < {CPU_TARGET_MS:g} ms: {verdict}; user {user:.3f} + system {system:.3f}"
        )
        for label, base in (("start", first), (f"{warm.commands:,} commands", warm)):
            growth = run.growth(base)
            flag = "  ** growth > 10 % **" if growth > GROWTH_FLAG else ""
            print(
                f"RSS from {label} to the end: {base.rss_kib / 1024:.1f} → "
                f"{last.rss_kib / 1024:.1f} MiB ({growth:+.1%}){flag}"
            )


async def benchmark(args: argparse.Namespace) -> list[Run]:
    runs = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        n = args.commands if mode == "noop" else args.real_commands
        print(f"  {mode}: {n:,} commands …", flush=True)
        runs.append(await one_run(mode, n, args))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commands", type=int, default=100_000, help="commands of the noop run")
    parser.add_argument("--real-commands", type=int, default=10_000, help="of the real run")
    parser.add_argument("--modes", default="noop,real", help="noop, real or both")
    parser.add_argument("--lines", type=int, default=64, help="cloud lines in the real run")
    parser.add_argument("--prefetch", type=int, default=64)
    parser.add_argument("--sample-every", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=4_000, help="commands ahead of events")
    parser.add_argument(
        "--profile", type=Path, default=None, help="directory for the worker's cProfile stats"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    runs = asyncio.run(asyncio.wait_for(benchmark(args), timeout=1800))
    report(runs)
    print(f"\ntook {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
