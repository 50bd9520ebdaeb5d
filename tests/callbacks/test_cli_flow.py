"""All real processes, as an operator runs them: ``sipline sandbox`` posting its callbacks to
``sipline run``; ``sipline sandbox-ctl refuse`` makes a registration fail; the worker, told
by nobody but Voximplant's callback, publishes ``line.reconciled registration_failed``."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aio_pika.abc import AbstractIncomingMessage

from tests.amqp_helpers import AMQP_URL, unique_prefix, wait_for
from tests.cli.conftest import (
    SIPLINE,
    Server,
    _delete_topology,
    _start_worker,
    base_env,
    free_port,
    start,
    wait_until,
)
from worker.sandbox.registrations import DEFAULT_PASSWORD, DEFAULT_SERVER

PORTAL = "sandbox.bitrix24.test"
SALT = "salt-CANARY-cli-8c2d"


@dataclass
class Tap:
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        self.events.append((time.monotonic(), json.loads(message.body)))

    def reconciled(self, config_id: int, verdict: str, after: int) -> list[float]:
        """Arrival times of such events among those after the ``after``-th."""
        return [
            at
            for at, e in self.events[after:]
            if e["type"] == "line.reconciled"
            and e["data"]["config_id"] == config_id
            and e["data"]["verdict"] == verdict
        ]


@dataclass
class Processes:
    directory: Path
    env_file: Path
    prefix: str
    http: str
    sandbox: Server
    worker: Server

    async def sipline(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            SIPLINE,
            *args,
            env=base_env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    def lines(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.http}/v1/lines", timeout=5) as response:
            return list(json.loads(response.read())["lines"])


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    port = free_port()
    http = f"http://127.0.0.1:{port}"
    env_file = tmp_path / "sandbox.env"
    args = ["sandbox", "--state-dir", str(tmp_path / "state"), "--env-file", str(env_file)]
    args += ["--wait-seconds", "0.2", "--progress-seconds", "0.3", "--bucket", "500/100"]
    args += ["--voximplant-callback-url", f"{http}/voximplant/callbacks"]
    args += ["--voximplant-callback-salt", SALT, "--log-format", "json"]
    sandbox = start("sandbox", args, base_env(), tmp_path)
    try:
        wait_until(
            lambda: "CALLBACK_SALT" in (env_file.read_text() if env_file.exists() else ""),
            20,
            "the sandbox's env file",
        )
        prefix = unique_prefix("cb-cli")
        worker = _start_worker(
            tmp_path, env_file, prefix, port=port, SIPLINE_DATA_DIR=str(tmp_path / "data")
        )
        try:
            yield Processes(tmp_path, env_file, prefix, http, sandbox, worker)
        finally:
            assert worker.stop() == 0, worker.output()
            await _delete_topology(prefix)
    finally:
        sandbox.stop()


@pytest.mark.slow
async def test_sandbox_ctl_refuse_reaches_the_worker_through_the_callback(
    processes: Processes,
) -> None:
    connection = await aio_pika.connect(AMQP_URL)
    async with connection:
        channel = await connection.channel()
        tap = Tap()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(f"{processes.prefix}.events", routing_key="#")
        await queue.consume(tap, no_ack=True)

        code, out, err = await _create(processes)
        assert code == 0, err
        created = next(
            json.loads(line)["data"]
            for line in out.splitlines()[1:]
            if json.loads(line)["type"] == "line.created"
        )
        config_id, reg_id = created["config_id"], created["reg_id"]
        await wait_for(
            lambda: any(line["reg_id"] == reg_id for line in processes.lines()),
            limit=10,
            what="the line in the worker's store",
        )

        mark = len(tap.events)
        started = time.monotonic()
        code, _, err = await processes.sipline(
            "sandbox-ctl", "refuse", str(reg_id), "--env-file", str(processes.env_file)
        )
        assert code == 0, err
        # from the start of sandbox-ctl (its Python start-up included) to the event
        await wait_for(
            lambda: bool(tap.reconciled(config_id, "registration_failed", mark)),
            limit=max(0.1, started + 5 - time.monotonic()),
            what="line.reconciled registration_failed within 5 s",
        )

        mark = len(tap.events)
        code, _, err = await processes.sipline(
            "sandbox-ctl", "refuse", str(reg_id), "--undo", "--env-file", str(processes.env_file)
        )
        assert code == 0, err
        await wait_for(
            lambda: bool(tap.reconciled(config_id, "in_sync", mark)),
            limit=5,
            what="line.reconciled in_sync after the recovery",
        )
    output = processes.worker.output() + processes.sandbox.output()
    assert "voximplant callbacks are on" in processes.worker.output()
    assert SALT not in output


async def _create(processes: Processes) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        SIPLINE,
        "send",
        "line.create",
        "--env-file",
        str(processes.env_file),
        "--prefix",
        processes.prefix,
        "--portal",
        PORTAL,
        "--title",
        "pushed",
        "--server",
        DEFAULT_SERVER,
        "--login",
        "pushed",
        "--password-stdin",
        "--wait",
        env=base_env(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(DEFAULT_PASSWORD.encode() + b"\n"), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
