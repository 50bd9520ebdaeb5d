"""Upstream requests of a ``portal.sweep`` of a 1,000-line portal, against the previous sweep
strategy and against one call per line.

The sandbox portal is filled with N cloud lines directly through its state (no requests),
their registrations settle at once (wait/progress 0), and the counters are reset.  Then:

* the sweep: a ``portal.sweep`` command is published to RabbitMQ, the worker runs it, and
  ``portal.swept`` is awaited; its ``upstream_calls`` and the sandbox's own counters say
  how many requests it took (target: at most 0.025 a line, 25 for 1,000 lines);
* the previous strategy, with the worker's own clients: the ``voximplant.sip.get`` pages
  one request each, then the statuses through ``batch`` (50 a request), then the
  registrations page by page;
* the baseline: with the worker's own clients, the ``sip.get`` pages, then per line one
  ``voximplant.sip.status`` and one ``GetSipRegistrations`` filtered by
  ``sip_registration_id`` (``--concurrency`` lines at a time, as prefetch 64 would).

The portal's bucket is made generous so that neither run is throttled; what a standard
bucket (50 draining 2/s) would cost is computed from the request counts.

    .venv/bin/python -m benchmarks.sweep_requests [--lines 1000] [--latency 0]
                                                  [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._stack import GENEROUS_BUCKET, Stack, running_stack
from worker.sandbox.portal import PortalOptions
from worker.sandbox.portal.handle import PortalHandle
from worker.sandbox.portal.options import STANDARD_BUCKET
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER
from worker.sandbox.stack import Sandbox

DOMAIN = "sweep.bitrix24.test"
TARGET_PER_LINE = 0.025
CLIENT_HEADROOM = 2  # the Bitrix24 client keeps 2 requests of the bucket in reserve


@dataclass(frozen=True)
class Figures:
    """One run's requests as the sandbox counted them, and its wall time."""

    name: str
    seconds: float
    portal_requests: int
    batch_commands: int
    by_method: dict[str, int]
    account_requests: int
    reported: dict[str, int] | None = None  # the sweep's own upstream_calls

    @property
    def total(self) -> int:
        return self.portal_requests + self.account_requests

    def standard_bucket_seconds(self) -> float:
        """Least time the Bitrix24 requests need on a standard bucket (50, draining 2/s)."""
        capacity, drain = STANDARD_BUCKET
        return max(0.0, (self.portal_requests - (capacity - CLIENT_HEADROOM)) / drain)


def populate(portal: PortalHandle, lines: int) -> None:
    """N cloud lines, made through the portal's state as the webhook user (no HTTP)."""
    for i in range(lines):
        params = {
            "TYPE": "cloud",
            "TITLE": f"sweep line {i:05d}",
            "SERVER": DEFAULT_SERVER,
            "LOGIN": f"sweep-{i:05d}",
            "PASSWORD": DEFAULT_PASSWORD,
        }
        portal.lines.add(params, None)


def _sandbox(stack: Stack) -> Sandbox:
    assert stack.sandbox is not None  # this benchmark runs the sandbox in-process
    return stack.sandbox


def _reset(stack: Stack) -> int:
    _sandbox(stack).portal().counters.reset()
    return _sandbox(stack).account.requests


def _figures(stack: Stack, name: str, seconds: float, account_before: int, **kw: Any) -> Figures:
    counters = _sandbox(stack).portal().counters
    return Figures(
        name=name,
        seconds=seconds,
        portal_requests=counters.requests,
        batch_commands=counters.batch_commands,
        by_method=dict(counters.by_method),
        account_requests=_sandbox(stack).account.requests - account_before,
        **kw,
    )


async def sweep(stack: Stack, lines: int) -> tuple[Figures, dict[str, Any]]:
    before = _reset(stack)
    started = time.perf_counter()
    command_id, _ = await stack.publish("portal.sweep", {})
    await stack.tap.wait(command_id, "portal.swept", limit=300)
    seconds = time.perf_counter() - started
    swept = stack.tap.bodies[(command_id, "portal.swept")]["data"]
    if swept["lines_checked"] != lines or swept["lines_pending"]:
        raise RuntimeError(f"unexpected sweep summary: {swept}")
    reported = dict(swept["upstream_calls"])
    return _figures(stack, "portal.sweep", seconds, before, reported=reported), swept


