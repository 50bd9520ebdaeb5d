"""Real processes for the fleet: a sandbox serving many portals on one port, and
``sipline run`` members started with ``SIPLINE_FLEET=true`` (the resilience suite's
:class:`~tests.resilience.processes.WorkerProcess`), plus the broker taps."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp

from tests.amqp_helpers import AMQP_URL
from tests.resilience.conftest import spec_of, worker_values
from tests.resilience.ledger import Tap, tap
from tests.resilience.processes import REPO, WorkerProcess, _clean_env, _end, until
from tests.store.conftest import PG_URL, postgres_schema
from worker.adapters.store import generate_key
from worker.fleet.topology import FleetNames, delete_fleet

SIP_SERVER = "sip.fleet.test"
SIP_PASSWORD = "CANARY-fleet-sip-pw-52c1"


@dataclass
class ManyPortals:
    """``sipline sandbox --portals N``: every portal under /p/<domain>/ on one port."""

    dotenv: Path
    info: dict[str, Any]

    @property
    def portals(self) -> list[str]:
        return sorted(self.info["portals"])

    async def counters(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(f"{self.info['portal_host_admin_url']}counters") as r:
            assert r.status == 200, await r.text()
            body: dict[str, Any] = await r.json()
            return body

    async def lines(self, session: aiohttp.ClientSession, portal: str) -> list[dict[str, Any]]:
        """Every line of ``portal``, made by a webhook or by the OAuth application."""
        async with session.get(f"{self.info['portals'][portal]['admin_url']}lines") as r:
            assert r.status == 200, await r.text()
            body: dict[str, Any] = await r.json()
        found: list[dict[str, Any]] = body["lines"]
        return found


def _spawn_sandbox(directory: Path, count: int, extra: tuple[str, ...]) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    args = [
        *("--portals", str(count), "--state-dir", str(directory / "state")),
        *(
            "--env-file",
            str(directory / "sandbox.env"),
            "--json-file",
            str(directory / "info.json"),
        ),
        *("--wait-seconds", "0.1", "--progress-seconds", "0.1", "--cloud-pbx-limit", "100000"),
        *("--accept", f"{SIP_SERVER}:*:{SIP_PASSWORD}", "--log-format", "json"),
        *extra,
    ]
    with (directory / "sandbox.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "worker.cli.main", "sandbox", *args],
            cwd=REPO,
            env=_clean_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


@contextlib.asynccontextmanager
async def many_portals(directory: Path, count: int, *extra: str) -> AsyncIterator[ManyPortals]:
    """The sandbox process with ``count`` portals (``extra``: more ``sipline sandbox`` flags)."""
    proc = _spawn_sandbox(directory, count, extra)
    info_path = directory / "info.json"
    try:
        await until(
            lambda: info_path.exists() or proc.poll() is not None, limit=60, what="the sandbox"
        )
        assert proc.poll() is None, _read(directory / "sandbox.log")[-2000:]
        yield ManyPortals(dotenv=directory / "sandbox.env", info=json.loads(_read(info_path)))
    finally:
        _end(proc)


@contextlib.asynccontextmanager
async def shared_store() -> AsyncIterator[dict[str, str]]:
    """The settings of one store every member opens: a PostgreSQL schema of the run's own
    (a fleet's processes share their OAuth pairs through it), dropped afterwards."""
    async with postgres_schema("fleet") as schema:
        yield {"store_url": PG_URL, "store_schema": schema, "store_key": generate_key()}


def fleet_values(prefix: str, **overrides: Any) -> dict[str, Any]:
    return worker_values(prefix, **{"fleet": True, "shards": 8, "prefetch": 16, **overrides})


def fleet_spec(values: dict[str, Any]) -> Any:
    return dataclasses.replace(spec_of(values), single_active_commands=True)


@contextlib.asynccontextmanager
async def fleet_tap(values: dict[str, Any]) -> AsyncIterator[Tap]:
    """The taps on a fleet topology; the shard queues go with it on the way out."""
    try:
        async with tap(AMQP_URL, fleet_spec(values), keep_dead_letters=True) as tapped:
            yield tapped
    finally:  # a failed scenario too: leaked quorum queues have wedged the broker before
        connection = await aio_pika.connect(AMQP_URL)
        try:
            names = FleetNames(values["topology_prefix"])
            await delete_fleet(await connection.channel(), names, values.get("shards", 16))
        finally:
            await connection.close()


@dataclass
class Members:
    """Several ``sipline run`` processes with the same settings (one log folder each)."""

    env_file: Path
    values: dict[str, Any]
    logs: Path
    workers: dict[str, WorkerProcess] = field(default_factory=dict)

    def start(self, name: str, **overrides: Any) -> WorkerProcess:
        from tests.resilience.processes import free_port

        values = {**self.values, "metrics_port": free_port(), **overrides}
        worker = WorkerProcess(env_file=self.env_file, values=values, logs=self.logs / name)
        worker.start()
        self.workers[name] = worker
        return worker

    def served(self) -> dict[str, set[str]]:
        """Portal → the members whose logs say they finished a command of it."""
        portals: dict[str, set[str]] = defaultdict(set)
        for name, worker in self.workers.items():
            for path in worker.log_files:
                for line in path.read_text(errors="replace").splitlines():
                    with contextlib.suppress(ValueError):
                        record = json.loads(line)
                        if record.get("outcome") and record.get("portal"):
                            portals[record["portal"]].add(name)
        return portals


@contextlib.contextmanager
def members(env_file: Path, values: dict[str, Any], logs: Path) -> Iterator[Members]:
    group = Members(env_file=env_file, values=values, logs=logs)
    try:
        yield group
    finally:
        for worker in group.workers.values():
            worker.stop(grace=20)


def create(portal: str, title: str, *, tag: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"{tag}-{uuid.uuid4().hex}",
        "type": "line.create",
        "source": "urn:sipline:fleet",
        "portal": portal,
        "data": {
            "title": title,
            "server": SIP_SERVER,
            "login": f"u-{title}",
            "password": SIP_PASSWORD,
        },
    }
