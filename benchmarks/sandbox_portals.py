"""What serving many sandbox portals costs: one port each against one port for all.

Each case runs in a fresh child process, so that its memory is its own: it imports the
sandbox, reads its RSS, builds and starts N portals and the Voximplant account, reads the
RSS again and the time the start took, then sends ``--requests`` webhook calls spread over
every portal (``--concurrency`` at a time, generous buckets) and reports requests per second
and the portals' own request counters (which must add up to the requests sent).  The start
time is building and starting the portals and the account, less the account's RSA key
(made once per state directory, the same in both modes).

    .venv/bin/python -m benchmarks.sandbox_portals [--sizes 100 1000] [--requests 2000]

The baseline is one port per portal (how the sandbox served several portals before), for
every size; ``one-port`` is ``Sandbox(one_port=True)`` (``sipline sandbox --portals N``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODES = ("ports", "one-port")
GENEROUS = (100_000, 100_000.0)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def _child(mode: str, size: int, requests: int, concurrency: int) -> dict[str, Any]:
    import aiohttp

    from worker.sandbox.portal import PortalOptions
    from worker.sandbox.stack import Sandbox, portal_domains

    before = _rss_mib()
    with tempfile.TemporaryDirectory(prefix="sipline-bench-portals-") as directory:
        options = [
            PortalOptions(domain=d, bucket_capacity=GENEROUS[0], drain_per_second=GENEROUS[1])
            for d in portal_domains(size)
        ]
        started = time.perf_counter()
        sandbox = Sandbox(directory=Path(directory), portals=options, one_port=mode == "one-port")
        built = time.perf_counter()
        sandbox.account.prepare()  # the account's RSA key: the same in both modes, not timed
        prepared = time.perf_counter()
        await sandbox.start()
        start_seconds = time.perf_counter() - prepared + (built - started)
        after_start = _rss_mib()
        try:
            urls = [p.webhook_url + "scope" for p in sandbox.portals]
            limit = asyncio.Semaphore(concurrency)
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:

                async def one(n: int) -> None:
                    async with limit, session.post(urls[n % len(urls)], json={}) as response:
                        assert response.status == 200, response.status
                        await response.read()

                began = time.perf_counter()
                await asyncio.gather(*(one(n) for n in range(requests)))
                elapsed = time.perf_counter() - began
            counted = sandbox.portal_counters()["totals"]["requests"]
            after_requests = _rss_mib()
        finally:
            await sandbox.stop()
    return {
        "mode": mode,
        "portals": size,
        "start_seconds": start_seconds,
        "rss_before_mib": before,
        "rss_started_mib": after_start,
        "rss_added_mib": after_start - before,
        "rss_after_requests_mib": after_requests,
        "requests": requests,
        "requests_per_second": requests / elapsed,
        "counted": counted,
    }


def _run_child(mode: str, size: int, requests: int, concurrency: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "benchmarks.sandbox_portals", "--child", mode, str(size)]
    args += ["--requests", str(requests), "--concurrency", str(concurrency)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} × {size} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, size = args.child[0], int(args.child[1])
        result = asyncio.run(_child(mode, size, args.requests, args.concurrency))
        print(json.dumps(result))
        return
    print(
        f"{'portals':>7} {'mode':<9} {'start s':>8} {'RSS +MiB':>9} {'RSS MiB':>8} "
        f"{'req/s':>7} {'counted':>8}"
    )
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for size in args.sizes:
        for mode in args.modes:
            row = _run_child(mode, size, args.requests, args.concurrency)
            rows[mode, size] = row
            print(
                f"{size:>7} {mode:<9} {row['start_seconds']:>8.3f} {row['rss_added_mib']:>9.1f} "
                f"{row['rss_started_mib']:>8.1f} {row['requests_per_second']:>7.0f} "
                f"{row['counted']:>8}",
                flush=True,
            )
    for size in args.sizes:
        base, shared = rows.get(("ports", size)), rows.get(("one-port", size))
        if base and shared:
            print(
                f"{size} portals, one port against one port each: start "
                f"{shared['start_seconds'] / base['start_seconds']:.2f}×, added RSS "
                f"{shared['rss_added_mib'] / max(base['rss_added_mib'], 0.1):.2f}×, requests/s "
                f"{shared['requests_per_second'] / base['requests_per_second']:.2f}×"
            )


if __name__ == "__main__":
    main()
