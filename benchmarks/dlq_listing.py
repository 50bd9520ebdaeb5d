"""``sipline dlq list`` over a large DLQ: wall time and peak memory, against two baselines.

Seeds a fresh topology's DLQ with dead letters shaped like the worker's (failure headers, a
~600-byte ``line.create`` body), then runs the real command in a subprocess with stdout to a
file, and reports its wall time and peak RSS (``wait4``). Side by side:

* the same listing at a tenth of the size: equal peak memory means memory does not grow
  with the DLQ;
* a bare aio-pika loop that only receives every message in the same windows (no parsing,
  masking or printing): the floor set by the broker;
* the previous reading method, ``basic.get`` per message, timed on a sample and given per
  message (a quorum queue commits each get through Raft).

    .venv/bin/python -m benchmarks.dlq_listing [--count 50000] [--get-sample 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aio_pika

from worker.adapters.amqp.topology import Names, TopologySpec, declare, delete_all
from worker.errors import UpstreamUnavailable
from worker.ops.dlq.reading import deliveries
from worker.runtime.headers import record_failure

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
BATCH = 1000


def _spec(prefix: str) -> TopologySpec:
    return TopologySpec(
        names=Names(prefix),
        delay_tiers=(1.0,),
        delivery_limit=5,
        events_max_bytes=10_000_000,
        events_max_age="1h",
    )


def _message(n: int, names: Names) -> aio_pika.Message:
    body = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:bench",
        "type": "line.create",
        "time": datetime.now(UTC).isoformat(),
        "portal": f"portal{n % 20}.bitrix24.ru",
        "data": {
            "title": f"Office line {n}",
            "server": "sip.example.com",
            "login": f"{100000 + n}",
            "password": "bench-password",
            "line_type": "cloud",
        },
    }
    headers = record_failure(
        {},
        UpstreamUnavailable("portal answered 503"),
        attempt=5,
        reason="retries_exhausted",
        exchange=names.commands_exchange,
        routing_key="line.create",
        version="bench",
    )
    return aio_pika.Message(
        json.dumps(body).encode(),
        headers=headers,
        message_id=body["id"],
        content_type="application/cloudevents+json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


async def seed(names: Names, count: int) -> float:
    started = time.perf_counter()
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        dlx = await channel.get_exchange(names.dead_letter_exchange)
        for start in range(0, count, BATCH):
            batch = [_message(n, names) for n in range(start, min(count, start + BATCH))]
            await asyncio.gather(*(dlx.publish(m, routing_key="line.create") for m in batch))
    return time.perf_counter() - started


@dataclass(frozen=True)
class Run:
    what: str
    count: int
    seconds: float
    peak_rss_mb: float


def run_cli(what: str, prefix: str, args: Sequence[str], count: int) -> Run:
    """Run ``sipline dlq list`` with stdout to a file; time it and read its peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    env["SIPLINE_AMQP_URL"] = AMQP_URL
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        pid = _spawn(out.fileno(), prefix, args, env)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{what}: sipline exited {os.waitstatus_to_exitcode(status)}")
        out.seek(0)
        size = len(out.read())
    if size == 0:
        raise SystemExit(f"{what}: no output")
    return Run(what, count, seconds, usage.ru_maxrss / 1024)


def _spawn(stdout: int, prefix: str, args: Sequence[str], env: dict[str, str]) -> int:
    pid = os.fork()
    if pid == 0:  # the child: stdout to the file, then the real command
        os.dup2(stdout, 1)
        argv = [sys.executable, "-m", "worker.cli.main", "dlq", "list", "--prefix", prefix]
        os.execve(sys.executable, [*argv, *args], env)
    return pid


async def bare_floor(names: Names, count: int) -> Run:
    """Receive every message in the same windows, do nothing with it, put all back."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=False)
        queue = await channel.get_queue(names.dead_letter_queue)
        started = time.perf_counter()
        seen = 0
        last = None
        async for message in deliveries(channel, queue):
            seen += 1
            last = message
        if last is not None:
            await last.nack(multiple=True, requeue=True)
        seconds = time.perf_counter() - started
    if seen != count:
        raise SystemExit(f"bare loop saw {seen}, expected {count}")
    return Run("bare aio-pika receive loop", count, seconds, float("nan"))


async def get_per_message(names: Names, sample: int) -> float:
    """Seconds per message for ``basic.get`` (the previous method), over ``sample`` gets."""
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel(publisher_confirms=False)
        queue = await channel.get_queue(names.dead_letter_queue)
        started = time.perf_counter()
        for _ in range(sample):
            await queue.get(no_ack=False, fail=True, timeout=30)
        return (time.perf_counter() - started) / sample


async def wait_depth(names: Names, count: int) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        deadline = time.monotonic() + 120
        while True:
            declared = await channel.declare_queue(names.dead_letter_queue, passive=True)
            if declared.declaration_result.message_count == count:
                return
            if time.monotonic() > deadline:
                raise SystemExit("the DLQ did not settle")
            await asyncio.sleep(0.2)


async def topology(prefix: str, *, delete: bool = False) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        await (delete_all if delete else declare)(channel, _spec(prefix))


def measure(count: int, get_sample: int) -> list[Run]:
    small = max(count // 10, 1)
    runs: list[Run] = []
    for size in (small, count):
        prefix = f"bench-dlq-{uuid.uuid4().hex[:8]}"
        asyncio.run(topology(prefix))
        try:
            seeded = asyncio.run(seed(Names(prefix), size))
            print(f"seeded {size:,} dead letters in {seeded:.1f} s", flush=True)
            for what, args in (("tsv", ["--format", "tsv"]), ("json", ["--json"])):
                runs.append(run_cli(f"sipline dlq list --{what}", prefix, args, size))
                asyncio.run(wait_depth(Names(prefix), size))
            if size == count:
                runs.append(run_cli("sipline dlq list --summary", prefix, ["--summary"], size))
                asyncio.run(wait_depth(Names(prefix), size))
                runs.append(asyncio.run(bare_floor(Names(prefix), size)))
                asyncio.run(wait_depth(Names(prefix), size))
                per_get = asyncio.run(get_per_message(Names(prefix), min(get_sample, size)))
                runs.append(
                    Run("basic.get per message (estimated)", size, per_get * size, float("nan"))
                )
        finally:
            asyncio.run(topology(prefix, delete=True))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--get-sample", type=int, default=1_000)
    args = parser.parse_args()
    runs = measure(args.count, args.get_sample)
    floor = next(r for r in runs if r.what.startswith("bare"))
    print(
        f"\n{'what':<36} {'messages':>9} {'seconds':>8} {'per 1k':>7} {'vs floor':>8}"
        f" {'peak RSS':>9}"
    )
    for run in runs:
        ratio = run.seconds / floor.seconds * (floor.count / run.count)
        rss = "-" if run.peak_rss_mb != run.peak_rss_mb else f"{run.peak_rss_mb:.0f} MB"
        per_k = run.seconds / run.count * 1000
        print(
            f"{run.what:<36} {run.count:>9,} {run.seconds:>8.1f} {per_k:>6.2f}s"
            f" {ratio:>7.2f}x {rss:>9}"
        )


if __name__ == "__main__":
    main()
