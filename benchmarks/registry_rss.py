"""A worker's memory with a big portal registry: ``sipline run`` on 0 and on N portals.

For each size, a fresh SQLite store gets N webhook portals (``p00000.bitrix24.test``…, each
with its own webhook URL on the sandbox portal's server: the worker must hold them, not
call them), then a real ``sipline run`` process starts on it (with the sandbox, in its own
process, as its Voximplant account and its one ``SIPLINE_PORTALS`` portal, and the real
RabbitMQ under a topology prefix of its own). Once ``/readyz`` answers 200 (the registry
is loaded before the worker consumes) and two registry polls have passed, the benchmark
reads the worker's RSS (``VmRSS``) and its peak (``VmHWM``) from /proc, then stops it
with SIGTERM and checks it exits 0.

    .venv/bin/python -m benchmarks.registry_rss [--portals 10000] [--runs 2]

The goal (issue 10): ≤ +50 MiB for 10,000 portals over none.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika
import aiohttp
from pydantic import SecretStr

from benchmarks._stack import AMQP_URL, sandbox_process
from worker.adapters.amqp.topology import delete_all
from worker.adapters.store import generate_key, open_store
from worker.runtime.wiring import topology_spec
from worker.settings import Settings
from worker.store import PortalRecord

SIPLINE = str(Path(sys.executable).with_name("sipline"))
POLL = 0.5  # SIPLINE_STORE_POLL_INTERVAL for the run


async def fill(settings: Settings, portals: int, hook_base: str) -> float:
    """Register ``portals`` webhook portals; seconds it took."""
    started = time.perf_counter()
    async with open_store(settings) as store:
        for at in range(0, portals, 1000):
            async with store.unit_of_work() as uow:
                for n in range(at, min(at + 1000, portals)):
                    await uow.portals.add(
                        PortalRecord(
                            domain=f"p{n:05d}.bitrix24.test",
                            auth="webhook",
                            webhook_url=SecretStr(f"{hook_base}/rest/1/hook{n:05d}x7q/"),
                        )
                    )
                await uow.commit()
    return time.perf_counter() - started


def worker_env(
    path: Path, sandbox_env: Path, *, store_url: str, key: str, prefix: str, port: int
) -> Path:
    """The worker's env file: the sandbox's settings and this run's store, prefix, port."""
    path.write_text(
        sandbox_env.read_text() + f"\nSIPLINE_STORE_URL={store_url}\nSIPLINE_STORE_KEY={key}\n"
        f"SIPLINE_TOPOLOGY_PREFIX={prefix}\nSIPLINE_METRICS_PORT={port}\n"
        f"SIPLINE_METRICS_HOST=127.0.0.1\nSIPLINE_LOG_LEVEL=WARNING\n"
        f"SIPLINE_STORE_POLL_INTERVAL={POLL}\nSIPLINE_AMQP_URL={AMQP_URL}\n"
    )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


async def until_ready(url: str, child: asyncio.subprocess.Process, limit: float) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < limit:
            if child.returncode is not None:
                raise RuntimeError(f"sipline run exited {child.returncode} before it was ready")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"sipline run was not ready within {limit:.0f} s")


async def one_run(
    directory: Path, sandbox_env: Path, portals: int, *, hook_base: str
) -> tuple[dict[str, int], float]:
    """Start ``sipline run`` on a store of ``portals``; (memory in KiB, seconds to ready)."""
    tag = uuid.uuid4().hex[:8]
    store_file = directory / f"registry-{portals}-{tag}.db"
    key = generate_key()
    prefix = f"bench-rss-{tag}"
    port = free_port()
    store = Settings(store_url=SecretStr(f"sqlite:///{store_file}"), store_key=SecretStr(key))
    await fill(store, portals, hook_base)
    env_file = worker_env(
        directory / f"worker-{tag}.env",
        sandbox_env,
        store_url=f"sqlite:///{store_file}",
        key=key,
        prefix=prefix,
        port=port,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    with (directory / f"worker-{tag}.log").open("wb") as log:
        child = await asyncio.create_subprocess_exec(
            SIPLINE,
            "run",
            f"--env-file={env_file}",
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        ready = await until_ready(f"http://127.0.0.1:{port}/readyz", child, limit=120)
        await asyncio.sleep(3 * POLL)  # two polls of an unchanged registry on top
        memory = memory_kib(child.pid)
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(child.wait(), timeout=60)
        connection = await aio_pika.connect(AMQP_URL)
        async with connection:
            spec = topology_spec(Settings(topology_prefix=prefix))
            await delete_all(await connection.channel(), spec)
    if code != 0:
        raise RuntimeError(f"sipline run exited {code} after SIGTERM; see its log")
    return memory, ready


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--portals", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        async with sandbox_process(
            directory, domain="sandbox.bitrix24.test", cloud_pbx_limit=50, latency=0.0
        ) as sandbox_env:
            sandbox = Settings(_env_file=sandbox_env)  # type: ignore[call-arg]
            hook_base = str(sandbox.voximplant_api_url).split("/platform_api")[0]
            results: dict[int, list[tuple[dict[str, int], float]]] = {}
            for _ in range(args.runs):
                for size in (0, args.portals):
                    results.setdefault(size, []).append(
                        await one_run(directory, sandbox_env, size, hook_base=hook_base)
                    )
    print(f"sipline run, RSS after start-up ({args.runs} runs each, median)")
    print(f"  {'portals':>8} {'RSS MiB':>8} {'peak MiB':>9} {'ready s':>8}")
    medians = {}
    for size, runs in results.items():
        rss = statistics.median(m["VmRSS"] for m, _ in runs) / 1024
        peak = statistics.median(m["VmHWM"] for m, _ in runs) / 1024
        ready = statistics.median(r for _, r in runs)
        medians[size] = (rss, peak)
        print(f"  {size:>8} {rss:>8.1f} {peak:>9.1f} {ready:>8.1f}")
    rss_delta = medians[args.portals][0] - medians[0][0]
    peak_delta = medians[args.portals][1] - medians[0][1]
    print(
        f"  difference for {args.portals} portals: RSS +{rss_delta:.1f} MiB "
        f"(peak +{peak_delta:.1f} MiB); goal ≤ +50 MiB"
    )


if __name__ == "__main__":
    asyncio.run(main())
