"""OAuth tokens shared by separate ``sipline run`` processes: refreshes per expiry, invalid_grant.

Three (``--processes``) independent ``sipline run`` processes (not a fleet: every one
consumes the same command queue) serve one OAuth portal of a ``sipline sandbox --auth oauth
--token-ttl 3`` whose refresh tokens are single-use, as Bitrix24's. Their one store is
PostgreSQL (a schema of its own) or an SQLite file they all open. ``--commands`` (300)
``line.create`` are published at ``--rate`` (10/s), so the access token expires again and
again while commands run in every process. Printed from the sandbox's counters:

* ``expiries``: access tokens used after their lifetime, each counted once however many
  processes presented it; ``refreshes``: refresh requests the OAuth server granted;
  ``refreshes / expiries`` is 1.0 when every expiry cost exactly one refresh (goal 1.0);
* ``invalid_grant``: refreshes refused because the refresh token was spent (goal 0);
* every command's outcome (``line.reconciled``, ``command.failed``, ``command.rejected``).

    .venv/bin/python -m benchmarks.oauth_processes [--backends postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
from aio_pika.abc import AbstractIncomingMessage

from benchmarks._store import PG_URL, drop_schema, store_values
from benchmarks.fleet_scaling import (
    AMQP_URL,
    Sandbox,
    creates,
    env_file,
    publish,
    ready,
    sandbox,
    start_worker,
    stop,
)
from worker.adapters.amqp.topology import declare, delete_all
from worker.cli.common import load_settings
from worker.runtime.wiring import topology_spec

OUTCOMES = {"line.reconciled", "command.failed", "command.rejected"}


@dataclass
class Outcomes:
    """Each command's first outcome event, by type; failure codes of those that failed."""

    want: int
    seen: dict[str, str] = field(default_factory=dict)
    codes: Counter[str] = field(default_factory=Counter)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        body = json.loads(message.body)
        cause, kind = body.get("causationid"), body.get("type")
        if kind in OUTCOMES and cause and cause not in self.seen:
            self.seen[cause] = kind
            if kind != "line.reconciled":
                self.codes[str((body.get("data") or {}).get("error_code", kind))] += 1
            if len(self.seen) >= self.want:
                self.done.set()
        await message.ack()


@dataclass(frozen=True)
class Result:
    backend: str
    processes: int
    commands: int
    outcomes: dict[str, int]
    failure_codes: dict[str, int]
    expiries: int
    refreshes: int
    invalid_grant: int
    expired_token: int
    seconds: float

    @property
    def per_expiry(self) -> float:
        return self.refreshes / self.expiries if self.expiries else float("nan")

    @property
    def answered(self) -> int:
        return sum(self.outcomes.values())


async def oauth_counters(box: Sandbox, session: aiohttp.ClientSession) -> dict[str, int]:
    """The sandbox's OAuth counters, summed over its portals."""
    counters: dict[str, int] = (await box.counters(session))["totals"]["oauth"]
    return counters


async def run_once(
    *,
    backend: str,
    processes: int = 3,
    commands: int = 300,
    rate: float = 10.0,
    token_ttl: float = 3.0,
    directory: Path,
) -> Result:
    """Start the sandbox and ``processes`` workers, publish, wait for every outcome."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    store = store_values(backend, directory)
    values: dict[str, Any] = {
        "amqp_url": AMQP_URL,
        "topology_prefix": f"bench-oauth-{uuid.uuid4().hex[:8]}",
        "prefetch": 16,
        "settle_intervals": "[0.2]",
        "retry_delays": "[0.5, 1.0]",
        "events_max_age": "1h",
        "events_max_bytes": "500000000",
        "log_level": "INFO",
        "log_format": "json",
        "metrics_port": "off",
        **store,
    }
    oauth = ("--auth", "oauth", "--token-ttl", str(token_ttl))
    async with (
        aiohttp.ClientSession() as session,
        sandbox(directory, portals=1, latency=0.0, extra=oauth) as box,
    ):
        settings = load_settings(env_file(directory, box.dotenv, values))
        (portal,) = settings.portals
        spec = topology_spec(settings)
        connection = await aio_pika.connect(AMQP_URL)
        procs = []
        try:
            channel = await connection.channel(publisher_confirms=True)
            declared = await declare(channel, spec)
            outcomes = Outcomes(want=commands)
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(declared.events_exchange, routing_key="#")
            await queue.consume(outcomes)
            procs = [
                start_worker(env_file(directory, box.dotenv, values), noop=False)
                for _ in range(processes)
            ]
            await ready(connection, settings.topology_prefix, processes, fleet=False)
            before = await oauth_counters(box, session)
            started = time.perf_counter()
            for n, cmd in enumerate(creates([portal], commands)):
                await publish(declared.commands_exchange, cmd)
                await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.perf_counter()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outcomes.done.wait(), timeout=120)
            seconds = time.perf_counter() - started
            after = await oauth_counters(box, session)
        finally:
            stop(procs)
            with contextlib.suppress(Exception):
                await delete_all(await connection.channel(), spec)
            await connection.close()
            if "store_schema" in store:
                await drop_schema(PG_URL, store["store_schema"])
    delta = {name: after[name] - before.get(name, 0) for name in after}
    return Result(
        backend=backend,
        processes=processes,
        commands=commands,
        outcomes=dict(Counter(outcomes.seen.values())),
        failure_codes=dict(outcomes.codes),
        expiries=delta["expiries"],
        refreshes=delta["refreshes"],
        invalid_grant=delta["invalid_grant"],
        expired_token=delta["expired_token"],
        seconds=seconds,
    )


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\n{args.processes} sipline run processes, one OAuth portal, access tokens live "
        f"{args.token_ttl:g} s, {args.commands} line.create at {args.rate:g}/s"
    )
    print(
        "store        answered  failed  seconds  expiries  refreshes  refreshes/expiry  "
        "invalid_grant  expired_token answers"
    )
    for r in results:
        failed = r.answered - r.outcomes.get("line.reconciled", 0)
        print(
            f"{r.backend:<11}  {r.answered:>4}/{r.commands:<4} {failed:>6}  {r.seconds:>7.1f}  "
            f"{r.expiries:>8}  {r.refreshes:>9}  {r.per_expiry:>16.2f}  {r.invalid_grant:>13}  "
            f"{r.expired_token:>13}"
        )
        if r.failure_codes:
            print(f"             failures by code: {r.failure_codes}")


async def main_async(args: argparse.Namespace) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory(prefix="sipline-oauth-bench-") as tmp:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            print(f"  {backend} …", flush=True)
            results.append(
                await run_once(
                    backend=backend,
                    processes=args.processes,
                    commands=args.commands,
                    rate=args.rate,
                    token_ttl=args.token_ttl,
                    directory=Path(args.keep or tmp) / backend,
                )
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--commands", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10.0, help="commands published per second")
    parser.add_argument("--token-ttl", type=float, default=3.0)
    parser.add_argument("--keep", default=None, help="keep the workers' logs in this folder")
    args = parser.parse_args()
    started = time.perf_counter()
    report(asyncio.run(main_async(args)), args)
    print(f"\ntook {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
