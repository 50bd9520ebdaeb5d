"""The runtime's cost end to end in machine instructions, sipline against the bare loop.

``runtime_throughput`` times the two sides; on a machine shared with other work (and with the
broker) its per-pair ratios scatter by ±15 %, wider than the goal's margin. This counts what
does not move with the load: the instructions this process executes per command, broker and
all in the loop, over the same steady stretch of the same runs (``one_run``: a fresh
topology, the commands queued first, the first tenth left out). Each side's run goes in a
child process under valgrind's callgrind with collection off; the clock switches it on
(``callgrind_control -i on``) when it starts and off when it stops, so start-up, imports and
the warm-up run are not counted. The broker's instructions are not counted either: it is
another process, the same for both sides.

Instructions are not time: a cache miss costs more than an instruction, and sipline holds
more per in-flight delivery. The count is the load-independent check while changing the
runtime; the goal itself is read from ``runtime_throughput`` on a quiet machine.

    .venv/bin/python -m benchmarks.runtime_instructions [--commands N] [--prefetch 1,16,64,256]
                                                        [--repeats R]

The count moves a little between runs of the same code (how many frames one socket read
brings depends on the broker's pace): each side runs ``--repeats`` times, alternating, and
the median is shown with the range.

Needs ``valgrind`` (callgrind, ``callgrind_control``) on the PATH. A run under callgrind is
about 50 times slower: at 400 commands a prefetch-256 run stays well within the 30 s publish
timeout, many more would not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.runtime_throughput import AMQP_URL, CPU_GOAL, Clock, one_run

_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


class CountedClock(Clock):
    """A steady clock that switches callgrind's collection on and off with itself."""

    def _start(self) -> None:
        _collect(on=True)
        super()._start()

    def tick(self) -> None:
        super().tick()
        if self.count == self.n:
            _collect(on=False)


def _collect(*, on: bool) -> None:
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=True,
        stdout=subprocess.DEVNULL,
    )


async def child(side: str, prefetch: int, n: int, url: str) -> None:
    await one_run(side, 16, 50, url)  # warm-up, not counted: imports, caches
    clock = await one_run(side, prefetch, n, url, clock=CountedClock(n, skip=max(1, n // 10)))
    print(f"timed {clock.timed}")


def count(side: str, prefetch: int, n: int, url: str) -> float:
    """Instructions per command of one side's run at ``prefetch``."""
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={Path(tmp) / 'callgrind.out'}",
                sys.executable,
                "-m",
                "benchmarks.runtime_instructions",
                "--child",
                side,
                str(prefetch),
                str(n),
                "--amqp-url",
                url,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    collected = _COLLECTED.search(result.stderr)
    timed = re.search(r"timed (\d+)", result.stdout)
    if result.returncode != 0 or collected is None or timed is None:
        raise RuntimeError(f"{side} at prefetch {prefetch} failed:\n{result.stderr[-2000:]}")
    return int(collected.group(1)) / int(timed.group(1))


def _thousands(values: list[float]) -> str:
    return (
        f"{statistics.median(values) / 1e3:,.0f} k "
        f"({min(values) / 1e3:,.0f}–{max(values) / 1e3:,.0f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--commands", type=int, default=400, help="commands per run")
    parser.add_argument("--prefetch", default="1,16,64,256", help="comma-separated prefetches")
    parser.add_argument("--repeats", type=int, default=3, help="runs per side and prefetch")
    parser.add_argument("--amqp-url", default=AMQP_URL)
    parser.add_argument("--child", nargs=3, metavar=("SIDE", "PREFETCH", "N"), help="internal")
    args = parser.parse_args()
    if args.child:
        side, prefetch, n = args.child
        asyncio.run(child(side, int(prefetch), int(n), args.amqp_url))
        return
    started = time.perf_counter()
    print(f"{args.commands} commands per run, the first tenth left out; instructions of this")
    print("process per command (callgrind), the broker's not counted:")
    print(f"{args.repeats} runs per side, median (min–max):")
    print(f"| prefetch | bare | sipline | ratio of the medians (CPU goal: ≤ {CPU_GOAL:.2f}) |")
    print("|---:|---:|---:|---:|")
    for prefetch in (int(p) for p in args.prefetch.split(",") if p.strip()):
        counts: dict[str, list[float]] = {"bare": [], "sipline": []}
        for _ in range(args.repeats):
            for side, found in counts.items():
                found.append(count(side, prefetch, args.commands, args.amqp_url))
        bare, sipline = (statistics.median(counts[side]) for side in ("bare", "sipline"))
        print(
            f"| {prefetch} | {_thousands(counts['bare'])} | {_thousands(counts['sipline'])} "
            f"| {sipline / bare:.3f} |",
            flush=True,
        )
    print(f"\ntook {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