async def previous_strategy(stack: Stack) -> Figures:
    """What the sweep cost before pages 2..N and the statuses were packed into batches."""
    before = _reset(stack)
    client = stack.app.bitrix24.get(DOMAIN).client
    started = time.perf_counter()
    lines = await client.sip_get()  # one request a page
    reg_ids = [line.reg_id for line in lines if line.line_type == "cloud" and line.reg_id]
    await client.sip_status_many(reg_ids)
    _ = [reg async for reg in stack.app.voximplant.iter_sip_registrations(page_size=1000)]
    seconds = time.perf_counter() - started
    return _figures(stack, "previous sweep (page by page)", seconds, before)


async def one_call_per_line(stack: Stack, concurrency: int) -> Figures:
    before = _reset(stack)
    client = stack.app.bitrix24.get(DOMAIN).client
    voximplant = stack.app.voximplant
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    lines = await client.sip_get()

    async def one(reg_id: int) -> None:
        async with gate:
            await client.sip_status(reg_id)
            await voximplant.get_sip_registration(reg_id)

    await asyncio.gather(*(one(line.reg_id) for line in lines if line.reg_id is not None))
    seconds = time.perf_counter() - started
    return _figures(stack, "one call per line", seconds, before)


async def run(lines: int, latency: float, concurrency: int) -> tuple[list[Figures], dict[str, Any]]:
    capacity, drain = GENEROUS_BUCKET
    options = PortalOptions(
        domain=DOMAIN, cloud_pbx_limit=lines, bucket_capacity=capacity, drain_per_second=drain
    )
    with tempfile.TemporaryDirectory(prefix="sipline-bench-") as directory:
        async with running_stack(
            directory=Path(directory),
            options=options,
            tag="sweep",
            keep=frozenset({"portal.swept"}),
        ) as stack:
            populate(_sandbox(stack).portal(), lines)
            stack.set_latency(latency)
            swept, summary = await sweep(stack, lines)
            previous = await previous_strategy(stack)
            baseline = await one_call_per_line(stack, concurrency)
    return [swept, previous, baseline], summary


def report(results: list[Figures], summary: dict[str, Any], args: argparse.Namespace) -> None:
    swept, previous, baseline = results
    print(
        f"{args.lines} cloud lines, registrations settled; sandbox latency "
        f"{args.latency * 1000:g} ms; portal bucket {GENEROUS_BUCKET[0]:,} (not throttling)"
    )
    print(f"sweep summary: verdicts {summary['verdicts']}, reported {swept.reported}")
    print()
    print(
        "| run | Bitrix24 requests | of them batch (commands) | Voximplant requests "
        "| total | requests per line | wall time | Bitrix24 time at 50 @ 2/s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for f in results:
        batch = f.by_method.get("batch", 0)
        print(
            f"| {f.name} | {f.portal_requests:,} | {batch} ({f.batch_commands:,}) "
            f"| {f.account_requests:,} | **{f.total:,}** | {f.total / args.lines:.3f} "
            f"| {f.seconds:.2f} s | ≥ {f.standard_bucket_seconds():.0f} s |"
        )
    print()
    for f in results:
        print(f"{f.name}: by method {dict(sorted(f.by_method.items()))}")
    print()
    per_line = swept.total / args.lines
    met = "met" if per_line <= TARGET_PER_LINE else "NOT met"
    print(
        f"requests: sweep {swept.total} vs previous {previous.total} "
        f"({swept.total / previous.total:.2f}x) vs one call per line {baseline.total:,} "
        f"({baseline.total / swept.total:.0f}x the sweep)"
    )
    print(f"requests per line: sweep {per_line:.3f} vs previous {previous.total / args.lines:.3f}")
    print(
        f"wall time: sweep {swept.seconds:.2f} s vs previous {previous.seconds:.2f} s "
        f"vs one call per line {baseline.seconds:.2f} s"
    )
    print(f"target: at most {TARGET_PER_LINE} requests per line: {met}")
    if swept.reported is not None:
        counted = swept.reported.get("bitrix24", 0) + swept.reported.get("voximplant", 0)
        agree = "agrees" if counted == swept.total else "DISAGREES"
        print(f"portal.swept upstream_calls total {counted} {agree} with the sandbox counters")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lines", type=int, default=1000, help="cloud lines on the portal")
    parser.add_argument("--latency", type=float, default=0.0, help="added sandbox latency, s")
    parser.add_argument(
        "--concurrency", type=int, default=64, help="lines at a time in the baseline"
    )
    args = parser.parse_args()
    results, summary = asyncio.run(
        asyncio.wait_for(run(args.lines, args.latency, args.concurrency), timeout=900)
    )
    report(results, summary, args)


if __name__ == "__main__":
    main()
