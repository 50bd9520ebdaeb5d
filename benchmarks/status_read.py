"""Reading the line projection at fleet size: 10,000 portals × 5 lines, SQLite and PostgreSQL.

The store is filled directly (the figures are about reading; filling through the projector
is what ``status_projection`` measures). Then, each timed ``--runs`` times (best and median):

* ``sipline status`` (every line, one table per portal, into a file: the plain layout) and
  ``sipline status --verdict config_drift --json``, as processes, wall time from exec to exit;
* ``GET /v1/lines?verdict=config_drift`` against a real aiohttp server on the same store
  (its first page, of the default limit), and every page of it, following ``next``;
* ``GET /`` (the status page);

beside baselines run the same way, as processes: ``python -c pass`` (an interpreter's start
and exit), a bare SELECT of the same 50,000 rows in the same order by the driver alone
(``sqlite3``, or ``asyncpg`` for PostgreSQL; no SQLAlchemy, no formatting, nothing printed),
and ``sipline status --help`` (the command's start-up alone). ``sipline status`` is timed
whole (every line into a file: the plain layout), ``--out-of-sync``, ``--json`` (every line)
and ``--verdict config_drift --json``. Each figure is given as wall time and CPU time (user
+ system: the command's own for the CLI, this process's, server and client, for HTTP), and
the load average is printed before and after each backend. On a shared machine the CPU
time is the steadier figure: the wall time there is mostly waiting for a core.

``--baseline DIR`` times every command a second time, interleaved with the first, with
``PYTHONPATH=DIR``: another version of the code (``git archive COMMIT | tar -x -C DIR``) on
the same store, under the same load, printed beside this one.

    .venv/bin/python -m benchmarks.status_read [--portals 10000] [--lines 5] [--runs 5]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import insert, text

from benchmarks._store import drop_store_schema
from worker.adapters.store import SqlStore, generate_key, open_store
from worker.adapters.store.tables import lines
from worker.http.api import StatusApiRoutes
from worker.http.status_page import StatusPageRoutes
from worker.settings import Settings
from worker.status.query import StatusQuery

SIPLINE = str(Path(sys.executable).with_name("sipline"))
# per portal: one drifting line in ten portals' worth, the rest mostly fine
VERDICTS = ["in_sync", "in_sync", "config_drift", "in_sync", "registration_failed"]
T0 = datetime(2026, 11, 30, tzinfo=UTC)


async def fill(store: SqlStore, portals: int, per_portal: int) -> int:
    rows = []
    for p in range(portals):
        for n in range(1, per_portal + 1):
            verdict = VERDICTS[(p + n) % len(VERDICTS)]
            rows.append(
                {
                    "portal": f"portal-{p:05d}.bitrix24.test",
                    "config_id": n,
                    "title": f"line {n} of portal {p}",
                    "line_type": "cloud",
                    "reg_id": p * 10 + n,
                    "verdict": verdict,
                    "verdict_since": T0 + timedelta(seconds=p),
                    "last_checked": T0 + timedelta(seconds=p + n),
                    "findings": [] if verdict == "in_sync" else [f"{verdict}: proxy differs"],
                    "last_command_id": f"cmd-{p}-{n}",
                    "deleted": False,
                    "last_event_id": f"ev-{p}-{n}",
                    "last_event_at": T0 + timedelta(seconds=p + n),
                }
            )
    async with store.unit_of_work() as uow:
        connection = uow.connection
        for at in range(0, len(rows), 5000):
            await connection.execute(insert(lines), rows[at : at + 5000])
        await uow.commit()
    if store.location.backend == "postgresql":
        # the statistics autovacuum gathers within a minute of such a fill (this machine's
        # server runs without autovacuum): without them the planner takes the table for a
        # few hundred rows and sorts it whole rather than follow the primary key
        async with store.engine.connect() as conn:
            await conn.execute(text("ANALYZE lines"))
            await conn.commit()
    return len(rows)


def cli_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIPLINE_")}
    assert settings.store_url is not None
    env["SIPLINE_STORE_URL"] = settings.store_url.get_secret_value()
    if settings.store_schema:
        env["SIPLINE_STORE_SCHEMA"] = settings.store_schema
    if settings.store_key:
        env["SIPLINE_STORE_KEY"] = settings.store_key.get_secret_value()
    return env


Sample = tuple[float, float]  # (wall seconds, CPU seconds)


# the rows `sipline status` prints, in its order, read by the driver alone (argv: the store)
BARE_SQLITE = """
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT portal, config_id, title, line_type, reg_id, verdict, verdict_since,"
    " last_checked, findings, last_command_id, deleted, last_event_id, last_event_at"
    " FROM lines WHERE deleted = 0 ORDER BY portal, verdict, config_id").fetchall()
"""
BARE_POSTGRES = """
import asyncio, asyncpg, sys
async def main():
    conn = await asyncpg.connect(sys.argv[1], server_settings={"search_path": sys.argv[2]})
    await conn.fetch(
        "SELECT portal, config_id, title, line_type, reg_id, verdict, verdict_since,"
        " last_checked, findings, last_command_id, deleted, last_event_id, last_event_at"
        " FROM lines WHERE NOT deleted ORDER BY portal, verdict, config_id")
    await conn.close()
asyncio.run(main())
"""


def bare_select(settings: Settings) -> list[str]:
    """The argv of the bare SELECT baseline for ``settings``' store."""
    assert settings.store_url is not None
    url = settings.store_url.get_secret_value()
    if url.startswith("sqlite:///"):
        return [sys.executable, "-c", BARE_SQLITE, url.removeprefix("sqlite:///")]
    return [sys.executable, "-c", BARE_POSTGRES, url, settings.store_schema or "public"]


