"""The fleet scenarios at full size, with their figures: real ``sipline run`` processes, the
real broker, the sandbox serving 30 portals on one port (latency 50 ms, standard buckets).

* ``burst``: 3 processes, ~3,000 mixed commands (creates, updates, reconciles, sweeps);
* ``kill``: kill -9 one of three while commands flow: failover time (the last of its
  portals to see an outcome again), lost commands, duplicate lines, duplicate events;
* ``join``: a fourth joins while commands flow (seconds to a fair share, from its first
  beat), then a rolling restart of all four (the longest wait of a command published
  during it).

The same runs as tests/fleet/test_scenarios.py (which runs them scaled down, in the slow
suite); the load average is printed next to each figure.

    .venv/bin/python -m benchmarks.fleet_failover [--scenarios burst,kill,join] [--rounds 28]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from tests.fleet.scenario_runs import Figures, Sizes, burst, join_and_restart, kill_one


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f}"


async def main_async(args: argparse.Namespace) -> None:
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="sipline-fleet-failover-") as tmp:
        for name in wanted:
            directory = Path(tmp) / name
            before = load()
            started = time.perf_counter()
            figures: Figures
            if name == "burst":
                sizes = Sizes(portals=args.portals, lines_per_portal=2, rounds=args.rounds)
                figures = await burst(directory, sizes, limit=1200)
            elif name == "kill":
                sizes = Sizes(
                    portals=args.portals, lines_per_portal=1, rounds=args.rounds, round_pause=1.0
                )
                figures = await kill_one(directory, sizes, limit=1200)
            elif name == "join":
                sizes = Sizes(
                    portals=args.portals, lines_per_portal=1, rounds=args.rounds, round_pause=4.0
                )
                figures = await join_and_restart(directory, sizes, limit=1200)
            else:
                raise SystemExit(f"unknown scenario {name!r}")
            summary = {
                **figures.summary(),
                "load average before (1, 5, 15 min)": before,
                "load average after": load(),
                "wall seconds": round(time.perf_counter() - started),
            }
            print(f"\n{name}: {json.dumps(summary, indent=1)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenarios", default="burst,kill,join")
    parser.add_argument("--portals", type=int, default=30)
    parser.add_argument(
        "--rounds", type=int, default=28, help="burst: 28 rounds ≈ 3,000 commands over 30 portals"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
