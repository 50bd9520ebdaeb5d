"""``python -m benchmarks [NAME ...]``: list the benchmarks, or run the ones named."""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = {
    "runtime_throughput": "consume → no-op → confirmed publish → ack, against a bare aio-pika loop",
    "runtime_calls": "the runtime's own Python calls and CPU per command, broker left out",
    "runtime_instructions": "instructions per command end to end (callgrind), against a bare loop",
    "bitrix24_bucket": "500 calls against the portal's leaky bucket: no QUERY_LIMIT_EXCEEDED",
    "voximplant_token": "GetSipRegistrations with a cached JWT against a JWT per request",
    "sweep_requests": "a 1,000-line portal sweep: requests made against one call per line",
    "create_latency": "line.create end to end at 0 and 50 ms upstream latency, prefetch 1 and 64",
    "worker_cost": "the worker's CPU per command and its memory over 100,000 commands",
    "fleet_scaling": "a fleet of 1, 2, 3 processes against one worker; the routing step's cost",
    "store_projection": "line projection into SQLite and PostgreSQL: events/s, single and batched",
    "status_projection": "event log → store projection: events/s and lag at 200 events/s",
    "dlq_listing": "sipline dlq list over 50,000 dead letters: time and peak memory",
    "sandbox_portals": "100 and 1,000 sandbox portals: one port each against one port for all",
    "callback_latency": "sandbox registration failure → line.reconciled through the callback",
    "status_read": "sipline status, GET /v1/lines and the status page on 10,000 portals × 5 lines",
    "oauth_processes": "3 sipline run processes, one OAuth portal, 3 s tokens: refreshes/expiry",
    "schedule_idle": "10,000 portals on a sweep schedule, one worker at rest: its CPU",
    "schedule_ticks": "the schedule's CPU per fired tick, in process, first and steady cycle",
}


def main() -> None:
    names = sys.argv[1:]
    if not names:
        print("benchmarks (run one with: python -m benchmarks NAME, or python -m benchmarks.NAME):")
        for name, what in BENCHMARKS.items():
            print(f"  {name:<20} {what}")
        print("figures and interpretation: docs/performance.md")
        return
    for name in names:
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
        sys.argv = [f"benchmarks.{name}"]
        runpy.run_module(f"benchmarks.{name}", run_name="__main__")


if __name__ == "__main__":
    main()