def time_cli(env: Mapping[str, str], args: list[str], out: Path) -> Sample:
    """The command's wall time and its own CPU time (user + system); ``args`` are
    ``sipline``'s unless they start with this interpreter.

    The exit is waited for by a blocking ``wait4``, which also gives the child's own
    resource usage: ``subprocess.run(timeout=…)`` polls with sleeps of up to 50 ms, which
    added up to 50 ms to each wall time."""
    argv = args if args[0] == sys.executable else [SIPLINE, *args]
    with out.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=sink)
        watchdog = threading.Timer(300, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise subprocess.CalledProcessError(process.returncode, argv)
    return wall, usage.ru_utime + usage.ru_stime


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


async def time_get(session: aiohttp.ClientSession, url: str) -> Sample:
    """Wall time and this process's CPU time (the server and the client both run here)."""
    cpu, started = time.process_time(), time.perf_counter()
    async with session.get(url) as response:
        assert response.status == 200, response.status
        await response.read()
    return time.perf_counter() - started, time.process_time() - cpu


async def time_walk(session: aiohttp.ClientSession, base: str, path: str) -> tuple[Sample, int]:
    """Every page of ``path``, following ``next`` (one page where there is none)."""
    cpu, started, seen, url = time.process_time(), time.perf_counter(), 0, path
    while url:
        async with session.get(base + url) as response:
            assert response.status == 200, response.status
            body = await response.json()
        seen += len(body["lines"])
        url = body.get("next")
    return (time.perf_counter() - started, time.process_time() - cpu), seen


def best_median(samples: list[Sample]) -> str:
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return (
        f"{min(walls):>7.3f} {statistics.median(walls):>7.3f}"
        f" {min(cpus):>7.3f} {statistics.median(cpus):>7.3f}"
    )


async def measure(settings: Settings, args: argparse.Namespace, tmp: Path) -> None:
    async with open_store(settings) as store:
        started = time.perf_counter()
        count = await fill(store, args.portals, args.lines)
        filled = time.perf_counter() - started
        env = cli_env(settings)
        out = tmp / "status.txt"
        timings: dict[str, list[Sample]] = {}
        baseline: dict[str, list[Sample]] = {}
        baseline_env = {**env, "PYTHONPATH": args.baseline} if args.baseline else None

        def run_cli(name: str, argv: list[str]) -> None:
            if baseline_env is not None:
                baseline.setdefault(name, []).append(time_cli(baseline_env, argv, out))
            timings.setdefault(name, []).append(time_cli(env, argv, out))

        print(f"  before: {load()}")
        for _ in range(args.runs):
            run_cli("python -c pass (baseline)", [sys.executable, "-c", "pass"])
            run_cli("bare SELECT of the same rows (baseline)", bare_select(settings))
            run_cli("sipline status --help (start-up)", ["status", "--help"])
            run_cli("sipline status", ["status"])
            printed = len(out.read_text().splitlines())
            run_cli("sipline status --out-of-sync", ["status", "--out-of-sync"])
            run_cli("sipline status --json", ["status", "--json"])
            run_cli(
                "sipline status --verdict config_drift --json",
                ["status", "--verdict", "config_drift", "--json"],
            )
        shown = len(json.loads(out.read_text())["lines"])  # the last run: --json
        app = web.Application()
        query = StatusQuery(store=store)
        StatusApiRoutes(query).install(app)
        StatusPageRoutes(query).install(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                gets: dict[str, Callable[[], Awaitable[Sample]]] = {
                    "GET /v1/lines?verdict=config_drift": lambda: time_get(
                        session, f"{base}/v1/lines?verdict=config_drift"
                    ),
                    "GET /v1/portals": lambda: time_get(session, f"{base}/v1/portals"),
                    "GET / (status page)": lambda: time_get(session, f"{base}/"),
                }
                walked = 0
                for _ in range(args.runs):
                    for name, get in gets.items():
                        timings.setdefault(name, []).append(await get())
                    took, walked = await time_walk(session, base, "/v1/lines?verdict=config_drift")
                    timings.setdefault("GET /v1/lines?verdict=config_drift, every page", []).append(
                        took
                    )
        finally:
            await runner.cleanup()
    print(f"  after: {load()}")
    print(
        f"  {count} lines filled in {filled:.1f} s; sipline status printed {printed} lines of "
        f"text; --verdict config_drift finds {shown}, its pages {walked}"
    )
    print(f"  {'':<48}{'wall: best':>11} {'median':>7} {'CPU: best':>9} {'median':>7} (s)")
    for name, samples in timings.items():
        print(f"  {name:<48}{best_median(samples)}")
        if name in baseline:
            print(f"  {'  the same, --baseline':<48}{best_median(baseline[name])}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--portals", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--baseline", help="a directory of another version of the code, timed beside this one"
    )
    args = parser.parse_args()
    key = generate_key()
    with tempfile.TemporaryDirectory() as tmp:
        backends = {
            "sqlite": Settings(
                store_url=SecretStr(f"sqlite:///{Path(tmp) / 'read.db'}"),
                store_key=SecretStr(key),
            ),
            "postgresql": Settings(
                store_url=SecretStr(args.postgres),
                store_schema=f"bench_{uuid.uuid4().hex[:8]}",
                store_key=SecretStr(key),
            ),
        }
        for name, settings in backends.items():
            print(f"{name}: {args.portals} portals × {args.lines} lines")
            try:
                await measure(settings, args, Path(tmp))
            finally:
                await drop_store_schema(settings)


if __name__ == "__main__":
    asyncio.run(main())
