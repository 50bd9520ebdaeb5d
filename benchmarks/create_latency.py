"""``line.create`` end to end: throughput and latency, at prefetch 1 and the default 64.

For each sandbox latency (added to every portal and account request) and each prefetch, a
fresh stack takes a burst of N
``line.create`` commands, each with its own title, published at once.  Per command, the
latency runs from publishing it to receiving the ``line.reconciled`` it caused (matched by
causation id), so in a burst it includes the wait in the queue; the worker's own time per
delivery (parse to ack, from its message observer) is shown beside it.  Throughput is N
over first publish to last ``line.reconciled``.  With the default prefetch, a further
``--sequential`` commands are sent one at a time: the latency of an idle worker.

The sandbox runs in its own process (``sipline sandbox``), so its CPU (it filters every
line on each ``sip.get``) is not the worker's; the worker and the tap share this one.
Registrations settle at once (sandbox wait/progress 0), so one cross-check pass concludes
and no settle interval (0.05 s) is ever waited; the portal's bucket and cloud-line limit are
made generous so that neither the portal's limits nor the client's throttle dominate.

    .venv/bin/python -m benchmarks.create_latency [--commands 300] [--latencies 0,0.05]
                                                  [--prefetch 1,64] [--sequential 50]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._stack import Stack, external_stack, percentile
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER

DOMAIN = "create.bitrix24.test"
SETTLE_INTERVALS = (0.05,)
WARM_UP = 10


@dataclass
class Observed:
    """The worker's message observer: its time per ``line.create`` delivery."""

    seconds: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def outcome(self, command_type: str, outcome: str, seconds: float) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if command_type == "line.create" and outcome == "ok":
            self.seconds.append(seconds)

    def published(self, event_type: str, verdict: str | None) -> None:
        return None

    def dead_lettered(self, reason: str) -> None:
        return None


@dataclass(frozen=True)
class Cell:
    latency: float
    prefetch: int
    commands: int
    seconds: float
    latencies: list[float]
    worker_seconds: list[float]
    sequential: list[float]

    @property
    def rate(self) -> float:
        return self.commands / self.seconds


def _body(tag: str, i: int) -> dict[str, str]:
    return {
        "title": f"bench {tag} {i:05d}",
        "server": DEFAULT_SERVER,
        "login": f"bench-{tag}-{i:05d}",
        "password": DEFAULT_PASSWORD,
    }


async def burst(stack: Stack, tag: str, n: int) -> tuple[float, list[float]]:
    """N commands published at once; (first publish → last reconciled, per-command latency)."""
    sent = await asyncio.gather(*(stack.publish("line.create", _body(tag, i)) for i in range(n)))
    done = [await stack.tap.wait(cid, "line.reconciled", limit=600) for cid, _ in sent]
    first = min(started for _, started in sent)
    return max(done) - first, [d - started for d, (_, started) in zip(done, sent, strict=True)]


async def one_at_a_time(stack: Stack, tag: str, n: int) -> list[float]:
    latencies = []
    for i in range(n):
        cid, started = await stack.publish("line.create", _body(tag, i))
        latencies.append(await stack.tap.wait(cid, "line.reconciled", limit=60) - started)
    return latencies


async def cell(latency: float, prefetch: int, n: int, sequential: int) -> Cell:
    observed = Observed()
    tag = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="sipline-bench-") as directory:
        async with external_stack(
            directory=Path(directory),
            domain=DOMAIN,
            cloud_pbx_limit=n + sequential + WARM_UP + 10,
            latency=latency,
            tag="create",
            prefetch=prefetch,
            settle_intervals=SETTLE_INTERVALS,
            keep=frozenset({"line.reconciled"}),
            observer=observed,
        ) as stack:
            await burst(stack, f"{tag}w", WARM_UP)  # connections, token, first-call costs
            observed.seconds.clear()
            seconds, latencies = await burst(stack, tag, n)
            worker_seconds = list(observed.seconds)
            alone = await one_at_a_time(stack, f"{tag}s", sequential) if sequential else []
            bad = {k: v for k, v in observed.outcomes.items() if k != "ok"}
            verdicts = _verdicts(stack)
            if bad or verdicts != {"in_sync"}:
                raise RuntimeError(f"unexpected outcomes {bad} or verdicts {verdicts}")
    return Cell(latency, prefetch, n, seconds, latencies, worker_seconds, alone)


def _verdicts(stack: Stack) -> set[str]:
    return {
        str(body["data"]["verdict"])
        for (_, kind), body in stack.tap.bodies.items()
        if kind == "line.reconciled"
    }


def _ms(values: list[float], share: float) -> str:
    return f"{percentile(values, share) * 1000:.0f}" if values else "–"


def report(cells: list[Cell], n: int) -> None:
    print()
    print(f"burst of {n} line.create per cell; latency = publish → line.reconciled (ms)")
    print(
        "| sandbox latency | prefetch | commands/s | latency p50 | latency p99 "
        "| worker time p50 | worker time p99 |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for c in cells:
        print(
            f"| {c.latency * 1000:g} ms | {c.prefetch} | {c.rate:.1f} "
            f"| {_ms(c.latencies, 0.5)} | {_ms(c.latencies, 0.99)} "
            f"| {_ms(c.worker_seconds, 0.5)} | {_ms(c.worker_seconds, 0.99)} |"
        )
    print()
    for latency in sorted({c.latency for c in cells}):
        row = {c.prefetch: c for c in cells if c.latency == latency}
        if 1 in row and len(row) > 1:
            best = max(p for p in row if p != 1)
            ratio = row[best].rate / row[1].rate
            print(
                f"{latency * 1000:g} ms: prefetch {best} / prefetch 1 = {ratio:.1f}x "
                f"({row[best].rate:.1f} vs {row[1].rate:.1f} commands/s)"
            )
    alone = [c for c in cells if c.sequential]
    if alone:
        print()
        print("one command at a time (idle worker), publish → line.reconciled (ms)")
        print("| sandbox latency | commands | p50 | p99 |")
        print("|---:|---:|---:|---:|")
        for c in alone:
            print(
                f"| {c.latency * 1000:g} ms | {len(c.sequential)} "
                f"| {_ms(c.sequential, 0.5)} | {_ms(c.sequential, 0.99)} |"
            )


async def benchmark(
    n: int, latencies: list[float], prefetches: list[int], sequential: int
) -> list[Cell]:
    cells = []
    for latency in latencies:
        for prefetch in prefetches:
            alone = sequential if prefetch == max(prefetches) else 0
            c = await cell(latency, prefetch, n, alone)
            print(
                f"  {latency * 1000:g} ms, prefetch {prefetch}: {c.rate:.1f} commands/s "
                f"in {c.seconds:.1f} s"
            )
            cells.append(c)
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commands", type=int, default=300, help="line.create per cell")
    parser.add_argument("--latencies", default="0,0.05", help="added sandbox latencies, s")
    parser.add_argument("--prefetch", default="1,64", help="comma-separated prefetches")
    parser.add_argument(
        "--sequential", type=int, default=50, help="one-at-a-time commands (largest prefetch)"
    )
    args = parser.parse_args()
    latencies = [float(x) for x in args.latencies.split(",") if x.strip()]
    prefetches = [int(x) for x in args.prefetch.split(",") if x.strip()]
    started = time.perf_counter()
    cells = asyncio.run(
        asyncio.wait_for(
            benchmark(args.commands, latencies, prefetches, args.sequential), timeout=900
        )
    )
    report(cells, args.commands)
    print(f"\ntook {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
